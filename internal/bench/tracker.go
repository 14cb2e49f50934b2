package bench

import "math/bits"

// bitset is a growable set of sequence numbers.
type bitset []uint64

func (b *bitset) set(i uint64) {
	w := int(i / 64)
	if w >= len(*b) {
		n := make(bitset, w+1, max(w+1, 2*len(*b)))
		copy(n, *b)
		*b = n
	}
	(*b)[w] |= 1 << (i % 64)
}

func (b bitset) has(i uint64) bool {
	w := int(i / 64)
	return w < len(b) && b[w]&(1<<(i%64)) != 0
}

// countRange counts the members in [from, to].
func (b bitset) countRange(from, to uint64) uint64 {
	return b.countRangeAndNot(nil, from, to)
}

// countRangeAndNot counts the members of b in [from, to] that are not in
// not (nil: none are).
func (b bitset) countRangeAndNot(not bitset, from, to uint64) uint64 {
	if to < from || len(b) == 0 {
		return 0
	}
	last := uint64(len(b))*64 - 1
	if to > last {
		to = last
	}
	if from > to {
		return 0
	}
	var n uint64
	for w := from / 64; w <= to/64; w++ {
		word := b[w]
		if int(w) < len(not) {
			word &^= not[w]
		}
		if w == from/64 {
			word &^= (1 << (from % 64)) - 1
		}
		if w == to/64 && to%64 != 63 {
			word &= (1 << (to%64 + 1)) - 1
		}
		n += uint64(bits.OnesCount64(word))
	}
	return n
}

// seqTracker is one subscriber's record of the sequence numbers it received
// on its channel: which, how many times, and in what order. Only the
// subscriber's goroutine uses it.
type seqTracker struct {
	seen                   bitset
	any                    bool
	min, max               uint64
	received, distinct     uint64
	duplicated, outOfOrder uint64
}

// delivery classifies one received sequence number.
type delivery int

const (
	deliveryNew delivery = iota
	deliveryDuplicate
	deliveryOutOfOrder // new, but after a later one
)

// add records seq. ordered says whether the channel's messages have a
// defined order (one publisher at a time); without it nothing is counted out
// of order.
func (t *seqTracker) add(seq uint64, ordered bool) delivery {
	t.received++
	if t.seen.has(seq) {
		t.duplicated++
		return deliveryDuplicate
	}
	t.seen.set(seq)
	t.distinct++
	if !t.any {
		t.any, t.min, t.max = true, seq, seq
		return deliveryNew
	}
	t.min = min(t.min, seq)
	if seq < t.max {
		if ordered {
			t.outOfOrder++
			return deliveryOutOfOrder
		}
		return deliveryNew
	}
	t.max = seq
	return deliveryNew
}

// expectation says which of a channel's messages a subscriber should have
// received: every acknowledged one with a sequence number in [from, to].
type expectation struct {
	from, to uint64
	none     bool // nothing was expected
}

// expect computes a subscriber's expectation. floor is the channel's next
// sequence number when the subscriber was established: every message from it
// on was published to a subscriber already there. Earlier messages may arrive
// from the channel's buffer; a subscriber that got some is held to the rest
// of them too. end is the last sequence number to hold it to (the last
// published for a subscriber present to the end, the last it got for one
// that left early); endOK false means "nothing published".
func (t *seqTracker) expect(floor, end uint64, endOK bool) expectation {
	if !endOK {
		return expectation{none: true}
	}
	from := floor
	if t.any && t.min < from {
		from = t.min
	}
	if end < from {
		return expectation{none: true}
	}
	return expectation{from: from, to: end}
}

// lost counts acknowledged messages in the expectation that never arrived,
// and returns how many were expected.
func (t *seqTracker) lost(acked bitset, e expectation) (lost, expected uint64) {
	if e.none {
		return 0, 0
	}
	expected = acked.countRange(e.from, e.to)
	lost = acked.countRangeAndNot(t.seen, e.from, e.to)
	return lost, expected
}
