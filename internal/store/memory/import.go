package memory

import (
	"context"
	"time"

	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

// What the Redis engine's backup and nostore modes need of the memory
// engine besides store.Store: they keep their channels here and bring in
// messages that already have an id (relayed from another node, or read
// back from Redis).

// Has reports whether the store holds the channel now.
func (s *Store) Has(key store.ChannelKey) bool {
	c := s.lookup(key)
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.deleted
}

// Import stores a message that was published elsewhere, with its id, as
// Publish stores one published here (creating the channel, under the
// publisher's options o). The id is kept when it comes after every id the
// channel has had; otherwise the message is given the next id after the
// channel's newest (in the second of its own id at the earliest), so the
// channel's ids still only grow. expires is when the message leaves the
// buffer by age (zero: never). m must not be shared yet: Import sets its
// id (when it changes it), its Seq and its accounting. retagged reports a
// changed id.
func (s *Store) Import(ctx context.Context, key store.ChannelKey, m *store.Message, o store.ChannelOptions, expires time.Time) (_ store.PublishResult, retagged bool, _ error) {
	return s.add(ctx, key, m, o, true, expires)
}

// Restored is a message read back from a copy of a channel, with its
// expiry (zero: never).
type Restored struct {
	Msg     *store.Message
	Expires time.Time
}

// Restore makes a channel the store does not hold from a copy of it: its
// options, whether a publisher made it (authorized), the newest id it ever
// had, how many messages were published to it (Info.Published; the
// messages' own Numbers raise it) and its buffered messages (oldest
// first, with their ids). It does nothing and reports false when the
// store holds the channel already.
func (s *Store) Restore(key store.ChannelKey, o store.ChannelOptions, authorized bool, last msgid.ID, published uint64, msgs []Restored) (bool, error) {
	if s.closed() {
		return false, store.ErrClosed
	}
	c, created, err := s.create(key, o.ChannelTimeout, nil)
	if err != nil {
		return false, err
	}
	if !created {
		return false, nil
	}
	c.mu.Lock()
	now := s.now()
	c.opts = o
	c.buf.SetLimits(o.BufferLength, o.MinBufferLength)
	c.authorized = authorized
	c.published = published
	for _, r := range msgs {
		m := r.Msg
		if !m.ID.After(c.last) {
			continue
		}
		m.Account(&s.used)
		if !s.reserve(m.Size()) {
			break
		}
		m.Seq = s.seq.Add(1)
		var x int64
		if !r.Expires.IsZero() {
			x = r.Expires.UnixNano()
		}
		c.buf.Push(entry{Msg: m, Expires: x})
		c.last = m.ID
		c.published = max(c.published, m.Number)
		s.stored.Add(1)
		c.grp.messages.Add(1)
		c.grp.bytes.Add(m.Size())
	}
	if last.After(c.last) {
		c.last = last
		c.buf.MarkDropped(last)
	}
	s.trim(c, now)
	c.lastActive = now
	c.refresh()
	c.mu.Unlock()
	s.emit(events.ChannelCreated, key, 0, "")
	return true, nil
}

// EvictLast evicts every subscriber of the channel under the "last"
// concurrency rule, as a newcomer elsewhere (on another node) does: their
// reads fail with store.ErrConflict.
func (s *Store) EvictLast(key store.ChannelKey) {
	c := s.lookup(key)
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.deleted || len(c.lastSubs) == 0 {
		return
	}
	for _, old := range c.lastSubs {
		old.evicted.Store(true)
	}
	c.lastSubs = c.lastSubs[:0]
	c.refresh()
}

// RaiseFloor makes the ids of channels made from now on come after id, as
// after the delete of a channel whose newest id was id (a delete another
// node made).
func (s *Store) RaiseFloor(id msgid.ID) {
	s.floorMu.Lock()
	if id.Compare(s.floor) > 0 {
		s.floor = id
	}
	s.floorMu.Unlock()
}
