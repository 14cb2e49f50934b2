package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald/internal/store"
)

// opQueue writes script calls to Redis behind the callers, for the backup
// and nostore modes: in the order they were queued (one writer, pipelined
// batches), so a channel's writes reach Redis in the order the node made
// them. A caller never blocks on it: a full queue drops the call, and
// counts and logs that. While Redis cannot be reached the writer retries
// the batch it holds (with a growing pause) and the queue fills behind it;
// the scripts it runs are written so that a retried call does no harm.
type opQueue struct {
	s       *Store // the engine whose connections it uses
	what    string // what the queue carries, for the logs
	ch      chan *queued
	scripts []*goredis.Script // every script it runs
	// needLoad is set until the scripts are loaded in Redis, and again
	// when Redis says it lacks one (a restart, a failover).
	needLoad atomic.Bool

	down    atomic.Bool   // the last write failed: Redis is away
	dropped atomic.Uint64 // calls dropped: the queue was full, or closed
	written atomic.Uint64
	failed  atomic.Uint64 // calls Redis refused (a script error, OOM)
	logMu   sync.Mutex
	logged  time.Time // when the last drop was logged
	logN    uint64    // drops counted at that time

	closing  atomic.Bool
	abandon  atomic.Bool // close without writing what is queued
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// queued is one script call, and who waits for its answer.
type queued struct {
	sc   *goredis.Script
	keys []string
	args []any
	// done, when set, receives the answer once; a caller that stops
	// waiting leaves it behind (it is buffered).
	done chan queuedResult
}

type queuedResult struct {
	v   any
	err error
}

// finish hands the answer to the waiting caller, if any.
func (op *queued) finish(v any, err error) {
	if op.done != nil {
		op.done <- queuedResult{v, err}
		op.done = nil
	}
}

// maxBatch bounds the calls of one pipeline.
const maxBatch = 256

func newOpQueue(s *Store, what string, length int, scripts ...*goredis.Script) *opQueue {
	q := &opQueue{s: s, what: what, ch: make(chan *queued, length), scripts: scripts, stop: make(chan struct{}), done: make(chan struct{})}
	q.needLoad.Store(true)
	go q.run()
	return q
}

// call queues a script call and returns the channel its answer comes on,
// or nil when the call was dropped.
func (q *opQueue) call(sc *goredis.Script, keys []string, args ...any) <-chan queuedResult {
	done := make(chan queuedResult, 1)
	if !q.put(&queued{sc: sc, keys: keys, args: args, done: done}) {
		return nil
	}
	return done
}

// send queues a script call nobody waits for.
func (q *opQueue) send(sc *goredis.Script, keys []string, args ...any) {
	q.put(&queued{sc: sc, keys: keys, args: args})
}

func (q *opQueue) put(op *queued) bool {
	if q.closing.Load() {
		q.dropped.Add(1)
		return false
	}
	select {
	case q.ch <- op:
		return true
	default:
		q.dropped.Add(1)
		q.logDrops()
		return false
	}
}

// logDrops says at warn level that calls were dropped, at most every 10
// seconds.
func (q *opQueue) logDrops() {
	q.logMu.Lock()
	defer q.logMu.Unlock()
	if time.Since(q.logged) < 10*time.Second {
		return
	}
	n := q.dropped.Load()
	q.s.log.Warn("redis: "+q.what+" queue is full; dropping writes to Redis (the node keeps its own copy)",
		"dropped", n-q.logN, "dropped_total", n, "queue_length", cap(q.ch), "redis_down", q.down.Load())
	q.logged, q.logN = time.Now(), n
}

// wait waits for a call's answer: at most the operation timeout, and not
// at all while Redis is away (the call stays queued). ok is false when no
// answer came.
func (q *opQueue) wait(ctx context.Context, c <-chan queuedResult) (v any, ok bool, err error) {
	if c == nil || q.down.Load() {
		return nil, false, nil
	}
	t := time.NewTimer(q.s.o.OpTimeout)
	defer t.Stop()
	select {
	case r := <-c:
		return r.v, r.err == nil, r.err
	case <-ctx.Done():
		return nil, false, ctx.Err()
	case <-t.C:
		return nil, false, nil
	}
}

// pending is the number of calls waiting in the queue.
func (q *opQueue) pending() int { return len(q.ch) }

// close stops taking calls, writes what is queued within the operation
// timeout (what remains is counted as dropped) and stops the writer.
func (q *opQueue) close() {
	q.closing.Store(true)
	q.stopOnce.Do(func() { close(q.stop) })
	<-q.done
}

func (q *opQueue) run() {
	defer close(q.done)
	batch := make([]*queued, 0, maxBatch)
	for {
		select {
		case <-q.stop:
			q.drain(batch[:0])
			return
		case op := <-q.ch:
			batch = append(batch[:0], op)
		}
		batch = q.fill(batch)
		q.write(batch, false)
		clear(batch)
	}
}

// fill adds what is queued to batch, up to maxBatch.
func (q *opQueue) fill(batch []*queued) []*queued {
	for len(batch) < maxBatch {
		select {
		case op := <-q.ch:
			batch = append(batch, op)
		default:
			return batch
		}
	}
	return batch
}

// drain writes what is queued at close, once, within the operation
// timeout.
func (q *opQueue) drain(batch []*queued) {
	deadline := time.Now().Add(q.s.o.OpTimeout)
	for !q.abandon.Load() && time.Now().Before(deadline) {
		batch = q.fill(batch[:0])
		if len(batch) == 0 {
			return
		}
		if !q.write(batch, true) {
			break
		}
	}
	n := uint64(len(q.ch))
	for range n {
		(<-q.ch).finish(nil, store.ErrClosed)
	}
	if n > 0 {
		q.dropped.Add(n)
		q.s.log.Warn("redis: "+q.what+" queue closed with writes not made", "dropped", n)
	}
}

// write runs a batch, retrying the calls that could not reach Redis until
// they do or the queue closes (final: one more attempt only). It reports
// whether every call was answered.
//
// The scripts are loaded (on every master) before a batch that needs them:
// were a batch to find some scripts missing and not others, the calls of
// the missing ones would run after calls queued behind them. When Redis
// still lacks one after loading, the calls are sent whole (EVAL).
func (q *opQueue) write(batch []*queued, final bool) bool {
	pending, eval := batch, false
	backoff := 20 * time.Millisecond
	for {
		var retry []*queued
		unreachable := false
		if q.needLoad.Load() && !eval {
			if err := q.loadScripts(); err != nil {
				retry, unreachable = pending, true
			} else {
				q.needLoad.Store(false)
			}
		}
		if !unreachable {
			retry, unreachable = q.exec(pending, eval)
		}
		if len(retry) == 0 {
			q.down.Store(false)
			return true
		}
		if !unreachable {
			// Scripts Redis did not have (after a restart or a
			// failover): load them again, or, if that was done just
			// now, send the calls whole.
			eval = !q.needLoad.Swap(true)
			pending = retry
			continue
		}
		q.needLoad.Store(true) // Redis may come back without them
		if !q.down.Swap(true) {
			q.s.log.Debug("redis: "+q.what+" writes wait for Redis", "waiting", len(retry)+len(q.ch))
		}
		for _, op := range retry {
			// Whoever waits is not kept waiting; the call stays.
			op.finish(nil, store.ErrUnavailable)
		}
		if final {
			q.dropped.Add(uint64(len(retry)))
			return false
		}
		select {
		case <-q.stop:
			q.dropped.Add(uint64(len(retry)))
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
		pending, eval = retry, true
	}
}

// loadScripts loads the queue's scripts into Redis (every master of a
// cluster).
func (q *opQueue) loadScripts() error {
	ctx, cancel := context.WithTimeout(context.Background(), q.s.o.OpTimeout)
	defer cancel()
	for _, sc := range q.scripts {
		if err := sc.Load(ctx, q.s.rdb).Err(); err != nil {
			return fmt.Errorf("redis: load script: %w", err)
		}
	}
	return nil
}

// exec sends one pipeline of calls (EVALSHA, or EVAL with eval) and hands
// out the answers; it returns the calls to send again, in order, and
// whether any of them failed because Redis could not be reached.
func (q *opQueue) exec(ops []*queued, eval bool) (retry []*queued, unreachable bool) {
	ctx, cancel := context.WithTimeout(context.Background(), q.s.o.OpTimeout)
	defer cancel()
	pipe := q.s.rdb.Pipeline()
	cmds := make([]*goredis.Cmd, len(ops))
	for i, op := range ops {
		if eval {
			cmds[i] = op.sc.Eval(ctx, pipe, op.keys, op.args...)
		} else {
			cmds[i] = op.sc.EvalSha(ctx, pipe, op.keys, op.args...)
		}
	}
	pipe.Exec(ctx) // each command has its own error
	for i, op := range ops {
		v, err := cmds[i].Result()
		switch {
		case err == nil || errors.Is(err, goredis.Nil):
			q.written.Add(1)
			op.finish(v, nil)
		case strings.HasPrefix(err.Error(), "NOSCRIPT"):
			retry = append(retry, op)
		case errors.Is(q.s.mapError(err), store.ErrUnavailable):
			retry = append(retry, op)
			unreachable = true
		default:
			q.failed.Add(1)
			q.s.log.Debug("redis: "+q.what+" write refused", "err", err)
			op.finish(nil, q.s.mapError(err))
		}
	}
	return retry, unreachable
}
