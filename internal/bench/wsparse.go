package bench

import (
	"encoding/binary"
	"fmt"

	"github.com/gobwas/ws"
)

// wsParser reads a server's WebSocket frames incrementally from bytes fed
// in pieces of any size. Data messages (text or binary, possibly
// fragmented) are delivered by their first bodyPrefix bytes; pings are
// handed to pong; a close frame ends the stream with a *wsCloseError. Its
// state is a few hundred bytes, whatever the frames hold.
type wsParser struct {
	deliver func([]byte)
	pong    func(payload []byte) error

	hdr  [ws.MaxHeaderSize]byte
	hn   int // header bytes collected
	need int // header bytes needed (2 until the second byte is known)

	inPayload bool
	remain    int64
	op        ws.OpCode
	fin       bool
	masked    bool
	mask      [4]byte
	pos       int // payload bytes already read (for unmasking)

	ctrl [125]byte // a control frame's payload
	cn   int
	msg  prefixBuf
}

// feed parses b.
func (p *wsParser) feed(b []byte) error {
	for len(b) > 0 {
		if !p.inPayload {
			if p.need == 0 {
				p.need = 2
			}
			n := copy(p.hdr[p.hn:p.need], b)
			p.hn += n
			b = b[n:]
			if p.hn < p.need {
				continue
			}
			if p.hn == 2 {
				p.need = 2 + p.extLen()
				if p.need > p.hn {
					continue
				}
			}
			if err := p.header(); err != nil {
				return err
			}
			if p.remain > 0 {
				continue
			}
			if err := p.frameEnd(); err != nil {
				return err
			}
			continue
		}
		n := int64(len(b))
		if n > p.remain {
			n = p.remain
		}
		part := b[:n]
		b = b[n:]
		p.remain -= n
		if p.op.IsControl() {
			p.cn += copy(p.ctrl[p.cn:], part)
		} else if keep := min(len(part), bodyPrefix-p.msg.n); keep > 0 {
			start := p.msg.n
			p.msg.write(part[:keep])
			if p.masked {
				ws.Cipher(p.msg.b[start:p.msg.n], p.mask, p.pos)
			}
		}
		p.pos += int(n)
		if p.remain == 0 {
			if err := p.frameEnd(); err != nil {
				return err
			}
		}
	}
	return nil
}

// extLen returns the header bytes after the first two, from the second.
func (p *wsParser) extLen() int {
	n := 0
	switch p.hdr[1] & 0x7f {
	case 126:
		n = 2
	case 127:
		n = 8
	}
	if p.hdr[1]&0x80 != 0 {
		n += 4
	}
	return n
}

// header decodes a complete frame header.
func (p *wsParser) header() error {
	p.fin = p.hdr[0]&0x80 != 0
	p.op = ws.OpCode(p.hdr[0] & 0x0f)
	p.masked = p.hdr[1]&0x80 != 0
	i := 2
	switch l := p.hdr[1] & 0x7f; l {
	case 126:
		p.remain = int64(binary.BigEndian.Uint16(p.hdr[2:4]))
		i = 4
	case 127:
		v := binary.BigEndian.Uint64(p.hdr[2:10])
		if v > 1<<62 {
			return fmt.Errorf("websocket frame length %d", v)
		}
		p.remain = int64(v)
		i = 10
	default:
		p.remain = int64(l)
	}
	if p.masked {
		copy(p.mask[:], p.hdr[i:i+4])
	}
	if p.op.IsControl() {
		if p.remain > 125 || !p.fin {
			return fmt.Errorf("websocket control frame of %d bytes, fin %v", p.remain, p.fin)
		}
		p.cn = 0
	}
	p.inPayload, p.hn, p.need, p.pos = true, 0, 0, 0
	return nil
}

// frameEnd finishes a frame whose payload has been read.
func (p *wsParser) frameEnd() error {
	p.inPayload = false
	if p.op.IsControl() {
		payload := p.ctrl[:p.cn]
		if p.masked {
			ws.Cipher(payload, p.mask, 0)
		}
		switch p.op {
		case ws.OpPing:
			if p.pong != nil {
				return p.pong(payload)
			}
		case ws.OpClose:
			code, reason := ws.ParseCloseFrameData(payload)
			return &wsCloseError{code, reason}
		}
		return nil
	}
	if p.fin {
		p.deliver(p.msg.bytes())
		p.msg.reset()
	}
	return nil
}
