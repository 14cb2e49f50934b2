package proxyproto

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"
)

// Listener accepts connections that begin with a PROXY header. Each
// connection reads its header in its own goroutine, on its first Read or
// RemoteAddr (an HTTP server asks for the remote address first thing), so
// a slow or silent peer never holds up Accept.
//
// A connection whose header is missing, invalid or not complete within
// Timeout is closed, as nginx closes a connection with a broken PROXY
// header on a proxy_protocol listener.
type Listener struct {
	net.Listener
	// Trusted decides whether the header of a connection from peer names
	// its client; nil trusts every peer. The header of an untrusted peer
	// is read and dropped: the connection keeps its peer's address.
	Trusted func(peer net.Addr) bool
	// Timeout bounds the wait for the header; 0 is 10 seconds.
	Timeout time.Duration
	// Logger receives broken headers, at debug level; nil logs nothing.
	Logger *slog.Logger
}

// Accept waits for the next connection and returns it wrapped: its
// RemoteAddr is the client its header names.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: c, l: l}, nil
}

// Conn is a connection accepted by a Listener.
type Conn struct {
	net.Conn
	l *Listener

	once   sync.Once
	remote net.Addr
	header Header
	rest   []byte // bytes read past the header, not yet returned by Read
	err    error  // the header could not be read: every Read fails
}

// RemoteAddr returns the client the header names (the peer's own address
// for a header that names none, or from an untrusted peer).
func (c *Conn) RemoteAddr() net.Addr {
	c.once.Do(c.readHeader)
	return c.remote
}

// Header returns the connection's PROXY header, once read, and whether it
// was read.
func (c *Conn) Header() (Header, error) {
	c.once.Do(c.readHeader)
	return c.header, c.err
}

// Read reads what follows the header.
func (c *Conn) Read(p []byte) (int, error) {
	c.once.Do(c.readHeader)
	if c.err != nil {
		return 0, c.err
	}
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		if len(c.rest) == 0 {
			c.rest = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

// SyscallConn gives the raw connection, for writes (reads go through Read,
// which returns the bytes read past the header first).
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("proxy protocol: connection has no raw form")
}

// readHeader reads and parses the header, once.
func (c *Conn) readHeader() {
	c.remote = c.Conn.RemoteAddr()
	if c.remote == nil { // an unnamed Unix socket peer
		c.remote = &net.UnixAddr{Net: "unix"}
	}
	timeout := c.l.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	c.Conn.SetReadDeadline(time.Now().Add(timeout))
	defer c.Conn.SetReadDeadline(time.Time{})
	buf := make([]byte, 0, 256)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, min(cap(buf), MaxLen+1-cap(buf)))...)[:len(buf)]
		}
		n, err := c.Conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		h, used, perr := Parse(buf)
		if perr == nil {
			c.header = h
			if len(buf) > used {
				c.rest = buf[used:]
			}
			if !h.Local && (c.l.Trusted == nil || c.l.Trusted(c.remote)) {
				c.remote = net.TCPAddrFromAddrPort(h.Source)
			}
			return
		}
		if errors.Is(perr, ErrNeedMore) && err == nil {
			continue
		}
		if err == nil {
			err = perr
		}
		c.err = fmt.Errorf("read PROXY header from %s: %w", c.remote, err)
		if c.l.Logger != nil {
			c.l.Logger.Debug("broken PROXY protocol header", "remote", c.remote.String(), "err", err)
		}
		c.Conn.Close()
		return
	}
}
