package bench

import (
	"bytes"
	"strconv"
)

// A benchmark message body is "<seq> <unix nanos> " followed by '.' padding
// up to the requested size, all on one line so every transport carries it
// unchanged (an EventSource data line, a WebSocket text frame, a chunk, a
// long-poll body). Subscribers only ever look at its first bodyPrefix
// bytes, so a large message costs them no memory.
const (
	bodyPrefix  = 48 // bytes of a body a subscriber keeps
	minBodySize = 32 // "<10-digit seq> <19-digit nanos> "
)

// appendBody appends the body of message seq sent at ts (unix nanoseconds),
// padded to size bytes.
func appendBody(b []byte, seq uint64, ts int64, size int) []byte {
	start := len(b)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, ' ')
	for len(b)-start < size {
		b = append(b, '.')
	}
	return b
}

// parseBody reads the sequence number and send time from the start of a
// body.
func parseBody(p []byte) (seq uint64, ts int64, ok bool) {
	i := 0
	digits := func() (uint64, bool) {
		start := i
		var v uint64
		for i < len(p) && p[i] >= '0' && p[i] <= '9' && i-start < 19 {
			v = v*10 + uint64(p[i]-'0')
			i++
		}
		return v, i > start
	}
	seq, ok = digits()
	if !ok || i >= len(p) || p[i] != ' ' {
		return 0, 0, false
	}
	i++
	v, ok := digits()
	if !ok || (i < len(p) && p[i] != ' ') {
		return 0, 0, false
	}
	return seq, int64(v), true
}

// pushStreamText marks the text of a message written with a JSON message
// template, as nginx-push-stream-module's sample configuration writes
// messages ({"id":1,"channel":"c","text":"<body>", ...}).
var pushStreamText = []byte(`"text":"`)

// messageBody returns the body inside a delivered message: the message
// itself, or, when it does not start with a body's digits, what follows
// the text field of a push-stream JSON message template. Only transports
// that deliver whole messages (EventSource, WebSocket) carry enough of one
// for the latter.
func messageBody(p []byte) []byte {
	if len(p) > 0 && p[0] >= '0' && p[0] <= '9' {
		return p
	}
	if i := bytes.Index(p, pushStreamText); i >= 0 {
		return p[i+len(pushStreamText):]
	}
	return p
}

// prefixBuf collects the first bodyPrefix bytes of a message that may
// arrive in pieces.
type prefixBuf struct {
	b [bodyPrefix]byte
	n int
}

func (p *prefixBuf) write(b []byte) {
	p.n += copy(p.b[p.n:], b)
}

func (p *prefixBuf) bytes() []byte { return p.b[:p.n] }

func (p *prefixBuf) reset() { p.n = 0 }
