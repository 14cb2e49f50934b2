package redis

import (
	"fmt"
	"time"

	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

// subscription is one subscriber's hold on a channel's mirror.
type subscription struct {
	s       *Store
	mr      *mirror
	rule    store.Concurrency
	evictNo int64    // "last" rule: this subscriber's eviction number
	evicted bool     // under mr.mu
	closed  bool     // under mr.mu
	follow  bool     // reads messages kept past the buffer (SubscribeOptions.Follow)
	base    msgid.ID // for a follower, the newest id out of the buffer when it subscribed
}

// Start implements store.Subscription.
func (sub *subscription) Start(st store.Start) (msgid.ID, error) {
	mr := sub.mr
	mr.mu.Lock()
	if mr.deleted {
		mr.mu.Unlock()
		return msgid.ID{}, store.ErrGone
	}
	if mr.failed {
		mr.mu.Unlock()
		return msgid.ID{}, store.ErrUnavailable
	}
	mr.trim(sub.s.redisNow())
	n := mr.buf.Buffered()
	if n == 0 {
		last := mr.last
		mr.mu.Unlock()
		return last, nil
	}
	switch st.Kind {
	case store.StartOldest:
		mr.mu.Unlock()
		return msgid.ID{}, nil
	case store.StartNewest:
		last := mr.last
		mr.mu.Unlock()
		return last, nil
	}
	switch {
	case st.N > 0:
		idx := min(st.N-1, n-1)
		if idx == 0 {
			mr.mu.Unlock()
			return msgid.ID{}, nil
		}
		if !mr.truncated {
			id := mr.buf.HeldAt(idx - 1).Msg.ID
			mr.mu.Unlock()
			return id, nil
		}
		// The oldest messages are only in Redis.
		mr.mu.Unlock()
		return sub.s.nthOldest(mr, idx)
	case st.N < 0:
		// Counted from the newest, which the mirror always has.
		i := n + st.N - 1
		var id msgid.ID
		if i >= 0 {
			id = mr.buf.HeldAt(i).Msg.ID
		}
		mr.mu.Unlock()
		return id, nil
	}
	last := mr.last
	mr.mu.Unlock()
	return last, nil
}

// Read implements store.Subscription.
func (sub *subscription) Read(cursor msgid.ID, buf []*store.Message, max int) (store.Batch, error) {
	mr := sub.mr
	mr.mu.Lock()
	if mr.deleted {
		mr.mu.Unlock()
		return store.Batch{Messages: buf}, store.ErrGone
	}
	if sub.evicted {
		mr.mu.Unlock()
		return store.Batch{Messages: buf}, store.ErrConflict
	}
	if mr.failed {
		// This node lost the channel: the subscriber is told, and resumes
		// by id when it comes back.
		mr.mu.Unlock()
		return store.Batch{Messages: buf}, fmt.Errorf("%w: this node could not follow the channel", store.ErrUnavailable)
	}
	if mr.retired {
		// The store closed under the subscriber: it waits for nothing.
		mr.mu.Unlock()
		return store.Batch{Messages: buf}, store.ErrClosed
	}
	mr.trim(sub.s.redisNow())
	b := &mr.buf
	start, dropped := b.Evicted(), b.Dropped()
	if sub.follow {
		// A streaming subscriber also reads what left the buffer but is
		// kept for it; from the start, that is what followed the buffer's
		// start when it subscribed.
		if cursor.IsZero() {
			cursor = sub.base
		}
		start, dropped = 0, b.Gone()
	}
	missed := !cursor.IsZero() && cursor.Compare(dropped) < 0
	if mr.truncated && b.Len() > start && cursor.Compare(b.At(start).Msg.ID) < 0 {
		mr.mu.Unlock()
		return sub.readRedis(cursor, buf, max, missed)
	}
	i := b.FirstAfter(cursor)
	if i < start {
		i = start
	}
	if i == b.Len() {
		w := mr.waitChan()
		mr.mu.Unlock()
		return store.Batch{Messages: buf, Wait: w, Missed: missed}, nil
	}
	for ; i < b.Len() && max > 0; i++ {
		buf = append(buf, b.At(i).Msg)
		max--
	}
	mr.lastRequested = time.Now()
	mr.mu.Unlock()
	return store.Batch{Messages: buf, Missed: missed}, nil
}

// readRedis serves a cursor older than the mirror from the stream.
func (sub *subscription) readRedis(cursor msgid.ID, buf []*store.Message, max int, missed bool) (store.Batch, error) {
	n := len(buf)
	buf, err := sub.s.readStream(sub.mr, cursor, buf, max)
	if err != nil {
		return store.Batch{Messages: buf[:n]}, err
	}
	if len(buf) == n {
		// Trimmed meanwhile: the mirror has the rest.
		mr := sub.mr
		mr.mu.Lock()
		defer mr.mu.Unlock()
		if b := &mr.buf; b.Held() > 0 && b.Oldest().ID.After(cursor) {
			for i := b.Evicted(); i < b.Len() && max > 0; i++ {
				buf = append(buf, b.At(i).Msg)
				max--
			}
			return store.Batch{Messages: buf, Missed: true}, nil
		}
		return store.Batch{Messages: buf, Wait: mr.waitChan(), Missed: missed}, nil
	}
	return store.Batch{Messages: buf, Missed: missed}, nil
}

// Close implements store.Subscription.
func (sub *subscription) Close() {
	mr := sub.mr
	mr.mu.Lock()
	if sub.closed {
		mr.mu.Unlock()
		return
	}
	sub.closed = true
	sub.s.subscribers.Add(-1)
	if mr.retired {
		mr.mu.Unlock()
		return
	}
	mr.subs--
	if sub.follow {
		mr.buf.AddFollowers(-1)
	}
	if mr.subs == 0 {
		mr.idleSince = time.Now()
	}
	if sub.rule == store.Last {
		for i, o := range mr.lastSubs {
			if o == sub {
				mr.lastSubs = append(mr.lastSubs[:i], mr.lastSubs[i+1:]...)
				break
			}
		}
	}
	mr.mu.Unlock()
	sub.s.markDirty(mr)
}
