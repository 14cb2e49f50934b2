//go:build linux && !herald_noreactor

package bench

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
)

// reactor reads established streaming subscribers (EventSource, chunked,
// WebSocket) with a few goroutines, each waiting on its own epoll set,
// instead of one goroutine per connection. A publish that reaches every
// subscriber at once then wakes a few goroutines rather than thousands, so
// the load tool spends less of the shared cores per delivery, and its
// publisher is not queued behind thousands of readers between two
// publishes: a server that answers publishes at once is published to as
// fast as it answers.
type reactor struct {
	loops []*reactLoop
	next  atomic.Uint32
	stop  atomic.Bool
	wg    sync.WaitGroup
}

// reactLoop is one reading goroutine and its epoll set.
type reactLoop struct {
	epfd  int
	mu    sync.Mutex
	conns []*reactConn // by descriptor
}

// reactConn is one connection a reactLoop reads. It owns a duplicate of
// the connection's descriptor: the original is closed, so the runtime's
// poller no longer watches the socket and a message arriving wakes one
// epoll set, not two.
type reactConn struct {
	loop *reactLoop
	fd   int
	feed func([]byte) error
	eof  func() error
	done chan error // the end of the stream, once

	mu       sync.Mutex // held while reading and parsing
	finished bool
}

// newReactor starts n reading goroutines.
func newReactor(n int) (*reactor, error) {
	r := &reactor{}
	for range n {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			r.close()
			return nil, err
		}
		l := &reactLoop{epfd: fd}
		r.loops = append(r.loops, l)
		r.wg.Go(func() { l.run(&r.stop) })
	}
	return r, nil
}

// close stops the goroutines (within their 50 ms poll) and releases the
// epoll sets.
func (r *reactor) close() {
	r.stop.Store(true)
	r.wg.Wait()
	for _, l := range r.loops {
		syscall.Close(l.epfd)
	}
}

// serve reads s's connection c until the stream ends, feeding what
// arrives to feed (eof at the end of the connection), and returns why it
// ended. Stopping s ends it early. c is closed when serve returns; writes
// (WebSocket pongs) go through the returned stream's write.
func (r *reactor) serve(s *subscriber, c net.Conn, feed func([]byte) error, eof func() error) error {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return readLoop(c, feed, eof)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return readLoop(c, feed, eof)
	}
	l := r.loops[int(r.next.Add(1))%len(r.loops)]
	rcn := &reactConn{loop: l, fd: -1, feed: feed, eof: eof, done: make(chan error, 1)}
	// Taken over under the subscriber's lock, so stop cannot come in
	// between: from here on stop ends the stream through endStream.
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errStopped
	}
	var dupErr error
	rc.Control(func(f uintptr) { rcn.fd, dupErr = syscall.Dup(int(f)) })
	if dupErr != nil {
		s.mu.Unlock()
		return readLoop(c, feed, eof)
	}
	syscall.CloseOnExec(rcn.fd)
	c.Close()
	s.endStream = rcn.end
	s.rawFD.Store(int32(rcn.fd))
	l.mu.Lock()
	if rcn.fd >= len(l.conns) {
		l.conns = append(l.conns, make([]*reactConn, rcn.fd+1-len(l.conns)+64)...)
	}
	l.conns[rcn.fd] = rcn
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(rcn.fd)}
	addErr := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, rcn.fd, &ev)
	l.mu.Unlock()
	s.mu.Unlock()
	if addErr != nil {
		rcn.end(addErr, false)
	}
	return <-rcn.done
}

func (l *reactLoop) run(stop *atomic.Bool) {
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	for !stop.Load() {
		n, err := syscall.EpollWait(l.epfd, events, 50)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return
		}
		for i := range n {
			var c *reactConn
			l.mu.Lock()
			if fd := int(events[i].Fd); fd < len(l.conns) {
				c = l.conns[fd]
			}
			l.mu.Unlock()
			if c != nil {
				c.handle(buf)
			}
		}
	}
}

// handle reads what the connection has and parses it.
func (c *reactConn) handle(buf []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return
	}
	n, err := syscall.Read(c.fd, buf)
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
	case err != nil:
		c.endLocked(err, false)
	case n == 0:
		c.endLocked(c.eof(), false)
	default:
		if err := c.feed(buf[:n]); err != nil {
			c.endLocked(err, false)
		}
	}
}

// end ends the stream with err, resetting the connection if abort.
func (c *reactConn) end(err error, abort bool) {
	c.mu.Lock()
	c.endLocked(err, abort)
	c.mu.Unlock()
}

// endLocked ends the stream (the first end wins) and closes the
// descriptor. c.mu held.
func (c *reactConn) endLocked(err error, abort bool) {
	if c.finished {
		return
	}
	c.finished = true
	l := c.loop
	l.mu.Lock()
	if l.conns[c.fd] == c {
		l.conns[c.fd] = nil
	}
	syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
	l.mu.Unlock()
	if abort {
		syscall.SetsockoptLinger(c.fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
	}
	syscall.Close(c.fd)
	c.done <- err
}

// writeRaw writes b to a descriptor the reactor owns, without waiting: a
// WebSocket pong the socket has no room for is dropped.
func writeRaw(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			return nil
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
