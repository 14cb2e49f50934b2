// Package msgring is the log a channel's recent messages are kept in (see
// internal/store/buffer, which applies the buffer rules to it): entries in
// message id order, searched by cursor, whose snapshots can be read without
// a lock.
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
