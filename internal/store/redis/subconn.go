package redis

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// subConn is one subscriber connection to one Redis node, in subscribed
// mode, owned by the pubsub manager. It dials, authenticates, and then
// reads: notices go to their channels, confirmations and errors to the
// command they answer. It pings the node while it is quiet and gives up on
// a node that stops answering, so a dead or paused node is noticed within
// a few ping intervals, not at the next publish.
type subConn struct {
	p    *pubsub
	addr string

	// Under p.mu.
	chans map[string]bool // channels subscribed here or on their way
	ready bool            // dialled and authenticated: commands can go
	dead  bool

	wmu  sync.Mutex // orders writes and the queue of commands awaiting replies
	nc   net.Conn
	bw   *bufio.Writer
	cmds []*subCmd // sent, in order, not yet fully answered

	lastRead atomic.Int64 // Unix ns of the last byte read
	stop     chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
}

// subCmd is a (S)SUBSCRIBE or (S)UNSUBSCRIBE sent on a connection: its
// channels, each answered by one reply, or the whole command by an error.
type subCmd struct {
	unsubscribe bool
	chans       []string
	answered    int
}

func newSubConn(p *pubsub, addr string) *subConn {
	return &subConn{p: p, addr: addr, chans: map[string]bool{}, stop: make(chan struct{})}
}

// start dials in the background; the connection reports to its manager
// when it is ready or has failed.
func (c *subConn) start() {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		br, err := c.dial()
		if err != nil {
			c.p.connFailed(c, err)
			return
		}
		c.wg.Add(1)
		go c.pinger()
		c.p.connReady(c)
		c.read(br)
	}()
}

// dial connects and authenticates, and returns the connection's reader.
func (c *subConn) dial() (*bufio.Reader, error) {
	o := &c.p.s.o
	ctx, cancel := context.WithTimeout(c.p.s.ctx, o.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", c.addr, err)
	}
	if o.TLS != nil {
		cfg := o.TLS.Clone()
		if cfg.ServerName == "" {
			host, _, _ := net.SplitHostPort(c.addr)
			cfg.ServerName = host
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("tls %s: %w", c.addr, err)
		}
		nc = tc
	}
	br := bufio.NewReaderSize(nc, 16<<10)
	if o.Password != "" {
		args := []string{"AUTH", o.Password}
		if o.Username != "" {
			args = []string{"AUTH", o.Username, o.Password}
		}
		deadline, _ := ctx.Deadline()
		nc.SetDeadline(deadline)
		_, err := nc.Write(appendRESPCommand(nil, args...))
		var v respValue
		if err == nil {
			v, err = readRESP(br)
		}
		if err == nil && v.kind == '-' {
			err = errors.New(v.str)
		}
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("auth %s: %w", c.addr, err)
		}
		nc.SetDeadline(time.Time{})
	}
	c.wmu.Lock()
	c.nc, c.bw = nc, bufio.NewWriterSize(nc, 4<<10)
	c.wmu.Unlock()
	c.lastRead.Store(time.Now().UnixNano())
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		<-c.stop
		nc.Close()
	}()
	return br, nil
}

// send writes a (S)SUBSCRIBE or (S)UNSUBSCRIBE of chans, which must all be
// of one slot on a cluster.
func (c *subConn) send(unsubscribe bool, chans []string) error {
	cmd := "SUBSCRIBE"
	switch {
	case c.p.sharded && unsubscribe:
		cmd = "SUNSUBSCRIBE"
	case c.p.sharded:
		cmd = "SSUBSCRIBE"
	case unsubscribe:
		cmd = "UNSUBSCRIBE"
	}
	args := append([]string{cmd}, chans...)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.nc == nil {
		return errors.New("not connected")
	}
	c.cmds = append(c.cmds, &subCmd{unsubscribe: unsubscribe, chans: chans})
	return c.writeLocked(appendRESPCommand(nil, args...))
}

// writeLocked writes b and flushes it within the operation timeout. c.wmu
// held.
func (c *subConn) writeLocked(b []byte) error {
	c.nc.SetWriteDeadline(time.Now().Add(c.p.s.o.OpTimeout))
	if _, err := c.bw.Write(b); err != nil {
		return err
	}
	return c.bw.Flush()
}

// pinger sends a PING whenever the connection has been quiet for a ping
// interval; the reader's deadline notices a node that does not answer.
func (c *subConn) pinger() {
	defer c.wg.Done()
	every := c.p.s.o.PingInterval
	t := time.NewTicker(every)
	defer t.Stop()
	ping := appendRESPCommand(nil, "PING")
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		if time.Since(time.Unix(0, c.lastRead.Load())) < every {
			continue
		}
		c.wmu.Lock()
		err := c.writeLocked(ping)
		c.wmu.Unlock()
		if err != nil {
			c.p.connLost(c, fmt.Errorf("ping: %w", err))
			return
		}
	}
}

// read reads replies and pushes until the connection fails or is closed.
func (c *subConn) read(br *bufio.Reader) {
	silent := 3 * c.p.s.o.PingInterval
	for {
		c.nc.SetReadDeadline(time.Now().Add(silent))
		v, err := readRESP(br)
		if err != nil {
			if c.closing() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				err = fmt.Errorf("no answer for %v", silent)
			}
			c.p.connLost(c, err)
			return
		}
		c.lastRead.Store(time.Now().UnixNano())
		c.handle(v)
	}
}

// handle acts on one value read.
func (c *subConn) handle(v respValue) {
	if v.kind == '-' {
		// An error answers the oldest command awaiting its replies.
		c.wmu.Lock()
		var cmd *subCmd
		if len(c.cmds) > 0 {
			cmd, c.cmds = c.cmds[0], c.cmds[1:]
		}
		c.wmu.Unlock()
		if cmd != nil && !cmd.unsubscribe {
			c.p.subscribeFailed(c, cmd.chans[cmd.answered:], v.str)
		} else {
			c.p.s.log.Debug("redis pubsub error", "addr", c.addr, "err", v.str)
		}
		return
	}
	if v.kind != '*' || len(v.arr) < 2 {
		return
	}
	switch kind := strings.ToLower(v.text(0)); kind {
	case "message", "smessage":
		c.p.s.onNotice(v.text(1), v.text(2))
	case "subscribe", "ssubscribe":
		c.answer(false, v.text(1))
		c.p.confirm(c, v.text(1))
	case "unsubscribe", "sunsubscribe":
		if !c.answer(true, v.text(1)) {
			// Not ours: the node dropped the channel (its slot moved).
			c.p.dropped(c, v.text(1))
		}
	case "pong":
	}
}

// answer counts a reply against the oldest command of its kind that names
// ch; it reports whether one did.
func (c *subConn) answer(unsubscribe bool, ch string) bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for i, cmd := range c.cmds {
		if cmd.unsubscribe != unsubscribe || cmd.answered >= len(cmd.chans) || cmd.chans[cmd.answered] != ch {
			continue
		}
		cmd.answered++
		if cmd.answered == len(cmd.chans) {
			c.cmds = append(c.cmds[:i], c.cmds[i+1:]...)
		}
		return true
	}
	return false
}

func (c *subConn) closing() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// close ends the connection and waits for its goroutines.
func (c *subConn) close() {
	c.once.Do(func() { close(c.stop) })
	c.wg.Wait()
}

// closeAsync ends the connection without waiting (from its own goroutines).
func (c *subConn) closeAsync() {
	c.once.Do(func() { close(c.stop) })
}
