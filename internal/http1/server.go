// Package http1 serves HTTP/1.1 connections for an http.Handler with less
// work per request than net/http: no goroutine or read started for a
// request whose handler never waits on its context, one allocation for a
// request head's strings, a response head written straight into a pooled
// buffer with the Date formatted once a second. It takes only the plain
// shape of request (HTTP/1.1, origin form, no body or a Content-Length
// one) and hands any connection that sends something else, from that
// request on, to net/http through a Listener, so every other shape, every
// malformed request and HTTP/2 by prior knowledge are answered exactly as
// net/http answers them.
package http1

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves HTTP/1.1 on the connections of a listener.
type Server struct {
	// Handler answers every request.
	Handler http.Handler
	// Handoff receives a connection the server leaves to net/http, with
	// whatever it has read of it still to be read (see NewListener).
	Handoff func(net.Conn)
	// ReadHeaderTimeout bounds reading the rest of a request head that
	// did not come in its first read; IdleTimeout bounds the wait for the
	// next request.
	ReadHeaderTimeout, IdleTimeout time.Duration
	// BaseContext is every request context's parent.
	BaseContext context.Context
	// Log receives handler panics.
	Log *slog.Logger

	mu      sync.Mutex
	lns     map[net.Listener]struct{}
	conns   map[*conn]struct{}
	closing atomic.Bool
	date    atomic.Pointer[dateCache]
	writers sync.Pool // *bufio.Writer: a connection holds one only while it answers
	readers sync.Pool // *bufio.Reader: back when a connection closes or is hijacked with nothing buffered
	scratch sync.Pool // *scratchBuf: a held-back body, a head's fields
	// idle takes an accepted connection to a goroutine that has served
	// another and waits for the next (see serveFrom); stop wakes those
	// goroutines to end when the server closes.
	idle chan *conn
	stop chan struct{}
}

// workerLinger is how long a goroutine that has served a connection waits
// to be given another before it ends.
//
// A connection's goroutine grows its stack to the depth of the handler
// (the runtime starts goroutines at the average stack size it sees, which
// thousands of parked subscribers keep small), and growing it means
// copying it, twice or more. Handing the next connection to a goroutine
// that has done so already saves that copying on every connection: about
// a tenth of the server's CPU in a reconnection storm.
const workerLinger = 5 * time.Second

// scratchBuf is a response's buffer from the server's pool.
type scratchBuf [bufSize / 2]byte

// getScratch returns a buffer from the pool.
func (s *Server) getScratch() *scratchBuf {
	if b, ok := s.scratch.Get().(*scratchBuf); ok {
		return b
	}
	return new(scratchBuf)
}

// dateCache is a Date field value and the second it stands for.
type dateCache struct {
	sec int64
	b   []byte
}

// Serve accepts connections on ln until it is closed, serving each on a
// goroutine of its own: one that has served an earlier connection when one
// waits (see workerLinger), else a new one. It returns
// http.ErrServerClosed after Shutdown or Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	if s.lns == nil {
		s.lns = make(map[net.Listener]struct{})
	}
	s.lns[ln] = struct{}{}
	if s.idle == nil {
		s.idle = make(chan *conn)
		s.stop = make(chan struct{})
	}
	idle := s.idle
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		rw, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of file descriptors and the like: wait, as net/http
				// does, and accept again.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := &conn{s: s, rwc: rw}
		if !s.track(c) {
			rw.Close()
			return http.ErrServerClosed
		}
		select {
		case idle <- c:
		default:
			go s.serveFrom(c)
		}
	}
}

// serveFrom serves c, then every connection it is given (see
// workerLinger) until none comes for workerLinger or the server closes.
func (s *Server) serveFrom(c *conn) {
	var t *time.Timer
	for {
		c.serve()
		if t == nil {
			t = time.NewTimer(workerLinger)
		} else {
			t.Reset(workerLinger)
		}
		select {
		case c = <-s.idle:
		case <-t.C:
			return
		case <-s.stop:
			t.Stop()
			return
		}
	}
}

// isTemporary reports an accept error worth retrying (EMFILE, ENFILE,
// ECONNABORTED...), as net/http judges it.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Shutdown stops accepting, closes every connection waiting for a request
// and waits for the others to finish theirs (answered with Connection:
// close), or for ctx to end. Hijacked connections are not waited for.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeListeners()
	t := time.NewTimer(time.Millisecond)
	defer t.Stop()
	wait := time.Millisecond
	for {
		if s.closeIdle() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			wait = min(2*wait, 100*time.Millisecond)
			t.Reset(wait)
		}
	}
}

// Close stops accepting and closes every connection it serves.
func (s *Server) Close() error {
	s.closeListeners()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.rwc.Close()
		delete(s.conns, c)
	}
	return nil
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing.Swap(true) && s.stop != nil {
		close(s.stop)
	}
	for ln := range s.lns {
		ln.Close()
		delete(s.lns, ln)
	}
}

// closeIdle closes the connections waiting for a request and counts the
// ones left.
func (s *Server) closeIdle() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			c.rwc.Close()
			delete(s.conns, c)
		}
	}
	return len(s.conns)
}

// dateValue is the Date field's value for the current second, formatted
// once a second.
func (s *Server) dateValue() []byte {
	now := time.Now()
	sec := now.Unix()
	if d := s.date.Load(); d != nil && d.sec == sec {
		return d.b
	}
	d := &dateCache{sec: sec, b: now.UTC().AppendFormat(make([]byte, 0, len(http.TimeFormat)), http.TimeFormat)}
	s.date.Store(d)
	return d.b
}
