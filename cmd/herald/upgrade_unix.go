//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// notifyUpgrade delivers SIGUSR2, nginx's binary upgrade signal, to c.
func notifyUpgrade(c chan<- os.Signal) { signal.Notify(c, syscall.SIGUSR2) }
