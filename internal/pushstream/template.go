package pushstream

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fields are what a message template's placeholders stand for.
type Fields struct {
	// ID is ~id~: the message's number in its channel, or a control
	// message's negative id (PingID, DeletedID, TimeoutID).
	ID int64
	// Text is ~text~, and its length ~size~.
	Text []byte
	// Channel is ~channel~; empty for pings and timeouts.
	Channel string
	// Time is ~time~ in Unix seconds, written as an HTTP date (0 for
	// control messages: "Thu, 01 Jan 1970 00:00:00 GMT").
	Time int64
	// Tag is ~tag~.
	Tag int64
	// EventID and EventType are ~event-id~ and ~event-type~: the
	// publisher's Event-Id and Event-Type headers.
	EventID   string
	EventType string
}

// The control messages' ids and the module's default texts.
const (
	PingID    = -1
	DeletedID = -2
	TimeoutID = -3

	// DefaultPingText is the text of a ping message when
	// push_stream_ping_message_text is unset.
	DefaultPingText = " "
	// TimeoutText is the text of a long-poll timeout message
	// (push_stream_timeout_with_body).
	TimeoutText = "Timed out"
)

// part kinds of a compiled template.
const (
	partLiteral uint8 = iota
	partID
	partEventID
	partEventType
	partChannel
	partText
	partTag
	partTime
	partSize
)

// tokens are the placeholders in the order the module tries them.
var tokens = [...]struct {
	s    string
	kind uint8
}{
	{"~id~", partID},
	{"~event-id~", partEventID},
	{"~event-type~", partEventType},
	{"~channel~", partChannel},
	{"~text~", partText},
	{"~tag~", partTag},
	{"~time~", partTime},
	{"~size~", partSize},
}

type part struct {
	kind uint8
	lit  string
}

// Template is a compiled message template. The zero value renders
// nothing. A Template is immutable and safe for concurrent use.
type Template struct {
	src   string
	parts []part
	lits  int // literal bytes
}

// Compile parses a message template: placeholders (~id~ ~text~ ~size~
// ~channel~ ~time~ ~tag~ ~event-id~ ~event-type~) are replaced when a
// message is rendered, everything else is literal. Nothing is escaped: as
// in the module, ~text~ is the message's bytes as published, so a JSON
// template gets valid JSON only for texts that are. Any string compiles.
func Compile(src string) *Template {
	t := &Template{src: src}
	last := 0
	for i := 0; i < len(src); {
		j := strings.IndexByte(src[i:], '~')
		if j < 0 {
			break
		}
		i += j
		matched := false
		for _, tok := range tokens {
			if strings.HasPrefix(src[i:], tok.s) {
				if last < i {
					t.parts = append(t.parts, part{kind: partLiteral, lit: src[last:i]})
					t.lits += i - last
				}
				t.parts = append(t.parts, part{kind: tok.kind})
				i += len(tok.s)
				last = i
				matched = true
				break
			}
		}
		if !matched {
			i++
		}
	}
	if last < len(src) {
		t.parts = append(t.parts, part{kind: partLiteral, lit: src[last:]})
		t.lits += len(src) - last
	}
	return t
}

// String returns the template as written.
func (t *Template) String() string { return t.src }

// HasText reports whether the template uses ~text~.
func (t *Template) HasText() bool {
	for _, p := range t.parts {
		if p.kind == partText {
			return true
		}
	}
	return false
}

// timeLen is the length of an HTTP date.
const timeLen = len("Thu, 01 Jan 1970 00:00:00 GMT")

// Len is an upper bound of the length of t rendered with f.
func (t *Template) Len(f *Fields) int {
	n := t.lits
	for _, p := range t.parts {
		switch p.kind {
		case partID, partTag, partSize:
			n += 20
		case partEventID:
			n += len(f.EventID)
		case partEventType:
			n += len(f.EventType)
		case partChannel:
			n += len(f.Channel)
		case partText:
			n += len(f.Text)
		case partTime:
			n += timeLen
		}
	}
	return n
}

// Append appends t rendered with f to dst.
func (t *Template) Append(dst []byte, f *Fields) []byte {
	for _, p := range t.parts {
		switch p.kind {
		case partLiteral:
			dst = append(dst, p.lit...)
		case partID:
			dst = strconv.AppendInt(dst, f.ID, 10)
		case partEventID:
			dst = append(dst, f.EventID...)
		case partEventType:
			dst = append(dst, f.EventType...)
		case partChannel:
			dst = append(dst, f.Channel...)
		case partText:
			dst = append(dst, f.Text...)
		case partTag:
			dst = strconv.AppendInt(dst, f.Tag, 10)
		case partTime:
			dst = AppendTime(dst, f.Time)
		case partSize:
			dst = strconv.AppendInt(dst, int64(len(f.Text)), 10)
		}
	}
	return dst
}

// AppendTime appends Unix seconds sec as an HTTP date, as ~time~ and
// Last-Modified write it.
func AppendTime(dst []byte, sec int64) []byte {
	return time.Unix(sec, 0).UTC().AppendFormat(dst, http.TimeFormat)
}
