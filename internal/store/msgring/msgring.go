// Package msgring is the buffer both engines keep a channel's recent
// messages in: a growable circular buffer in message id order, searched by
// cursor.
package msgring

import (
	"sort"

	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

// Entry is a buffered message and the Unix nanosecond it expires at (0:
// never).
type Entry struct {
	Msg     *store.Message
	Expires int64
}

// Ring holds entries in id order. The zero Ring is empty and ready.
type Ring struct {
	buf  []Entry
	head int
	n    int
}

// Len returns the number of entries.
func (r *Ring) Len() int { return r.n }

// At returns entry i, 0 being the oldest.
func (r *Ring) At(i int) *Entry { return &r.buf[(r.head+i)%len(r.buf)] }

// Front returns the oldest entry; the ring must not be empty.
func (r *Ring) Front() *Entry { return &r.buf[r.head] }

// Push appends e, which must come after every entry held.
func (r *Ring) Push(e Entry) {
	if r.n == len(r.buf) {
		size := 2 * len(r.buf)
		if size == 0 {
			size = 4
		}
		nb := make([]Entry, size)
		for i := 0; i < r.n; i++ {
			nb[i] = *r.At(i)
		}
		r.buf, r.head = nb, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = e
	r.n++
}

// PopFront removes and returns the oldest entry; the ring must not be
// empty. An emptied ring gives back a large buffer.
func (r *Ring) PopFront() Entry {
	e := r.buf[r.head]
	r.buf[r.head] = Entry{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	if r.n == 0 {
		r.head = 0
		if len(r.buf) > 64 {
			r.buf = nil
		}
	}
	return e
}

// FirstAfter returns the index of the first entry after cursor, or Len().
func (r *Ring) FirstAfter(cursor msgid.ID) int {
	return sort.Search(r.n, func(i int) bool { return r.At(i).Msg.ID.After(cursor) })
}

// Clear empties the ring and drops its buffer.
func (r *Ring) Clear() { r.buf, r.head, r.n = nil, 0, 0 }

// Log is a buffer of entries in id order whose snapshots can be read
// without a lock while the owner appends and drops: it only ever appends
// past the end of every snapshot taken, and dropping from the front moves
// an offset (a compaction copies into a new array), so the array a
// snapshot sees never changes. The zero Log is empty and ready.
type Log struct {
	buf   []Entry
	start int
}

// Len returns the number of entries.
func (l *Log) Len() int { return len(l.buf) - l.start }

// At returns entry i, 0 being the oldest.
func (l *Log) At(i int) *Entry { return &l.buf[l.start+i] }

// Front returns the oldest entry; the log must not be empty.
func (l *Log) Front() *Entry { return &l.buf[l.start] }

// Push appends e, which must come after every entry held.
func (l *Log) Push(e Entry) { l.buf = append(l.buf, e) }

// PopFront removes and returns the oldest entry; the log must not be empty.
// Once half the array is dropped entries, the rest moves to a new array.
func (l *Log) PopFront() Entry {
	e := l.buf[l.start]
	l.start++
	if l.start == len(l.buf) {
		l.buf, l.start = nil, 0
	} else if l.start >= 16 && 2*l.start >= len(l.buf) {
		l.buf, l.start = append(make([]Entry, 0, 2*l.Len()), l.buf[l.start:]...), 0
	}
	return e
}

// FirstAfter returns the index of the first entry after cursor, or Len().
func (l *Log) FirstAfter(cursor msgid.ID) int {
	return FirstAfter(l.Snapshot(), cursor)
}

// Clear empties the log.
func (l *Log) Clear() { l.buf, l.start = nil, 0 }

// Snapshot returns the entries as a slice that later Push, PopFront and
// Clear calls never modify.
func (l *Log) Snapshot() []Entry {
	return l.buf[l.start:len(l.buf):len(l.buf)]
}

// FirstAfter returns the index of the first of entries after cursor, or
// len(entries).
func FirstAfter(entries []Entry, cursor msgid.ID) int {
	return sort.Search(len(entries), func(i int) bool { return entries[i].Msg.ID.After(cursor) })
}
