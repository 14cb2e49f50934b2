// Package memory is the in-memory Store engine: channels live in a sharded
// registry (no global lock), each with a bounded buffer of recent messages
// under the shared buffer rules (internal/store/buffer). Subscribers read a
// channel without a lock, from an immutable view the channel replaces on
// every change.
//
// Besides store.Store it implements store.Lister and store.GroupAccounter.
// On its Options.Events bus it emits ChannelCreated, ChannelDeleted (Reason
// "deleted" for Delete, "expired" when the sweeper removes an idle
// channel) and MessageExpired (per channel and sweep, N messages). It has
// no backend to fail, so it emits no StoreError.
//
// Lock order: shard.mu before channel.mu; Store.floorMu is innermost (taken
// under shard.mu or channel.mu, never the other way round). No two shard or
// two channel locks are held at once. A shard's groups and their maps of
// channels are under shard.mu; the groups' counters are atomics. Nothing
// is emitted on the bus while a lock is held.
package memory

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/buffer"
	"github.com/heraldpush/herald/internal/store/msgring"
	"github.com/heraldpush/herald/protocol/msgid"
)

const (
	shardCount = 64
	// channelOverhead approximates the bookkeeping bytes of one channel.
	channelOverhead = 256
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
	// Events receives what happens to channels and their messages; nil
	// discards.
	Events *events.Bus
}

// Store is the in-memory engine. It is safe for concurrent use.
type Store struct {
	shards [shardCount]shard
	seed   maphash.Seed
	now    func() time.Time
	log    *slog.Logger
	bus    *events.Bus
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
	// secondTags counts the messages published in the latest second: the
	// second in the high 40 bits, the count in the low 24.
	secondTags atomic.Uint64

	limitsMu sync.Mutex
	limits   map[string]store.GroupLimits // group limits set so far

	stop     chan struct{}
	done     chan struct{}
	closeOne sync.Once
}

type shard struct {
	mu     sync.RWMutex
	groups map[string]*group // the shard's channels, by group and id
}

// group is one group's channels in one shard, and their counts; summed
// over the shards the counts are its store.GroupStats. Each is on cache
// lines of its own, as publishers of different shards update theirs at
// once.
type group struct {
	chans       map[string]*channel // by id, under shard.mu
	subscribers atomic.Int64
	messages    atomic.Int64
	bytes       atomic.Int64
	_           [32]byte
}

// entry is a buffered message with its expiry (Unix ns; 0 never).
type entry = msgring.Entry

type channel struct {
	key store.ChannelKey
	grp *group // its group in its shard

	mu            sync.Mutex
	buf           buffer.Buffer // followers: streaming subscriptions (store.SubscribeOptions.Follow)
	last          msgid.ID
	floor         msgid.ID // ids start after this: a re-created channel continues past its predecessor.
	opts          store.ChannelOptions
	subs          int
	lastSubs      []*subscription // subscribers under the "last" rule.
	published     uint64          // messages published since the channel was made (the newest Number).
	created       time.Time
	authorized    bool // created by a publisher.
	deleted       bool
	expired       int          // messages expired since the sweeper last reported
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
		bus:   o.Events,
		limit: o.MemoryLimit,
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	for i := range s.shards {
		s.shards[i].groups = make(map[string]*group)
	}
	go s.sweep(o.SweepInterval)
	return s
}

func (s *Store) shard(key store.ChannelKey) *shard {
	return &s.shards[key.Hash(s.seed)%shardCount]
}

// emit hands an event about a channel to the bus, or only counts it when
// no consumer listens.
func (s *Store) emit(kind events.Kind, key store.ChannelKey, n int, reason string) {
	if !s.bus.Active() {
		s.bus.CountOnly(kind, n)
		return
	}
	s.bus.Emit(events.Event{Kind: kind, Group: key.Group, Channel: key.ID, N: n, Reason: reason})
}

// seconds returns the Unix second for a new message id, never less than one
// already handed out, so ids stay monotonic across channels even if the wall
// clock steps back.
// NumberAfter makes every message id the store hands out from now on
// later than Unix second sec: a process that takes over from another
// (a binary upgrade) numbers its messages after the old one's, so a
// subscriber that resumes here with an id from there misses nothing.
func (s *Store) NumberAfter(sec int64) {
	for {
		last := s.clock.Load()
		if last > sec || s.clock.CompareAndSwap(last, sec+1) {
			return
		}
	}
}

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

// secondTag returns the next place among the messages published in second
// sec (seconds only grow, see seconds): 1 for the first.
func (s *Store) secondTag(sec int64) uint32 {
	const countBits, maxCount = 24, 1<<24 - 1
	for {
		v := s.secondTags.Load()
		next := uint64(sec)<<countBits | 1
		if int64(v>>countBits) >= sec {
			next = v
			if v&maxCount < maxCount {
				next++
			}
		}
		if s.secondTags.CompareAndSwap(v, next) {
			return uint32(next & maxCount)
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

func (s *Store) lookup(key store.ChannelKey) *channel {
	sh := s.shard(key)
	sh.mu.RLock()
	c := sh.get(key)
	sh.mu.RUnlock()
	return c
}

// get returns the channel, or nil. sh.mu held.
func (sh *shard) get(key store.ChannelKey) *channel {
	if g := sh.groups[key.Group]; g != nil {
		return g.chans[key.ID]
	}
	return nil
}

// getOrCreate returns the channel, creating it if the memory limit allows.
// When paid holds memory the caller has already reserved, a channel it
// creates takes its cost from there.
func (s *Store) getOrCreate(key store.ChannelKey, channelTimeout time.Duration, paid *int64) (*channel, error) {
	if c := s.lookup(key); c != nil {
		return c, nil
	}
	c, created, err := s.create(key, channelTimeout, paid)
	if created {
		s.emit(events.ChannelCreated, key, 0, "")
	}
	return c, err
}

func (s *Store) create(key store.ChannelKey, channelTimeout time.Duration, paid *int64) (_ *channel, created bool, _ error) {
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if c := sh.get(key); c != nil {
		return c, false, nil
	}
	if cost := keyCost(key); paid != nil && *paid >= cost {
		*paid -= cost
	} else if !s.reserve(cost) {
		return nil, false, store.ErrOutOfMemory
	}
	s.floorMu.Lock()
	floor := s.floor
	s.floorMu.Unlock()
	g := sh.groups[key.Group]
	if g == nil {
		g = &group{chans: make(map[string]*channel)}
		sh.groups[key.Group] = g
	}
	now := s.now()
	c := &channel{key: key, grp: g, lastActive: now, created: now, floor: floor}
	c.opts.ChannelTimeout = channelTimeout
	c.refresh()
	g.chans[key.ID] = c
	s.channels.Add(1)
	return c, true, nil
}

// keyCost is the memory a channel accounts for.
func keyCost(key store.ChannelKey) int64 {
	return channelOverhead + int64(len(key.Group)+len(key.ID))
}

// unlink takes a channel out of its shard. sh.mu held.
func (sh *shard) unlink(c *channel) {
	delete(c.grp.chans, c.key.ID)
	if len(c.grp.chans) == 0 {
		delete(sh.groups, c.key.Group)
	}
}

// account applies what an operation did to the channel's buffer to the
// store's and the group's counters. c.mu held.
func (s *Store) account(c *channel, ch *buffer.Change) {
	if ch.Left != 0 {
		s.stored.Add(-int64(ch.Left))
		c.grp.messages.Add(-int64(ch.Left))
		c.grp.bytes.Add(-ch.LeftBytes)
		c.expired += ch.Expired
	}
	if ch.Freed != 0 {
		s.used.Add(-(ch.FreedBytes + ch.Released))
	}
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
	b := &c.buf
	old := c.view.Swap(&view{entries: b.Snapshot(), evicted: b.Evicted(), keep: b.Keep(), dropped: b.Dropped(), gone: b.Gone(), deleted: c.deleted, wake: make(chan struct{})})
	if old != nil {
		close(old.wake)
	}
}

// trim applies the buffer rules and accounts for what they dropped. It
// reports whether anything changed (the view then needs a refresh). c.mu
// held.
func (s *Store) trim(c *channel, now time.Time) bool {
	ns := now.UnixNano()
	var ch buffer.Change
	if !c.buf.Trim(ns, ns, &ch) {
		return false
	}
	s.account(c, &ch)
	return true
}

func (c *channel) lastRequestedTime() time.Time {
	if ns := c.lastRequested.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

func (c *channel) info() store.Info {
	return store.Info{
		Messages:      c.buf.Buffered(),
		Subscribers:   c.subs,
		LastRequested: c.lastRequestedTime(),
		LastMessageID: c.last,
		Published:     c.published,
		Created:       c.created,
	}
}

// Publish implements store.Store.
func (s *Store) Publish(ctx context.Context, key store.ChannelKey, p store.Publication, o store.ChannelOptions) (store.PublishResult, error) {
	m := &store.Message{Body: p.Body, ContentType: p.ContentType, EventName: p.EventName, EventID: p.EventID, Deflate: p.Deflate}
	res, _, err := s.add(ctx, key, m, o, false, time.Time{})
	return res, err
}

// add stores m in a channel, creating it, under the publisher's options o.
// A published message (imported false) gets the channel's next id and its
// expiry from o. An imported one keeps its id when that comes after every
// id the channel has had (retagged reports when it does not and gets the
// next one, in its own second at the earliest) and expires at expires
// (zero: never).
func (s *Store) add(ctx context.Context, key store.ChannelKey, m *store.Message, o store.ChannelOptions, imported bool, expires time.Time) (_ store.PublishResult, retagged bool, _ error) {
	if s.closed() {
		return store.PublishResult{}, false, store.ErrClosed
	}
	m.Account(&s.used)
	size := m.Size()
	// A publish refused for memory leaves no trace: to a channel that does
	// not exist yet, its memory and the channel's are reserved before the
	// channel is made (paid holds what is reserved and not yet used), and
	// a channel that exists is left as it was.
	var paid int64
	if s.lookup(key) == nil {
		if !s.reserve(size + keyCost(key)) {
			return store.PublishResult{}, false, store.ErrOutOfMemory
		}
		paid = size + keyCost(key)
	}
	c, now, before, err := s.openForPublisher(ctx, key, o, &paid)
	if err != nil {
		s.used.Add(-paid)
		return store.PublishResult{}, false, err
	}
	// take accounts n bytes for the publish, from what is paid first.
	take := func(n int64) bool {
		if d := n - paid; d <= 0 || s.reserve(d) {
			if d < 0 {
				s.used.Add(d)
			}
			paid = 0
			return true
		}
		return false
	}
	refuse := func() (store.PublishResult, bool, error) {
		s.used.Add(-paid)
		c.authorized, c.opts = before.authorized, before.opts
		c.buf.SetLimits(before.bufLen, before.minBuf)
		c.mu.Unlock()
		return store.PublishResult{}, false, store.ErrOutOfMemory
	}
	ns := now.UnixNano()
	b := &c.buf
	s.trim(c, now)
	// A full buffer gives up its oldest message for the new one. With
	// streaming subscribers it is kept for them a while (and still
	// counts); otherwise only the net change is accounted, so usage
	// never passes the limit.
	evict := b.Held() > 0 && b.Held() >= b.Capacity()
	keepEvicted := evict && b.Followers() > 0
	needed := size
	if evict && !keepEvicted {
		needed -= b.Oldest().Size()
	}
	if !take(needed) {
		if b.Evicted() == 0 && !keepEvicted {
			return refuse()
		}
		// Short of memory: what is kept for followers goes first.
		var ch buffer.Change
		b.DropKept(&ch)
		s.account(c, &ch)
		keepEvicted = false
		needed = size
		if evict {
			needed -= b.Oldest().Size()
		}
		if !take(needed) {
			c.refresh()
			return refuse()
		}
	}
	// The message that leaves the buffer for the new one is counted with
	// it: usually the counts do not change.
	var left buffer.Change
	if evict {
		if keepEvicted {
			b.Evict(ns, &left)
		} else {
			b.DropOldest(&left)
			s.used.Add(-left.Released) // its size was netted out above
		}
	}
	prev := c.last
	if prev.Compare(c.floor) < 0 {
		prev = c.floor
	}
	var x int64
	switch {
	case !imported:
		sec := s.seconds(now)
		m.ID = msgid.Next(prev, sec)
		m.SecondTag = s.secondTag(sec)
		if ttl := buffer.TTL(o.BufferLength, o.MessageTimeout); ttl > 0 {
			x = now.Add(ttl).UnixNano()
		}
	case !m.ID.After(prev):
		m.ID = msgid.Next(prev, m.ID.Time)
		retagged = true
	}
	if imported && !expires.IsZero() {
		x = expires.UnixNano()
	}
	m.Seq = s.seq.Add(1)
	c.last = m.ID
	// A published message takes the channel's next number; an imported
	// one keeps the number its origin gave it (the channel's count
	// follows it), or takes the next when it has none.
	if m.Number == 0 || !imported {
		m.Number = c.published + 1
	}
	c.published = max(c.published, m.Number)
	b.Push(entry{Msg: m, Expires: x})
	if n := int64(1 - left.Left); n != 0 {
		s.stored.Add(n)
		c.grp.messages.Add(n)
	}
	if n := size - left.LeftBytes; n != 0 {
		c.grp.bytes.Add(n)
	}
	s.trim(c, now)
	c.lastActive = now
	info := c.info()
	c.refresh()
	c.mu.Unlock()
	if !imported {
		s.published.Add(1)
	}
	return store.PublishResult{Message: m, Info: info}, retagged, nil
}

// publisherState is what a publisher changes in a channel before it
// knows whether its publish fits: restored when it does not.
type publisherState struct {
	opts           store.ChannelOptions
	bufLen, minBuf int
	authorized     bool
}

// openForPublisher returns the channel, created if needed (its cost taken
// from paid, see getOrCreate), locked, not deleted, and with the
// publisher's options; the time it was taken; and what it was before.
func (s *Store) openForPublisher(ctx context.Context, key store.ChannelKey, o store.ChannelOptions, paid *int64) (*channel, time.Time, publisherState, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, time.Time{}, publisherState{}, err
		}
		c, err := s.getOrCreate(key, o.ChannelTimeout, paid)
		if err != nil {
			return nil, time.Time{}, publisherState{}, err
		}
		c.mu.Lock()
		if c.deleted {
			c.mu.Unlock()
			continue
		}
		before := publisherState{opts: c.opts, authorized: c.authorized}
		before.bufLen, before.minBuf = c.buf.Limits()
		c.opts = o
		c.buf.SetLimits(o.BufferLength, o.MinBufferLength)
		c.authorized = true
		return c, s.now(), before, nil
	}
}

// Create implements store.Store.
func (s *Store) Create(ctx context.Context, key store.ChannelKey, o store.ChannelOptions) (store.Info, error) {
	if s.closed() {
		return store.Info{}, store.ErrClosed
	}
	c, now, _, err := s.openForPublisher(ctx, key, o, nil)
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
func (s *Store) Info(ctx context.Context, key store.ChannelKey) (store.Info, error) {
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
func (s *Store) Delete(ctx context.Context, key store.ChannelKey) (store.Info, error) {
	sh := s.shard(key)
	sh.mu.Lock()
	c := sh.get(key)
	if c == nil {
		sh.mu.Unlock()
		return store.Info{}, store.ErrNotFound
	}
	sh.unlink(c)
	sh.mu.Unlock()

	c.mu.Lock()
	s.trim(c, s.now())
	info := c.info()
	expired := s.remove(c)
	c.mu.Unlock()
	if expired > 0 {
		s.emit(events.MessageExpired, key, expired, "")
	}
	s.emit(events.ChannelDeleted, key, 0, "deleted")
	return info, nil
}

// remove marks a channel deleted and releases its memory; the caller has
// unlinked it from its shard. It returns the messages that expired since
// the sweeper last reported them. c.mu held.
func (s *Store) remove(c *channel) (expired int) {
	c.deleted = true
	s.floorMu.Lock()
	if c.last.Compare(s.floor) > 0 {
		s.floor = c.last
	}
	s.floorMu.Unlock()
	var ch buffer.Change
	c.buf.Clear(&ch)
	s.account(c, &ch)
	c.grp.subscribers.Add(-int64(c.subs))
	c.lastSubs = nil
	s.used.Add(-keyCost(c.key))
	s.channels.Add(-1)
	c.refresh()
	expired, c.expired = c.expired, 0
	return expired
}

// Subscribe implements store.Store.
func (s *Store) Subscribe(ctx context.Context, key store.ChannelKey, o store.SubscribeOptions) (store.Subscription, error) {
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
				return nil, store.ErrNotCreated
			}
		} else {
			var err error
			if c, err = s.getOrCreate(key, o.ChannelTimeout, nil); err != nil {
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
			return nil, store.ErrNotCreated
		}
		if o.MaxSubscribers > 0 && c.subs >= o.MaxSubscribers {
			c.mu.Unlock()
			return nil, store.ErrTooManySubscribers
		}
		sub := &subscription{s: s, c: c, rule: o.Concurrency, follow: o.Follow, base: c.buf.Dropped()}
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
		c.grp.subscribers.Add(1)
		if o.Follow {
			c.buf.AddFollowers(1)
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

// sweepShard trims the shard's channels, reports the messages that
// expired, and removes the idle channels.
func (s *Store) sweepShard(sh *shard, batch []*channel) []*channel {
	sh.mu.RLock()
	for _, g := range sh.groups {
		for _, c := range g.chans {
			batch = append(batch, c)
		}
	}
	sh.mu.RUnlock()
	now := s.now()
	idle := batch[len(batch):]
	var expired []expiredCount
	for _, c := range batch {
		c.mu.Lock()
		if !c.deleted {
			if s.trim(c, now) {
				c.refresh() // let the dropped messages go
			}
			if c.expired > 0 {
				expired = append(expired, expiredCount{c.key, c.expired})
				c.expired = 0
			}
			if c.idle(now) {
				idle = append(idle, c)
			}
		}
		c.mu.Unlock()
	}
	for _, e := range expired {
		s.emit(events.MessageExpired, e.key, e.n, "")
	}
	if len(idle) == 0 {
		return batch
	}
	var removed []expiredCount
	sh.mu.Lock()
	for _, c := range idle {
		c.mu.Lock()
		if !c.deleted && c.idle(now) && sh.get(c.key) == c {
			sh.unlink(c)
			removed = append(removed, expiredCount{c.key, s.remove(c)})
		}
		c.mu.Unlock()
	}
	sh.mu.Unlock()
	for _, r := range removed {
		s.log.Debug("channel expired", "channel", r.key)
		if r.n > 0 {
			s.emit(events.MessageExpired, r.key, r.n, "")
		}
		s.emit(events.ChannelDeleted, r.key, 0, "expired")
	}
	return batch
}

// expiredCount is a channel's count of expired messages, to report.
type expiredCount struct {
	key store.ChannelKey
	n   int
}

// idle reports whether the channel has nothing left and has lingered its
// channel timeout. c.mu held.
func (c *channel) idle(now time.Time) bool {
	return c.subs == 0 && c.buf.Len() == 0 && now.Sub(c.lastActive) >= c.opts.ChannelTimeout
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
	n := c.buf.Buffered()
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
	return c.buf.HeldAt(idx - 1).Msg.ID, nil
}

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
	c.grp.subscribers.Add(-1)
	if sub.follow {
		c.buf.AddFollowers(-1)
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

// Channels implements store.Lister. A page walks every channel of the
// group asked for (of every group with AllGroups), one shard at a time
// under its read lock, keeps the first Limit in key order, then reads
// their info.
func (s *Store) Channels(ctx context.Context, o store.ListOptions) (store.ChannelPage, error) {
	p, err := store.NewPager(o)
	if err != nil {
		return store.ChannelPage{}, err
	}
	for i := range s.shards {
		if err := ctx.Err(); err != nil {
			return store.ChannelPage{}, err
		}
		sh := &s.shards[i]
		sh.mu.RLock()
		for name, g := range sh.groups {
			if !o.AllGroups && name != o.Group {
				continue
			}
			for id := range g.chans {
				p.Offer(store.ChannelKey{Group: name, ID: id})
			}
		}
		sh.mu.RUnlock()
	}
	keys, next := p.Page()
	page := store.ChannelPage{Channels: make([]store.ChannelInfo, 0, len(keys)), Next: next}
	for _, key := range keys {
		info, err := s.Info(ctx, key)
		if err != nil {
			continue // removed meanwhile
		}
		page.Channels = append(page.Channels, store.ChannelInfo{Key: key, Info: info})
	}
	return page, nil
}

// GroupStats implements store.GroupAccounter from counters kept per group
// and shard.
func (s *Store) GroupStats(ctx context.Context, group string) (store.GroupStats, error) {
	var st store.GroupStats
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		if g := sh.groups[group]; g != nil {
			st.Channels += len(g.chans)
			st.Subscribers += int(g.subscribers.Load())
			st.Messages += int(g.messages.Load())
			st.MessageBytes += g.bytes.Load()
		}
		sh.mu.RUnlock()
	}
	return st, nil
}

// GroupLimits implements store.GroupLimiter.
func (s *Store) GroupLimits(ctx context.Context, group string) (store.GroupLimits, error) {
	s.limitsMu.Lock()
	defer s.limitsMu.Unlock()
	return s.limits[group], nil
}

// SetGroupLimits implements store.GroupLimiter.
func (s *Store) SetGroupLimits(ctx context.Context, group string, set store.GroupLimits) (store.GroupLimits, error) {
	s.limitsMu.Lock()
	defer s.limitsMu.Unlock()
	l := s.limits[group].Keep(set)
	if s.limits == nil {
		s.limits = make(map[string]store.GroupLimits)
	}
	s.limits[group] = l
	return l, nil
}

var (
	_ store.GroupLimiter   = (*Store)(nil)
	_ store.Store          = (*Store)(nil)
	_ store.Lister         = (*Store)(nil)
	_ store.GroupAccounter = (*Store)(nil)
)
