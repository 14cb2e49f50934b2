// Package buffer holds the buffer rules every engine applies to a channel's
// recent messages, in one type the engines embed: how many messages a
// channel holds (its buffer length, or the in-flight window of a channel
// that stores none), which expire and which are kept past their expiry
// (min_message_buffer_length), and the messages kept a while after they
// leave the buffer for the channel's streaming subscribers.
//
// A Buffer is a msgring.Log whose front may hold evicted messages: out of
// the channel's buffer (subscribers that do not stream no longer see them)
// but kept for streaming ("Follow") subscribers for FollowGrace, at most
// FollowCap of them, and only while there are such subscribers. Behind
// them come the held messages, the channel's buffer proper.
//
// What the engines keep of their own stays with them: memory accounting
// and the lock-free snapshots in the memory engine, the copy's length and
// Redis's clock in the Redis engine. The operations add what they did to a
// Change, for the engine's counters. A Buffer is not safe for concurrent
// use: the engine guards it with the channel's lock.
package buffer

import (
	"time"

	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/msgring"
	"github.com/heraldpush/herald/protocol/msgid"
)

const (
	// InflightCap and InflightTTL: a channel that keeps no messages
	// (store_messages off, a buffer length of 0) still holds its latest
	// InflightCap messages for InflightTTL, so subscribers that are
	// between two requests miss nothing published meanwhile.
	InflightCap = 64
	InflightTTL = 10 * time.Second
	// FollowGrace and FollowCap: messages that leave a channel's buffer
	// while it has streaming subscribers stay readable to those for
	// FollowGrace, at most FollowCap of them, so a burst of publishes
	// larger than the buffer costs a subscriber nothing merely because the
	// server had not written to it yet. Only subscribers whose connection
	// does not keep up lose anything.
	FollowGrace = 10 * time.Second
	FollowCap   = 1024
)

// Capacity returns how many messages a channel of buffer length bufLen
// holds: bufLen, or InflightCap when it keeps none.
func Capacity(bufLen int) int {
	if bufLen <= 0 {
		return InflightCap
	}
	return bufLen
}

// Keep returns how many of a channel's messages stay past their expiry:
// the minimum buffer length, or none when the channel keeps no messages.
func Keep(bufLen, minBuf int) int {
	if bufLen <= 0 {
		return 0
	}
	return minBuf
}

// TTL returns how long a message published with buffer length bufLen and
// message timeout timeout lives: InflightTTL when the channel keeps no
// messages, else timeout (0: forever).
func TTL(bufLen int, timeout time.Duration) time.Duration {
	if bufLen <= 0 {
		return InflightTTL
	}
	return timeout
}

// Change is what operations did to a Buffer, for the engine's counters:
// each operation adds to the Change it is given.
type Change struct {
	// Left is how many messages left the buffer (evicted, or dropped
	// straight from it), LeftBytes their size (Message.Size), Expired how
	// many of them left by age.
	Left      int
	LeftBytes int64
	Expired   int
	// Freed is how many messages the Buffer dropped for good, FreedBytes
	// their size and Released the bytes of their cached encodings
	// (Message.Release), which the engine stops counting.
	Freed      int
	FreedBytes int64
	Released   int64
}

// Any reports whether the operation changed the Buffer.
func (c Change) Any() bool { return c.Left != 0 || c.Freed != 0 }

// Buffer is a channel's messages under the buffer rules. The zero Buffer
// is empty, with the limits of a channel that keeps no messages.
type Buffer struct {
	log msgring.Log
	// evicted is how many entries at the front of log have left the
	// buffer but are kept for followers; evictedAt holds when each left
	// (Unix ns).
	evicted   int
	evictedAt []int64
	dropped   msgid.ID // newest id out of the buffer
	gone      msgid.ID // newest id dropped from log
	bytes     int64    // Size of every message in log
	followers int
	bufLen    int
	minBuf    int
}

// SetLimits sets the channel's buffer length (0 or less: it keeps no
// messages) and minimum buffer length; the next Trim applies them.
func (b *Buffer) SetLimits(bufLen, minBuf int) { b.bufLen, b.minBuf = bufLen, minBuf }

// Limits returns the buffer length and minimum buffer length.
func (b *Buffer) Limits() (bufLen, minBuf int) { return b.bufLen, b.minBuf }

// Capacity returns how many messages the buffer holds at most.
func (b *Buffer) Capacity() int { return Capacity(b.bufLen) }

// Keep returns how many messages stay past their expiry.
func (b *Buffer) Keep() int { return Keep(b.bufLen, b.minBuf) }

// Held returns the number of messages in the buffer.
func (b *Buffer) Held() int { return b.log.Len() - b.evicted }

// Buffered returns the number of messages subscribers and publishers see
// as stored: none for a channel that keeps no messages.
func (b *Buffer) Buffered() int {
	if b.bufLen <= 0 {
		return 0
	}
	return b.Held()
}

// Len returns the number of entries: the evicted ones kept for followers,
// then the held ones.
func (b *Buffer) Len() int { return b.log.Len() }

// Evicted returns the number of evicted entries kept for followers, which
// come first.
func (b *Buffer) Evicted() int { return b.evicted }

// At returns entry i of Len, 0 being the oldest.
func (b *Buffer) At(i int) *msgring.Entry { return b.log.At(i) }

// HeldAt returns held message i, 0 being the oldest in the buffer.
func (b *Buffer) HeldAt(i int) *msgring.Entry { return b.log.At(b.evicted + i) }

// FirstAfter returns the index (of Len) of the first entry after cursor.
func (b *Buffer) FirstAfter(cursor msgid.ID) int { return b.log.FirstAfter(cursor) }

// Snapshot returns the entries (evicted first) as a slice that later
// operations never modify.
func (b *Buffer) Snapshot() []msgring.Entry { return b.log.Snapshot() }

// Bytes returns the size of every message the Buffer has, evicted ones
// included.
func (b *Buffer) Bytes() int64 { return b.bytes }

// Dropped returns the newest id that left the buffer: a cursor before it
// has missed messages, for a subscriber that does not follow.
func (b *Buffer) Dropped() msgid.ID { return b.dropped }

// Gone returns the newest id a follower can no longer read: the newest
// dropped for good while evicted messages are kept, else Dropped.
func (b *Buffer) Gone() msgid.ID {
	if b.evicted > 0 {
		return b.gone
	}
	return b.dropped
}

// MarkDropped records that the messages up to id left the channel's
// buffer elsewhere (as another node saw it), if id is newer than Dropped.
func (b *Buffer) MarkDropped(id msgid.ID) {
	if id.Compare(b.dropped) > 0 {
		b.dropped = id
	}
}

// Followers returns the number of streaming subscribers.
func (b *Buffer) Followers() int { return b.followers }

// AddFollowers adds n (negative: removes) streaming subscribers.
func (b *Buffer) AddFollowers(n int) { b.followers += n }

// Push appends a message, which must come after every one held.
func (b *Buffer) Push(e msgring.Entry) {
	b.log.Push(e)
	b.bytes += e.Msg.Size()
}

// Trim applies the rules: messages past the capacity leave the buffer,
// then the expired ones (the oldest first, stopping at the first that has
// not expired, keeping Keep), and the evicted messages no follower may
// still need are dropped. now is Unix ns; expNow is now in the unit of the
// entries' Expires. It adds what it did to c and reports whether it did
// anything.
func (b *Buffer) Trim(now, expNow int64, c *Change) bool {
	if b.evicted == 0 && b.settled(expNow) {
		return false // the usual case, kept cheap for the publish path
	}
	for capacity := b.Capacity(); b.Held() > capacity; {
		b.evict(now, true, c)
	}
	for keep := b.Keep(); b.Held() > keep; {
		e := b.log.At(b.evicted)
		if e.Expires == 0 || e.Expires > expNow {
			break
		}
		b.evict(now, true, c)
		c.Expired++
	}
	b.Release(now, c)
	return true
}

// settled reports whether the held messages are within the capacity and
// the oldest that may expire has not.
func (b *Buffer) settled(expNow int64) bool {
	held := b.Held()
	if held > Capacity(b.bufLen) {
		return false
	}
	if held <= Keep(b.bufLen, b.minBuf) {
		return true
	}
	x := b.log.At(b.evicted).Expires
	return x == 0 || x > expNow
}

// Shed makes the oldest messages past limit leave the buffer without
// recording them as dropped: for a copy of a channel that holds fewer
// messages than the channel (they are still to be had elsewhere). They are
// kept for followers like evicted ones. It adds what it did to c.
func (b *Buffer) Shed(limit int, now int64, c *Change) {
	for b.Held() > limit {
		b.evict(now, false, c)
	}
}

// Evict makes the oldest held message leave the buffer; it stays readable
// to followers until Release drops it. The buffer must hold one. It adds
// what it did to c.
func (b *Buffer) Evict(now int64, c *Change) { b.evict(now, true, c) }

// evict makes the oldest held message leave the buffer, recording it as
// dropped if drop is set.
func (b *Buffer) evict(now int64, drop bool, c *Change) {
	m := b.log.At(b.evicted).Msg
	if drop {
		b.dropped = m.ID
	}
	b.evicted++
	b.evictedAt = append(b.evictedAt, now)
	c.Left++
	c.LeftBytes += m.Size()
}

// EvictThrough makes every held message up to id leave the buffer, as
// the channel's buffer elsewhere did, and records id as dropped. It adds
// what it did to c.
func (b *Buffer) EvictThrough(id msgid.ID, now int64, c *Change) {
	b.MarkDropped(id)
	for b.Held() > 0 && !b.log.At(b.evicted).Msg.ID.After(id) {
		b.evict(now, false, c)
	}
	b.Release(now, c)
}

// Release drops the evicted messages no follower may still need: all of
// them without followers, else those past FollowCap or FollowGrace old.
// It adds what it did to c.
func (b *Buffer) Release(now int64, c *Change) {
	for b.evicted > 0 && (b.followers == 0 || b.evicted > FollowCap || now-b.evictedAt[0] >= int64(FollowGrace)) {
		b.DropOldest(c)
	}
}

// DropKept drops every evicted message kept for followers, adding that to
// c.
func (b *Buffer) DropKept(c *Change) {
	for b.evicted > 0 {
		b.DropOldest(c)
	}
}

// DropOldest drops the oldest entry for good: an evicted one, else the
// oldest held message, which leaves the buffer at once. The Buffer must
// not be empty. It adds what it did to c.
func (b *Buffer) DropOldest(c *Change) {
	m := b.log.PopFront().Msg
	size := m.Size()
	b.bytes -= size
	b.gone = m.ID
	c.Freed++
	c.FreedBytes += size
	c.Released += m.Release()
	if b.evicted > 0 {
		b.evicted--
		b.evictedAt = b.evictedAt[1:]
		if b.evicted == 0 {
			b.evictedAt = nil
		}
	} else {
		b.dropped = m.ID
		c.Left++
		c.LeftBytes += size
	}
}

// Clear drops every message, adding that to c.
func (b *Buffer) Clear(c *Change) {
	for b.log.Len() > 0 {
		b.DropOldest(c)
	}
	b.log.Clear()
}

// Oldest returns the oldest held message; the buffer must hold one.
func (b *Buffer) Oldest() *store.Message { return b.log.At(b.evicted).Msg }
