package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldpush/herald/protocol"
)

// wsCloseError is the server closing a WebSocket subscriber.
type wsCloseError struct {
	code   protocol.CloseCode
	reason string
}

func (e *wsCloseError) Error() string {
	return fmt.Sprintf("websocket closed by server: %d %s", e.code, e.reason)
}

// runWebSocket subscribes with a plain WebSocket (no subprotocol): every
// text or binary message is a message body.
func (s *subscriber) runWebSocket() error {
	r := s.r
	t0 := time.Now()
	d := ws.Dialer{
		Timeout:         r.cfg.Timeout,
		ReadBufferSize:  readBufSize,
		WriteBufferSize: 512,
		NetDial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := r.dial(ctx, r.sub.addr, s.src)
			if err != nil {
				return nil, err
			}
			if !s.setConn(c) {
				return nil, errStopped
			}
			return c, nil
		},
	}
	if s.resumeID != "" {
		d.Header = ws.HandshakeHeaderString("Last-Event-ID: " + s.resumeID + "\r\n")
	}
	c, br, _, err := d.Dial(r.ctx, s.ch.wsURL)
	if err != nil {
		var se ws.StatusError
		if errors.As(err, &se) {
			return &statusError{int(se)}
		}
		return err
	}
	defer c.Close()
	s.connected(t0)
	wr := &wsReader{
		deliver: s.deliver,
		pong: func(payload []byte) error {
			var key [4]byte
			binary.LittleEndian.PutUint32(key[:], rand.Uint32())
			b := protocol.AppendMaskedFrame(make([]byte, 0, 2+4+len(payload)), protocol.OpPong, protocol.Fin, key, payload)
			if fd := s.rawFD.Load(); fd > 0 {
				// Read by the reactor (this runs under its lock): the
				// connection is its descriptor now.
				return writeRaw(int(fd), b)
			}
			c.SetWriteDeadline(time.Now().Add(r.cfg.Timeout))
			_, err := c.Write(b)
			return err
		},
	}
	setupWSDecoder(&wr.dec, r.cfg.keep())
	if br != nil && br.Buffered() > 0 {
		// Bytes the server sent right after the handshake.
		b, _ := br.Peek(br.Buffered())
		s.readAt = time.Now().UnixNano()
		if err := wr.feed(b); err != nil {
			return err
		}
	}
	feed := func(b []byte) error {
		s.readAt = time.Now().UnixNano() // one clock read for every message read together
		return wr.feed(b)
	}
	return r.react.serve(s, c, feed, func() error { return errStreamClosed })
}

// setupWSDecoder sets up the WebSocket decoder of a subscriber: it keeps
// the first keep bytes of each message (as setupESDecoder), all that the
// tool reads of one, so a large message costs no memory. (Set in place,
// as setupESDecoder.)
func setupWSDecoder(d *protocol.WSDecoder, keep int) {
	d.MaxMessage, d.Truncate = keep, true
}

// wsReader reads a server's WebSocket frames: data messages are delivered
// by their start, pings handed to pong, and a close frame ends the stream
// with a *wsCloseError.
type wsReader struct {
	dec     protocol.WSDecoder
	deliver func([]byte)
	pong    func(payload []byte) error
}

// feed reads b, which the decoder may unmask in place.
func (w *wsReader) feed(b []byte) error {
	w.dec.Feed(b)
	for {
		m, err := w.dec.Next()
		if err != nil || m == nil {
			return err
		}
		switch m.Op {
		case protocol.OpText, protocol.OpBinary:
			w.deliver(m.Data)
		case protocol.OpPing:
			if w.pong != nil {
				if err := w.pong(m.Data); err != nil {
					return fmt.Errorf("pong: %w", err)
				}
			}
		case protocol.OpClose:
			code, reason := protocol.ParseClosePayload(m.Data)
			return &wsCloseError{code, string(reason)}
		}
	}
}
