package redis

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

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
		Nodes:              s.nodeHealth(),
	}
}

// nodeHealth returns a copy of what the last probe found of each server.
func (s *Store) nodeHealth() []store.NodeHealth {
	p := s.nodes.Load()
	if p == nil {
		return nil
	}
	return slices.Clone(*p)
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
			msg := "redis: cannot reach Redis; retrying"
			if first {
				msg = "redis: cannot reach Redis at start-up; retrying"
			}
			s.log.Warn(msg, "servers", s.servers(), "err", err)
		case ok && !down.IsZero():
			s.log.Warn("redis: reachable again", "servers", s.servers(), "after", time.Since(down).Round(time.Millisecond))
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

// ping pings every server and returns how many answered. With Sentinel it
// first asks the sentinels which server is the master.
func (s *Store) ping() (int, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.o.OpTimeout)
	defer cancel()
	if len(s.o.Sentinels) > 0 {
		if err := s.askSentinels(ctx); err != nil {
			s.setNodes([]store.NodeHealth{{Addr: s.masterAddr(), Up: false}})
			return 0, err
		}
	}
	cc, ok := s.rdb.(*goredis.ClusterClient)
	if !ok {
		info, err := s.rdb.Info(ctx, "replication").Result()
		s.setNodes([]store.NodeHealth{{Addr: s.masterAddr(), Up: err == nil}})
		if err != nil {
			return 0, err
		}
		s.replicas.set(s.masterAddr(), connectedReplicas(info))
		return 1, nil
	}
	var n atomic.Int64
	var mu sync.Mutex
	var nodes []store.NodeHealth
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
		info, err := c.Info(ctx, "replication").Result()
		mu.Lock()
		nodes = append(nodes, store.NodeHealth{Addr: c.Options().Addr, Up: err == nil})
		mu.Unlock()
		if err != nil {
			return err
		}
		s.replicas.set(c.Options().Addr, connectedReplicas(info))
		n.Add(1)
		return nil
	})
	if len(nodes) == 0 {
		for _, a := range s.o.Addrs { // no master known: the seeds, down
			nodes = append(nodes, store.NodeHealth{Addr: a})
		}
	}
	slices.SortFunc(nodes, func(a, b store.NodeHealth) int { return strings.Compare(a.Addr, b.Addr) })
	s.setNodes(nodes)
	return int(n.Load()), err
}

// setNodes records what the last probe found of each server.
func (s *Store) setNodes(nodes []store.NodeHealth) { s.nodes.Store(&nodes) }

// askSentinels asks the sentinels, in turn, for the master's address, and
// moves the store's subscriptions there when it changed.
func (s *Store) askSentinels(ctx context.Context) error {
	var last error
	for _, addr := range s.o.Sentinels {
		sc := goredis.NewSentinelClient(&goredis.Options{
			Addr: addr, Username: s.o.SentinelUsername, Password: s.o.SentinelPassword, TLSConfig: s.o.TLS,
			DialTimeout: s.o.DialTimeout, ReadTimeout: s.o.OpTimeout, WriteTimeout: s.o.OpTimeout, MaxRetries: -1,
			DisableIdentity: true, MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		})
		r, err := sc.GetMasterAddrByName(ctx, s.o.MasterName).Result()
		sc.Close()
		if err != nil || len(r) != 2 {
			last = fmt.Errorf("sentinel %s: %v", addr, err)
			continue
		}
		master := net.JoinHostPort(r[0], r[1])
		if old := s.master.Swap(&master); old == nil || *old != master {
			if old != nil {
				s.log.Warn("redis: Sentinel names a new master; following it", "master", master, "was", *old)
			}
			s.ps.wake()
		}
		return nil
	}
	return fmt.Errorf("no sentinel named the master %q: %w", s.o.MasterName, last)
}

// servers names where the store finds Redis, for logs.
func (s *Store) servers() []string {
	if len(s.o.Sentinels) > 0 {
		return append([]string{"sentinels"}, s.o.Sentinels...)
	}
	return s.o.Addrs
}
