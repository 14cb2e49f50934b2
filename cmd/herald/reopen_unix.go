//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// notifyReopen sends SIGUSR1 to c: reopen the log files, as nginx does.
func notifyReopen(c chan<- os.Signal) { signal.Notify(c, syscall.SIGUSR1) }
