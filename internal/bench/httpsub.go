package bench

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// statusError is an HTTP status where a message was expected: a response
// status, or an EventSource stream ending with ":410: 410 Gone".
type statusError struct{ code int }

func (e *statusError) Error() string { return fmt.Sprintf("HTTP status %d", e.code) }

// setupESDecoder sets up the EventSource decoder of a subscriber: it keeps
// the first keep bytes of each event's data (bodyPrefix, or more for
// push-stream messages: see Config.keep), all that the tool reads of a
// message, so a large message costs no memory. (Set in place: a decoder
// built on the subscriber's stack would make every subscriber goroutine's
// stack grow a size.)
func setupESDecoder(d *protocol.EventSourceDecoder, keep int) {
	d.MaxData, d.Truncate = keep, true
}

// appendRequest appends a GET request head. hdr holds name, value pairs.
func appendRequest(b []byte, uri, host string, hdr ...string) []byte {
	b = append(b, "GET "...)
	b = append(b, uri...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nUser-Agent: herald-bench\r\n"...)
	for i := 0; i+1 < len(hdr); i += 2 {
		b = append(b, hdr[i]...)
		b = append(b, ": "...)
		b = append(b, hdr[i+1]...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// streamHandler reads an EventSource or HTTP-chunked subscriber response.
type streamHandler struct {
	s        *subscriber
	conn     net.Conn
	t0       time.Time
	es       bool
	sse      protocol.EventSourceDecoder
	msg      prefixBuf
	deliver  func([]byte)
	headSeen bool
	keepID   bool // keep each event's id in s.lastID (storm)
}

func (h *streamHandler) head(p *respParser) error {
	if p.Status != 200 {
		return &statusError{p.Status}
	}
	h.conn.SetDeadline(time.Time{})
	h.s.connected(h.t0)
	h.headSeen = true
	return nil
}

func (h *streamHandler) data(b []byte) error {
	if !h.es {
		h.msg.write(b)
		return nil
	}
	h.sse.Feed(b)
	for {
		e, err := h.sse.Next()
		if err != nil || e == nil {
			return err
		}
		switch e.Kind {
		case protocol.KindEvent:
			if h.keepID {
				h.s.lastID = append(h.s.lastID[:0], e.ID...)
			}
			h.deliver(e.Data)
		case protocol.KindComment:
			// Nchan ends a stream with its status: ":410: 410 Gone".
			if code, _, ok := e.Status(); ok {
				return &statusError{code}
			}
		}
	}
}

// chunkEnd ends a message on the chunked transport, where each message is
// one chunk.
func (h *streamHandler) chunkEnd() error {
	if !h.es {
		h.deliver(h.msg.bytes())
		h.msg.reset()
	}
	return nil
}

func (h *streamHandler) bodyEnd() error { return errStreamClosed }

// runStream subscribes over EventSource (es) or HTTP chunked and reads the
// stream until it ends.
func (s *subscriber) runStream(es bool) error {
	r := s.r
	t0 := time.Now()
	c, err := r.dial(r.ctx, r.sub.addr, s.src)
	if err != nil {
		return err
	}
	if !s.setConn(c) {
		return errStopped
	}
	defer c.Close()
	c.SetDeadline(t0.Add(r.cfg.Timeout))
	var req []byte
	switch {
	case es && s.resumeID != "":
		req = appendRequest(make([]byte, 0, 256), s.ch.subURI, r.sub.host, "Accept", "text/event-stream", "Cache-Control", "no-cache", "Last-Event-ID", s.resumeID)
	case es:
		req = appendRequest(make([]byte, 0, 256), s.ch.subURI, r.sub.host, "Accept", "text/event-stream", "Cache-Control", "no-cache")
	default:
		req = appendRequest(make([]byte, 0, 256), s.ch.subURI, r.sub.host, "TE", "chunked")
	}
	if _, err := c.Write(req); err != nil {
		return err
	}
	h := &streamHandler{s: s, conn: c, t0: t0, es: es, keepID: es && s.keepID}
	setupESDecoder(&h.sse, r.cfg.keep())
	h.deliver = s.deliver
	var p respParser
	p.reset()
	feed := func(b []byte) error {
		s.readAt = time.Now().UnixNano() // one clock read for every message read together
		_, err := p.feed(b, h)
		return err
	}
	eof := func() error { return p.eof(h) }
	// The response head is read here, under the connect timeout; the
	// stream is then read by the reactor.
	if err := readUntil(c, feed, eof, func() bool { return h.headSeen }); err != nil {
		return err
	}
	return r.react.serve(s, c, feed, eof)
}

// pollHandler reads one long-poll response.
type pollHandler struct {
	status        int
	close         bool
	etag, lastMod string
	msg           prefixBuf
	done          bool
}

func (h *pollHandler) head(p *respParser) error {
	h.status, h.close = p.Status, p.Close
	h.etag, h.lastMod = p.Etag, p.LastModified
	return nil
}

func (h *pollHandler) data(b []byte) error { h.msg.write(b); return nil }

func (h *pollHandler) chunkEnd() error { return nil }

func (h *pollHandler) bodyEnd() error { h.done = true; return errDone }

// runLongPoll walks the channel with long-poll requests, sending each
// answer's Last-Modified and Etag back as If-Modified-Since and
// If-None-Match so every request asks for the next message. Connections are
// kept alive and reopened when the server closes them. An interval-poll
// subscriber walks it alike, waiting PollInterval after each 304.
func (s *subscriber) runLongPoll() error {
	r := s.r
	var (
		c       net.Conn
		lastMod string
		etag    string
		p       respParser
		h       pollHandler
		fresh   bool
		t0      time.Time
	)
	p.keepIDs = true
	buf := make([]byte, readBufSize)
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for {
		if c == nil {
			if !s.wasConnected {
				t0 = time.Now()
			}
			nc, err := r.dial(r.ctx, r.sub.addr, s.src)
			if err != nil {
				return err
			}
			if !s.setConn(nc) {
				return errStopped
			}
			c, fresh = nc, true
		}
		var req []byte
		if lastMod != "" || etag != "" {
			req = appendRequest(make([]byte, 0, 256), s.ch.subURI, r.sub.host, "If-Modified-Since", lastMod, "If-None-Match", etag)
		} else {
			req = appendRequest(make([]byte, 0, 256), s.ch.subURI, r.sub.host)
		}
		c.SetWriteDeadline(time.Now().Add(r.cfg.Timeout))
		_, err := c.Write(req)
		if err == nil && !s.wasConnected {
			// A long-poll is "connected" once its request is out: the server
			// answers only when there is a message.
			s.connected(t0)
		}
		p.reset()
		h = pollHandler{}
		got := 0
		for err == nil && !h.done {
			var n int
			n, err = c.Read(buf)
			got += n
			if n > 0 {
				if _, ferr := p.feed(buf[:n], &h); ferr != nil && ferr != errDone {
					err = ferr
				}
			}
			if err == io.EOF && !h.done {
				if ferr := p.eof(&h); h.done {
					err = nil
				} else {
					err = ferr
				}
			}
		}
		if !h.done {
			if s.stopped() {
				return nil
			}
			if got == 0 && !fresh {
				// The server closed a kept-alive connection: reconnect.
				c.Close()
				c = nil
				continue
			}
			return err
		}
		fresh = false
		switch h.status {
		case 200:
			s.deliver(h.msg.bytes())
			if h.lastMod != "" || h.etag != "" {
				lastMod, etag = h.lastMod, h.etag
			}
		case 304, 408:
			// Nothing new (interval poll) or the subscriber timed out: ask
			// again, an interval-poll after its interval.
			if h.status == 304 && r.cfg.Transport == TransportIntervalPoll {
				select {
				case <-r.ctx.Done():
					return nil
				case <-time.After(r.cfg.PollInterval):
				}
			}
		case 502, 503, 504:
			select {
			case <-r.ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
		default:
			return &statusError{h.status}
		}
		if h.close {
			c.Close()
			c = nil
		}
	}
}
