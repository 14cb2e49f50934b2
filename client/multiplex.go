package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/gobwas/ws"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/protocol/msgid"
)

// errNoMultiplex is a server or location that does not speak herald.v1:
// the handshake failed or did not pick the protocol.
var errNoMultiplex = errors.New("herald.v1 is not offered here")

// multiplex reads one herald.v1 connection: it subscribes to each channel
// of the attempt from the channel's own position and delivers the
// messages of every channel as they come.
func (s *Subscription) multiplex(a *attempt) (bool, error) {
	wu, err := muxWSURL(s.c.muxURL)
	if err != nil {
		return false, protocolError{fmt.Errorf("herald.v1 %s: %w", s.c.muxURL, err)}
	}
	d := ws.Dialer{Protocols: []string{protocol.MuxProtocol}, Timeout: s.c.timeout}
	if len(s.c.header) > 0 {
		d.Header = ws.HandshakeHeaderHTTP(s.c.header)
	}
	conn, br, hs, err := d.Dial(a.ctx, wu)
	if err != nil {
		var se ws.StatusError
		if errors.As(err, &se) {
			return false, fmt.Errorf("herald.v1 %s: handshake answered %d: %w", wu, int(se), errNoMultiplex)
		}
		return false, fmt.Errorf("herald.v1 %s: %w", wu, err)
	}
	defer conn.Close()
	if hs.Protocol != protocol.MuxProtocol {
		return false, fmt.Errorf("herald.v1 %s: the server answered protocol %q: %w", wu, hs.Protocol, errNoMultiplex)
	}
	// A change of the channel set or Close ends a blocked read.
	stop := context.AfterFunc(a.ctx, func() { conn.Close() })
	defer stop()
	s.setUsing(Multiplex)
	m := &muxReader{wsReader: wsReader{s: s, a: a, conn: conn, u: wu}, subs: map[uint64]string{}}
	m.dec.MaxMessage = s.opts.MaxMessage
	// Every channel from where it stands: its last message received, or
	// the subscription's start.
	s.mu.Lock()
	froms := make([]string, len(a.channels))
	for i, ch := range a.channels {
		if p, ok := s.pos[ch]; ok {
			froms[i] = p.String()
		}
	}
	s.mu.Unlock()
	for i, ch := range a.channels {
		m.ref++
		m.subs[m.ref] = ch
		f := &protocol.MuxFrame{Op: protocol.MuxSubscribe, Ref: m.ref, Channel: ch, From: froms[i]}
		if err := m.write(protocol.OpText, protocol.AppendMuxFrame(nil, f)); err != nil {
			return false, fmt.Errorf("herald.v1 %s: subscribe: %w", wu, err)
		}
	}
	err = s.readWS(a, conn, br, "herald.v1 "+wu, m.feed)
	return m.accepted, err
}

// muxReader reads a herald.v1 connection's frames.
type muxReader struct {
	wsReader
	ref      uint64
	subs     map[uint64]string // subscribe frames not yet answered, by ref
	accepted bool              // a subscription was acknowledged
}

// feed reads b; done reports that the connection is over, with why.
func (m *muxReader) feed(b []byte) (done bool, err error) {
	m.dec.Feed(b)
	for {
		f, err := m.dec.Next()
		if err != nil {
			return true, protocolError{fmt.Errorf("herald.v1 %s: %w", m.u, err)}
		}
		if f == nil {
			return false, nil
		}
		switch f.Op {
		case protocol.OpText:
			mf, err := protocol.ParseMuxFrame(f.Data)
			if err != nil {
				return true, protocolError{fmt.Errorf("herald.v1 %s: %w", m.u, err)}
			}
			if done, err := m.frame(mf); done {
				return true, err
			}
		case protocol.OpPing:
			if err := m.write(protocol.OpPong, f.Data); err != nil {
				return true, fmt.Errorf("herald.v1 %s: pong: %w", m.u, err)
			}
		case protocol.OpClose:
			code, reason := protocol.ParseClosePayload(f.Data)
			m.write(protocol.OpClose, protocol.AppendClosePayload(nil, code, ""))
			return true, closeError(m.u, code, string(reason))
		}
	}
}

// frame acts on one herald.v1 frame.
func (m *muxReader) frame(f *protocol.MuxFrame) (done bool, err error) {
	switch f.Op {
	case protocol.MuxAck:
		ch, ok := m.subs[f.Ref]
		if !ok {
			return false, nil
		}
		delete(m.subs, f.Ref)
		m.accepted = true
		// The ack's id is where the subscription stands: a channel with no
		// message yet resumes from there after a drop, missing nothing.
		if id, err := msgid.Parse(f.ID, 1); err == nil && f.ID != "" {
			m.s.mu.Lock()
			if _, seen := m.s.pos[ch]; !seen {
				m.s.pos[ch] = msgid.ID{Time: id.Time, Tag: id.Tags[0]}
			}
			m.s.mu.Unlock()
		}
	case protocol.MuxError:
		ch, ok := m.subs[f.Ref]
		if !ok {
			return false, nil
		}
		return true, endStatus(m.u+" (channel "+ch+")", f.Status, f.Reason)
	case protocol.MuxUnsubscribed:
		return true, endStatus(m.u+" (channel "+f.Channel+")", f.Status, f.Reason)
	case protocol.MuxMessage:
		id, err := msgid.Parse(f.ID, 1)
		if err != nil {
			return true, protocolError{fmt.Errorf("herald.v1 %s: message id %q: %w", m.u, f.ID, err)}
		}
		r := &Received{Transport: Multiplex, ContentType: f.ContentType, Event: f.Event, Body: bytes.Clone(f.Data)}
		if r.Body == nil {
			r.Body = []byte{}
		}
		if ok, err := m.s.deliverTo(m.a, f.Channel, msgid.ID{Time: id.Time, Tag: id.Tags[0]}, r); !ok {
			return true, err
		}
	}
	return false, nil
}

// muxWSURL turns a multiplex location's URL into its WebSocket URL.
func muxWSURL(u string) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	switch p.Scheme {
	case "http":
		p.Scheme = "ws"
	case "https":
		p.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", fmt.Errorf("want an http, https, ws or wss URL")
	}
	return p.String(), nil
}
