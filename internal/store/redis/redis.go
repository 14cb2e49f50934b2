// Package redis is the Redis Store engine: channels, their message buffers
// and their subscriber counts live in Redis (one server or a Redis Cluster),
// so any number of Herald nodes share them.
//
// Every channel's keys share one hash tag, so on a cluster they live in one
// slot and each operation is one Lua script run atomically on one master.
// A publish stores the message in the channel's stream (whose entry ids are
// the message ids, computed from Redis's clock), trims it, and publishes it
// on the channel's pubsub channel (SPUBLISH on a cluster). Each node
// subscribes once per channel that has local subscribers and keeps a local
// copy (a "mirror") of the channel's recent messages that its subscribers
// read from; the mirror catches up from the stream by message id after a gap
// or a reconnect, so nobody misses a message or gets one twice. A mirror
// applies the shared buffer rules (internal/store/buffer) to its copy.
//
// Besides store.Store it implements store.Lister, store.GroupAccounter
// and store.GroupLimiter, all cluster-wide (group.go).
//
// On its Options.Events bus it emits what only it sees:
//   - ChannelCreated when this node's publish, create or subscribe made the
//     channel in Redis (the scripts tell);
//   - ChannelDeleted, Reason "deleted", for this node's Delete. Channels
//     whose keys expire in Redis go unseen: there is no "expired" deletion;
//   - MessageExpired: the messages this node's scripts dropped from a
//     channel's buffer in Redis by age, summed per channel and handed to
//     consumers with the next liveness tick (counted at once);
//   - StoreError for a call that failed in Redis, Err being the store error
//     returned (ErrUnavailable, ErrOutOfMemory, or another Redis error).
//
// Lock order: mirror.countMu, then the registry's shard.mu, then mirror.mu.
// shard.mu comes before pubsub.mu (unregister stops following a channel
// under it); countMu comes before pubsub.mu, dirtyMu and bgMu (admit and
// refresh ask pubsub, mark counts dirty and start syncs while they hold
// it). mirror.mu, pubsub.mu, psConn.mu and dirtyMu are leaves: nothing is
// taken while one is held. Only countMu (which orders a node's writes of
// its count) is held while waiting on Redis.
package redis

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

// Options configure a Redis store.
type Options struct {
	// Addrs is the address (host:port) of a single server, or seed nodes of
	// a cluster.
	Addrs   []string
	Cluster bool
	// Sentinels are the addresses of the Redis Sentinels that watch the
	// master named MasterName; with them, Addrs is unused and the store
	// follows the master Sentinel names, through failovers.
	Sentinels        []string
	MasterName       string
	SentinelUsername string
	SentinelPassword string
	Username         string
	Password         string
	DB               int // single server only
	TLS              *tls.Config
	// Namespace prefixes every key, so several Herald installations can
	// share one Redis.
	Namespace string
	// NodeID names this node in the per-channel subscriber counts; default
	// random. Two live nodes must not share one.
	NodeID string
	// RefreshInterval is how often the node renews its subscriber counts
	// (default 5s); NodeTTL is how long a count lives without renewal
	// (default 15s), after which a dead node's subscribers stop counting.
	RefreshInterval time.Duration
	NodeTTL         time.Duration
	// OpTimeout bounds every store call that waits for Redis (default 2s):
	// past it the call fails with store.ErrUnavailable.
	OpTimeout time.Duration
	// DialTimeout bounds connecting to a Redis node (default 1s).
	DialTimeout time.Duration
	// MirrorLength is the most messages of one channel a node keeps in
	// memory (default 1024); subscribers further back read from Redis.
	MirrorLength int
	// IdleTimeout is how long a node keeps following a channel after its
	// last local subscriber left (default 30s), so long-poll subscribers
	// that come back at once find it warm.
	IdleTimeout time.Duration
	// PingInterval is how often a quiet subscriber connection pings its
	// node (default 1s); a node that answers nothing for three intervals is
	// taken for gone and its channels are subscribed again where the slot
	// map says.
	PingInterval time.Duration
	// FollowTimeout is how long a channel may stay unsubscribed (its node
	// gone, no new owner confirmed) before this node gives up on it and
	// tells its subscribers (default 15s).
	FollowTimeout time.Duration
	// WaitForReplica acknowledges a publish only once a replica of the
	// channel's master has the message (see durable.go), when the master
	// has replicas.
	WaitForReplica bool
	Logger         *slog.Logger
	// Events receives what happens to channels in Redis as this node sees
	// it; nil discards.
	Events *events.Bus

	// notices, when set, receives every pubsub payload instead of the
	// channels' mirrors: the backup and nostore modes use the engine for
	// its connections and subscriptions only.
	notices func(ch, payload string)
}

func (o *Options) defaults() {
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = 5 * time.Second
	}
	if o.NodeTTL <= 0 {
		o.NodeTTL = 3 * o.RefreshInterval
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = 2 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = time.Second
	}
	if o.MirrorLength <= 0 {
		o.MirrorLength = 1024
	}
	if o.MirrorLength < 64 {
		o.MirrorLength = 64
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Second
	}
	if o.PingInterval <= 0 {
		o.PingInterval = time.Second
	}
	if o.FollowTimeout <= 0 {
		o.FollowTimeout = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.NodeID == "" {
		var b [8]byte
		rand.Read(b[:])
		o.NodeID = hex.EncodeToString(b[:])
	}
}

const shardCount = 64

// Store is the Redis engine. It is safe for concurrent use.
type Store struct {
	o        Options
	ns       string
	psSuffix string
	node     string
	rdb      goredis.UniversalClient
	pubCmd   string // PUBLISH, or SPUBLISH on a cluster
	log      *slog.Logger
	bus      *events.Bus
	ps       *pubsub

	seed   maphash.Seed
	shards [shardCount]shard

	nodes atomic.Pointer[[]store.NodeHealth] // each server the last probe tried

	skew        atomic.Int64 // Redis clock minus local clock, ms
	reachable   atomic.Bool  // the last probe reached every server
	connected   atomic.Int64 // servers that answered the last probe
	counter     commandCounter
	master      atomic.Pointer[string] // with Sentinel: the master's address
	replicas    replicas               // replicas of each master, as last probed
	waitMisses  atomic.Uint64          // publishes no replica confirmed in time
	published   atomic.Uint64
	subscribers atomic.Int64
	tokens      atomic.Uint64

	// pipe batches concurrent script calls into pipelines (pipeline.go).
	pipe pipeliner

	dirtyMu sync.Mutex
	dirty   map[*mirror]struct{}
	flush   chan struct{}

	ctx      context.Context // ends at Close: background work stops
	cancel   context.CancelFunc
	bgMu     sync.RWMutex // orders starting background work with Close
	wg       sync.WaitGroup
	closeOne sync.Once
	closed   atomic.Bool
}

type shard struct {
	mu      sync.Mutex
	mirrors map[store.ChannelKey]*mirror
	recent  map[store.ChannelKey]recentID // ids this node published lately
	expired map[store.ChannelKey]int      // messages expired, not yet emitted
}

// recentID is the newest id this node published on a channel. A publish
// passes it as a floor: if a failover rolled the channel back (replication
// is asynchronous), new ids still come after the ones subscribers have.
type recentID struct {
	id msgid.ID
	at time.Time
}

// recentTTL is how long a published id is remembered.
const recentTTL = time.Minute

// New returns a Redis store. It does not wait for Redis: while Redis cannot
// be reached, calls fail with store.ErrUnavailable and the store keeps
// reconnecting.
func New(o Options) (*Store, error) {
	switch {
	case len(o.Sentinels) > 0 && o.MasterName == "":
		return nil, errors.New("redis: sentinels need the master's name")
	case len(o.Sentinels) > 0 && o.Cluster:
		return nil, errors.New("redis: a cluster is not watched by Sentinel")
	case len(o.Addrs) == 0 && len(o.Sentinels) == 0:
		return nil, errors.New("redis: no address")
	}
	if !o.Cluster && len(o.Addrs) > 1 {
		return nil, errors.New("redis: several addresses need cluster mode")
	}
	o.defaults()
	setLogger.Do(func() { goredis.SetLogger(clientLog{}) })
	s := &Store{
		o:        o,
		ns:       o.Namespace,
		psSuffix: pubsubSuffix(o.DB),
		node:     o.NodeID,
		rdb:      newClient(o),
		pubCmd:   "PUBLISH",
		log:      o.Logger,
		bus:      o.Events,
		seed:     maphash.MakeSeed(),
		dirty:    map[*mirror]struct{}{},
		flush:    make(chan struct{}, 1),
	}
	if o.Cluster {
		s.pubCmd = "SPUBLISH"
	}
	for i := range s.shards {
		s.shards[i].mirrors = map[store.ChannelKey]*mirror{}
		s.shards[i].recent = map[store.ChannelKey]recentID{}
		s.shards[i].expired = map[store.ChannelKey]int{}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.pipe = pipeliner{max: maxPipelines, exec: func(calls []*scriptCall) {
		ctx, cancel := context.WithTimeout(s.ctx, s.o.OpTimeout)
		defer cancel()
		execScripts(ctx, s.rdb, calls)
	}}
	s.rdb.AddHook(&s.counter)
	s.ps = newPubsub(s)
	s.wg.Add(1)
	go s.probe()
	s.wg.Add(1)
	go s.liveness()
	return s, nil
}

// clientLog receives go-redis's own log lines (mostly failed dials while a
// node is down, which the engine handles) at debug level.
type clientLog struct{}

func (clientLog) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

var setLogger sync.Once

// newClient makes the command client. Timeouts are short and retries few,
// so a call fails within OpTimeout when Redis is away; a cluster client
// re-reads the slot map often, so it finds a promoted replica quickly.
func newClient(o Options) goredis.UniversalClient {
	maint := &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if len(o.Sentinels) > 0 {
		return goredis.NewFailoverClient(&goredis.FailoverOptions{
			MasterName:            o.MasterName,
			SentinelAddrs:         o.Sentinels,
			SentinelUsername:      o.SentinelUsername,
			SentinelPassword:      o.SentinelPassword,
			Username:              o.Username,
			Password:              o.Password,
			DB:                    o.DB,
			TLSConfig:             o.TLS,
			DialTimeout:           o.DialTimeout,
			DialerRetries:         1,
			ReadTimeout:           o.OpTimeout,
			WriteTimeout:          o.OpTimeout,
			ContextTimeoutEnabled: true,
			PoolTimeout:           o.OpTimeout,
			MaxRetries:            2,
			MinRetryBackoff:       10 * time.Millisecond,
			MaxRetryBackoff:       200 * time.Millisecond,
			DisableIdentity:       true,
		})
	}
	if o.Cluster {
		return goredis.NewClusterClient(&goredis.ClusterOptions{
			Addrs:                      o.Addrs,
			Username:                   o.Username,
			Password:                   o.Password,
			TLSConfig:                  o.TLS,
			DialTimeout:                o.DialTimeout,
			DialerRetries:              1,
			ReadTimeout:                o.OpTimeout,
			WriteTimeout:               o.OpTimeout,
			ContextTimeoutEnabled:      true,
			PoolTimeout:                o.OpTimeout,
			MaxRetries:                 2,
			MaxRedirects:               4,
			MinRetryBackoff:            10 * time.Millisecond,
			MaxRetryBackoff:            200 * time.Millisecond,
			DisableIdentity:            true,
			MaintNotificationsConfig:   maint,
			ClusterStateReloadInterval: 2 * time.Second,
		})
	}
	return goredis.NewClient(&goredis.Options{
		Addr:                     o.Addrs[0],
		Username:                 o.Username,
		Password:                 o.Password,
		DB:                       o.DB,
		TLSConfig:                o.TLS,
		DialTimeout:              o.DialTimeout,
		DialerRetries:            1,
		ReadTimeout:              o.OpTimeout,
		WriteTimeout:             o.OpTimeout,
		ContextTimeoutEnabled:    true,
		PoolTimeout:              o.OpTimeout,
		MaxRetries:               2,
		MinRetryBackoff:          10 * time.Millisecond,
		MaxRetryBackoff:          200 * time.Millisecond,
		DisableIdentity:          true,
		MaintNotificationsConfig: maint,
	})
}

// reloadSlots makes a cluster client re-read the slot map (soon, in the
// background).
func (s *Store) reloadSlots() {
	if cc, ok := s.rdb.(*goredis.ClusterClient); ok {
		cc.ReloadState(s.ctx)
	}
}

// masterAddr is the address of the server a single-server store talks to:
// its one server, or the master Sentinel names now ("" until known).
func (s *Store) masterAddr() string {
	if len(s.o.Sentinels) == 0 {
		return s.o.Addrs[0]
	}
	if p := s.master.Load(); p != nil {
		return *p
	}
	return ""
}

// NodeID returns the id this node counts its subscribers under.
func (s *Store) NodeID() string { return s.node }

// Client returns the underlying Redis client (a *goredis.Client or a
// *goredis.ClusterClient).
func (s *Store) Client() goredis.UniversalClient { return s.rdb }

func (s *Store) shard(key store.ChannelKey) *shard {
	return &s.shards[key.Hash(s.seed)%shardCount]
}

// emit hands an event about a channel to the bus, or only counts it when
// no consumer listens.
func (s *Store) emit(kind events.Kind, key store.ChannelKey, n int, reason string, err error) {
	if !s.bus.Active() {
		s.bus.CountOnly(kind, n)
		return
	}
	s.bus.Emit(events.Event{Kind: kind, Group: key.Group, Channel: key.ID, N: n, Reason: reason, Err: err})
}

// noteExpired reports that a script dropped n messages of a channel by
// age. They are counted at once; consumers get one event per channel with
// the next liveness tick (flushExpired).
func (s *Store) noteExpired(key store.ChannelKey, n int) {
	if n <= 0 {
		return
	}
	if !s.bus.Active() {
		s.bus.CountOnly(events.MessageExpired, n)
		return
	}
	sh := s.shard(key)
	sh.mu.Lock()
	sh.expired[key] += n
	sh.mu.Unlock()
}

// takeExpired returns and forgets the channel's expired messages not yet
// emitted.
func (s *Store) takeExpired(key store.ChannelKey) int {
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n := sh.expired[key]
	delete(sh.expired, key)
	return n
}

// flushExpired emits the expired messages noted since the last flush.
func (s *Store) flushExpired() {
	type count struct {
		key store.ChannelKey
		n   int
	}
	var out []count
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for key, n := range sh.expired {
			out = append(out, count{key, n})
		}
		clear(sh.expired)
		sh.mu.Unlock()
	}
	for _, c := range out {
		s.emit(events.MessageExpired, c.key, c.n, "", nil)
	}
}

// lookup returns the live mirror of a channel, if this node follows it.
func (s *Store) lookup(key store.ChannelKey) *mirror {
	sh := s.shard(key)
	sh.mu.Lock()
	mr := sh.mirrors[key]
	sh.mu.Unlock()
	if mr == nil || mr.isRetired() {
		return nil
	}
	return mr
}

// acquire returns the channel's mirror, making one if there is none, and
// holds it (refs) so the janitor leaves it alone until release.
func (s *Store) acquire(key store.ChannelKey) *mirror {
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	mr := sh.mirrors[key]
	if mr == nil || mr.isRetired() {
		mr = newMirror(s, key)
		sh.mirrors[key] = mr
	}
	mr.refs++
	return mr
}

func (s *Store) release(mr *mirror) {
	sh := s.shard(mr.key)
	sh.mu.Lock()
	mr.refs--
	sh.mu.Unlock()
}

// unregister removes a retired mirror from the registry and stops
// following its pubsub channel. mr.mu must not be held.
func (s *Store) unregister(mr *mirror) {
	sh := s.shard(mr.key)
	sh.mu.Lock()
	if sh.mirrors[mr.key] == mr {
		delete(sh.mirrors, mr.key)
	}
	s.ps.remove(mr.keys.pubsub, mr)
	sh.mu.Unlock()
	s.dirtyMu.Lock()
	delete(s.dirty, mr)
	s.dirtyMu.Unlock()
}

func (s *Store) mirrors() []*mirror {
	var out []*mirror
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, mr := range sh.mirrors {
			out = append(out, mr)
		}
		sh.mu.Unlock()
	}
	return out
}

// opCtx bounds one call to Redis.
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.o.OpTimeout)
}

// fail maps a Redis error of a call about a channel (the zero key for
// none) to a store error, and emits it as a StoreError. A call whose
// context ended fails with the context's error, which is not emitted.
func (s *Store) fail(ctx context.Context, key store.ChannelKey, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	err = s.mapError(err)
	s.emit(events.StoreError, key, 0, "", err)
	return err
}

func (s *Store) mapError(err error) error {
	var rerr goredis.Error
	if errors.As(err, &rerr) && !errors.Is(err, goredis.ErrClosed) {
		msg := rerr.Error()
		// The words of a node in transition: unavailable for now, not a
		// call that is wrong (NOSCRIPT: a node that just became master
		// lacks the script, and a publish ran out of attempts to load it
		// during a failover).
		switch word, _, _ := strings.Cut(msg, " "); word {
		case "OOM":
			return fmt.Errorf("%w: %s", store.ErrOutOfMemory, msg)
		case "CLUSTERDOWN", "LOADING", "TRYAGAIN", "MASTERDOWN", "READONLY", "MOVED", "ASK", "BUSY", "NOREPLICAS", "NOAUTH", "WRONGPASS", "NOPERM", "UNBLOCKED", "NOSCRIPT":
			s.reloadSlots()
			return fmt.Errorf("%w: %s", store.ErrUnavailable, msg)
		}
		// A script that ran into a node changing role reports it inside
		// its own error ("ERR ... -READONLY You can't write against a read
		// only replica."): the node is in transition, not the call wrong.
		for _, w := range [...]string{"READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "LOADING", "UNBLOCKED"} {
			if strings.Contains(msg, w) {
				s.reloadSlots()
				return fmt.Errorf("%w: %s", store.ErrUnavailable, msg)
			}
		}
		return fmt.Errorf("redis: %w", err)
	}
	s.reloadSlots()
	return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
}

func (s *Store) isClosed() bool { return s.closed.Load() }

// background runs f in a goroutine that Close waits for; after Close it
// does not run f.
func (s *Store) background(f func()) bool {
	s.bgMu.RLock()
	defer s.bgMu.RUnlock()
	if s.closed.Load() {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// observeClock records Redis's clock (ms) as a script saw it.
func (s *Store) observeClock(redisMs int64) {
	if redisMs > 0 {
		s.skew.Store(redisMs - time.Now().UnixMilli())
	}
}

// epochTime converts a channel's epoch (the Redis time it was made, in
// µs) to local time; zero for none.
func (s *Store) epochTime(ep int64) time.Time { return s.localTime(ep / 1000) }

// redisNow estimates Redis's clock, in ms.
func (s *Store) redisNow() int64 { return time.Now().UnixMilli() + s.skew.Load() }

// localTime converts a Redis clock reading (ms) to local time.
func (s *Store) localTime(redisMs int64) time.Time {
	if redisMs <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(redisMs - s.skew.Load())
}

func ms(d time.Duration) int64 { return int64(d / time.Millisecond) }

// localCount returns this node's subscriber count of a channel.
func (s *Store) localCount(key store.ChannelKey) int {
	mr := s.lookup(key)
	if mr == nil {
		return 0
	}
	mr.mu.Lock()
	defer mr.mu.Unlock()
	return mr.subs
}

// Publish implements store.Store.
func (s *Store) Publish(ctx context.Context, key store.ChannelKey, p store.Publication, o store.ChannelOptions) (store.PublishResult, error) {
	if s.isClosed() {
		return store.PublishResult{}, store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return store.PublishResult{}, err
	}
	floor, local := s.recentID(key), 0
	mr := s.lookup(key)
	var k chanKeys
	if mr != nil {
		k = mr.keys
		mr.mu.Lock()
		if mr.last.After(floor) {
			floor = mr.last
		}
		local = mr.subs
		mr.mu.Unlock()
	} else {
		k = s.keys(key)
	}
	hint := ""
	if !floor.IsZero() {
		hint = streamID(floor)
	}
	var tb [64]byte
	tok := string(strconv.AppendUint(append(append(tb[:0], s.node...), '.'), s.tokens.Add(1), 36))
	res, err := s.runDurable(ctx, key, scriptPublish, []string{k.meta, k.stream, k.counts, k.floor},
		p.Body, p.ContentType, p.EventName, o.BufferLength, o.MinBufferLength, ms(o.MessageTimeout),
		ms(o.ChannelTimeout), tok, hint, k.pubsub, s.pubCmd, s.node, local, int(p.Deflate), p.EventID)
	if err != nil {
		return store.PublishResult{}, err
	}
	r := reply(res)
	id, err1 := parseStreamID(r.str(0))
	prev, err2 := parseStreamID(r.str(2))
	created, expired, num := r.int(10), r.int(11), r.int(12)
	if err := errors.Join(err1, err2, r.err); err != nil || len(res) < 13 {
		return store.PublishResult{}, fmt.Errorf("redis: bad publish reply %v: %v", res, err)
	}
	s.observeClock(r.int(7))
	if created == 1 {
		s.emit(events.ChannelCreated, key, 0, "", nil)
	}
	s.noteExpired(key, int(expired))
	m := &store.Message{ID: id, Seq: uint64(r.int(1)), Number: uint64(num), Body: p.Body, ContentType: p.ContentType, EventName: p.EventName, EventID: p.EventID, Deflate: p.Deflate}
	if mr != nil && r.int(8) == 0 {
		// Deliver to this node's subscribers now; the pubsub copy that
		// follows is then a duplicate and is ignored.
		local := &store.Message{ID: id, Seq: m.Seq, Number: m.Number, Body: p.Body, ContentType: p.ContentType, EventName: p.EventName, EventID: p.EventID, Deflate: p.Deflate}
		mr.handle(notice{kind: 'm', epoch: r.int(4), msg: entry{Msg: local, Expires: r.int(3)}, prev: prev, bufLen: o.BufferLength, minBuf: o.MinBufferLength})
	}
	s.rememberID(key, id)
	s.published.Add(1)
	return store.PublishResult{Message: m, Info: store.Info{
		Messages:      int(r.int(5)),
		Subscribers:   int(r.int(6)),
		LastRequested: s.localTime(r.int(9)),
		LastMessageID: id,
		Published:     m.Number,
		Created:       s.epochTime(r.int(4)),
	}}, nil
}

func (s *Store) recentID(key store.ChannelKey) msgid.ID {
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.recent[key].id
}

func (s *Store) rememberID(key store.ChannelKey, id msgid.ID) {
	sh := s.shard(key)
	sh.mu.Lock()
	if id.After(sh.recent[key].id) {
		sh.recent[key] = recentID{id: id, at: time.Now()}
	}
	sh.mu.Unlock()
}

// forgetIDs drops published ids older than recentTTL.
func (s *Store) forgetIDs() {
	now := time.Now()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, r := range sh.recent {
			if now.Sub(r.at) > recentTTL {
				delete(sh.recent, k)
			}
		}
		sh.mu.Unlock()
	}
}

// infoReply parses {messages, subscribers, last requested, last id, now,
// created, expired, published, epoch} of a channel's script, and reports
// the messages it expired.
func (s *Store) infoReply(key store.ChannelKey, res []any) (_ store.Info, created bool, _ error) {
	r := reply(res)
	last, err := parseStreamID(r.str(3))
	made, expired := r.int(5), r.int(6)
	if err := errors.Join(err, r.err); err != nil || len(res) < 7 {
		return store.Info{}, false, fmt.Errorf("redis: bad info reply %v: %v", res, err)
	}
	s.observeClock(r.int(4))
	s.noteExpired(key, int(expired))
	return store.Info{
		Messages:      int(r.int(0)),
		Subscribers:   int(r.int(1)),
		LastRequested: s.localTime(r.int(2)),
		LastMessageID: last,
		Published:     uint64(max(r.int(7), 0)),
		Created:       s.epochTime(r.int(8)),
	}, made == 1, nil
}

// Create implements store.Store.
func (s *Store) Create(ctx context.Context, key store.ChannelKey, o store.ChannelOptions) (store.Info, error) {
	if s.isClosed() {
		return store.Info{}, store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return store.Info{}, err
	}
	k := s.keys(key)
	res, err := s.runScript(ctx, key, scriptCreate, []string{k.meta, k.stream, k.counts},
		o.BufferLength, o.MinBufferLength, ms(o.MessageTimeout), ms(o.ChannelTimeout), s.node, s.localCount(key))
	if err != nil {
		return store.Info{}, err
	}
	info, created, err := s.infoReply(key, res)
	if created {
		s.emit(events.ChannelCreated, key, 0, "", nil)
	}
	return info, err
}

// runScript runs a script about a channel under the operation timeout,
// in a pipeline with the script calls made at the same time (pipeline.go);
// a failure is mapped (and emitted) by s.fail.
func (s *Store) runScript(ctx context.Context, key store.ChannelKey, sc *goredis.Script, keys []string, args ...any) ([]any, error) {
	c := &scriptCall{sc: sc, keys: keys, args: args}
	err := s.pipe.do(ctx, c, s.o.OpTimeout)
	if err == nil {
		err = c.err
	}
	if err != nil {
		return nil, s.fail(ctx, key, err)
	}
	return c.res, nil
}

// Info implements store.Store.
func (s *Store) Info(ctx context.Context, key store.ChannelKey) (store.Info, error) {
	if s.isClosed() {
		return store.Info{}, store.ErrClosed
	}
	k := s.keys(key)
	res, err := s.runScript(ctx, key, scriptInfo, []string{k.meta, k.stream, k.counts}, s.node, s.localCount(key))
	if err != nil {
		return store.Info{}, err
	}
	if len(res) == 0 {
		return store.Info{}, store.ErrNotFound
	}
	info, _, err := s.infoReply(key, res)
	return info, err
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key store.ChannelKey) (store.Info, error) {
	if s.isClosed() {
		return store.Info{}, store.ErrClosed
	}
	k := s.keys(key)
	res, err := s.runScript(ctx, key, scriptDelete, []string{k.meta, k.stream, k.counts, k.floor},
		k.pubsub, s.pubCmd, s.node, s.localCount(key))
	if err != nil {
		return store.Info{}, err
	}
	if len(res) == 0 {
		return store.Info{}, store.ErrNotFound
	}
	info, _, err := s.infoReply(key, res)
	if n := s.takeExpired(key); n > 0 {
		s.emit(events.MessageExpired, key, n, "", nil)
	}
	s.emit(events.ChannelDeleted, key, 0, "deleted", nil)
	if mr := s.lookup(key); mr != nil {
		// This node's subscribers learn at once; the others by the notice.
		mr.mu.Lock()
		gone := mr.retireLocked(true)
		mr.mu.Unlock()
		if gone {
			s.unregister(mr)
		}
	}
	return info, err
}

// Subscribe implements store.Store.
func (s *Store) Subscribe(ctx context.Context, key store.ChannelKey, o store.SubscribeOptions) (store.Subscription, error) {
	for attempt := 0; ; attempt++ {
		if s.isClosed() {
			return nil, store.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		mr := s.acquire(key)
		sub, retry, err := s.admit(ctx, mr, o)
		s.release(mr)
		if !retry || attempt >= 20 {
			if retry {
				err = fmt.Errorf("%w: channel keeps changing", store.ErrUnavailable)
			}
			return sub, err
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt+1) * 5 * time.Millisecond):
		}
	}
}

// admit runs the subscribe script for one more subscriber of mr and, for a
// new mirror, starts following the channel and waits for its first sync.
func (s *Store) admit(ctx context.Context, mr *mirror, o store.SubscribeOptions) (_ *subscription, retry bool, _ error) {
	k := mr.keys
	created := false
	defer func() {
		if created { // emitted once every lock is released
			s.emit(events.ChannelCreated, mr.key, 0, "", nil)
		}
	}()
	mr.countMu.Lock()
	mr.mu.Lock()
	if mr.retired {
		mr.mu.Unlock()
		mr.countMu.Unlock()
		return nil, true, nil
	}
	n := mr.subs + 1
	fresh := mr.epoch == 0
	mr.mu.Unlock()
	if !fresh && s.ps.confirmed(mr.keys.pubsub, mr) {
		// This node follows the channel already: a subscriber no rule
		// needs the other nodes for is admitted here, and its count
		// reaches Redis right after.
		if sub := s.admitLocally(mr, o); sub != nil {
			mr.countMu.Unlock()
			return sub, false, nil
		}
	}
	rule := "b"
	switch o.Concurrency {
	case store.First:
		rule = "f"
	case store.Last:
		rule = "l"
	}
	existing := 0
	if o.ExistingOnly {
		existing = 1
	}
	octx, cancel := s.opCtx(ctx)
	res, err := scriptSubscribe.Run(octx, s.rdb, []string{k.meta, k.stream, k.counts},
		s.node, n, o.MaxSubscribers, existing, ms(o.ChannelTimeout), rule, ms(s.o.NodeTTL), k.pubsub, s.pubCmd).Slice()
	cancel()
	var status string
	var ferr error
	if err == nil {
		r := reply(res)
		switch status = r.str(0); status {
		case "ok":
			created = r.int(5) == 1
		case "toomany", "conflict":
			created = r.int(1) == 1 // made, then refused
		}
	} else if ferr = s.fail(ctx, mr.key, err); errors.Is(ferr, store.ErrUnavailable) {
		if sub := s.admitLocally(mr, o); sub != nil {
			mr.countMu.Unlock()
			return sub, false, nil
		}
	}
	if err != nil || status != "ok" {
		mr.countMu.Unlock()
		if fresh {
			mr.mu.Lock()
			gone := mr.subs == 0 && mr.retireLocked(false)
			mr.mu.Unlock()
			if gone {
				s.unregister(mr)
			}
		}
		switch {
		case err != nil:
			return nil, false, ferr
		case status == "notauth":
			return nil, false, store.ErrNotCreated
		case status == "toomany":
			return nil, false, store.ErrTooManySubscribers
		case status == "conflict":
			return nil, false, store.ErrConflict
		}
		return nil, false, fmt.Errorf("redis: bad subscribe reply %v", res)
	}
	r := reply(res)
	epoch, evict := r.int(1), r.int(3)
	if r.err != nil || epoch == 0 {
		mr.countMu.Unlock()
		return nil, false, fmt.Errorf("redis: bad subscribe reply %v", res)
	}
	s.observeClock(r.int(4))
	mr.mu.Lock()
	switch {
	case mr.retired:
		mr.mu.Unlock()
		mr.countMu.Unlock()
		s.markDirty(mr)
		return nil, true, nil
	case mr.epoch == 0:
		mr.epoch = epoch
	case mr.epoch < epoch:
		// The channel was lost (or deleted) and made again since this
		// node's copy was made: let the copy find out which, then retry.
		mr.mu.Unlock()
		mr.countMu.Unlock()
		s.requestSync(mr)
		s.markDirty(mr) // the count written was for a subscriber not admitted
		return nil, true, nil
	case mr.epoch > epoch:
		mr.mu.Unlock()
		mr.countMu.Unlock()
		s.markDirty(mr)
		return nil, true, nil
	}
	sub := &subscription{s: s, mr: mr, rule: o.Concurrency, follow: o.Follow, base: mr.buf.Dropped()}
	mr.subs++
	if o.Follow {
		mr.buf.AddFollowers(1)
	}
	mr.lastRequested = time.Now()
	if o.Concurrency == store.Last {
		sub.evictNo = evict
		mr.evict(evict)
		if mr.evictSeen > evict {
			sub.evicted = true
		} else {
			mr.lastSubs = append(mr.lastSubs, sub)
		}
	}
	ready := mr.ready
	mr.mu.Unlock()
	mr.countMu.Unlock()
	s.subscribers.Add(1)
	if fresh {
		s.ps.add(k.pubsub, mr)
	}
	t := time.NewTimer(s.o.OpTimeout + time.Second)
	defer t.Stop()
	select {
	case <-ready:
		return sub, false, nil
	case <-ctx.Done():
		sub.Close()
		return nil, false, ctx.Err()
	case <-t.C:
		sub.Close()
		return nil, false, fmt.Errorf("%w: channel subscription not confirmed", store.ErrUnavailable)
	case <-s.ctx.Done():
		sub.Close()
		return nil, false, store.ErrClosed
	}
}

// admitLocally admits a subscriber without asking Redis, when this node
// already follows the channel and no rule needs the other nodes' counts
// (broadcast, no subscriber limit, and for existing-only an authorized
// channel). That is the fast path of long-poll subscribers, which come back
// after each message, and it keeps them served while Redis cannot be
// reached. The count reaches Redis with the next flush. mr.countMu held.
func (s *Store) admitLocally(mr *mirror, o store.SubscribeOptions) *subscription {
	if o.Concurrency != store.Broadcast || o.MaxSubscribers > 0 {
		return nil
	}
	mr.mu.Lock()
	if mr.retired || !mr.synced || mr.epoch == 0 || (o.ExistingOnly && !mr.authorized) {
		mr.mu.Unlock()
		return nil
	}
	sub := &subscription{s: s, mr: mr, rule: o.Concurrency, follow: o.Follow, base: mr.buf.Dropped()}
	mr.subs++
	if o.Follow {
		mr.buf.AddFollowers(1)
	}
	mr.lastRequested = time.Now()
	mr.mu.Unlock()
	s.subscribers.Add(1)
	s.markDirty(mr)
	return sub
}

// Stats implements store.Store: this node's channels (those it follows),
// subscribers and buffered copies.
func (s *Store) Stats() store.Stats {
	st := store.Stats{Subscribers: int(s.subscribers.Load()), Published: s.published.Load()}
	for _, mr := range s.mirrors() {
		mr.mu.Lock()
		if !mr.retired {
			st.Channels++
			st.StoredMessages += mr.buf.Held()
			st.MemoryUsed += mr.buf.Bytes()
		}
		mr.mu.Unlock()
	}
	return st
}

// Close implements store.Store. It removes this node's subscriber counts
// from Redis (best effort, bounded by OpTimeout).
func (s *Store) Close() error {
	s.shutdown(true)
	return nil
}

func (s *Store) shutdown(deregister bool) {
	s.closeOne.Do(func() {
		s.bgMu.Lock()
		s.closed.Store(true)
		s.bgMu.Unlock()
		s.cancel()
		s.ps.close()
		s.wg.Wait()
		s.flushExpired()
		if deregister {
			ctx, cancel := context.WithTimeout(context.Background(), s.o.OpTimeout)
			for _, mr := range s.mirrors() {
				mr.mu.Lock()
				n := mr.subs
				mr.mu.Unlock()
				if n > 0 {
					if err := s.rdb.HDel(ctx, mr.keys.counts, s.node).Err(); err != nil {
						break
					}
				}
			}
			cancel()
		}
		s.rdb.Close()
	})
}

// replyVals reads the values of a script's reply; a missing or mistyped
// value sets err.
type replyVals struct {
	v   []any
	err error
}

func reply(v []any) *replyVals { return &replyVals{v: v} }

func (r *replyVals) get(i int) any {
	if i >= len(r.v) {
		r.err = fmt.Errorf("reply has no value %d", i)
		return nil
	}
	return r.v[i]
}

func (r *replyVals) str(i int) string {
	switch v := r.get(i).(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case nil:
		return ""
	}
	r.err = fmt.Errorf("reply value %d is %T", i, r.v[i])
	return ""
}

func (r *replyVals) int(i int) int64 {
	switch v := r.get(i).(type) {
	case int64:
		return v
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err == nil {
			return n
		}
		r.err = fmt.Errorf("reply value %d: %v", i, err)
	}
	return 0
}

var _ store.Store = (*Store)(nil)
