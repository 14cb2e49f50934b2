package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
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
	rd := br // holds bytes the server sent right after the handshake
	if rd == nil {
		rd = bufio.NewReaderSize(c, readBufSize)
	}
	var (
		hb  [ws.MaxHeaderSize - 2]byte
		msg prefixBuf
	)
	for {
		h, err := ws.ReadHeaderBuffer(rd, hb[:])
		if err != nil {
			if err == io.EOF {
				return errStreamClosed
			}
			return err
		}
		if h.OpCode.IsControl() {
			if h.Length > 125 {
				return fmt.Errorf("websocket control frame of %d bytes", h.Length)
			}
			p := make([]byte, h.Length)
			if _, err := io.ReadFull(rd, p); err != nil {
				return err
			}
			if h.Masked {
				ws.Cipher(p, h.Mask, 0)
			}
			switch h.OpCode {
			case ws.OpPing:
				f := ws.MaskFrameInPlace(ws.NewPongFrame(p))
				if err := ws.WriteFrame(c, f); err != nil {
					return err
				}
			case ws.OpClose:
				code, reason := ws.ParseCloseFrameData(p)
				return &wsCloseError{code, reason}
			}
			continue
		}
		// A data frame (or a continuation): keep the start of the message,
		// skip the rest.
		keep := min(h.Length, int64(bodyPrefix-msg.n))
		part := msg.b[msg.n : msg.n+int(keep)]
		if _, err := io.ReadFull(rd, part); err != nil {
			return err
		}
		if h.Masked {
			ws.Cipher(part, h.Mask, 0)
		}
		msg.n += int(keep)
		for rest := h.Length - keep; rest > 0; {
			n, err := rd.Discard(int(min(rest, 1<<20)))
			rest -= int64(n)
			if err != nil {
				return err
			}
		}
		if h.Fin {
			s.deliver(msg.bytes())
			msg.reset()
		}
	}
}
