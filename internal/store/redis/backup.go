package redis

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/buffer"
	"github.com/heraldpush/herald/internal/store/memory"
)

// Backup is the Redis engine in Nchan's backup mode: channels live in this
// node's memory (a memory engine: its speed, its ids), and every change is
// also written to Redis behind the caller, in the distributed mode's key
// layout with the node's message ids; a channel this node does not hold is
// read back from Redis the first time it is touched (a publish, a
// subscribe, info, create or delete). A node restarted on the same Redis
// thus comes back with its channels' buffered messages and ids. One node
// per Redis (and namespace): nodes sharing one would overwrite each
// other's copies, and none sees another's messages.
//
// The writes go through one ordered queue that never blocks a publisher:
// while Redis is away publishing goes on in memory and the writes wait
// (bounded; overflow is counted and logged) until Redis is back. Channel
// subscriber counts are this node's.
type Backup struct {
	t   *Store // connections and probe
	mem *memory.Store
	q   *opQueue
	o   Options

	seed  maphash.Seed
	locks [256]sync.Mutex // order a channel's changes with their writes

	restMu    sync.Mutex
	restoring map[store.ChannelKey]chan struct{}

	restored   atomic.Uint64 // channels read back from Redis
	restoreErr atomic.Uint64 // reads that failed (Redis away)

	closeOne sync.Once
	closed   atomic.Bool
}

// NewBackup returns a Redis engine in backup mode. Like New it does not
// wait for Redis.
func NewBackup(o Options, m ModeOptions) (*Backup, error) {
	m.defaults()
	o.notices = func(string, string) {} // it follows no pubsub channel
	t, err := New(o)
	if err != nil {
		return nil, err
	}
	b := &Backup{t: t, o: t.o, seed: maphash.MakeSeed(), restoring: map[store.ChannelKey]chan struct{}{}}
	if m.Memory.Logger == nil {
		m.Memory.Logger = t.log
	}
	if m.Memory.Events == nil {
		m.Memory.Events = o.Events
	}
	b.mem = memory.New(m.Memory)
	b.q = newOpQueue(t, "backup", m.QueueLength, scriptBackupPut, scriptBackupLoad, scriptBackupDelete)
	return b, nil
}

// Transport returns the engine whose connections the mode uses.
func (b *Backup) Transport() *Store { return b.t }

// Health implements store.HealthReporter.
func (b *Backup) Health() store.Health {
	h := b.t.Health()
	h.PendingCommands += int64(b.q.pending())
	return h
}

// QueueStats reports the writes waiting for Redis, and how many were
// dropped (the queue was full) and written so far.
func (b *Backup) QueueStats() (pending int, dropped, written uint64) {
	return b.q.pending(), b.q.dropped.Load(), b.q.written.Load()
}

// Restored reports how many channels were read back from Redis, and how
// many reads failed.
func (b *Backup) Restored() (restored, failed uint64) {
	return b.restored.Load(), b.restoreErr.Load()
}

func (b *Backup) lock(key store.ChannelKey) *sync.Mutex {
	return &b.locks[key.Hash(b.seed)%uint64(len(b.locks))]
}

// touch makes sure this node holds the channel if Redis has a copy of it:
// the first touch reads it back (one at a time per channel; the read is
// queued behind this node's writes, so it sees them). When Redis cannot be
// reached it returns store.ErrUnavailable and the node goes on without.
func (b *Backup) touch(ctx context.Context, key store.ChannelKey) error {
	for {
		if b.mem.Has(key) {
			return nil
		}
		b.restMu.Lock()
		if w := b.restoring[key]; w != nil {
			b.restMu.Unlock()
			select {
			case <-w:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		w := make(chan struct{})
		b.restoring[key] = w
		b.restMu.Unlock()
		err := b.restore(ctx, key)
		b.restMu.Lock()
		delete(b.restoring, key)
		b.restMu.Unlock()
		close(w)
		return err
	}
}

// restore reads a channel's copy and makes the channel from it.
func (b *Backup) restore(ctx context.Context, key store.ChannelKey) error {
	k := b.t.keys(key)
	res := b.q.call(scriptBackupLoad, []string{k.meta, k.stream}, maxRestore)
	v, ok, err := b.q.wait(ctx, res)
	if !ok {
		if err == nil || errors.Is(err, store.ErrUnavailable) {
			b.restoreErr.Add(1)
			return fmt.Errorf("%w: channel %s not read back from Redis", store.ErrUnavailable, key)
		}
		return err
	}
	raw, _ := v.([]any)
	if len(raw) == 0 {
		return nil // no copy
	}
	r := reply(raw)
	last, err := parseStreamID(r.str(0))
	o := store.ChannelOptions{BufferLength: int(r.int(2)), MinBufferLength: int(r.int(3)),
		MessageTimeout: time.Duration(r.int(4)) * time.Millisecond, ChannelTimeout: time.Duration(r.int(5)) * time.Millisecond}
	if err := errors.Join(err, r.err); err != nil || len(raw) < 7 {
		return fmt.Errorf("redis backup: bad copy of %s: %v", key, err)
	}
	var published uint64
	if len(raw) >= 8 {
		published = uint64(max(r.int(7), 0))
	}
	xs, _ := raw[6].([]any)
	msgs := make([]memory.Restored, 0, len(xs))
	for _, x := range xs {
		pair, _ := x.([]any)
		if len(pair) != 2 {
			return fmt.Errorf("redis backup: bad entry of %s: %v", key, x)
		}
		id, _ := pair[0].(string)
		fields, _ := pair[1].([]any)
		e, err := decodeEntry(id, flatFields(fields))
		if err != nil {
			return fmt.Errorf("redis backup: entry of %s: %w", key, err)
		}
		var exp time.Time
		if e.Expires > 0 {
			exp = time.UnixMilli(e.Expires)
		}
		msgs = append(msgs, memory.Restored{Msg: e.Msg, Expires: exp})
	}
	slices.Reverse(msgs)
	made, err := b.mem.Restore(key, o, r.str(1) == "1", last, published, msgs)
	if err != nil {
		return err
	}
	if made {
		b.restored.Add(1)
		b.t.log.Debug("redis backup: channel read back", "channel", key, "messages", len(msgs), "last", last)
	}
	return nil
}

// maxRestore bounds the messages read back per channel (the copy holds
// no more than the channel's buffer length).
const maxRestore = 100000

// touchOrGo touches a channel for a publish or a subscribe: when Redis
// cannot be reached the node goes on without the copy.
func (b *Backup) touchOrGo(ctx context.Context, key store.ChannelKey) error {
	if err := b.touch(ctx, key); err != nil && !errors.Is(err, store.ErrUnavailable) {
		return err
	}
	return ctx.Err()
}

func (b *Backup) check(ctx context.Context) error {
	if b.closed.Load() {
		return store.ErrClosed
	}
	return ctx.Err()
}

// put queues the copy of a message (nil: of the channel only).
func (b *Backup) put(key store.ChannelKey, m *store.Message, o store.ChannelOptions) {
	k := b.t.keys(key)
	id, seq, x := "", "0", "0"
	var ct, ev string
	var body []byte
	deflate, num, eid := 0, "0", ""
	if m != nil {
		deflate, num, eid = int(m.Deflate), strconv.FormatUint(m.Number, 10), m.EventID
		id, seq = streamID(m.ID), strconv.FormatUint(m.Seq, 10)
		if ttl := buffer.TTL(o.BufferLength, o.MessageTimeout); ttl > 0 {
			x = strconv.FormatInt(time.Now().Add(ttl).UnixMilli(), 10)
		}
		ct, ev, body = m.ContentType, m.EventName, m.Body
	}
	b.q.send(scriptBackupPut, []string{k.meta, k.stream, k.counts}, id, seq, x, ct, ev, body,
		o.BufferLength, o.MinBufferLength, ms(o.MessageTimeout), ms(o.ChannelTimeout), deflate, num, eid)
}

// Publish implements store.Store.
func (b *Backup) Publish(ctx context.Context, key store.ChannelKey, p store.Publication, o store.ChannelOptions) (store.PublishResult, error) {
	if err := b.check(ctx); err != nil {
		return store.PublishResult{}, err
	}
	if err := b.touchOrGo(ctx, key); err != nil {
		return store.PublishResult{}, err
	}
	l := b.lock(key)
	l.Lock()
	defer l.Unlock()
	r, err := b.mem.Publish(ctx, key, p, o)
	if err == nil {
		b.put(key, r.Message, o)
	}
	return r, err
}

// Create implements store.Store.
func (b *Backup) Create(ctx context.Context, key store.ChannelKey, o store.ChannelOptions) (store.Info, error) {
	if err := b.check(ctx); err != nil {
		return store.Info{}, err
	}
	if err := b.touchOrGo(ctx, key); err != nil {
		return store.Info{}, err
	}
	l := b.lock(key)
	l.Lock()
	defer l.Unlock()
	info, err := b.mem.Create(ctx, key, o)
	if err == nil {
		b.put(key, nil, o)
	}
	return info, err
}

// Info implements store.Store. A channel this node does not hold is read
// back from Redis; while Redis cannot be reached that fails with
// store.ErrUnavailable.
func (b *Backup) Info(ctx context.Context, key store.ChannelKey) (store.Info, error) {
	if b.closed.Load() {
		return store.Info{}, store.ErrClosed
	}
	if err := b.touch(ctx, key); err != nil {
		return store.Info{}, err
	}
	return b.mem.Info(ctx, key)
}

// Delete implements store.Store.
func (b *Backup) Delete(ctx context.Context, key store.ChannelKey) (store.Info, error) {
	if b.closed.Load() {
		return store.Info{}, store.ErrClosed
	}
	if err := b.touch(ctx, key); err != nil {
		return store.Info{}, err
	}
	l := b.lock(key)
	l.Lock()
	defer l.Unlock()
	info, err := b.mem.Delete(ctx, key)
	if err == nil {
		k := b.t.keys(key)
		b.q.send(scriptBackupDelete, []string{k.meta, k.stream, k.counts})
	}
	return info, err
}

// Subscribe implements store.Store.
func (b *Backup) Subscribe(ctx context.Context, key store.ChannelKey, o store.SubscribeOptions) (store.Subscription, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	if err := b.touchOrGo(ctx, key); err != nil {
		return nil, err
	}
	return b.mem.Subscribe(ctx, key, o)
}

// Stats implements store.Store.
func (b *Backup) Stats() store.Stats { return b.mem.Stats() }

// Channels implements store.Lister: the channels this node holds (those
// only in Redis are not listed until touched).
func (b *Backup) Channels(ctx context.Context, o store.ListOptions) (store.ChannelPage, error) {
	return b.mem.Channels(ctx, o)
}

// GroupStats implements store.GroupAccounter.
func (b *Backup) GroupStats(ctx context.Context, group string) (store.GroupStats, error) {
	return b.mem.GroupStats(ctx, group)
}

// Close implements store.Store: what is queued is written within the
// operation timeout.
func (b *Backup) Close() error {
	b.closeOne.Do(func() {
		b.closed.Store(true)
		b.q.close()
		b.t.Close()
		b.mem.Close()
	})
	return nil
}

var (
	_ store.Store          = (*Backup)(nil)
	_ store.Lister         = (*Backup)(nil)
	_ store.GroupAccounter = (*Backup)(nil)
	_ store.HealthReporter = (*Backup)(nil)
)
