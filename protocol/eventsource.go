package protocol

import (
	"bytes"
	"fmt"
	"time"
)

// EventKind tells what an EventSource decoder found.
type EventKind uint8

// The kinds of Event.
const (
	// KindEvent is a dispatched event: ID, Type and Data.
	KindEvent EventKind = iota + 1
	// KindComment is a comment line: Data is its text after the colon.
	KindComment
	// KindRetry is a retry field: Retry is the reconnection time.
	KindRetry
)

// Event is what an EventSourceDecoder found in a stream: an event, a
// comment or a retry field. Its byte slices are valid until the decoder's
// next Feed or Next.
type Event struct {
	Kind EventKind
	// ID is the last event id (KindEvent): the id field of this event or,
	// as the EventSource format defines it, of the last event that had
	// one.
	ID []byte
	// Type is the event field (KindEvent); empty means "message".
	Type []byte
	// Data is the data lines joined with LF (KindEvent), or the comment's
	// text (KindComment).
	Data []byte
	// Retry is the reconnection time a retry field set (KindRetry).
	Retry time.Duration
	// Truncated reports that a line was longer than the decoder's limit
	// and Data (or ID, Type) holds only its start.
	Truncated bool
}

// Status reads Nchan's closing status comment, ":410: 410 Gone": a
// KindComment whose text is three digits and a colon. text is what
// follows, "410 Gone".
func (e *Event) Status() (status int, text []byte, ok bool) {
	c := e.Data
	if e.Kind != KindComment || len(c) < 4 || c[3] != ':' {
		return 0, nil, false
	}
	for _, d := range c[:3] {
		if d < '0' || d > '9' {
			return 0, nil, false
		}
		status = status*10 + int(d-'0')
	}
	text = c[4:]
	if len(text) > 0 && text[0] == ' ' {
		text = text[1:]
	}
	return status, text, true
}

// DefaultMaxData is the size limit of an EventSourceDecoder that sets
// none: 16 MiB.
const DefaultMaxData = 16 << 20

// lineSlack is how much longer than MaxData a line may be: room for a
// field name ("data: ") or a status comment.
const lineSlack = 64

// EventSourceDecoder reads an EventSource (text/event-stream) stream
// incrementally, as the HTML standard's parser does: lines end with CR,
// LF or CRLF (also when CR and LF arrive in different pieces), a leading
// byte order mark is skipped, "field: value" loses one space after the
// colon, a line without a colon is a field with an empty value, data lines
// join with LF, a blank line dispatches the event if it had data, unknown
// fields are ignored, an id containing NUL is ignored, and retry takes
// only digits. Comments are returned too: Nchan ends a stream with one
// that Event.Status reads.
//
// Lines that lie whole in the bytes fed are read in place; only a line cut
// by the end of a piece, an event's data and its id and type are copied,
// into buffers the decoder keeps. The zero value is ready, with a limit of
// DefaultMaxData.
type EventSourceDecoder struct {
	// MaxData is the most data an event may hold, and the longest line
	// less 64 bytes (0: DefaultMaxData). More fails with an error
	// wrapping ErrTooLong, unless Truncate is set.
	MaxData int
	// Truncate keeps the first MaxData bytes of longer data (and lines),
	// drops the rest and marks the event Truncated, instead of failing.
	Truncate bool

	in      []byte // input fed
	off     int    // how much of in has been read
	lf, cr  int    // index in in of the next LF and CR from off, len(in) if none; below off: not searched
	err     error
	started bool // past a possible byte order mark
	bom     int  // bytes of a byte order mark matched at the start
	skipLF  bool // the last line ended with CR: skip an LF that follows

	line     []byte // a line cut by the end of a piece
	lineCut  bool   // line was longer than the limit
	lineUsed bool   // line was returned: clear it

	id, typ, data []byte
	hasData       bool
	truncated     bool
	dispatched    bool // the last Next returned an event: clear it
	ev            Event
}

func (d *EventSourceDecoder) limit() int {
	if d.MaxData > 0 {
		return d.MaxData
	}
	return DefaultMaxData
}

// Reset prepares the decoder for a new stream, keeping its settings and
// buffers; the last event id is forgotten.
func (d *EventSourceDecoder) Reset() {
	*d = EventSourceDecoder{
		MaxData: d.MaxData, Truncate: d.Truncate,
		line: d.line[:0], id: d.id[:0], typ: d.typ[:0], data: d.data[:0],
	}
}

// Feed hands the decoder the next bytes of the stream; Next reads them. p
// is not copied: it must not change until Next has reported that it needs
// more input. Feeding before that keeps what was left, in a copy.
func (d *EventSourceDecoder) Feed(p []byte) {
	d.in = feedInput(d.in[d.off:], p)
	d.off, d.lf, d.cr = 0, -1, -1
}

// Next returns the next event, comment or retry field, or nil when the
// input fed so far holds no more of them: Feed the next bytes. The Event
// is the decoder's own, overwritten by the next call. An error is final:
// every later call returns it.
func (d *EventSourceDecoder) Next() (*Event, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.dispatched {
		d.typ, d.data, d.hasData, d.truncated, d.dispatched = d.typ[:0], d.data[:0], false, false, false
	}
	for {
		line, cut, ok := d.nextLine()
		if !ok {
			// Hold no reference to the caller's buffer.
			d.in, d.off, d.ev = nil, 0, Event{}
			return nil, d.err
		}
		if d.field(line, cut, &d.ev) {
			return &d.ev, nil
		}
		if d.err != nil {
			return nil, d.err
		}
	}
}

// nextLine returns the next complete line, without its end, and whether
// it was cut at the limit.
func (d *EventSourceDecoder) nextLine() (line []byte, cut, ok bool) {
	if d.lineUsed {
		d.line, d.lineCut, d.lineUsed = d.line[:0], false, false
	}
	in := d.in
	if d.skipLF && d.off < len(in) {
		if in[d.off] == '\n' {
			d.off++
		}
		d.skipLF = false
	}
	if !d.started {
		for d.bom < 3 && d.off < len(in) && in[d.off] == "\xef\xbb\xbf"[d.bom] {
			d.bom++
			d.off++
		}
		switch {
		case d.bom == 3:
			d.started = true
		case d.off == len(in):
			return nil, false, false
		default:
			// Not a byte order mark: what matched is the line's start.
			d.line = append(d.line, "\xef\xbb\xbf"[:d.bom]...)
			d.started = true
		}
	}
	off := d.off
	if off >= len(in) {
		return nil, false, false
	}
	// Where the next LF and the next CR are is remembered as the input is
	// read, so each byte is searched once for each: in a stream without
	// CR (as servers write them) one search finds there is none.
	if d.lf < off {
		d.lf = len(in)
		if i := bytes.IndexByte(in[off:], '\n'); i >= 0 {
			d.lf = off + i
		}
	}
	if d.cr < off {
		d.cr = len(in)
		if i := bytes.IndexByte(in[off:], '\r'); i >= 0 {
			d.cr = off + i
		}
	}
	end := min(d.lf, d.cr)
	if end == len(in) {
		d.appendLine(in[off:])
		d.off = len(in)
		return nil, false, false
	}
	line = in[off:end]
	d.off = end + 1
	if in[end] == '\r' {
		if end+1 < len(in) {
			if in[end+1] == '\n' {
				d.off++
			}
		} else {
			d.skipLF = true
		}
	}
	if len(d.line) > 0 || d.lineCut {
		d.appendLine(line)
		line = d.line
	}
	d.lineUsed = true
	if d.err != nil {
		return nil, false, false
	}
	if max := d.limit() + lineSlack; len(line) > max {
		if !d.Truncate {
			d.err = fmt.Errorf("eventsource: line of more than %d bytes: %w", max, ErrTooLong)
			return nil, false, false
		}
		line, d.lineCut = line[:max], true
	}
	return line, d.lineCut, true
}

// appendLine keeps p as part of a line cut by the end of a piece, up to
// the limit.
func (d *EventSourceDecoder) appendLine(p []byte) {
	max := d.limit() + lineSlack
	room := max - len(d.line)
	if len(p) > room {
		if !d.Truncate {
			d.err = fmt.Errorf("eventsource: line of more than %d bytes: %w", max, ErrTooLong)
			return
		}
		p, d.lineCut = p[:room], true
	}
	d.line = append(d.line, p...)
}

// field acts on one line and reports whether it completes something,
// which it writes to e.
func (d *EventSourceDecoder) field(line []byte, cut bool, e *Event) bool {
	if len(line) == 0 {
		if !d.hasData {
			d.typ = d.typ[:0]
			return false
		}
		d.dispatched = true
		e.Kind, e.ID, e.Type, e.Data, e.Retry, e.Truncated = KindEvent, d.id, d.typ, d.data, 0, d.truncated
		return true
	}
	if line[0] == ':' {
		e.Kind, e.ID, e.Type, e.Data, e.Retry, e.Truncated = KindComment, nil, nil, line[1:], 0, cut
		return true
	}
	name, value := line, line[len(line):]
	if i := colon(line); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		if d.hasData {
			d.appendData([]byte{'\n'})
		}
		d.appendData(value)
		d.hasData = true
		d.truncated = d.truncated || cut
	case "event":
		d.typ = append(d.typ[:0], value...)
		d.truncated = d.truncated || cut
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			d.id = append(d.id[:0], value...)
		}
	case "retry":
		if ms, ok := parseRetry(value); ok {
			e.Kind, e.ID, e.Type, e.Data, e.Retry, e.Truncated = KindRetry, nil, nil, nil, ms, false
			return true
		}
	}
	return false
}

// colon returns the index of the first ':' in line, or -1. Field names
// are short: the first bytes are looked at one by one, cheaper than a
// search call.
func colon(line []byte) int {
	for i := range min(len(line), 8) {
		if line[i] == ':' {
			return i
		}
	}
	if len(line) <= 8 {
		return -1
	}
	if i := bytes.IndexByte(line[8:], ':'); i >= 0 {
		return 8 + i
	}
	return -1
}

// appendData adds p to the event's data, up to the limit.
func (d *EventSourceDecoder) appendData(p []byte) {
	room := d.limit() - len(d.data)
	if len(p) > room {
		if !d.Truncate {
			d.err = fmt.Errorf("eventsource: event data of more than %d bytes: %w", d.limit(), ErrTooLong)
			return
		}
		p, d.truncated = p[:room], true
	}
	d.data = append(d.data, p...)
}

// parseRetry reads a retry value: ASCII digits, in milliseconds.
func parseRetry(v []byte) (time.Duration, bool) {
	if len(v) == 0 {
		return 0, false
	}
	var ms int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		ms = ms*10 + int64(c-'0')
		if ms > int64(time.Duration(1<<62)/time.Millisecond) {
			return 0, false
		}
	}
	return time.Duration(ms) * time.Millisecond, true
}
