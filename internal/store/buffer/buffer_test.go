package buffer

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/msgring"
	"github.com/heraldpush/herald/protocol/msgid"
)

// sec is one second in ns, the unit of every time in these tests.
const sec = int64(time.Second)

// filled returns a buffer with limits bufLen and minBuf, followers
// streaming subscribers, and messages 1..n (id time i, 4-byte body) that
// expire at expires(i) (0: never).
func filled(bufLen, minBuf, followers, n int, expires func(i int) int64) *Buffer {
	var b Buffer
	b.SetLimits(bufLen, minBuf)
	b.AddFollowers(followers)
	for i := 1; i <= n; i++ {
		var x int64
		if expires != nil {
			x = expires(i)
		}
		b.Push(msgring.Entry{Msg: &store.Message{ID: msgid.ID{Time: int64(i)}, Body: []byte("body")}, Expires: x})
	}
	return &b
}

// ids returns the id times of the held messages, and of the evicted ones.
func ids(b *Buffer) (held, evicted []int64) {
	for i := range b.Len() {
		t := b.At(i).Msg.ID.Time
		if i < b.Evicted() {
			evicted = append(evicted, t)
		} else {
			held = append(held, t)
		}
	}
	return held, evicted
}

// neverSecond: message 2 never expires, the others at 1 s.
func neverSecond(i int) int64 {
	if i == 2 {
		return 0
	}
	return sec
}

// did runs an operation and returns what it added to a fresh Change.
func did(op func(*Change)) Change {
	var c Change
	op(&c)
	return c
}

func size() int64 { return (&store.Message{Body: []byte("body")}).Size() }

func TestLimits(t *testing.T) {
	tests := []struct {
		bufLen, minBuf         int
		timeout                time.Duration
		capacity, keep         int
		ttl                    time.Duration
		buffered, heldOfTwenty int
	}{
		{bufLen: 10, minBuf: 2, timeout: time.Minute, capacity: 10, keep: 2, ttl: time.Minute, buffered: 10, heldOfTwenty: 10},
		{bufLen: 0, minBuf: 2, timeout: time.Minute, capacity: InflightCap, keep: 0, ttl: InflightTTL, buffered: 0, heldOfTwenty: 20},
		{bufLen: -1, minBuf: 0, timeout: 0, capacity: InflightCap, keep: 0, ttl: InflightTTL, buffered: 0, heldOfTwenty: 20},
		{bufLen: 5, minBuf: 0, timeout: 0, capacity: 5, keep: 0, ttl: 0, buffered: 5, heldOfTwenty: 5},
	}
	for _, tt := range tests {
		b := filled(tt.bufLen, tt.minBuf, 0, 20, nil)
		b.Trim(0, 0, &Change{})
		if b.Capacity() != tt.capacity || b.Keep() != tt.keep || TTL(tt.bufLen, tt.timeout) != tt.ttl {
			t.Errorf("bufLen %d: capacity %d keep %d ttl %v, want %d %d %v", tt.bufLen, b.Capacity(), b.Keep(), TTL(tt.bufLen, tt.timeout), tt.capacity, tt.keep, tt.ttl)
		}
		if b.Held() != tt.heldOfTwenty || b.Buffered() != tt.buffered {
			t.Errorf("bufLen %d: held %d buffered %d, want %d %d", tt.bufLen, b.Held(), b.Buffered(), tt.heldOfTwenty, tt.buffered)
		}
	}
}

// TestTrim: length, then expiry (keeping the minimum), then the evicted
// messages no follower needs.
func TestTrim(t *testing.T) {
	expiresAt := func(i int) int64 { return int64(i) * sec } // message i expires at i s
	tests := []struct {
		name                      string
		bufLen, minBuf, followers int
		n                         int
		expires                   func(int) int64
		now                       int64
		held, evicted             []int64
		change                    Change
		dropped, gone             int64
	}{
		{name: "past the capacity, no follower: dropped",
			bufLen: 3, n: 5, held: []int64{3, 4, 5},
			change:  Change{Left: 2, LeftBytes: 2 * size(), Freed: 2, FreedBytes: 2 * size()},
			dropped: 2, gone: 2},
		{name: "past the capacity, a follower: kept",
			bufLen: 3, followers: 1, n: 5, held: []int64{3, 4, 5}, evicted: []int64{1, 2},
			change:  Change{Left: 2, LeftBytes: 2 * size()},
			dropped: 2, gone: 0},
		{name: "expired from the oldest on",
			bufLen: 10, n: 5, expires: expiresAt, now: 3 * sec, held: []int64{4, 5},
			change:  Change{Left: 3, LeftBytes: 3 * size(), Expired: 3, Freed: 3, FreedBytes: 3 * size()},
			dropped: 3, gone: 3},
		{name: "expiry keeps the minimum",
			bufLen: 10, minBuf: 4, n: 5, expires: expiresAt, now: 10 * sec, held: []int64{2, 3, 4, 5},
			change:  Change{Left: 1, LeftBytes: size(), Expired: 1, Freed: 1, FreedBytes: size()},
			dropped: 1, gone: 1},
		{name: "expiry stops at a message that does not expire",
			bufLen: 10, n: 5, expires: neverSecond, now: 10 * sec,
			held: []int64{2, 3, 4, 5}, change: Change{Left: 1, LeftBytes: size(), Expired: 1, Freed: 1, FreedBytes: size()},
			dropped: 1, gone: 1},
		{name: "a channel that keeps none: the minimum does not count",
			bufLen: 0, minBuf: 4, n: 5, expires: expiresAt, now: 10 * sec,
			change:  Change{Left: 5, LeftBytes: 5 * size(), Expired: 5, Freed: 5, FreedBytes: 5 * size()},
			dropped: 5, gone: 5},
		{name: "nothing to do",
			bufLen: 10, n: 5, expires: expiresAt, held: []int64{1, 2, 3, 4, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := filled(tt.bufLen, tt.minBuf, tt.followers, tt.n, tt.expires)
			var ch Change
			trimmed := b.Trim(tt.now, tt.now, &ch)
			held, evicted := ids(b)
			if !slices.Equal(held, tt.held) || !slices.Equal(evicted, tt.evicted) {
				t.Fatalf("held %v evicted %v, want %v %v", held, evicted, tt.held, tt.evicted)
			}
			if ch != tt.change || ch.Any() != (tt.change != Change{}) || trimmed != ch.Any() {
				t.Fatalf("change %+v, want %+v", ch, tt.change)
			}
			if b.Dropped().Time != tt.dropped || b.gone.Time != tt.gone {
				t.Fatalf("dropped %v gone %v, want %d %d", b.Dropped(), b.gone, tt.dropped, tt.gone)
			}
			if want := int64(b.Len()) * size(); b.Bytes() != want {
				t.Fatalf("bytes %d, want %d", b.Bytes(), want)
			}
		})
	}
}

// TestFollowWindow: evicted messages stay for FollowGrace, at most
// FollowCap, and only while there are followers; Gone follows them.
func TestFollowWindow(t *testing.T) {
	b := filled(3, 0, 1, 5, nil)
	b.Trim(0, 0, &Change{}) // 1, 2 evicted at 0
	if b.Gone() != (msgid.ID{}) || b.Dropped().Time != 2 {
		t.Fatalf("gone %v dropped %v, want zero and 2", b.Gone(), b.Dropped())
	}
	b.Push(msgring.Entry{Msg: &store.Message{ID: msgid.ID{Time: 6}}})
	b.Trim(sec, sec, &Change{}) // 3 evicted at 1s
	if _, ev := ids(b); !slices.Equal(ev, []int64{1, 2, 3}) {
		t.Fatalf("evicted %v", ev)
	}
	if ch := did(func(c *Change) { b.Release(int64(FollowGrace)-1, c) }); ch.Any() {
		t.Fatalf("released %+v before the grace ended", ch)
	}
	if ch := did(func(c *Change) { b.Release(int64(FollowGrace), c) }); ch.Freed != 2 || ch.Left != 0 {
		t.Fatalf("release at the grace = %+v, want 2 freed", ch)
	}
	if b.Gone().Time != 2 {
		t.Fatalf("gone %v, want 2", b.Gone())
	}
	b.AddFollowers(-1)
	b.Trim(0, 0, &Change{})
	if b.Evicted() != 0 || b.Gone() != b.Dropped() || b.Dropped().Time != 3 {
		t.Fatalf("without followers: evicted %d gone %v dropped %v", b.Evicted(), b.Gone(), b.Dropped())
	}

	c := filled(1, 0, 1, FollowCap+5, nil)
	c.Trim(0, 0, &Change{})
	if c.Evicted() != FollowCap || c.HeldAt(0).Msg.ID.Time != FollowCap+5 || c.At(0).Msg.ID.Time != 5 {
		t.Fatalf("evicted %d, held from %d, oldest %d", c.Evicted(), c.HeldAt(0).Msg.ID.Time, c.At(0).Msg.ID.Time)
	}
	if ch := did(c.DropKept); ch.Freed != FollowCap || c.Evicted() != 0 {
		t.Fatalf("DropKept = %+v, %d left", ch, c.Evicted())
	}
}

// TestShedAndEvictThrough: what a copy of a channel does that another
// keeps, or that another dropped.
func TestShedAndEvictThrough(t *testing.T) {
	b := filled(10, 0, 1, 8, nil)
	if ch := did(func(c *Change) { b.Shed(5, 0, c) }); ch.Left != 3 {
		t.Fatalf("Shed = %+v", ch)
	}
	if !b.Dropped().IsZero() || b.Evicted() != 3 || b.Held() != 5 {
		t.Fatalf("Shed: dropped %v evicted %d held %d", b.Dropped(), b.Evicted(), b.Held())
	}
	if ch := did(func(c *Change) { b.EvictThrough(msgid.ID{Time: 6, Tag: 3}, 0, c) }); ch.Left != 3 {
		t.Fatalf("EvictThrough = %+v", ch)
	}
	if b.Dropped() != (msgid.ID{Time: 6, Tag: 3}) || b.HeldAt(0).Msg.ID.Time != 7 {
		t.Fatalf("EvictThrough: dropped %v, oldest held %v", b.Dropped(), b.HeldAt(0).Msg.ID)
	}
	b.MarkDropped(msgid.ID{Time: 2})
	if b.Dropped() != (msgid.ID{Time: 6, Tag: 3}) {
		t.Fatalf("MarkDropped went back to %v", b.Dropped())
	}
	if ch := did(b.Clear); ch.Freed != 8 || ch.Left != 2 || b.Len() != 0 || b.Bytes() != 0 {
		t.Fatalf("Clear = %+v, %d left, %d bytes", ch, b.Len(), b.Bytes())
	}
}

// TestDropOldestReleases: dropping a message for good gives back its
// cached encodings.
func TestDropOldestReleases(t *testing.T) {
	b := filled(10, 0, 0, 1, nil)
	m := b.Oldest()
	var used atomic.Int64
	m.Account(&used)
	enc := store.Encoding{Parts: make([][]byte, 3), Own: 100}
	m.Encoded(0, func(*store.Message) store.Encoding { return enc })
	ch := did(b.DropOldest)
	if ch != (Change{Left: 1, LeftBytes: size(), Freed: 1, FreedBytes: size(), Released: enc.Size()}) {
		t.Fatalf("DropOldest = %+v", ch)
	}
	if b.Dropped().Time != 1 || b.Gone().Time != 1 {
		t.Fatalf("dropped %v gone %v", b.Dropped(), b.Gone())
	}
}
