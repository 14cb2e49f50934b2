package redis

import (
	"context"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald/internal/store"
)

// Health implements store.HealthReporter: how this node's connection to
// Redis stands.
func (s *Store) Health() store.Health {
	ps := s.ps.health()
	return store.Health{
		Reachable:          s.reachable.Load(),
		ConnectedServers:   int(s.connected.Load()),
		PendingCommands:    s.counter.pending.Load(),
		CommandsSent:       s.counter.sent.Load(),
		ChannelsLost:       ps.lost,
		ChannelsUnfollowed: ps.unfollow,
		Losses:             ps.losses,
		Restores:           ps.restores,
	}
}

var _ store.HealthReporter = (*Store)(nil)

// commandCounter is a go-redis hook that counts the commands sent and those
// still waiting for their replies.
type commandCounter struct {
	sent    atomic.Uint64
	pending atomic.Int64
}

func (h *commandCounter) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *commandCounter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.sent.Add(1)
		h.pending.Add(1)
		defer h.pending.Add(-1)
		return next(ctx, cmd)
	}
}

func (h *commandCounter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		n := int64(len(cmds))
		h.sent.Add(uint64(n))
		h.pending.Add(n)
		defer h.pending.Add(-n)
		return next(ctx, cmds)
	}
}

// probe pings Redis (every master of a cluster) every ping interval until
// the store closes, and says at warn level when Redis cannot be reached
// (at start-up too: the store keeps retrying) and when it can again.
func (s *Store) probe() {
	defer s.wg.Done()
	t := time.NewTicker(s.o.PingInterval)
	defer t.Stop()
	first, down := true, time.Time{}
	for {
		n, err := s.ping()
		s.connected.Store(int64(n))
		ok := err == nil
		s.reachable.Store(ok)
		switch {
		case !ok && (first || down.IsZero()):
			down = time.Now()
			msg := "redis: cannot reach Redis; retrying (publishes and new subscribers get 503 until it answers)"
			if first {
				msg = "redis: cannot reach Redis at start-up; retrying (publishes and new subscribers get 503 until it answers)"
			}
			s.log.Warn(msg, "servers", s.o.Addrs, "err", err)
		case ok && !down.IsZero():
			s.log.Warn("redis: reachable again", "servers", s.o.Addrs, "after", time.Since(down).Round(time.Millisecond))
			down = time.Time{}
		}
		first = false
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ping pings every server and returns how many answered.
func (s *Store) ping() (int, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.o.OpTimeout)
	defer cancel()
	cc, ok := s.rdb.(*goredis.ClusterClient)
	if !ok {
		if err := s.rdb.Ping(ctx).Err(); err != nil {
			return 0, err
		}
		return 1, nil
	}
	var n atomic.Int64
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
		if err := c.Ping(ctx).Err(); err != nil {
			return err
		}
		n.Add(1)
		return nil
	})
	return int(n.Load()), err
}
