package redis

import (
	"sort"

	"herald/internal/msgid"
)

// ring is a growable circular buffer of messages in id order.
type ring struct {
	buf  []entry
	head int
	n    int
}

func (r *ring) len() int { return r.n }

func (r *ring) at(i int) *entry { return &r.buf[(r.head+i)%len(r.buf)] }

func (r *ring) push(e entry) {
	if r.n == len(r.buf) {
		size := 2 * len(r.buf)
		if size == 0 {
			size = 4
		}
		nb := make([]entry, size)
		for i := 0; i < r.n; i++ {
			nb[i] = *r.at(i)
		}
		r.buf, r.head = nb, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = e
	r.n++
}

func (r *ring) popFront() entry {
	e := r.buf[r.head]
	r.buf[r.head] = entry{}
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

func (r *ring) front() *entry { return &r.buf[r.head] }

// firstAfter returns the index of the first message after cursor, or len().
func (r *ring) firstAfter(cursor msgid.ID) int {
	return sort.Search(r.n, func(i int) bool { return r.at(i).m.ID.After(cursor) })
}

func (r *ring) clear() {
	r.buf, r.head, r.n = nil, 0, 0
}
