package server

import (
	"bytes"
	"fmt"
	"math/rand/v2"

	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/protocol/msgid"
)

// esFormat writes EventSource events. A message's event is encoded once for
// every subscriber of one channel that does not rename events; a
// multiplexed subscriber's ids are its own.
type esFormat struct{ es *route.EventSource }

func (f *esFormat) message(bufs [][]byte, m *store.Message, id msgid.Multi, single bool) [][]byte {
	if f.es.Event != "" || !single {
		event := m.EventName
		if f.es.Event != "" {
			event = f.es.Event
		}
		return appendEvent(bufs, event, id.String(), m.Body)
	}
	enc := m.Encoded(slotEventSource, func(m *store.Message) store.Encoding {
		parts := appendEvent(make([][]byte, 0, 3), m.EventName, m.ID.String(), m.Body)
		return inline(store.Encoding{Parts: parts, Own: cap(parts[0])})
	})
	return append(bufs, enc.Parts...)
}

func (f *esFormat) ping() []byte {
	return protocol.AppendPing(nil, f.es.PingComment, f.es.PingEvent, f.es.PingData)
}

func (f *esFormat) end(e streamEnd) []byte {
	if e.restart {
		// Reconnect soon, each client after its own delay.
		return fmt.Appendf(nil, "retry: %d\n\n", 100+rand.N(900))
	}
	if e.status == 0 {
		return nil
	}
	return protocol.AppendStatusComment(nil, e.status, e.text)
}

// esMaxLines is the most lines a body may have for its event to be written
// from the body in place: each line costs two pieces (the line and the
// "\ndata: " after it). A body of more lines is copied into an event of
// its own, which holds less than the pieces would.
const esMaxLines = 16

// Pieces shared by every event.
var (
	esDataBreak = []byte(protocol.EventDataBreak)
	esEnd       = []byte(protocol.EventEnd)
)

// appendEvent appends to bufs the pieces of one event: its head (its own
// bytes, the first piece), then the body's lines in place joined by
// "\ndata: ", then the end; or, for a body of more than esMaxLines lines,
// the whole event in one piece. It appends at most maxParts pieces.
func appendEvent(bufs [][]byte, event, id string, body []byte) [][]byte {
	head := protocol.AppendEventHead(make([]byte, 0, len(event)+len(id)+24), event, id)
	first := len(bufs)
	bufs = append(bufs, head)
	lines := eventLines{body: body, cr: -1, lf: -1}
	for n := 1; ; n++ {
		line, more := lines.next()
		bufs = append(bufs, line)
		if !more {
			break
		}
		if n == esMaxLines {
			for more { // count the rest, to copy the event into a buffer of its size
				_, more = lines.next()
				n++
			}
			clear(bufs[first:])
			size := len(head) + len(body) + n*len(esDataBreak) + len(esEnd)
			return append(bufs[:first], protocol.AppendEvent(make([]byte, 0, size), event, id, body))
		}
		bufs = append(bufs, esDataBreak)
	}
	return append(bufs, esEnd)
}

// eventLines splits a body at CR, LF and CRLF, as the EventSource format
// reads line ends. It keeps the next CR and LF it found, so each byte is
// searched once.
type eventLines struct {
	body   []byte
	start  int // where the next line starts
	cr, lf int // the first CR and LF at or after start (len(body): none); below start: to search again
}

// next returns the next line and whether another follows it.
func (l *eventLines) next() ([]byte, bool) {
	if l.cr < l.start {
		l.cr = indexFrom(l.body, l.start, '\r')
	}
	if l.lf < l.start {
		l.lf = indexFrom(l.body, l.start, '\n')
	}
	end := min(l.cr, l.lf)
	line := l.body[l.start:end]
	if end == len(l.body) {
		l.start = end
		return line, false
	}
	l.start = end + 1
	if l.body[end] == '\r' && end+1 < len(l.body) && l.lf == end+1 {
		l.start++ // CRLF
	}
	return line, true
}

// indexFrom returns the index of the first c in b at or after from, or
// len(b) when there is none.
func indexFrom(b []byte, from int, c byte) int {
	if i := bytes.IndexByte(b[from:], c); i >= 0 {
		return from + i
	}
	return len(b)
}
