//go:build !unix

package main

import "os"

// notifyUpgrade does nothing: sockets are handed over on Unix only.
func notifyUpgrade(chan<- os.Signal) {}
