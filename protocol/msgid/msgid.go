// Package msgid implements Nchan-compatible message ids: the second a message
// was published and a per-second tag ("1450755280:0"), and the multiplexed form
// used by subscriptions to several channels ("1450755280:[0],-,-").
package msgid

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxTag is the largest tag a message id carries. Nchan keeps tags in 16 bits;
// when a second runs out of tags the next message moves to the next second.
const MaxTag = 32767

// MaxChannels is the largest number of channels one multiplexed id describes.
const MaxChannels = 255

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("message id invalid")

// ID identifies one message of one channel. The zero ID lies before every
// message, so it is the cursor of a subscriber that wants everything.
//
// As a cursor, an ID with Tag -1 means "before every message of second Time".
type ID struct {
	Time int64 // Unix seconds.
	Tag  int32 // Position within the second, from 0; -1 only in cursors.
}

// Compare orders ids by time, then tag: -1, 0 or +1.
func (id ID) Compare(o ID) int {
	switch {
	case id.Time < o.Time:
		return -1
	case id.Time > o.Time:
		return 1
	case id.Tag < o.Tag:
		return -1
	case id.Tag > o.Tag:
		return 1
	}
	return 0
}

// After reports whether id comes strictly after cursor.
func (id ID) After(cursor ID) bool { return id.Compare(cursor) > 0 }

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id == ID{} }

// String formats id as "time:tag".
func (id ID) String() string {
	return string(id.AppendTo(make([]byte, 0, 24)))
}

// AppendTo appends the "time:tag" form of id to b.
func (id ID) AppendTo(b []byte) []byte {
	b = strconv.AppendInt(b, id.Time, 10)
	b = append(b, ':')
	return appendTag(b, id.Tag)
}

// TagString formats the tag alone, as sent in a long-poll Etag.
func (id ID) TagString() string { return string(appendTag(nil, id.Tag)) }

func appendTag(b []byte, tag int32) []byte {
	if tag < 0 {
		return append(b, '-')
	}
	return strconv.AppendInt(b, int64(tag), 10)
}

// Next returns the id of a message published at Unix second now after a
// message with id prev. Ids never go backwards: if the clock stepped back the
// new message stays in prev's second, and when a second runs out of tags the
// id moves on to the next second.
func Next(prev ID, now int64) ID {
	if now > prev.Time {
		return ID{Time: now}
	}
	if prev.Tag >= MaxTag {
		return ID{Time: prev.Time + 1}
	}
	return ID{Time: prev.Time, Tag: prev.Tag + 1}
}

// Multi is the id of a message delivered to a subscription on several
// channels: one time, one tag per channel (-1 written as "-"), and the index
// of the channel the message came from (Active, or -1 when none is marked).
type Multi struct {
	Time   int64
	Tags   []int32
	Active int
}

// String formats m as Nchan does: "time:tags".
func (m Multi) String() string {
	b := strconv.AppendInt(make([]byte, 0, 16+4*len(m.Tags)), m.Time, 10)
	b = append(b, ':')
	return string(m.appendTags(b))
}

// TagString formats the tags alone, as sent in a long-poll Etag.
func (m Multi) TagString() string {
	if len(m.Tags) == 1 && m.Tags[0] >= 0 {
		return strconv.Itoa(int(m.Tags[0])) // no allocation for a small tag
	}
	return string(m.appendTags(nil))
}

func (m Multi) appendTags(b []byte) []byte {
	if len(m.Tags) == 1 {
		return appendTag(b, m.Tags[0])
	}
	for i, t := range m.Tags {
		if i > 0 {
			b = append(b, ',')
		}
		if i == m.Active {
			b = append(b, '[')
			b = appendTag(b, t)
			b = append(b, ']')
		} else {
			b = appendTag(b, t)
		}
	}
	return b
}

// Cursor returns the position of channel i: every message of that channel
// after the returned ID is new to the subscriber.
func (m Multi) Cursor(i int) ID {
	if i >= len(m.Tags) || m.Tags[i] < 0 {
		return ID{Time: m.Time, Tag: -1}
	}
	return ID{Time: m.Time, Tag: m.Tags[i]}
}

// Cursors returns the position of every channel (see Cursor).
func (m Multi) Cursors() []ID {
	return m.AppendCursors(make([]ID, 0, len(m.Tags)))
}

// AppendCursors appends the position of every channel (see Cursor) to dst
// and returns the extended slice.
func (m Multi) AppendCursors(dst []ID) []ID {
	for i := range m.Tags {
		dst = append(dst, m.Cursor(i))
	}
	return dst
}

// FromCursors builds the id a subscriber is given after receiving a message
// from channel active, whose id is cursors[active]. Channels whose cursor is in
// the same second keep their tag; the others are written as "-".
func FromCursors(cursors []ID, active int) Multi {
	t := cursors[active].Time
	tags := make([]int32, len(cursors))
	for i, c := range cursors {
		if c.Time == t && c.Tag >= 0 {
			tags[i] = c.Tag
		} else {
			tags[i] = -1
		}
	}
	return Multi{Time: t, Tags: tags, Active: active}
}

// Parse parses a "time:tags" id for a subscription on n channels. Missing
// trailing tags are taken as "-"; more tags than channels is an error.
func Parse(s string, n int) (Multi, error) {
	ts, tags, ok := strings.Cut(s, ":")
	if !ok {
		return Multi{}, fmt.Errorf("%w: %q has no ':'", ErrInvalid, s)
	}
	t, err := ParseTime(ts)
	if err != nil {
		return Multi{}, err
	}
	m, err := ParseTags(tags, n)
	if err != nil {
		return Multi{}, err
	}
	m.Time = t
	return m, nil
}

// ParseTime parses the seconds part of an id.
func ParseTime(s string) (int64, error) {
	if s == "" || len(s) > 19 {
		return 0, fmt.Errorf("%w: bad time %q", ErrInvalid, s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: bad time %q", ErrInvalid, s)
		}
	}
	t, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: bad time %q", ErrInvalid, s)
	}
	return t, nil
}

// ParseTags parses the tag list of an id ("0", "[0],-,3") for a subscription
// on n channels. The returned Multi has Time 0.
func ParseTags(s string, n int) (Multi, error) {
	if n < 1 || n > MaxChannels {
		return Multi{}, fmt.Errorf("%w: %d channels", ErrInvalid, n)
	}
	m := Multi{Tags: make([]int32, 0, n), Active: -1}
	bracketed := false
	for part := range strings.SplitSeq(s, ",") {
		if len(m.Tags) == n {
			return Multi{}, fmt.Errorf("%w: more tags than the %d channels in %q", ErrInvalid, n, s)
		}
		if strings.HasPrefix(part, "[") && strings.HasSuffix(part, "]") && len(part) >= 2 {
			if bracketed {
				return Multi{}, fmt.Errorf("%w: more than one active tag in %q", ErrInvalid, s)
			}
			bracketed = true
			m.Active = len(m.Tags)
			part = part[1 : len(part)-1]
		}
		tag, err := parseTag(part)
		if err != nil {
			return Multi{}, fmt.Errorf("%w in %q", err, s)
		}
		m.Tags = append(m.Tags, tag)
	}
	if len(m.Tags) > 1 && !bracketed {
		return Multi{}, fmt.Errorf("%w: several tags and none marked active in %q", ErrInvalid, s)
	}
	for len(m.Tags) < n {
		m.Tags = append(m.Tags, -1)
	}
	if m.Active < 0 {
		m.Active = 0
	}
	return m, nil
}

func parseTag(s string) (int32, error) {
	if s == "-" {
		return -1, nil
	}
	if s == "" || len(s) > 5 {
		return 0, fmt.Errorf("%w: bad tag %q", ErrInvalid, s)
	}
	v := int32(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: bad tag %q", ErrInvalid, s)
		}
		v = v*10 + int32(c-'0')
	}
	if v > MaxTag {
		return 0, fmt.Errorf("%w: tag %q out of range", ErrInvalid, s)
	}
	return v, nil
}
