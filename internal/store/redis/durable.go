package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald/internal/store"
)

// Durable publishes. Redis replicates asynchronously: a master that dies
// right after it answered a publish may take the message with it, and the
// replica promoted in its place never had it. With WaitForReplica, a
// publish runs its script and WAIT 1 on one connection to the channel's
// master, in one round trip, and is acknowledged only once a replica has
// the message; if none confirms it within three quarters of the operation
// timeout, the publisher gets 503 (the
// message may or may not survive, as with any timeout). A master with no
// replica has nothing to wait for.

// replicas records how many replicas each master has, as the probe last
// read them (INFO replication).
type replicas struct {
	mu sync.Mutex
	n  map[string]int // master address -> connected replicas
}

func (r *replicas) set(addr string, n int) {
	r.mu.Lock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[addr] = n
	r.mu.Unlock()
}

func (r *replicas) get(addr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[addr]
}

// connectedReplicas counts the replicas INFO replication lists as online
// (in sync, taking the replication stream; one still loading the master's
// snapshot cannot acknowledge anything yet).
func connectedReplicas(info string) int {
	n := 0
	for line := range strings.SplitSeq(info, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "slave") && strings.Contains(line, "state=online") {
			n++
		}
	}
	return n
}

// errNoReplica is a publish no replica confirmed in time.
var errNoReplica = errors.New("no replica confirmed the message in time")

// runDurable runs a write script on the master of keys[0] and, when that
// master has replicas and the store waits for them, WAIT 1 after it on the
// same connection.
func (s *Store) runDurable(ctx context.Context, key store.ChannelKey, sc *goredis.Script, keys []string, args ...any) ([]any, error) {
	if !s.o.WaitForReplica {
		return s.runScript(ctx, key, sc, keys, args...)
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	wait := s.o.OpTimeout * 3 / 4
	for attempt := 0; ; attempt++ {
		c, addr, err := s.masterFor(octx, keys[0])
		if err != nil {
			return nil, s.fail(ctx, key, err)
		}
		if s.replicas.get(addr) == 0 {
			return s.runScript(ctx, key, sc, keys, args...)
		}
		var run *goredis.Cmd
		var acked *goredis.Cmd
		_, err = c.Pipelined(octx, func(p goredis.Pipeliner) error {
			run = sc.EvalSha(octx, p, keys, args...)
			acked = p.Do(octx, "WAIT", 1, wait.Milliseconds())
			return nil
		})
		rerr := run.Err()
		switch {
		case rerr != nil && goredis.HasErrorPrefix(rerr, "NOSCRIPT") && attempt < 4:
			// The master may change under a failover: load the script on
			// the node that answered and try again.
			if err := sc.Load(octx, c).Err(); err != nil {
				return nil, s.fail(ctx, key, err)
			}
			continue
		case rerr != nil && (goredis.HasErrorPrefix(rerr, "MOVED") || goredis.HasErrorPrefix(rerr, "ASK")) && attempt < 2:
			s.reloadSlots()
			time.Sleep(20 * time.Millisecond)
			continue
		case rerr != nil:
			return nil, s.fail(ctx, key, rerr)
		case err != nil:
			return nil, s.fail(ctx, key, err)
		}
		res, err := run.Slice()
		if err != nil {
			return nil, s.fail(ctx, key, err)
		}
		if n, err := acked.Int64(); err != nil || n < 1 {
			s.waitMisses.Add(1)
			return nil, fmt.Errorf("%w: %w", store.ErrUnavailable, errNoReplica)
		}
		return res, nil
	}
}

// masterFor returns a client of the master serving key, and its address.
func (s *Store) masterFor(ctx context.Context, key string) (*goredis.Client, string, error) {
	switch c := s.rdb.(type) {
	case *goredis.ClusterClient:
		m, err := c.MasterForKey(ctx, key)
		if err != nil {
			return nil, "", err
		}
		return m, m.Options().Addr, nil
	case *goredis.Client:
		return c, s.masterAddr(), nil
	}
	return nil, "", fmt.Errorf("redis: unexpected client %T", s.rdb)
}
