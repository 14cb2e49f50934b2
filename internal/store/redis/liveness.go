package redis

import (
	"context"
	"sync"
	"time"
)

// Node liveness: each node writes, per channel it has subscribers on, its
// subscriber count with an expiry (field <node id> of the channel's counts
// hash, "count expiresAtMs"). It renews them every RefreshInterval, and at
// once when a count changes; the scripts ignore and remove expired entries,
// so the subscribers of a node that died stop counting after NodeTTL.

// markDirty asks for the mirror's count to be written soon.
func (s *Store) markDirty(mr *mirror) {
	s.dirtyMu.Lock()
	s.dirty[mr] = struct{}{}
	s.dirtyMu.Unlock()
	select {
	case s.flush <- struct{}{}:
	default:
	}
}

func (s *Store) liveness() {
	defer s.wg.Done()
	t := time.NewTicker(s.o.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.flush:
			s.dirtyMu.Lock()
			batch := make([]*mirror, 0, len(s.dirty))
			for mr := range s.dirty {
				batch = append(batch, mr)
			}
			clear(s.dirty)
			s.dirtyMu.Unlock()
			s.refreshAll(batch)
		case <-t.C:
			var batch []*mirror
			for _, mr := range s.mirrors() {
				mr.mu.Lock()
				active := mr.subs > 0 && !mr.retired
				mr.mu.Unlock()
				if active {
					batch = append(batch, mr)
				}
			}
			s.dirtyMu.Lock()
			for mr := range s.dirty {
				batch = append(batch, mr)
			}
			clear(s.dirty)
			s.dirtyMu.Unlock()
			s.refreshAll(batch)
			s.sweepIdle()
			s.forgetIDs()
			s.flushExpired()
		}
	}
}

// refreshAll refreshes mirrors' counts, a few at a time.
func (s *Store) refreshAll(batch []*mirror) {
	if len(batch) == 0 {
		return
	}
	seen := make(map[*mirror]bool, len(batch))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, mr := range batch {
		if seen[mr] {
			continue
		}
		seen[mr] = true
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if !s.refresh(mr) {
				s.dirtyMu.Lock()
				s.dirty[mr] = struct{}{} // again at the next tick
				s.dirtyMu.Unlock()
			}
		})
	}
	wg.Wait()
}

// refresh writes this node's count for the mirror's channel; false if
// Redis could not be reached.
func (s *Store) refresh(mr *mirror) bool {
	mr.countMu.Lock()
	defer mr.countMu.Unlock()
	mr.mu.Lock()
	if mr.retired || mr.epoch == 0 {
		mr.mu.Unlock()
		return true
	}
	count, epoch, last := mr.subs, mr.epoch, streamID(mr.last)
	auth := 0
	if mr.authorized {
		auth = 1
	}
	lr := int64(0)
	if !mr.lastRequested.IsZero() {
		lr = mr.lastRequested.UnixMilli() + s.skew.Load()
	}
	bl, mbl := mr.buf.Limits()
	bl = max(bl, 0)
	mt, ct := mr.msgTimeout, mr.chanTimout
	mr.mu.Unlock()
	k := mr.keys
	ctx, cancel := context.WithTimeout(s.ctx, s.o.OpTimeout)
	defer cancel()
	res, err := scriptRefresh.Run(ctx, s.rdb, []string{k.meta, k.stream, k.counts, k.floor},
		s.node, count, ms(s.o.NodeTTL), epoch, last, auth, lr, bl, mbl, mt, ct).Slice()
	if err != nil {
		s.log.Debug("redis refresh failed", "channel", mr.key, "err", err)
		return false
	}
	switch reply(res).str(0) {
	case "gone":
		mr.mu.Lock()
		unregister := mr.retireLocked(true)
		mr.mu.Unlock()
		if unregister {
			s.unregister(mr)
		}
	case "new":
		s.requestSync(mr)
	case "restored":
		s.log.Info("redis: restored a channel Redis had lost", "channel", mr.key)
	}
	return true
}

// sweepIdle stops following channels that have had no local subscriber
// for IdleTimeout.
func (s *Store) sweepIdle() {
	now := time.Now()
	for i := range s.shards {
		sh := &s.shards[i]
		var idle []*mirror
		sh.mu.Lock()
		for _, mr := range sh.mirrors {
			if mr.refs > 0 {
				continue
			}
			mr.mu.Lock()
			if !mr.retired && mr.subs == 0 && now.Sub(mr.idleSince) >= s.o.IdleTimeout {
				mr.retireLocked(false)
				idle = append(idle, mr)
			}
			mr.mu.Unlock()
		}
		for _, mr := range idle {
			delete(sh.mirrors, mr.key)
			s.ps.remove(mr.keys.pubsub, mr)
		}
		sh.mu.Unlock()
		if len(idle) > 0 {
			s.dirtyMu.Lock()
			for _, mr := range idle {
				delete(s.dirty, mr)
			}
			s.dirtyMu.Unlock()
		}
	}
}
