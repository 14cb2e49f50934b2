package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/heraldpush/herald/internal/clientaddr"
	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/proxyproto"
)

// listenersOf returns a server block's listen addresses with their
// options; an address set in code without its options (Listen alone) is
// TCP, or a Unix socket when written unix:/path.
func listenersOf(sc *config.Server) []config.Listener {
	out := make([]config.Listener, 0, len(sc.Listen))
	for i, addr := range sc.Listen {
		if i < len(sc.Listeners) && sc.Listeners[i].Addr == addr {
			out = append(out, sc.Listeners[i])
			continue
		}
		if path, ok := strings.CutPrefix(addr, "unix:"); ok {
			out = append(out, config.Listener{Addr: addr, Network: "unix", Path: path})
			continue
		}
		out = append(out, config.Listener{Addr: addr, Network: "tcp"})
	}
	return out
}

// open opens a listen address (a TCP one as tcpListenConfig says). A Unix
// socket's stale file (left by a process that did not stop cleanly:
// nothing answers on it) is removed first; the listener removes its file
// when it closes.
func (s *Server) open(ctx context.Context, la config.Listener) (net.Listener, error) {
	if la.Network != "unix" {
		return tcpListenConfig().Listen(ctx, "tcp", la.Addr)
	}
	if err := removeStaleSocket(ctx, la.Path); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", la.Path)
	if err != nil {
		return nil, err
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(true)
	}
	return ln, nil
}

// removeStaleSocket removes the socket file at path when no process
// listens on it; a file that is not a socket, or a socket in use, is an
// error.
func removeStaleSocket(ctx context.Context, path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unix socket: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket && fi.Mode()&fs.ModeIrregular == 0 {
		return fmt.Errorf("unix socket: %s exists and is not a socket", path)
	}
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var d net.Dialer
	if c, err := d.DialContext(dctx, "unix", path); err == nil {
		c.Close()
		return fmt.Errorf("unix socket: %s is in use by another process", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unix socket: remove stale %s: %w", path, err)
	}
	return nil
}

// proxyListener wraps the listener of ep, whose connections begin with a
// PROXY protocol header. The header's client stands when ep's block trusts
// the peer (set_real_ip_from, as the configuration in force says: a reload
// changes it), or from any peer when the block names no trusted proxy: the
// listener is then only reachable by its balancer.
func (s *Server) proxyListener(ln net.Listener, ep *endpoint) net.Listener {
	return &proxyproto.Listener{Listener: ln, Timeout: 10 * time.Second, Logger: s.log,
		Trusted: func(peer net.Addr) bool {
			from := ep.block.Load().sc.RealIP.From
			return from.Empty() || from.ContainsAddr(peer)
		}}
}

// attach ties a newly provisioned router's routes to the server: a request
// that limit_req delays ends when draining starts.
func (s *Server) attach(rr *router) {
	for _, rt := range rr.routes {
		rt.Limits.Quit = s.quit
	}
	s.psAttach(rr)
}

// clientAddr returns a request's client address: a Unix socket peer is
// "unix:" (as nginx's $remote_addr), and a trusted proxy's header names
// the client behind it (set_real_ip_from, real_ip_header).
func (rr *router) clientAddr(r *http.Request) string {
	remote := r.RemoteAddr
	if remote == "" || remote == "@" { // Go's names of an unnamed socket peer
		remote = clientaddr.Unix
	}
	if !rr.realIP.Active() {
		return remote
	}
	return rr.realIP.Resolve(remote, r.Header)
}
