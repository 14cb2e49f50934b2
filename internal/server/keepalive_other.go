//go:build !linux

package server

import "net"

// tcpListenConfig returns how a TCP listen address is opened: Go's default,
// which sets TCP keep-alive on every accepted connection.
func tcpListenConfig() *net.ListenConfig { return new(net.ListenConfig) }
