package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/gobwas/ws"
)

// wsCloseError is the server closing a WebSocket subscriber.
type wsCloseError struct {
	code   ws.StatusCode
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
	p := &wsParser{
		deliver: s.deliver,
		pong: func(payload []byte) error {
			var b bytes.Buffer
			if err := ws.WriteFrame(&b, ws.MaskFrameInPlace(ws.NewPongFrame(payload))); err != nil {
				return err
			}
			if fd := s.rawFD.Load(); fd > 0 {
				// Read by the reactor (this runs under its lock): the
				// connection is its descriptor now.
				return writeRaw(int(fd), b.Bytes())
			}
			c.SetWriteDeadline(time.Now().Add(r.cfg.Timeout))
			_, err := c.Write(b.Bytes())
			return err
		},
	}
	if br != nil && br.Buffered() > 0 {
		// Bytes the server sent right after the handshake.
		b, _ := br.Peek(br.Buffered())
		s.readAt = time.Now().UnixNano()
		if err := p.feed(b); err != nil {
			return err
		}
	}
	feed := func(b []byte) error {
		s.readAt = time.Now().UnixNano() // one clock read for every message read together
		return p.feed(b)
	}
	return r.react.serve(s, c, feed, func() error { return errStreamClosed })
}
