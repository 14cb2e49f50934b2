// Package memory is the in-memory Store engine: channels live in a sharded
// registry (no global lock), each with a bounded ring of recent messages.
package memory

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/msgring"
	"github.com/heraldpush/herald/protocol/msgid"
)

const (
	shardCount = 64
	// channelOverhead approximates the bookkeeping bytes of one channel.
	channelOverhead = 256
	// Channels that keep no messages (store_messages off) still hold their
	// latest messages this long, so subscribers that are between two requests
	// do not miss what was published meanwhile.
	inflightTTL = 10 * time.Second
	inflightCap = 64
	// Messages that leave a channel's buffer while it has streaming
	// subscribers stay readable to those subscribers for followGrace (at
	// most followCap of them), so a burst of publishes larger than the
	// buffer does not cost a subscriber messages merely because the server
	// had not written to it yet. Only subscribers whose connection does
	// not keep up (send_timeout) lose anything.
	followGrace = 10 * time.Second
	followCap   = 1024
)

// Options configure a memory store.
type Options struct {
	// MemoryLimit caps the bytes of messages and channels; 0 = no cap.
	MemoryLimit int64
	// SweepInterval is how often expired messages and idle channels are
	// removed; default 1s.
	SweepInterval time.Duration
	// Now returns the current time; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Store is the in-memory engine. It is safe for concurrent use.
type Store struct {
	shards [shardCount]shard
	seed   maphash.Seed
	now    func() time.Time
	log    *slog.Logger
	limit  int64

	clock       atomic.Int64 // newest Unix second handed out: ids never go back.
	floorMu     sync.Mutex
	floor       msgid.ID // newest id of any removed channel.
	used        atomic.Int64
	channels    atomic.Int64
	subscribers atomic.Int64
	stored      atomic.Int64
	published   atomic.Uint64
	seq         atomic.Uint64 // publish order across channels.

	stop     chan struct{}
	done     chan struct{}
	closeOne sync.Once
}

type shard struct {
	mu    sync.RWMutex
	chans map[string]*channel
}

// entry is a buffered message with its expiry (Unix ns; 0 never).
type entry = msgring.Entry

type channel struct {
	key string

	mu      sync.Mutex
	msgs    msgring.Log
	last    msgid.ID
	floor   msgid.ID // ids start after this: a re-created channel continues past its predecessor.
	dropped msgid.ID // newest id dropped from the buffer.
	// msgs starts with evicted entries that have left the buffer but are
	// kept for streaming subscribers (see followGrace); evictedAt holds
	// when each left (Unix ns), and gone the newest id dropped entirely.
	evicted       int
	evictedAt     []int64
	gone          msgid.ID
	followers     int // streaming subscriptions (store.SubscribeOptions.Follow)
	opts          store.ChannelOptions
	subs          int
	lastSubs      []*subscription // subscribers under the "last" rule.
	authorized    bool            // created by a publisher.
	deleted       bool
	lastRequested atomic.Int64 // Unix ns; 0 if never
	// view is what subscribers read without taking mu: an immutable
	// snapshot of the buffer, replaced (and its wake closed) on change.
	view       atomic.Pointer[view]
	lastActive time.Time
}

// New starts a memory store; Close stops its sweeper.
func New(o Options) *Store {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		seed:  maphash.MakeSeed(),
		now:   o.Now,
		log:   o.Logger,
		limit: o.MemoryLimit,
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	for i := range s.shards {
		s.shards[i].chans = make(map[string]*channel)
	}
	go s.sweep(o.SweepInterval)
	return s
}

func (s *Store) shard(key string) *shard {
	return &s.shards[maphash.String(s.seed, key)%shardCount]
}

// seconds returns the Unix second for a new message id, never less than one
// already handed out, so ids stay monotonic across channels even if the wall
// clock steps back.
func (s *Store) seconds(now time.Time) int64 {
	wall := now.Unix()
	for {
		last := s.clock.Load()
		if wall <= last {
			return last
		}
		if s.clock.CompareAndSwap(last, wall) {
			return wall
		}
	}
}

// reserve accounts delta bytes, failing if that would pass the limit.
func (s *Store) reserve(delta int64) bool {
	for {
		used := s.used.Load()
		if delta > 0 && s.limit > 0 && used+delta > s.limit {
			return false
		}
		if s.used.CompareAndSwap(used, used+delta) {
			return true
		}
	}
}

func (s *Store) closed() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

func (s *Store) lookup(key string) *channel {
	sh := s.shard(key)
	sh.mu.RLock()
	c := sh.chans[key]
	sh.mu.RUnlock()
	return c
}

// getOrCreate returns the channel, creating it if the memory limit allows.
func (s *Store) getOrCreate(key string, channelTimeout time.Duration) (*channel, error) {
	if c := s.lookup(key); c != nil {
		return c, nil
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if c := sh.chans[key]; c != nil {
		return c, nil
	}
	if !s.reserve(channelOverhead + int64(len(key))) {
		return nil, store.ErrOutOfMemory
	}
	s.floorMu.Lock()
	floor := s.floor
	s.floorMu.Unlock()
	c := &channel{key: key, lastActive: s.now(), floor: floor}
	c.opts.ChannelTimeout = channelTimeout
	c.refresh()
	sh.chans[key] = c
	s.channels.Add(1)
	return c, nil
}

// view is a snapshot of a channel for lock-free reads.
type view struct {
	entries []msgring.Entry // oldest first; never modified
	evicted int             // leading entries that left the buffer (kept for followers)
	keep    int             // entries kept past their expiry (min buffer length)
	dropped msgid.ID        // newest id dropped before entries[evicted]
	gone    msgid.ID        // newest id dropped before entries[0]
	deleted bool
	wake    chan struct{} // closed when a newer view replaces this one
}

// refresh publishes a new view of the channel and wakes the readers
// waiting on the old one. c.mu held.
func (c *channel) refresh() {
	keep := c.opts.MinBufferLength
	if c.opts.BufferLength <= 0 {
		keep = 0
	}
	old := c.view.Swap(&view{entries: c.msgs.Snapshot(), evicted: c.evicted, keep: keep, dropped: c.dropped, gone: c.gone, deleted: c.deleted, wake: make(chan struct{})})
	if old != nil {
		close(old.wake)
	}
}

func (c *channel) capacity() int {
	if c.opts.BufferLength <= 0 {
		return inflightCap
	}
	return c.opts.BufferLength
}

// trim evicts messages past the buffer length and expired ones, and drops
// evicted messages no streaming subscriber may still need. It reports
// whether anything changed (the view then needs a refresh). c.mu held.
func (s *Store) trim(c *channel, now time.Time) bool {
	n, e := c.msgs.Len(), c.evicted
	capacity := c.capacity()
	for c.held() > capacity {
		s.evict(c, now)
	}
	keep := c.opts.MinBufferLength
	if c.opts.BufferLength <= 0 {
		keep = 0
	}
	ns := now.UnixNano()
	for c.held() > keep {
		e := c.msgs.At(c.evicted)
		if e.Expires == 0 || e.Expires > ns {
			break
		}
		s.evict(c, now)
	}
	for c.evicted > 0 && (c.followers == 0 || c.evicted > followCap || ns-c.evictedAt[0] >= int64(followGrace)) {
		s.dropFront(c)
	}
	return c.msgs.Len() != n || c.evicted != e
}

// held returns the number of messages in the buffer. c.mu held.
func (c *channel) held() int { return c.msgs.Len() - c.evicted }

// evict takes the oldest message out of the buffer; it stays readable to
// streaming subscribers until trim drops it. c.mu held.
func (s *Store) evict(c *channel, now time.Time) {
	c.dropped = c.msgs.At(c.evicted).Msg.ID
	c.evicted++
	c.evictedAt = append(c.evictedAt, now.UnixNano())
	s.stored.Add(-1)
}

// dropFront drops the oldest message for good: an evicted one, or else the
// oldest in the buffer. c.mu held.
func (s *Store) dropFront(c *channel) {
	m := c.msgs.PopFront().Msg
	c.gone = m.ID
	if c.evicted > 0 {
		c.evicted--
		c.evictedAt = c.evictedAt[1:]
		if c.evicted == 0 {
			c.evictedAt = nil
		}
	} else {
		c.dropped = m.ID
		s.stored.Add(-1)
	}
	s.used.Add(-m.Size() - m.Release())
}

// buffered returns the number of messages subscribers see as stored.
func (c *channel) buffered() int {
	if c.opts.BufferLength <= 0 {
		return 0
	}
	return c.held()
}

func (c *channel) lastRequestedTime() time.Time {
	if ns := c.lastRequested.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

func (c *channel) info() store.Info {
	return store.Info{
		Messages:      c.buffered(),
		Subscribers:   c.subs,
		LastRequested: c.lastRequestedTime(),
		LastMessageID: c.last,
	}
}

// Publish implements store.Store.
func (s *Store) Publish(ctx context.Context, key string, p store.Publication, o store.ChannelOptions) (store.PublishResult, error) {
	if s.closed() {
		return store.PublishResult{}, store.ErrClosed
	}
	m := &store.Message{Body: p.Body, ContentType: p.ContentType, EventName: p.EventName}
	m.Account(&s.used)
	size := m.Size()
	c, now, err := s.openForPublisher(ctx, key, o)
	if err != nil {
		return store.PublishResult{}, err
	}
	s.trim(c, now)
	// A full buffer gives up its oldest message for the new one. With
	// streaming subscribers it is kept for them a while (and still
	// counts); otherwise only the net change is accounted, so usage
	// never passes the limit.
	evict := c.held() > 0 && c.held() >= c.capacity()
	keepEvicted := evict && c.followers > 0
	needed := size
	if evict && !keepEvicted {
		needed -= c.msgs.At(c.evicted).Msg.Size()
	}
	if !s.reserve(needed) {
		if c.evicted == 0 && !keepEvicted {
			c.mu.Unlock()
			return store.PublishResult{}, store.ErrOutOfMemory
		}
		// Short of memory: what is kept for followers goes first.
		for c.evicted > 0 {
			s.dropFront(c)
		}
		keepEvicted = false
		needed = size
		if evict {
			needed -= c.msgs.Front().Msg.Size()
		}
		if !s.reserve(needed) {
			c.refresh()
			c.mu.Unlock()
			return store.PublishResult{}, store.ErrOutOfMemory
		}
	}
	if evict {
		if keepEvicted {
			s.evict(c, now)
		} else {
			old := c.msgs.PopFront().Msg // its size was netted out above
			s.used.Add(-old.Release())
			c.dropped, c.gone = old.ID, old.ID
			s.stored.Add(-1)
		}
	}
	prev := c.last
	if prev.Compare(c.floor) < 0 {
		prev = c.floor
	}
	m.ID = msgid.Next(prev, s.seconds(now))
	m.Seq = s.seq.Add(1)
	c.last = m.ID
	ttl := o.MessageTimeout
	if o.BufferLength <= 0 {
		ttl = inflightTTL
	}
	var expires int64
	if ttl > 0 {
		expires = now.Add(ttl).UnixNano()
	}
	c.msgs.Push(entry{Msg: m, Expires: expires})
	s.stored.Add(1)
	s.trim(c, now)
	c.lastActive = now
	info := c.info()
	c.refresh()
	c.mu.Unlock()
	s.published.Add(1)
	return store.PublishResult{Message: m, Info: info}, nil
}

// openForPublisher returns the channel, created if needed, locked, not
// deleted, and with the publisher's options, and the time it was taken.
func (s *Store) openForPublisher(ctx context.Context, key string, o store.ChannelOptions) (*channel, time.Time, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, time.Time{}, err
		}
		c, err := s.getOrCreate(key, o.ChannelTimeout)
		if err != nil {
			return nil, time.Time{}, err
		}
		c.mu.Lock()
		if c.deleted {
			c.mu.Unlock()
			continue
		}
		c.opts = o
		c.authorized = true
		return c, s.now(), nil
	}
}

// Create implements store.Store.
func (s *Store) Create(ctx context.Context, key string, o store.ChannelOptions) (store.Info, error) {
	if s.closed() {
		return store.Info{}, store.ErrClosed
	}
	c, now, err := s.openForPublisher(ctx, key, o)
	if err != nil {
		return store.Info{}, err
	}
	c.lastActive = now
	s.trim(c, now)
	c.refresh()
	info := c.info()
	c.mu.Unlock()
	return info, nil
}

// Info implements store.Store.
func (s *Store) Info(ctx context.Context, key string) (store.Info, error) {
	c := s.lookup(key)
	if c == nil {
		return store.Info{}, store.ErrNotFound
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.deleted {
		return store.Info{}, store.ErrNotFound
	}
	if s.trim(c, s.now()) {
		c.refresh()
	}
	return c.info(), nil
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key string) (store.Info, error) {
	sh := s.shard(key)
	sh.mu.Lock()
	c := sh.chans[key]
	if c == nil {
		sh.mu.Unlock()
		return store.Info{}, store.ErrNotFound
	}
	delete(sh.chans, key)
	sh.mu.Unlock()

	c.mu.Lock()
	defer c.mu.Unlock()
	s.trim(c, s.now())
	info := c.info()
	s.remove(c)
	return info, nil
}

// remove marks a channel deleted and releases its memory; the caller has
// taken it out of its shard. c.mu held.
func (s *Store) remove(c *channel) {
	c.deleted = true
	s.floorMu.Lock()
	if c.last.Compare(s.floor) > 0 {
		s.floor = c.last
	}
	s.floorMu.Unlock()
	for c.msgs.Len() > 0 {
		s.dropFront(c)
	}
	c.msgs.Clear()
	c.lastSubs = nil
	s.used.Add(-(channelOverhead + int64(len(c.key))))
	s.channels.Add(-1)
	c.refresh()
}

// Subscribe implements store.Store.
func (s *Store) Subscribe(ctx context.Context, key string, o store.SubscribeOptions) (store.Subscription, error) {
	if s.closed() {
		return nil, store.ErrClosed
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var c *channel
		if o.ExistingOnly {
			c = s.lookup(key)
			if c == nil {
				return nil, store.ErrNotAuthorized
			}
		} else {
			var err error
			if c, err = s.getOrCreate(key, o.ChannelTimeout); err != nil {
				return nil, err
			}
		}
		c.mu.Lock()
		if c.deleted {
			c.mu.Unlock()
			continue
		}
		if o.ExistingOnly && !c.authorized {
			c.mu.Unlock()
			return nil, store.ErrNotAuthorized
		}
		if o.MaxSubscribers > 0 && c.subs >= o.MaxSubscribers {
			c.mu.Unlock()
			return nil, store.ErrTooManySubscribers
		}
		sub := &subscription{s: s, c: c, rule: o.Concurrency, follow: o.Follow, base: c.dropped}
		switch o.Concurrency {
		case store.First:
			if c.subs > 0 {
				c.mu.Unlock()
				return nil, store.ErrConflict
			}
		case store.Last:
			for _, old := range c.lastSubs {
				old.evicted.Store(true)
			}
			c.lastSubs = append(c.lastSubs[:0], sub)
			c.refresh()
		}
		now := s.now()
		c.subs++
		if o.Follow {
			c.followers++
		}
		c.lastRequested.Store(now.UnixNano())
		c.lastActive = now
		c.mu.Unlock()
		s.subscribers.Add(1)
		return sub, nil
	}
}

// Stats implements store.Store.
func (s *Store) Stats() store.Stats {
	return store.Stats{
		Channels:       int(s.channels.Load()),
		Subscribers:    int(s.subscribers.Load()),
		StoredMessages: int(s.stored.Load()),
		Published:      s.published.Load(),
		MemoryUsed:     s.used.Load(),
		MemoryLimit:    s.limit,
	}
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.closeOne.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

// sweep removes expired messages and idle channels until Close.
func (s *Store) sweep(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	var batch []*channel
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		for i := range s.shards {
			batch = s.sweepShard(&s.shards[i], batch[:0])
		}
		clear(batch)
	}
}

func (s *Store) sweepShard(sh *shard, batch []*channel) []*channel {
	sh.mu.RLock()
	for _, c := range sh.chans {
		batch = append(batch, c)
	}
	sh.mu.RUnlock()
	now := s.now()
	idle := batch[len(batch):]
	for _, c := range batch {
		c.mu.Lock()
		if !c.deleted {
			if s.trim(c, now) {
				c.refresh() // let the dropped messages go
			}
			if c.idle(now) {
				idle = append(idle, c)
			}
		}
		c.mu.Unlock()
	}
	if len(idle) == 0 {
		return batch
	}
	sh.mu.Lock()
	for _, c := range idle {
		c.mu.Lock()
		if !c.deleted && c.idle(now) && sh.chans[c.key] == c {
			delete(sh.chans, c.key)
			s.remove(c)
			s.log.Debug("channel expired", "channel", c.key)
		}
		c.mu.Unlock()
	}
	sh.mu.Unlock()
	return batch
}

// idle reports whether the channel has nothing left and has lingered its
// channel timeout. c.mu held.
func (c *channel) idle(now time.Time) bool {
	return c.subs == 0 && c.msgs.Len() == 0 && now.Sub(c.lastActive) >= c.opts.ChannelTimeout
}

type subscription struct {
	s       *Store
	c       *channel
	rule    store.Concurrency
	evicted atomic.Bool
	follow  bool     // reads messages kept past the buffer (SubscribeOptions.Follow)
	base    msgid.ID // for a follower, the newest id out of the buffer when it subscribed
	closed  bool     // under c.mu
}

// Start implements store.Subscription.
func (sub *subscription) Start(st store.Start) (msgid.ID, error) {
	c := sub.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.deleted {
		return msgid.ID{}, store.ErrGone
	}
	if sub.s.trim(c, sub.s.now()) {
		c.refresh()
	}
	n := c.buffered()
	if n == 0 {
		// Nothing stored (or an unbuffered channel): wait for the next message.
		return c.last, nil
	}
	idx := 0
	switch st.Kind {
	case store.StartOldest:
		return msgid.ID{}, nil
	case store.StartNewest:
		return c.last, nil
	case store.StartNth:
		switch {
		case st.N > 0:
			idx = min(st.N-1, n-1)
		case st.N < 0:
			idx = max(n+st.N, 0)
		default:
			return c.last, nil
		}
	}
	if idx == 0 {
		return msgid.ID{}, nil
	}
	return c.msgs.At(c.evicted + idx - 1).Msg.ID, nil
}

// Read implements store.Subscription.
// Read implements store.Subscription. It takes no lock: it reads the
// channel's current view, skipping what expired since the view was made.
func (sub *subscription) Read(cursor msgid.ID, buf []*store.Message, max int) (store.Batch, error) {
	c := sub.c
	v := c.view.Load()
	if v.deleted {
		return store.Batch{Messages: buf}, store.ErrGone
	}
	if sub.evicted.Load() {
		return store.Batch{Messages: buf}, store.ErrConflict
	}
	now := sub.s.now().UnixNano()
	entries, dropped := v.entries[v.evicted:], v.dropped
	if sub.follow {
		// A streaming subscriber also reads what left the buffer but is
		// kept for it; from the start, that is what followed the buffer's
		// start when it subscribed.
		if cursor.IsZero() {
			cursor = sub.base
		}
		entries, dropped = v.entries, v.gone
	}
	for len(entries) > v.keep {
		if e := entries[0]; e.Expires == 0 || e.Expires > now {
			break
		}
		dropped = entries[0].Msg.ID
		entries = entries[1:]
	}
	missed := !cursor.IsZero() && cursor.Compare(dropped) < 0
	i := msgring.FirstAfter(entries, cursor)
	if i == len(entries) {
		return store.Batch{Messages: buf, Wait: v.wake, Missed: missed}, nil
	}
	for ; i < len(entries) && max > 0; i++ {
		buf = append(buf, entries[i].Msg)
		max--
	}
	c.lastRequested.Store(now)
	return store.Batch{Messages: buf, Missed: missed}, nil
}

// Close implements store.Subscription.
func (sub *subscription) Close() {
	c := sub.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if sub.closed {
		return
	}
	sub.closed = true
	sub.s.subscribers.Add(-1)
	if c.deleted {
		return
	}
	c.subs--
	if sub.follow {
		c.followers--
	}
	c.lastActive = sub.s.now()
	if sub.rule == store.Last {
		for i, o := range c.lastSubs {
			if o == sub {
				c.lastSubs = append(c.lastSubs[:i], c.lastSubs[i+1:]...)
				break
			}
		}
	}
}

var _ store.Store = (*Store)(nil)
