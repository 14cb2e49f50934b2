//go:build !unix

package main

import "os"

// notifyReopen does nothing where there is no SIGUSR1.
func notifyReopen(chan<- os.Signal) {}
