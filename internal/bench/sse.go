package bench

import (
	"bytes"
	"fmt"
)

// sseLineMax is how much of an EventSource line the parser keeps: enough
// for "data: " and a message's prefix, or a status comment.
const sseLineMax = 64

// statusError is an HTTP status where a message was expected: a response
// status, or an EventSource stream ending with ":410: 410 Gone".
type statusError struct{ code int }

func (e *statusError) Error() string { return fmt.Sprintf("HTTP status %d", e.code) }

// sseParser reads an EventSource stream incrementally: "data:" lines make an
// event's data, a blank line dispatches it, comments (":...") are skipped
// except Nchan's closing status comment ":<code>: <status line>". Lines end
// with LF or CRLF (Nchan and Herald write LF).
type sseParser struct {
	line    [sseLineMax]byte
	n       int
	hasData bool
	msg     prefixBuf
}

// feed parses b, calling deliver with the start of each event's first data
// line.
func (s *sseParser) feed(b []byte, deliver func([]byte)) error {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		part := b
		if i >= 0 {
			part = b[:i]
		}
		s.n += copy(s.line[s.n:], part)
		if i < 0 {
			return nil
		}
		b = b[i+1:]
		line := bytes.TrimSuffix(s.line[:s.n], []byte("\r"))
		s.n = 0
		if err := s.endLine(line, deliver); err != nil {
			return err
		}
	}
	return nil
}

func (s *sseParser) endLine(line []byte, deliver func([]byte)) error {
	switch {
	case len(line) == 0:
		if s.hasData {
			deliver(s.msg.bytes())
			s.msg.reset()
			s.hasData = false
		}
	case line[0] == ':':
		if code, ok := statusComment(line); ok {
			return &statusError{code}
		}
	case bytes.HasPrefix(line, []byte("data:")):
		if !s.hasData {
			v := line[len("data:"):]
			if len(v) > 0 && v[0] == ' ' {
				v = v[1:]
			}
			s.msg.write(v)
			s.hasData = true
		}
	}
	return nil
}

// statusComment recognises ":410: 410 Gone".
func statusComment(line []byte) (int, bool) {
	if len(line) < 6 || line[4] != ':' {
		return 0, false
	}
	code := 0
	for _, c := range line[1:4] {
		if c < '0' || c > '9' {
			return 0, false
		}
		code = code*10 + int(c-'0')
	}
	return code, true
}
