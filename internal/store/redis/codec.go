package redis

import (
	"errors"
	"strconv"
	"strings"

	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/msgring"
	"github.com/heraldpush/herald/protocol/msgid"
)

// Stream entry ids are message ids: "<seconds>-<tag>".

func streamID(id msgid.ID) string {
	b := strconv.AppendInt(make([]byte, 0, 24), id.Time, 10)
	b = append(b, '-')
	return string(strconv.AppendInt(b, int64(id.Tag), 10))
}

func parseStreamID(s string) (msgid.ID, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return msgid.ID{}, errors.New("bad stream id " + s)
	}
	t, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return msgid.ID{}, errors.New("bad stream id " + s)
	}
	g, err := strconv.ParseInt(b, 10, 32)
	if err != nil {
		return msgid.ID{}, errors.New("bad stream id " + s)
	}
	return msgid.ID{Time: t, Tag: int32(g)}, nil
}

// rangeAfter is the XRANGE start of the messages after cursor: exclusive of
// a message id, inclusive of a "dash" cursor (tag -1: before every message
// of its second).
func rangeAfter(cursor msgid.ID) string {
	switch {
	case cursor.IsZero():
		return "-"
	case cursor.Tag < 0:
		return strconv.FormatInt(cursor.Time, 10) + "-0"
	}
	return "(" + streamID(cursor)
}

// entry is a message of a channel copy with its expiry (Redis clock, ms; 0 never).
type entry = msgring.Entry

// notice is a decoded pubsub payload.
type notice struct {
	kind    byte // 'm' message, 'd' deleted, 'v' eviction (last rule)
	epoch   int64
	msg     entry
	prev    msgid.ID
	bufLen  int
	minBuf  int
	evictID int64
}

// Payloads, as the scripts write them:
//
//	m <epoch> <id> <prev> <seq> <expires> <bl> <mbl> <len(ct)> <len(ev)> [<deflate> [<number> <len(eid)>]]\n<ct><ev>[<eid>]<body>
//
// The deflate level (the publisher location's WebSocket compression, 0 for
// none), the message's number in its channel and its event id are left out
// by nodes that predate them.
//
//	d <epoch>
//	v <epoch> <eviction number>
func decodeNotice(p string) (notice, error) {
	bad := errors.New("bad notice")
	var n notice
	hdr, rest, _ := strings.Cut(p, "\n")
	f := strings.Fields(hdr)
	if len(f) < 2 || len(f[0]) != 1 {
		return n, bad
	}
	n.kind = f[0][0]
	ep, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return n, bad
	}
	n.epoch = ep
	switch n.kind {
	case 'd':
		return n, nil
	case 'v':
		if len(f) != 3 {
			return n, bad
		}
		n.evictID, err = strconv.ParseInt(f[2], 10, 64)
		return n, err
	case 'm':
	default:
		return n, bad
	}
	if len(f) != 10 && len(f) != 11 && len(f) != 13 {
		return n, bad
	}
	var nums [6]int64
	for i, s := range []string{f[4], f[5], f[6], f[7], f[8], f[9]} {
		if nums[i], err = strconv.ParseInt(s, 10, 64); err != nil {
			return n, bad
		}
	}
	id, err := parseStreamID(f[2])
	if err != nil {
		return n, err
	}
	if n.prev, err = parseStreamID(f[3]); err != nil {
		return n, err
	}
	lct, lev := int(nums[4]), int(nums[5])
	if lct < 0 || lev < 0 || lct+lev > len(rest) {
		return n, bad
	}
	m := &store.Message{ID: id, Seq: uint64(nums[0]), ContentType: rest[:lct], EventName: rest[lct : lct+lev]}
	body := rest[lct+lev:]
	if len(f) >= 11 {
		m.Deflate = deflateLevel(f[10])
	}
	if len(f) == 13 {
		num, err1 := strconv.ParseUint(f[11], 10, 64)
		leid, err2 := strconv.Atoi(f[12])
		if err1 != nil || err2 != nil || leid < 0 || leid > len(body) {
			return n, bad
		}
		m.Number, m.EventID, body = num, body[:leid], body[leid:]
	}
	m.Body = []byte(body)
	n.msg = entry{Msg: m, Expires: nums[1]}
	n.bufLen, n.minBuf = int(nums[2]), int(nums[3])
	return n, nil
}

// deflateLevel parses a stored WebSocket compression level: 1-9, else 0.
func deflateLevel(s string) uint8 {
	if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= 9 {
		return uint8(n)
	}
	return 0
}

// decodeEntry converts an XRANGE entry (fields x, q, c, e, b, n, and z,
// the WebSocket compression level, when not 0, and i, the event id, when
// not empty) to a message.
func decodeEntry(id string, fields map[string]any) (entry, error) {
	mid, err := parseStreamID(id)
	if err != nil {
		return entry{}, err
	}
	str := func(k string) string { s, _ := fields[k].(string); return s }
	x, _ := strconv.ParseInt(str("x"), 10, 64)
	q, _ := strconv.ParseUint(str("q"), 10, 64)
	num, _ := strconv.ParseUint(str("n"), 10, 64)
	m := &store.Message{ID: mid, Seq: q, ContentType: str("c"), EventName: str("e"), EventID: str("i"), Number: num, Body: []byte(str("b")), Deflate: deflateLevel(str("z"))}
	return entry{Msg: m, Expires: x}, nil
}
