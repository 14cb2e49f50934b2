package redis

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/buffer"
	"github.com/heraldpush/herald/protocol/msgid"
)

// mirror is this node's copy of a channel it has subscribers on: the
// channel's recent messages as they are in Redis, kept up to date by the
// pubsub notices and, after a gap or a reconnect, by reading the stream
// from the last id it has. Subscribers read it as the memory engine's
// subscribers read their channel.
type mirror struct {
	s    *Store
	key  store.ChannelKey
	keys chanKeys

	refs int // under the registry shard's lock: Subscribes in progress

	// countMu orders this node's writes of its subscriber count to Redis,
	// so the last one written is the latest.
	countMu sync.Mutex

	mu    sync.Mutex
	epoch int64 // the channel's incarnation in Redis; 0 until known
	// buf is the copy of the channel's buffer, under the channel's buffer
	// limits (a buffer length of -1 until known), with the evicted
	// messages kept for this node's streaming subscribers (evicted at the
	// local clock). Its Dropped is the newest id dropped from the
	// channel's buffer in Redis; the messages only the copy let go (past
	// MirrorLength) are not dropped: truncated says Redis has them.
	buf        buffer.Buffer
	last       msgid.ID // newest message id known
	truncated  bool     // Redis holds older messages than buf does
	msgTimeout int64    // ms
	chanTimout int64    // ms
	authorized bool
	wake       chan struct{} // closed and dropped when the log changes
	subs       int
	lastSubs   []*subscription // subscribers under the "last" rule
	evictSeen  int64           // newest "last"-rule eviction seen
	idleSince  time.Time
	ready      chan struct{} // closed by the first sync
	synced     bool
	syncing    bool // a sync runs
	again      bool // another sync is wanted after it
	retired    bool
	deleted    bool // retired because the channel was deleted
	failed     bool // retired because the node could not follow the channel
	gone       atomic.Bool

	lastRequested time.Time
}

func newMirror(s *Store, key store.ChannelKey) *mirror {
	mr := &mirror{s: s, key: key, keys: s.keys(key), ready: make(chan struct{}), idleSince: time.Now()}
	mr.buf.SetLimits(-1, 0)
	return mr
}

func (mr *mirror) isRetired() bool { return mr.gone.Load() }

// fail retires the mirror because this node cannot follow the channel: its
// subscribers' reads fail with ErrUnavailable, so they are told to come
// back (and resume by id) rather than left on a stream that no longer
// delivers. A new subscriber makes a new mirror.
func (mr *mirror) fail() {
	mr.mu.Lock()
	gone := mr.retireLocked(false)
	if gone {
		mr.failed = true
	}
	mr.mu.Unlock()
	if gone {
		mr.s.unregister(mr)
	}
}

// retireLocked retires the mirror (deleted: its subscribers get ErrGone)
// and wakes its readers; the caller then unregisters it. It reports whether
// this call retired it. mr.mu held.
func (mr *mirror) retireLocked(deleted bool) bool {
	if mr.retired {
		if deleted {
			mr.deleted = true
		}
		return false
	}
	mr.retired, mr.deleted = true, deleted
	mr.gone.Store(true)
	mr.buf.Clear(new(buffer.Change))
	mr.lastSubs = nil
	mr.wakeAll()
	if !mr.synced {
		mr.synced = true
		close(mr.ready)
	}
	return true
}

func (mr *mirror) wakeAll() {
	if mr.wake != nil {
		close(mr.wake)
		mr.wake = nil
	}
}

func (mr *mirror) waitChan() <-chan struct{} {
	if mr.wake == nil {
		mr.wake = make(chan struct{})
	}
	return mr.wake
}

// trim applies the channel's buffer rules to the copy (expiry at Redis's
// clock, nowMs); past MirrorLength the older messages stay only in Redis.
// mr.mu held.
func (mr *mirror) trim(nowMs int64) {
	now := time.Now().UnixNano()
	b := &mr.buf
	var ch buffer.Change // the copy counts nothing
	if local := mr.s.o.MirrorLength; local < b.Capacity() && b.Held() > local {
		b.Shed(local, now, &ch)
		mr.truncated = true
	}
	b.Trim(now, nowMs, &ch)
	if b.Held() == 0 {
		mr.truncated = false
	}
}

// dropThrough drops every message up to id, as Redis did. mr.mu held.
func (mr *mirror) dropThrough(id msgid.ID) {
	mr.buf.EvictThrough(id, time.Now().UnixNano(), new(buffer.Change))
}

// push appends a message newer than last. mr.mu held.
func (mr *mirror) push(e entry) {
	mr.buf.Push(e)
	mr.last = e.Msg.ID
}

// evict marks the subscribers under the "last" rule that came before
// eviction number n as evicted. mr.mu held.
func (mr *mirror) evict(n int64) {
	if n > mr.evictSeen {
		mr.evictSeen = n
	}
	kept := mr.lastSubs[:0]
	woke := false
	for _, sub := range mr.lastSubs {
		if sub.evictNo < n {
			sub.evicted = true
			woke = true
		} else {
			kept = append(kept, sub)
		}
	}
	clear(mr.lastSubs[len(kept):])
	mr.lastSubs = kept
	if woke {
		mr.wakeAll()
	}
}

// handle applies a pubsub notice (or a publish made on this node).
func (mr *mirror) handle(n notice) {
	mr.mu.Lock()
	if mr.retired {
		mr.mu.Unlock()
		return
	}
	sync, unregister := false, false
	switch n.kind {
	case 'd':
		if mr.epoch != 0 && n.epoch >= mr.epoch {
			unregister = mr.retireLocked(true)
		}
	case 'v':
		switch {
		case n.epoch == mr.epoch:
			mr.evict(n.evictID)
		case n.epoch > mr.epoch && mr.epoch != 0:
			sync = true
		}
	case 'm':
		switch {
		case mr.epoch == 0 || n.epoch < mr.epoch:
		case n.epoch > mr.epoch:
			sync = true
		case !n.msg.Msg.ID.After(mr.last):
			// Already have it.
		case n.prev != mr.last || !mr.synced:
			sync = true
		default:
			mr.buf.SetLimits(n.bufLen, n.minBuf)
			mr.authorized = true
			mr.push(n.msg)
			mr.trim(mr.s.redisNow())
			mr.wakeAll()
		}
	}
	mr.mu.Unlock()
	if unregister {
		mr.s.unregister(mr)
	}
	if sync {
		mr.s.requestSync(mr)
	}
}

// syncBatch is the most messages one sync reads at once.
const syncBatch = 512

// requestSync brings the mirror up to date with Redis in the background:
// one sync at a time per mirror, and one more if asked meanwhile.
func (s *Store) requestSync(mr *mirror) {
	mr.mu.Lock()
	if mr.retired {
		mr.mu.Unlock()
		return
	}
	if mr.syncing {
		mr.again = true
		mr.mu.Unlock()
		return
	}
	mr.syncing = true
	mr.mu.Unlock()
	if !s.background(func() { s.syncLoop(mr) }) {
		mr.mu.Lock()
		mr.syncing = false
		mr.mu.Unlock()
	}
}

func (s *Store) syncLoop(mr *mirror) {
	backoff := 20 * time.Millisecond
	for {
		done, err := s.syncOnce(mr)
		if err != nil {
			s.log.Debug("redis sync failed", "channel", mr.key, "err", err)
			if !s.ps.confirmed(mr.keys.pubsub, mr) {
				// Not subscribed now: the next confirmation syncs again.
				mr.mu.Lock()
				mr.syncing, mr.again = false, false
				mr.mu.Unlock()
				return
			}
			select {
			case <-s.ctx.Done():
				mr.mu.Lock()
				mr.syncing = false
				mr.mu.Unlock()
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 20 * time.Millisecond
		mr.mu.Lock()
		if mr.retired || (done && !mr.again) {
			mr.syncing, mr.again = false, false
			mr.mu.Unlock()
			return
		}
		mr.again = false
		mr.mu.Unlock()
	}
}

// syncOnce reads what the mirror lacks from Redis and applies it; done is
// false when there is more to read.
func (s *Store) syncOnce(mr *mirror) (done bool, err error) {
	mr.mu.Lock()
	if mr.retired {
		mr.mu.Unlock()
		return true, nil
	}
	epoch := ""
	if mr.epoch != 0 {
		epoch = fmt.Sprint(mr.epoch)
	}
	initial := !mr.synced
	cursor, count := streamID(mr.last), syncBatch
	if initial {
		cursor, count = "", mr.s.o.MirrorLength
	}
	last := streamID(mr.last)
	mr.mu.Unlock()

	k := mr.keys
	ctx, cancel := s.opCtx(s.ctx)
	defer cancel()
	res, err := scriptSync.Run(ctx, s.rdb, []string{k.meta, k.stream, k.floor}, epoch, cursor, count, last).Slice()
	if err != nil {
		return false, err
	}
	r := reply(res)
	status := r.str(0)
	if status == "gone" {
		mr.mu.Lock()
		unregister := mr.retireLocked(true)
		mr.mu.Unlock()
		if unregister {
			s.unregister(mr)
		}
		return true, nil
	}
	if status == "missing" {
		// Redis lost the channel (a restart without persistence): the
		// copy stands, and the node restores the channel with its next
		// count refresh.
		s.observeClock(r.int(1))
		mr.mu.Lock()
		mr.markSynced()
		mr.mu.Unlock()
		s.markDirty(mr)
		return true, nil
	}
	if len(res) < 12 || (status != "ok" && status != "new") {
		return false, fmt.Errorf("redis: bad sync reply %v", res)
	}
	ep := r.int(1)
	metaLast, err1 := parseStreamID(r.str(2))
	metaDropped, err2 := parseStreamID(r.str(3))
	bl, mbl, mt, ct, auth, streamLen := r.int(4), r.int(5), r.int(6), r.int(7), r.int(8), r.int(9)
	s.observeClock(r.int(10))
	if r.err != nil || err1 != nil || err2 != nil {
		return false, fmt.Errorf("redis: bad sync reply %v", res)
	}
	raw, _ := res[11].([]any)
	entries := make([]entry, 0, len(raw))
	for _, e := range raw {
		pair, _ := e.([]any)
		if len(pair) != 2 {
			return false, fmt.Errorf("redis: bad stream entry %v", e)
		}
		id, _ := pair[0].(string)
		fields, _ := pair[1].([]any)
		en, err := decodeEntry(id, flatFields(fields))
		if err != nil {
			return false, err
		}
		entries = append(entries, en)
	}
	if initial {
		slices.Reverse(entries)
	}

	mr.mu.Lock()
	defer mr.mu.Unlock()
	if mr.retired {
		return true, nil
	}
	if mr.epoch == 0 || status == "new" {
		mr.epoch = ep
	} else if ep != mr.epoch {
		return false, nil // changed meanwhile: read again
	}
	mr.buf.SetLimits(int(bl), int(mbl))
	mr.msgTimeout, mr.chanTimout = mt, ct
	mr.authorized = auth == 1
	if initial && int64(len(entries)) < streamLen {
		mr.truncated = true
	}
	changed := false
	if metaDropped.Compare(mr.buf.Dropped()) > 0 {
		mr.dropThrough(metaDropped)
		changed = true
	}
	for _, e := range entries {
		if e.Msg.ID.After(mr.last) {
			mr.push(e)
			changed = true
		}
	}
	more := !initial && len(entries) == count
	if !more && metaLast.After(mr.last) {
		// Messages this node never saw left the buffer before it could
		// read them.
		mr.last = metaLast
		mr.buf.MarkDropped(metaLast)
		changed = true
	}
	mr.trim(s.redisNow())
	if changed {
		mr.wakeAll()
	}
	mr.markSynced()
	return !more, nil
}

// markSynced releases the subscribers waiting for the first sync. mr.mu held.
func (mr *mirror) markSynced() {
	if !mr.synced {
		mr.synced = true
		close(mr.ready)
	}
}

func flatFields(f []any) map[string]any {
	m := make(map[string]any, len(f)/2)
	for i := 0; i+1 < len(f); i += 2 {
		if k, ok := f[i].(string); ok {
			m[k] = f[i+1]
		}
	}
	return m
}

// readStream reads up to max messages after cursor from Redis, for
// subscribers further back than the mirror reaches.
func (s *Store) readStream(mr *mirror, cursor msgid.ID, buf []*store.Message, max int) ([]*store.Message, error) {
	ctx, cancel := s.opCtx(s.ctx)
	defer cancel()
	xs, err := s.rdb.XRangeN(ctx, mr.keys.stream, rangeAfter(cursor), "+", int64(max)).Result()
	if err != nil {
		return buf, s.fail(ctx, mr.key, err)
	}
	now := s.redisNow()
	for _, x := range xs {
		e, err := decodeEntry(x.ID, x.Values)
		if err != nil {
			return buf, err
		}
		if e.Expires != 0 && e.Expires <= now {
			continue
		}
		buf = append(buf, e.Msg)
	}
	return buf, nil
}

// nthOldest returns the id of the n-th oldest message in Redis (n >= 1).
func (s *Store) nthOldest(mr *mirror, n int) (msgid.ID, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.o.OpTimeout)
	defer cancel()
	xs, err := s.rdb.XRangeN(ctx, mr.keys.stream, "-", "+", int64(n)).Result()
	if err != nil {
		return msgid.ID{}, s.fail(ctx, mr.key, err)
	}
	if len(xs) == 0 {
		return msgid.ID{}, nil
	}
	return parseStreamID(xs[len(xs)-1].ID)
}
