package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// OpCode is a WebSocket frame's opcode (RFC 6455, section 5.2).
type OpCode byte

// The opcodes of RFC 6455.
const (
	OpContinuation OpCode = 0x0 // a later fragment of a message
	OpText         OpCode = 0x1 // a text message (UTF-8)
	OpBinary       OpCode = 0x2 // a binary message
	OpClose        OpCode = 0x8 // the closing handshake
	OpPing         OpCode = 0x9 // a ping, answered with a pong
	OpPong         OpCode = 0xa // a pong
)

// IsControl reports whether op is a control opcode (close, ping, pong or a
// reserved one of their range).
func (op OpCode) IsControl() bool { return op&0x8 != 0 }

// IsReserved reports whether op is not defined by RFC 6455.
func (op OpCode) IsReserved() bool {
	return (op > OpBinary && op < OpClose) || op > OpPong
}

// String returns the opcode's name, as "text".
func (op OpCode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "opcode " + strconv.Itoa(int(op))
}

// CloseCode is the status code of a close frame (RFC 6455, section 7.4).
type CloseCode uint16

// The close codes of RFC 6455 and the IANA registry that Herald and Nchan
// use or may receive.
const (
	CloseNormal             CloseCode = 1000 // the purpose is fulfilled
	CloseGoingAway          CloseCode = 1001 // server going down, channel deleted
	CloseProtocolError      CloseCode = 1002 // a frame broke the protocol
	CloseUnsupportedData    CloseCode = 1003 // a kind of data it cannot accept
	CloseNoStatus           CloseCode = 1005 // a close frame without a code; never sent
	CloseAbnormal           CloseCode = 1006 // the connection dropped without a close frame; never sent
	CloseInvalidPayload     CloseCode = 1007 // a text message that is not UTF-8
	ClosePolicyViolation    CloseCode = 1008 // forbidden, as publishing where it is not allowed
	CloseMessageTooBig      CloseCode = 1009 // a message over the size limit
	CloseMandatoryExtension CloseCode = 1010 // the client needed an extension the server refused
	CloseInternalError      CloseCode = 1011 // the server failed
	CloseServiceRestart     CloseCode = 1012 // the server is restarting
	CloseTryAgainLater      CloseCode = 1013 // overloaded: a subscriber too slow
	CloseBadGateway         CloseCode = 1014 // a gateway's upstream failed
)

// FrameFlags are the FIN and RSV bits of a frame's first byte, in their
// places there.
type FrameFlags byte

// The bits of FrameFlags.
const (
	Fin  FrameFlags = 0x80 // the last frame of a message
	RSV1 FrameFlags = 0x40 // permessage-deflate: a compressed message
	RSV2 FrameFlags = 0x20 // reserved for extensions
	RSV3 FrameFlags = 0x10 // reserved for extensions
)

// MaxControlPayload is the largest payload of a control frame.
const MaxControlPayload = 125

// MaxFrameHeaderSize is the longest frame header: two bytes, an 8-byte
// length and a 4-byte mask key.
const MaxFrameHeaderSize = 14

// MaxCloseReason is the longest close reason that fits a control frame
// after its code.
const MaxCloseReason = MaxControlPayload - 2

// AppendFrame appends one unmasked frame, as a server writes them: the
// header for op with flags (Fin for a whole message, RSV1 for a compressed
// one) and the payload, which is the concatenation of parts.
func AppendFrame(b []byte, op OpCode, flags FrameFlags, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b = appendFrameHeader(b, op, flags, n, false)
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// AppendFrameHeader appends the header of an unmasked frame whose payload
// is n bytes: AppendFrame without the payload, for a server that writes
// the payload from where it is.
func AppendFrameHeader(b []byte, op OpCode, flags FrameFlags, n int) []byte {
	return appendFrameHeader(b, op, flags, n, false)
}

// AppendMaskedFrame appends one frame masked with key, as a client writes
// them. The key must be unpredictable (RFC 6455, section 5.3): draw it
// from crypto/rand or math/rand/v2 for each frame.
func AppendMaskedFrame(b []byte, op OpCode, flags FrameFlags, key [4]byte, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b = appendFrameHeader(b, op, flags, n, true)
	b = append(b, key[:]...)
	start := len(b)
	for _, p := range parts {
		b = append(b, p...)
	}
	Mask(b[start:], key, 0)
	return b
}

// appendFrameHeader appends a frame header for a payload of n bytes; a
// masked one is to be followed by its key.
func appendFrameHeader(b []byte, op OpCode, flags FrameFlags, n int, masked bool) []byte {
	b0 := byte(flags)&0xf0 | byte(op)&0x0f
	var m byte
	if masked {
		m = 0x80
	}
	switch {
	case n <= 125:
		return append(b, b0, m|byte(n))
	case n <= 0xffff:
		return append(b, b0, m|126, byte(n>>8), byte(n))
	}
	return binary.BigEndian.AppendUint64(append(b, b0, m|127), uint64(n))
}

// AppendPingFrame appends an unmasked ping; a payload over 125 bytes is
// cut.
func AppendPingFrame(b []byte, payload []byte) []byte {
	return AppendFrame(b, OpPing, Fin, payload[:min(len(payload), MaxControlPayload)])
}

// AppendPongFrame appends an unmasked pong, answering a ping with its
// payload; a payload over 125 bytes is cut.
func AppendPongFrame(b []byte, payload []byte) []byte {
	return AppendFrame(b, OpPong, Fin, payload[:min(len(payload), MaxControlPayload)])
}

// AppendCloseFrame appends an unmasked close frame with code and reason.
// The reason is cut to 123 bytes (MaxCloseReason), at the start of a UTF-8
// sequence when the cut would split one. Code 0 sends a close frame
// without a payload.
func AppendCloseFrame(b []byte, code CloseCode, reason string) []byte {
	if code == 0 {
		return append(b, byte(Fin)|byte(OpClose), 0)
	}
	reason = cutReason(reason)
	b = appendFrameHeader(b, OpClose, Fin, 2+len(reason), false)
	b = binary.BigEndian.AppendUint16(b, uint16(code))
	return append(b, reason...)
}

// AppendClosePayload appends a close frame's payload, the code and the
// reason cut as AppendCloseFrame does, for a client to mask with
// AppendMaskedFrame.
func AppendClosePayload(b []byte, code CloseCode, reason string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(code))
	return append(b, cutReason(reason)...)
}

// cutReason cuts a close reason to MaxCloseReason bytes, not inside a
// UTF-8 sequence.
func cutReason(s string) string {
	if len(s) <= MaxCloseReason {
		return s
	}
	n := MaxCloseReason
	for n > MaxCloseReason-utf8.UTFMax && n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ParseClosePayload reads a close frame's payload: the code (CloseNoStatus
// when the payload is empty) and the reason.
func ParseClosePayload(p []byte) (CloseCode, []byte) {
	if len(p) < 2 {
		return CloseNoStatus, nil
	}
	return CloseCode(binary.BigEndian.Uint16(p)), p[2:]
}

// Mask masks or unmasks b with key (RFC 6455, section 5.3); pos is the
// offset of b[0] in the frame's payload, for payloads handled in pieces.
func Mask(b []byte, key [4]byte, pos int) {
	k := [4]byte{key[pos&3], key[(pos+1)&3], key[(pos+2)&3], key[(pos+3)&3]}
	if len(b) >= 8 {
		k32 := uint64(binary.LittleEndian.Uint32(k[:]))
		k64 := k32<<32 | k32
		for len(b) >= 8 {
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
			b = b[8:]
		}
	}
	for i := range b {
		b[i] ^= k[i&3]
	}
}

// ErrTooLong is wrapped by the error of a decoder that met a message, line
// or header over its limit.
var ErrTooLong = errors.New("over the size limit")

// WSError is a WebSocket stream that broke the protocol or the decoder's
// limits. Code is the close code to answer it with.
type WSError struct {
	Code   CloseCode
	Reason string
	Err    error // ErrTooLong for a message over the limit; else nil
}

// Error describes the failure.
func (e *WSError) Error() string {
	return fmt.Sprintf("websocket: %s (close code %d)", e.Reason, e.Code)
}

// Unwrap returns e.Err.
func (e *WSError) Unwrap() error { return e.Err }

// WSMessage is a complete data message or control frame.
type WSMessage struct {
	// Op is OpText, OpBinary, OpClose, OpPing or OpPong.
	Op OpCode
	// Data is the payload, unmasked: a data message's fragments joined,
	// or a control frame's payload (ParseClosePayload reads a close
	// frame's). It is valid until the decoder's next Feed or Next.
	Data []byte
	// Compressed reports RSV1 on the message's first frame: a
	// permessage-deflate message, still compressed.
	Compressed bool
	// Truncated reports that the message was longer than the decoder's
	// MaxMessage and Data holds only its start.
	Truncated bool
}

// DefaultMaxMessage is the size limit of a decoder that sets none: 16 MiB.
const DefaultMaxMessage = 16 << 20

// WSDecoder reads WebSocket frames incrementally from bytes fed in pieces
// of any size, and returns whole data messages (fragments joined) and
// control frames, which may come between fragments. It checks the framing
// rules of RFC 6455: reserved opcodes and bits, control frames at most 125
// bytes and unfragmented, continuations only inside a message, a close
// payload of 0 or at least 2 bytes. It does not check that text is UTF-8,
// nor inflate compressed messages.
//
// A data message's payload is collected as it arrives, never allocated
// from the length a header declares; one that lies whole in the bytes fed
// is returned without a copy. Masked payloads are unmasked in place, in the
// caller's buffer.
//
// The zero value accepts masked and unmasked frames, no RSV bits, and
// messages up to DefaultMaxMessage bytes.
type WSDecoder struct {
	// MaxMessage is the largest data message accepted, all fragments
	// together (0: DefaultMaxMessage). A larger one fails with a *WSError
	// with CloseMessageTooBig, as soon as a header announces it, unless
	// Truncate is set.
	MaxMessage int
	// Truncate keeps the first MaxMessage bytes of a larger message,
	// skips the rest and marks it Truncated, instead of failing.
	Truncate bool
	// RequireMasked rejects unmasked frames, as a server reading a client
	// must.
	RequireMasked bool
	// AllowCompressed accepts RSV1 on a message's first frame, as when
	// permessage-deflate was negotiated.
	AllowCompressed bool

	in  []byte // input fed and not yet read
	err error  // the error that stopped the stream

	hdr [MaxFrameHeaderSize]byte
	hn  int // header bytes collected in hdr

	inFrame bool // a header has been read, its payload is being read
	op      OpCode
	fin     bool
	masked  bool
	key     [4]byte
	remain  int64 // payload bytes still to read
	pos     int   // payload bytes read (mask offset)

	ctrl [MaxControlPayload]byte // a control frame's payload
	cn   int

	msgOp         OpCode // the data message in progress; 0: none
	msgCompressed bool
	msgLen        int64 // its length so far, kept or not
	msg           []byte
	truncated     bool
	delivered     bool // msg was returned: reset it on the next call

	m WSMessage // what Next returns
}

func (d *WSDecoder) limit() int64 {
	if d.MaxMessage > 0 {
		return int64(d.MaxMessage)
	}
	return DefaultMaxMessage
}

// Reset prepares the decoder for a new stream, keeping its settings and
// its buffer.
func (d *WSDecoder) Reset() {
	*d = WSDecoder{
		MaxMessage: d.MaxMessage, Truncate: d.Truncate,
		RequireMasked: d.RequireMasked, AllowCompressed: d.AllowCompressed,
		msg: d.msg[:0],
	}
}

// Feed hands the decoder the next bytes of the stream; Next reads them. p
// is not copied: it must not change until Next has reported that it needs
// more input. Feeding before that keeps what was left, in a copy.
func (d *WSDecoder) Feed(p []byte) {
	d.in = feedInput(d.in, p)
}

// feedInput returns the decoder's input after feeding p: p itself, or a
// copy of the unread rest followed by p.
func feedInput(in, p []byte) []byte {
	if len(in) == 0 {
		return p
	}
	buf := make([]byte, 0, len(in)+len(p))
	return append(append(buf, in...), p...)
}

// Idle reports whether the decoder stands between messages: every byte
// fed has been read, and no frame header, frame or fragmented data message
// is in progress. A reader that waits for the next message holding no
// buffer (a server with many idle clients) can let its buffers go when the
// decoder is idle, and needs to give a slow sender a deadline only when it
// is not. After an error it reports false.
func (d *WSDecoder) Idle() bool {
	return d.err == nil && len(d.in) == 0 && d.hn == 0 && !d.inFrame && (d.msgOp == 0 || d.delivered)
}

// Buffered returns how many bytes of the data message in progress the
// decoder holds in its own buffer: the payload received so far (at most
// MaxMessage) of a message that did not arrive in one piece, unmasked and
// copied out of the input fed. It is 0 between messages and while a
// message lies whole in the input. A server counts it against its memory
// budget for messages being received.
func (d *WSDecoder) Buffered() int {
	if d.delivered {
		return 0
	}
	return len(d.msg)
}

// Next returns the next complete message or control frame, or nil when
// the input fed so far holds no more of them: Feed the next bytes. The
// WSMessage is the decoder's own, overwritten by the next call. After a
// close frame the stream is over for the protocol, but the decoder reads
// on if asked. An error is final: every later call returns it.
func (d *WSDecoder) Next() (*WSMessage, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.delivered {
		d.msg, d.msgOp, d.msgLen, d.truncated, d.delivered = d.msg[:0], 0, 0, false, false
	}
	for {
		if !d.inFrame {
			if len(d.in) == 0 || !d.readHeader() {
				// Hold no reference to the caller's buffer.
				d.in, d.m = nil, WSMessage{}
				return nil, nil
			}
			if d.err != nil {
				return nil, d.err
			}
			if d.fin && (d.op == OpText || d.op == OpBinary) && d.remain <= int64(len(d.in)) {
				d.whole()
				return &d.m, nil
			}
		}
		if d.remain > 0 {
			if len(d.in) == 0 {
				d.in, d.m = nil, WSMessage{}
				return nil, nil
			}
			d.payload()
		}
		if d.remain == 0 {
			ok := d.frameEnd()
			if d.err != nil {
				return nil, d.err
			}
			if ok {
				return &d.m, nil
			}
		}
	}
}

// readHeader reads a frame header from the input, from it directly when
// it is there whole, and reports whether it is complete; a broken header
// sets d.err.
func (d *WSDecoder) readHeader() bool {
	if d.hn == 0 && len(d.in) >= 2 {
		if n := 2 + extLen(d.in[1]); len(d.in) >= n {
			d.header(d.in[:n])
			d.in = d.in[n:]
			return true
		}
	}
	need := 2
	if d.hn >= 2 {
		need += extLen(d.hdr[1])
	}
	for d.hn < need && len(d.in) > 0 {
		n := copy(d.hdr[d.hn:need], d.in)
		d.hn += n
		d.in = d.in[n:]
		if d.hn == 2 {
			need += extLen(d.hdr[1])
		}
	}
	if d.hn < need {
		return false
	}
	d.hn = 0
	d.header(d.hdr[:need])
	return true
}

// extLen is how many header bytes follow the first two, from the second.
func extLen(b1 byte) int {
	n := 0
	switch b1 & 0x7f {
	case 126:
		n = 2
	case 127:
		n = 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// header decodes and checks a complete frame header.
func (d *WSDecoder) header(h []byte) {
	d.fin = h[0]&0x80 != 0
	rsv := FrameFlags(h[0] & 0x70)
	d.op = OpCode(h[0] & 0x0f)
	d.masked = h[1]&0x80 != 0
	i := 2
	switch l := h[1] & 0x7f; l {
	case 126:
		d.remain = int64(binary.BigEndian.Uint16(h[2:4]))
		i = 4
	case 127:
		v := binary.BigEndian.Uint64(h[2:10])
		if v>>63 != 0 {
			d.fail(CloseProtocolError, "frame length with its most significant bit set", nil)
			return
		}
		d.remain = int64(v)
		i = 10
	default:
		d.remain = int64(l)
	}
	if d.masked {
		copy(d.key[:], h[i:i+4])
	}
	d.pos, d.cn = 0, 0
	switch {
	case d.op.IsReserved():
		d.fail(CloseProtocolError, "reserved opcode "+strconv.Itoa(int(d.op)), nil)
	case d.RequireMasked && !d.masked:
		d.fail(CloseProtocolError, "unmasked frame", nil)
	case d.op.IsControl() && (!d.fin || d.remain > MaxControlPayload):
		d.fail(CloseProtocolError, fmt.Sprintf("%v frame of %d bytes, fin %v", d.op, d.remain, d.fin), nil)
	case rsv != 0 && (rsv != RSV1 || !d.AllowCompressed || d.op.IsControl() || d.op == OpContinuation):
		d.fail(CloseProtocolError, "unexpected reserved bits", nil)
	case d.op == OpContinuation && d.msgOp == 0:
		d.fail(CloseProtocolError, "continuation frame without a message", nil)
	case (d.op == OpText || d.op == OpBinary) && d.msgOp != 0:
		d.fail(CloseProtocolError, "new message inside a fragmented one", nil)
	}
	if d.err != nil {
		return
	}
	if d.op.IsControl() {
		d.inFrame = true
		return
	}
	if d.op != OpContinuation {
		d.msgOp, d.msgCompressed, d.msgLen, d.truncated = d.op, rsv == RSV1, 0, false
	}
	if !d.Truncate && d.remain > d.limit()-d.msgLen {
		d.fail(CloseMessageTooBig, fmt.Sprintf("message of more than %d bytes", d.limit()), ErrTooLong)
		return
	}
	d.inFrame = true
}

func (d *WSDecoder) fail(code CloseCode, reason string, err error) {
	d.err = &WSError{Code: code, Reason: reason, Err: err}
}

// whole reads an unfragmented data message whose payload is in the
// input into d.m, without copying it.
func (d *WSDecoder) whole() {
	n := int(d.remain)
	p := d.in[:n]
	d.in = d.in[n:]
	d.m = WSMessage{Op: d.op, Compressed: d.msgCompressed}
	if lim := d.limit(); int64(n) > lim {
		p, d.m.Truncated = p[:lim], true
	}
	if d.masked {
		Mask(p, d.key, 0)
	}
	d.m.Data = p
	d.inFrame, d.remain, d.msgOp = false, 0, 0
}

// payload reads what the input holds of the frame's payload.
func (d *WSDecoder) payload() {
	n := min(int64(len(d.in)), d.remain)
	part := d.in[:n]
	d.in = d.in[n:]
	d.remain -= n
	if d.op.IsControl() {
		d.cn += copy(d.ctrl[d.cn:], part)
	} else {
		keep := min(int64(len(part)), d.limit()-int64(len(d.msg)))
		if keep < int64(len(part)) {
			d.truncated = true
		}
		if keep > 0 {
			start := len(d.msg)
			d.msg = append(d.msg, part[:keep]...)
			if d.masked {
				Mask(d.msg[start:], d.key, d.pos)
			}
		}
		d.msgLen += n
	}
	d.pos += int(n)
}

// frameEnd finishes a frame whose payload has been read and reports
// whether it completes a message, which it puts in d.m.
func (d *WSDecoder) frameEnd() bool {
	d.inFrame = false
	if d.op.IsControl() {
		p := d.ctrl[:d.cn]
		if d.masked {
			Mask(p, d.key, 0)
		}
		if d.op == OpClose && len(p) == 1 {
			d.fail(CloseProtocolError, "close frame with a 1-byte payload", nil)
			return false
		}
		d.m = WSMessage{Op: d.op, Data: p}
		return true
	}
	if !d.fin {
		return false
	}
	d.delivered = true
	d.m = WSMessage{Op: d.msgOp, Data: d.msg, Compressed: d.msgCompressed, Truncated: d.truncated}
	return true
}
