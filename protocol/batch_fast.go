package protocol

import "encoding/base64"

// Batch fields parseBatchFast knows, as bits of a message's seen set.
const (
	fieldChannel = 1 << iota
	fieldData
	fieldDataB64
	fieldContentType
	fieldEvent
	fieldToken
)

// parseBatchFast reads the common shape of a batch body without
// reflection: an array of objects whose members are the known fields, each
// once, with string values of printable ASCII and no escapes, every message
// valid. For anything else it answers ok false, and parseBatchJSON reads the
// body instead, so the two never disagree: a body parseBatchFast accepts
// means to parseBatchJSON what it means here (FuzzParseBatchFast checks
// it). body is trimmed.
func parseBatchFast(body []byte, max int) (msgs []BatchMessage, ok bool) {
	p := fastScanner{b: body}
	if !p.byte('[') {
		return nil, false
	}
	p.space()
	if p.byte(']') {
		return nil, p.end()
	}
	for {
		if max > 0 && len(msgs) == max {
			return nil, false
		}
		m, ok := p.message()
		if !ok {
			return nil, false
		}
		msgs = append(msgs, m)
		p.space()
		if p.byte(']') {
			return msgs, p.end()
		}
		if !p.byte(',') {
			return nil, false
		}
		p.space()
	}
}

// fastScanner walks a batch body for parseBatchFast.
type fastScanner struct {
	b []byte
	i int
}

// space skips JSON whitespace.
func (p *fastScanner) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// byte consumes c if it comes next.
func (p *fastScanner) byte(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end reports whether the body is all read.
func (p *fastScanner) end() bool {
	return p.i == len(p.b)
}

// str reads a string of printable ASCII without escapes and returns its
// contents, a part of the body.
func (p *fastScanner) str() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return p.b[start : p.i-1], true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// message reads one message object.
func (p *fastScanner) message() (BatchMessage, bool) {
	var m BatchMessage
	if !p.byte('{') {
		return m, false
	}
	p.space()
	var seen int
	var data, data64 []byte
	if !p.byte('}') {
		for {
			key, ok := p.str()
			if !ok {
				return m, false
			}
			p.space()
			if !p.byte(':') {
				return m, false
			}
			p.space()
			v, ok := p.str()
			if !ok {
				return m, false
			}
			var f int
			switch string(key) {
			case "channel":
				f, m.Channel = fieldChannel, string(v)
			case "data":
				f, data = fieldData, v
			case "data_b64":
				f, data64 = fieldDataB64, v
			case "content_type":
				f, m.ContentType = fieldContentType, string(v)
			case "event":
				f, m.Event = fieldEvent, string(v)
			case "token":
				f, m.Token = fieldToken, string(v)
			default:
				return m, false
			}
			if seen&f != 0 {
				return m, false
			}
			seen |= f
			p.space()
			if p.byte('}') {
				break
			}
			if !p.byte(',') {
				return m, false
			}
			p.space()
		}
	}
	switch {
	case m.Channel == "":
		return m, false
	case seen&fieldData != 0 && seen&fieldDataB64 != 0:
		return m, false
	case seen&fieldData != 0:
		m.Data = append(make([]byte, 0, len(data)), data...)
	case seen&fieldDataB64 != 0:
		b := make([]byte, base64.StdEncoding.DecodedLen(len(data64)))
		n, err := base64.StdEncoding.Decode(b, data64)
		if err != nil {
			return m, false
		}
		m.Data = b[:n]
	default:
		return m, false
	}
	return m, true
}
