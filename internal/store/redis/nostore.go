package redis

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/buffer"
	"github.com/heraldpush/herald/internal/store/memory"
)

// Nostore is the Redis engine in Nchan's nostore mode: Redis only relays,
// it stores no message. Each node keeps the channels it has in its own
// memory (a memory engine); a publish stores the message on the publishing
// node, which gives it its id, and relays it over the channel's pubsub
// channel to the other nodes that follow the channel, which store it with
// that id and deliver it.
//
// A node follows a channel (subscribes to its pubsub channel, through the
// distributed engine's subscriber connections) while it holds it in memory,
// has subscribers on it, or touched it within IdleTimeout; a node that did
// not follow a channel does not have the messages published meanwhile.
//
// Ids: a relayed message keeps its id when it comes after the newest the
// receiving node has for the channel, so a subscriber can resume on another
// node by id. When two nodes publish to one channel within the same second
// (before each has the other's message), their ids collide: a node gives
// the message that arrives second the next id after its newest, so it is
// delivered, once, but with an id that differs between nodes, and the two
// messages may come in different orders on different nodes.
//
// Subscriber counts: each node writes its count of a channel's subscribers
// in Redis (a hash per channel, node id -> count and expiry, renewed every
// RefreshInterval and as soon as a count changes; a dead node's entry lapses
// after NodeTTL). A relay returns the other nodes' sum, so the answer to a
// publish and channel info count every node's subscribers, as of the
// nodes' latest writes. The rules that need every node's count (a
// subscriber limit, first, last) are enforced with one script at subscribe.
//
// Writes to Redis (relays, counts) go through one ordered queue that never
// blocks a publisher: while Redis is away, publishes are stored and
// delivered on their node and their relays wait in the queue (bounded;
// overflow is counted and logged); they go out when Redis is back, to the
// nodes that follow the channel by then.
type Nostore struct {
	t      *Store // connections, pubsub and probe (no channels of its own)
	mem    *memory.Store
	q      *opQueue
	o      Options
	node   string
	suffix string // ends the pubsub channel names
	fast   bool   // redis_nostore_fastpublish
	// fastSent counts the publishes relayed without counts (fast).
	fastSent atomic.Uint64

	seq    atomic.Uint64 // relay sequence: per node, increasing
	seed   maphash.Seed
	shards [shardCount]nsShard

	relays   atomic.Uint64 // relays received and stored
	retagged atomic.Uint64 // of those, given a new id

	dirtyMu sync.Mutex
	dirty   map[*nsChan]struct{}
	flush   chan struct{}

	stop     chan struct{}
	wg       sync.WaitGroup
	closeOne sync.Once
	closed   atomic.Bool
}

type nsShard struct {
	mu    sync.Mutex
	chans map[store.ChannelKey]*nsChan
}

// nsChan is a channel this node follows.
type nsChan struct {
	n      *Nostore
	key    store.ChannelKey
	ps     string // pubsub channel
	counts string // the nodes' subscriber counts

	// mu orders this node's changes of the channel with their writes in
	// the queue: a publish stores and queues its relay under it, so relays
	// leave in id order, and counts are queued in the order they change.
	mu      sync.Mutex
	subs    int
	seen    map[string]uint64 // newest relay sequence per sending node
	touched time.Time
	gone    bool // no longer followed

	remote    atomic.Int64 // the other nodes' subscribers, as Redis last said
	confirmed atomic.Bool
	ready     chan struct{} // closed by the first confirmation
}

// ModeOptions are the settings of the backup and nostore modes besides
// the Redis connection's.
type ModeOptions struct {
	// QueueLength bounds the writes that wait for Redis (backup: copies of
	// messages; nostore: relays and counts); default 65536. Past it they
	// are dropped, counted and logged.
	QueueLength int
	// Memory configures the node's memory store (its limit, logger and
	// events).
	Memory memory.Options
	// FastPublish (nostore): relay a publish with a plain PUBLISH and do
	// not wait for its answer; the publish's subscriber count knows the
	// other nodes' subscribers as of the last count read
	// (redis_nostore_fastpublish).
	FastPublish bool
}

func (m *ModeOptions) defaults() {
	if m.QueueLength <= 0 {
		m.QueueLength = 65536
	}
}

// NewNostore returns a Redis engine in nostore mode. Like New it does not
// wait for Redis.
func NewNostore(o Options, m ModeOptions) (*Nostore, error) {
	m.defaults()
	n := &Nostore{
		seed:  maphash.MakeSeed(),
		dirty: map[*nsChan]struct{}{},
		flush: make(chan struct{}, 1),
		stop:  make(chan struct{}),
	}
	o.notices = n.onNotice
	t, err := New(o)
	if err != nil {
		return nil, err
	}
	n.t, n.o, n.node = t, t.o, t.node
	n.suffix = ":r" + strings.TrimPrefix(t.psSuffix, ":p")
	n.seq.Store(uint64(time.Now().UnixNano()))
	for i := range n.shards {
		n.shards[i].chans = map[store.ChannelKey]*nsChan{}
	}
	if m.Memory.Logger == nil {
		m.Memory.Logger = t.log
	}
	if m.Memory.Events == nil {
		m.Memory.Events = o.Events
	}
	n.mem = memory.New(m.Memory)
	n.fast = m.FastPublish
	n.q = newOpQueue(t, "nostore relay", m.QueueLength, scriptRelay, scriptCount, scriptRelayFast)
	n.wg.Add(1)
	go n.liveness()
	return n, nil
}

// FastRelays returns how many publishes this node relayed with a plain
// PUBLISH, without reading counts (redis_nostore_fastpublish).
func (n *Nostore) FastRelays() uint64 { return n.fastSent.Load() }

// NodeID returns the id this node counts its subscribers and signs its
// relays under.
func (n *Nostore) NodeID() string { return n.node }

// Transport returns the engine whose connections and subscriptions the
// mode uses, for its health and its client.
func (n *Nostore) Transport() *Store { return n.t }

// Health implements store.HealthReporter.
func (n *Nostore) Health() store.Health {
	h := n.t.Health()
	h.PendingCommands += int64(n.q.pending())
	return h
}

// QueueStats reports the relays and counts waiting for Redis, and how many
// were dropped (the queue was full) and written so far.
func (n *Nostore) QueueStats() (pending int, dropped, written uint64) {
	return n.q.pending(), n.q.dropped.Load(), n.q.written.Load()
}

// Relays reports the messages this node received from other nodes, and
// how many of them it gave a new id (they collided with one it had).
func (n *Nostore) Relays() (received, retagged uint64) {
	return n.relays.Load(), n.retagged.Load()
}

func (n *Nostore) shard(key store.ChannelKey) *nsShard {
	return &n.shards[key.Hash(n.seed)%shardCount]
}

func (n *Nostore) lookup(key store.ChannelKey) *nsChan {
	sh := n.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.chans[key]
}

// follow returns the channel's state, following the channel from now on
// if this node did not; fresh reports that it did not.
func (n *Nostore) follow(key store.ChannelKey) (c *nsChan, fresh bool) {
	sh := n.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c = sh.chans[key]
	if c == nil {
		base := n.o.Namespace + "{" + key.String() + "}"
		c = &nsChan{n: n, key: key, ps: base + n.suffix, counts: base + ":rn", ready: make(chan struct{}), seen: map[string]uint64{}}
		sh.chans[key] = c
		n.t.ps.add(c.ps, c)
		fresh = true
	}
	c.mu.Lock()
	c.touched = time.Now()
	c.mu.Unlock()
	return c, fresh
}

// resync implements follower: the channel is subscribed (again). Nothing
// is stored in Redis to catch up from: what was relayed meanwhile is lost
// to this node.
func (c *nsChan) resync() {
	if !c.confirmed.Swap(true) {
		close(c.ready)
	}
}

// fail implements follower: the channel could not be followed for
// FollowTimeout. Its subscribers keep what this node publishes; the
// channel is followed again, and relays reach it once Redis lets it.
func (c *nsChan) fail() {
	sh := c.n.shard(c.key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.chans[c.key] == c && !c.n.closed.Load() {
		c.n.t.ps.add(c.ps, c)
	}
}

// waitReady waits, at most the operation timeout and a second, for the
// channel's first confirmation, so a new subscriber gets what other nodes
// publish from the moment it is admitted.
func (c *nsChan) waitReady(ctx context.Context) error {
	if c.confirmed.Load() {
		return nil
	}
	t := time.NewTimer(c.n.o.OpTimeout + time.Second)
	defer t.Stop()
	select {
	case <-c.ready:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C: // Redis is away: local messages still flow
		c.n.t.log.Debug("redis nostore: channel not followed yet; subscriber admitted", "channel", c.key)
	}
	return nil
}

// relay payloads, signed by the sending node and its relay sequence:
//
//	m <node> <seq> <id> <bl> <mbl> <mt ms> <ct ms> <len(ct)> <len(ev)> <deflate> [<number> <len(eid)>]\n<ct><ev>[<eid>]<body>
//	a <node> <seq> <bl> <mbl> <mt ms> <ct ms>   (created by a publisher)
//	d <node> <seq> <last id>                    (deleted)
//	v <node> <seq>                              (a "last"-rule newcomer)
//
// Nodes that predate a message's number and event id leave them out.
func (n *Nostore) header(kind byte, extra ...string) []byte {
	b := n.appendHeader(make([]byte, 0, 64), kind)
	for _, e := range extra {
		b = append(b, ' ')
		b = append(b, e...)
	}
	return b
}

// appendHeader appends a notice's kind, this node and the next sequence
// number to b.
func (n *Nostore) appendHeader(b []byte, kind byte) []byte {
	b = append(b, kind, ' ')
	b = append(b, n.node...)
	b = append(b, ' ')
	return strconv.AppendUint(b, n.seq.Add(1), 10)
}

func optFields(o store.ChannelOptions) []string {
	return []string{strconv.Itoa(o.BufferLength), strconv.Itoa(o.MinBufferLength),
		strconv.FormatInt(ms(o.MessageTimeout), 10), strconv.FormatInt(ms(o.ChannelTimeout), 10)}
}

// messagePayload is a message's notice: its header line (the message id,
// the channel's options, the lengths of the strings that follow, its
// deflate flag and number), then the strings and the body. The header is
// formatted on the stack and the notice built in one allocation.
func (n *Nostore) messagePayload(m *store.Message, o store.ChannelOptions) string {
	var scratch [192]byte
	b := n.appendHeader(scratch[:0], 'm')
	b = append(b, ' ')
	b = strconv.AppendInt(b, m.ID.Time, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(m.ID.Tag), 10)
	for _, v := range [...]int64{int64(o.BufferLength), int64(o.MinBufferLength), ms(o.MessageTimeout), ms(o.ChannelTimeout),
		int64(len(m.ContentType)), int64(len(m.EventName)), int64(m.Deflate)} {
		b = append(b, ' ')
		b = strconv.AppendInt(b, v, 10)
	}
	b = append(b, ' ')
	b = strconv.AppendUint(b, m.Number, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(m.EventID)), 10)
	var sb strings.Builder
	sb.Grow(len(b) + 1 + len(m.ContentType) + len(m.EventName) + len(m.EventID) + len(m.Body))
	sb.Write(b)
	sb.WriteByte('\n')
	sb.WriteString(m.ContentType)
	sb.WriteString(m.EventName)
	sb.WriteString(m.EventID)
	sb.Write(m.Body)
	return sb.String()
}

// relay queues a notice to the other nodes; the answer is their
// subscriber count. c.mu held.
func (n *Nostore) relay(c *nsChan, payload string) <-chan queuedResult {
	return n.q.call(scriptRelay, []string{c.counts}, c.ps, n.t.pubCmd, payload, n.node)
}

// others waits for a relay's or count's answer and returns the other
// nodes' subscribers: the answer's, or the last known.
func (n *Nostore) others(ctx context.Context, c *nsChan, res <-chan queuedResult) int {
	v, ok, _ := n.q.wait(ctx, res)
	if ok {
		var k int64
		switch x := v.(type) {
		case int64:
			k = x
		case []any:
			k = reply(x).int(1)
		}
		c.remote.Store(k)
		return int(k)
	}
	return int(c.remote.Load())
}

func (n *Nostore) check(ctx context.Context) error {
	if n.closed.Load() {
		return store.ErrClosed
	}
	return ctx.Err()
}

// Publish implements store.Store: the message is stored here, and relayed.
func (n *Nostore) Publish(ctx context.Context, key store.ChannelKey, p store.Publication, o store.ChannelOptions) (store.PublishResult, error) {
	if err := n.check(ctx); err != nil {
		return store.PublishResult{}, err
	}
	c, _ := n.follow(key)
	c.mu.Lock()
	r, err := n.mem.Publish(ctx, key, p, o)
	if err != nil {
		c.mu.Unlock()
		return r, err
	}
	if n.fast {
		n.q.send(scriptRelayFast, []string{c.counts}, c.ps, n.t.pubCmd, n.messagePayload(r.Message, o))
		n.fastSent.Add(1)
		c.mu.Unlock()
		r.Info.Subscribers += int(c.remote.Load())
		return r, nil
	}
	res := n.relay(c, n.messagePayload(r.Message, o))
	c.mu.Unlock()
	r.Info.Subscribers += n.others(ctx, c, res)
	return r, nil
}

// Create implements store.Store.
func (n *Nostore) Create(ctx context.Context, key store.ChannelKey, o store.ChannelOptions) (store.Info, error) {
	if err := n.check(ctx); err != nil {
		return store.Info{}, err
	}
	c, _ := n.follow(key)
	c.mu.Lock()
	info, err := n.mem.Create(ctx, key, o)
	if err != nil {
		c.mu.Unlock()
		return info, err
	}
	res := n.relay(c, string(n.header('a', optFields(o)...)))
	c.mu.Unlock()
	info.Subscribers += n.others(ctx, c, res)
	return info, nil
}

// Info implements store.Store: this node's channel, with the subscribers
// of every node.
func (n *Nostore) Info(ctx context.Context, key store.ChannelKey) (store.Info, error) {
	if n.closed.Load() {
		return store.Info{}, store.ErrClosed
	}
	info, err := n.mem.Info(ctx, key)
	if err != nil {
		return info, err
	}
	if c := n.lookup(key); c != nil {
		res := n.q.call(scriptCount, []string{c.counts}, n.node, -1, 0, "", ms(n.o.NodeTTL), "", "", "")
		info.Subscribers += n.others(ctx, c, res)
	}
	return info, nil
}

// Delete implements store.Store: the channel is deleted here and on every
// node that follows it (even when this node does not hold it).
func (n *Nostore) Delete(ctx context.Context, key store.ChannelKey) (store.Info, error) {
	if n.closed.Load() {
		return store.Info{}, store.ErrClosed
	}
	c, _ := n.follow(key)
	c.mu.Lock()
	info, err := n.mem.Delete(ctx, key)
	res := n.relay(c, string(n.header('d', streamID(info.LastMessageID))))
	c.mu.Unlock()
	others := n.others(ctx, c, res)
	if err != nil {
		return info, err
	}
	info.Subscribers += others
	return info, nil
}

// Subscribe implements store.Store.
func (n *Nostore) Subscribe(ctx context.Context, key store.ChannelKey, o store.SubscribeOptions) (store.Subscription, error) {
	if err := n.check(ctx); err != nil {
		return nil, err
	}
	if o.ExistingOnly && !n.mem.Has(key) {
		return nil, store.ErrNotCreated
	}
	c, fresh := n.follow(key)
	rule := "b"
	switch o.Concurrency {
	case store.First:
		rule = "f"
	case store.Last:
		rule = "l"
	}
	// The first subscriber of a channel new to this node, or one under a
	// rule, is counted in Redis before it is admitted; the others reach
	// Redis with the next flush of counts.
	ask := rule != "b" || o.MaxSubscribers > 0 || fresh || !c.confirmed.Load()
	c.mu.Lock()
	c.subs++
	var res <-chan queuedResult
	if ask {
		res = n.q.call(scriptCount, []string{c.counts}, n.node, c.subs, o.MaxSubscribers, rule,
			ms(n.o.NodeTTL), c.ps, n.t.pubCmd, string(n.header('v')))
	}
	c.mu.Unlock()
	undo := func() {
		c.mu.Lock()
		c.subs--
		c.touched = time.Now()
		c.mu.Unlock()
		n.markDirty(c)
	}
	if ask {
		v, ok, err := n.q.wait(ctx, res)
		if err != nil && !errors.Is(err, store.ErrUnavailable) {
			undo()
			return nil, err
		}
		if ok {
			r := reply(v.([]any))
			c.remote.Store(r.int(1))
			switch r.str(0) {
			case "toomany":
				undo()
				return nil, store.ErrTooManySubscribers
			case "conflict":
				undo()
				return nil, store.ErrConflict
			}
		}
	}
	sub, err := n.mem.Subscribe(ctx, key, o)
	if err != nil {
		undo()
		return nil, err
	}
	if err := c.waitReady(ctx); err != nil {
		sub.Close()
		undo()
		return nil, err
	}
	if !ask {
		n.markDirty(c)
	}
	return &nsSub{Subscription: sub, c: c}, nil
}

// nsSub is a subscription of the node's memory store, counted for Redis.
type nsSub struct {
	store.Subscription
	c    *nsChan
	once sync.Once
}

// Close implements store.Subscription.
func (s *nsSub) Close() {
	s.once.Do(func() {
		s.Subscription.Close()
		c := s.c
		c.mu.Lock()
		c.subs--
		c.touched = time.Now()
		c.mu.Unlock()
		c.n.markDirty(c)
	})
}

// Stats implements store.Store: this node's channels and messages.
func (n *Nostore) Stats() store.Stats { return n.mem.Stats() }

// Channels implements store.Lister: the channels this node holds, with
// every node's subscribers as last known.
func (n *Nostore) Channels(ctx context.Context, o store.ListOptions) (store.ChannelPage, error) {
	page, err := n.mem.Channels(ctx, o)
	for i := range page.Channels {
		if c := n.lookup(page.Channels[i].Key); c != nil {
			page.Channels[i].Info.Subscribers += int(c.remote.Load())
		}
	}
	return page, err
}

// GroupStats implements store.GroupAccounter: this node's counts.
func (n *Nostore) GroupStats(ctx context.Context, group string) (store.GroupStats, error) {
	return n.mem.GroupStats(ctx, group)
}

// Close implements store.Store: this node's counts are removed from Redis
// and what is queued is written (both within the operation timeout).
func (n *Nostore) Close() error {
	n.closeOne.Do(func() {
		n.closed.Store(true)
		close(n.stop)
		n.wg.Wait()
		for _, c := range n.all() {
			c.mu.Lock()
			if c.subs > 0 {
				n.q.send(scriptCount, []string{c.counts}, n.node, 0, 0, "", ms(n.o.NodeTTL), "", "", "")
			}
			c.mu.Unlock()
		}
		n.q.close()
		n.t.Close()
		n.mem.Close()
	})
	return nil
}

func (n *Nostore) all() []*nsChan {
	var out []*nsChan
	for i := range n.shards {
		sh := &n.shards[i]
		sh.mu.Lock()
		for _, c := range sh.chans {
			out = append(out, c)
		}
		sh.mu.Unlock()
	}
	return out
}

func (n *Nostore) markDirty(c *nsChan) {
	n.dirtyMu.Lock()
	n.dirty[c] = struct{}{}
	n.dirtyMu.Unlock()
	select {
	case n.flush <- struct{}{}:
	default:
	}
}

// writeCount queues the channel's count of this node.
func (n *Nostore) writeCount(c *nsChan) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return
	}
	n.q.send(scriptCount, []string{c.counts}, n.node, c.subs, 0, "", ms(n.o.NodeTTL), "", "", "")
}

// liveness writes changed counts at once, renews the counts of channels
// with subscribers every RefreshInterval, and stops following the channels
// this node no longer needs.
func (n *Nostore) liveness() {
	defer n.wg.Done()
	t := time.NewTicker(n.o.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-n.flush:
			n.dirtyMu.Lock()
			batch := make([]*nsChan, 0, len(n.dirty))
			for c := range n.dirty {
				batch = append(batch, c)
			}
			clear(n.dirty)
			n.dirtyMu.Unlock()
			for _, c := range batch {
				n.writeCount(c)
			}
		case <-t.C:
			for _, c := range n.all() {
				c.mu.Lock()
				active := c.subs > 0
				c.mu.Unlock()
				if active {
					n.writeCount(c)
				}
			}
			n.sweep()
		}
	}
}

// sweep stops following the channels that have no subscriber here, are
// not in this node's memory (they expired, or were deleted) and were not
// touched for IdleTimeout.
func (n *Nostore) sweep() {
	now := time.Now()
	for i := range n.shards {
		sh := &n.shards[i]
		sh.mu.Lock()
		for key, c := range sh.chans {
			c.mu.Lock()
			idle := c.subs == 0 && now.Sub(c.touched) >= n.o.IdleTimeout && !n.mem.Has(key)
			if idle {
				c.gone = true
				delete(sh.chans, key)
				n.t.ps.remove(c.ps, c)
			}
			c.mu.Unlock()
		}
		sh.mu.Unlock()
	}
}

// onNotice handles a relay from a node (this node's own come back too, and
// are ignored).
func (n *Nostore) onNotice(ch, payload string) {
	key, ok := n.t.keyOf(ch, "}"+n.suffix)
	if !ok {
		return
	}
	hdr, rest, _ := strings.Cut(payload, "\n")
	f := strings.Fields(hdr)
	if len(f) < 3 || len(f[0]) != 1 || f[1] == n.node {
		return
	}
	seq, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		n.t.log.Warn("redis nostore: bad relay", "channel", key, "header", hdr)
		return
	}
	c := n.lookup(key)
	if c == nil {
		return // no longer followed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone || seq <= c.seen[f[1]] {
		return // a relay sent again after a lost connection
	}
	c.seen[f[1]] = seq
	if err := n.apply(key, f, rest); err != nil {
		n.t.log.Warn("redis nostore: relay not applied", "channel", key, "from", f[1], "err", err)
	}
}

// apply stores what a relay says. c.mu held.
func (n *Nostore) apply(key store.ChannelKey, f []string, rest string) error {
	ctx := context.Background()
	switch f[0] {
	case "m":
		if len(f) != 11 && len(f) != 13 {
			return errors.New("bad message relay")
		}
		id, err := parseStreamID(f[3])
		if err != nil {
			return err
		}
		o, err := parseOpts(f[4:8])
		if err != nil {
			return err
		}
		lct, err1 := strconv.Atoi(f[8])
		lev, err2 := strconv.Atoi(f[9])
		if err1 != nil || err2 != nil || lct < 0 || lev < 0 || lct+lev > len(rest) {
			return errors.New("bad message relay lengths")
		}
		m := &store.Message{ID: id, ContentType: rest[:lct], EventName: rest[lct : lct+lev], Deflate: deflateLevel(f[10])}
		body := rest[lct+lev:]
		if len(f) == 13 {
			num, err1 := strconv.ParseUint(f[11], 10, 64)
			leid, err2 := strconv.Atoi(f[12])
			if err1 != nil || err2 != nil || leid < 0 || leid > len(body) {
				return errors.New("bad message relay number or event id")
			}
			m.Number, m.EventID, body = num, body[:leid], body[leid:]
		}
		m.Body = []byte(body)
		var expires time.Time
		if ttl := buffer.TTL(o.BufferLength, o.MessageTimeout); ttl > 0 {
			expires = time.Now().Add(ttl)
		}
		_, retagged, err := n.mem.Import(ctx, key, m, o, expires)
		if err != nil {
			return err
		}
		n.relays.Add(1)
		if retagged {
			n.retagged.Add(1)
		}
	case "a":
		if len(f) != 7 {
			return errors.New("bad create relay")
		}
		o, err := parseOpts(f[3:7])
		if err != nil {
			return err
		}
		_, err = n.mem.Create(ctx, key, o)
		return err
	case "d":
		if len(f) != 4 {
			return errors.New("bad delete relay")
		}
		last, err := parseStreamID(f[3])
		if err != nil {
			return err
		}
		n.mem.RaiseFloor(last)
		if _, err := n.mem.Delete(ctx, key); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	case "v":
		n.mem.EvictLast(key)
	default:
		return fmt.Errorf("unknown relay %q", f[0])
	}
	return nil
}

func parseOpts(f []string) (store.ChannelOptions, error) {
	var v [4]int64
	for i := range v {
		x, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return store.ChannelOptions{}, fmt.Errorf("bad channel options %q", f)
		}
		v[i] = x
	}
	return store.ChannelOptions{BufferLength: int(v[0]), MinBufferLength: int(v[1]),
		MessageTimeout: time.Duration(v[2]) * time.Millisecond, ChannelTimeout: time.Duration(v[3]) * time.Millisecond}, nil
}

var (
	_ store.Store          = (*Nostore)(nil)
	_ store.Lister         = (*Nostore)(nil)
	_ store.GroupAccounter = (*Nostore)(nil)
	_ store.HealthReporter = (*Nostore)(nil)
	_ follower             = (*nsChan)(nil)
)
