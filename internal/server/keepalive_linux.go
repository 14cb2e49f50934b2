//go:build linux

package server

import (
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// TCP keep-alive of accepted connections, as Go sets it by default on each
// one: probes after 15 s of silence, every 15 s, 9 unanswered probes.
const (
	keepAliveIdle     = 15 * time.Second
	keepAliveInterval = 15 * time.Second
	keepAliveCount    = 9
)

// tcpListenConfig returns how a TCP listen address is opened. On Linux a
// connection accepted from a socket inherits its keep-alive options, so
// they are set once on the listening socket instead of with four
// setsockopt calls on every accepted connection (Go's default), which a
// reconnection storm pays 15,000 times.
func tcpListenConfig() *net.ListenConfig {
	return &net.ListenConfig{KeepAlive: -1, Control: setListenerKeepAlive}
}

// setListenerKeepAlive sets the keep-alive options on a listening socket
// before it binds.
func setListenerKeepAlive(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		for _, o := range [...]struct {
			level, opt, v int
			name          string
		}{
			{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1, "SO_KEEPALIVE"},
			{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(keepAliveIdle / time.Second), "TCP_KEEPIDLE"},
			{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(keepAliveInterval / time.Second), "TCP_KEEPINTVL"},
			{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, keepAliveCount, "TCP_KEEPCNT"},
		} {
			if serr = unix.SetsockoptInt(int(fd), o.level, o.opt, o.v); serr != nil {
				serr = fmt.Errorf("listen %s %s: set %s: %w", network, address, o.name, serr)
				return
			}
		}
	})
	if err != nil {
		return fmt.Errorf("listen %s %s: %w", network, address, err)
	}
	return serr
}
