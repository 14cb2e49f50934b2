package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald/internal/store"
)

// Channel groups (channel_group_accounting) on Redis. A group's counts are
// cluster-wide: GroupStats reads every channel of the group in Redis, with
// every node's subscribers. Its limits live in one hash per group,
// <ns>{<group>}:gl (a group never contains "/", so the hash tag is no
// channel's), with fields c (channels), s (subscribers), m (messages),
// mm (message bytes) and md (disk bytes); a field that is absent is 0.

// groupLimitFields returns the limit hash's fields, in GroupLimits order.
func groupLimitFields() []string { return []string{"c", "s", "m", "mm", "md"} }

func (s *Store) groupLimitsKey(group string) string { return s.ns + "{" + group + "}:gl" }

// GroupStats implements store.GroupAccounter, cluster-wide: it scans Redis
// for the group's channels (on every master of a cluster), then reads each
// channel's counts with one script that drops its expired messages first,
// listReaders channels at once. It costs a scan of the keyspace and one
// script per channel of the group: a group's counts are read when a limit
// is checked, so keep groups with limits small or their checks rare.
func (s *Store) GroupStats(ctx context.Context, group string) (store.GroupStats, error) {
	if s.isClosed() {
		return store.GroupStats{}, store.ErrClosed
	}
	var keys []store.ChannelKey
	seen := make(map[store.ChannelKey]struct{})
	err := s.scanChannels(ctx, s.metaPattern(store.ListOptions{Group: group}), func(k store.ChannelKey) {
		if _, dup := seen[k]; !dup {
			seen[k] = struct{}{}
			keys = append(keys, k)
		}
	})
	if err != nil {
		return store.GroupStats{}, err
	}
	overhead := (&store.Message{}).Size()
	var (
		mu  sync.Mutex
		st  store.GroupStats
		wg  sync.WaitGroup
		sem = make(chan struct{}, listReaders)
	)
	errs := make([]error, len(keys))
	for i, key := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			k := s.keys(key)
			res, err := s.runScript(ctx, key, scriptGroupStats, []string{k.meta, k.stream, k.counts},
				s.node, s.localCount(key), overhead)
			if err != nil || len(res) == 0 { // gone since the scan
				errs[i] = err
				return
			}
			r := reply(res)
			n, subs, bytes, now, expired := r.int(0), r.int(1), r.int(2), r.int(3), r.int(4)
			if r.err != nil || len(res) < 5 {
				errs[i] = fmt.Errorf("redis: bad group stats reply %v: %v", res, r.err)
				return
			}
			s.observeClock(now)
			s.noteExpired(key, int(expired))
			mu.Lock()
			st.Channels++
			st.Subscribers += int(subs)
			st.Messages += int(n)
			st.MessageBytes += bytes
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return store.GroupStats{}, err
	}
	return st, nil
}

// GroupLimits implements store.GroupLimiter: one HMGET.
func (s *Store) GroupLimits(ctx context.Context, group string) (store.GroupLimits, error) {
	if s.isClosed() {
		return store.GroupLimits{}, store.ErrClosed
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	vals, err := s.rdb.HMGet(octx, s.groupLimitsKey(group), groupLimitFields()...).Result()
	if err != nil {
		return store.GroupLimits{}, s.fail(ctx, store.ChannelKey{Group: group}, err)
	}
	return parseGroupLimits(vals)
}

// SetGroupLimits implements store.GroupLimiter: the fields set are written
// and all of them read back in one transaction.
func (s *Store) SetGroupLimits(ctx context.Context, group string, set store.GroupLimits) (store.GroupLimits, error) {
	if s.isClosed() {
		return store.GroupLimits{}, store.ErrClosed
	}
	key := s.groupLimitsKey(group)
	var args []any
	for i, v := range limitValues(set) {
		if v >= 0 {
			args = append(args, groupLimitFields()[i], v)
		}
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	var get *goredis.SliceCmd
	_, err := s.rdb.TxPipelined(octx, func(p goredis.Pipeliner) error {
		if len(args) > 0 {
			p.HSet(octx, key, args...)
		}
		get = p.HMGet(octx, key, groupLimitFields()...)
		return nil
	})
	if err != nil {
		return store.GroupLimits{}, s.fail(ctx, store.ChannelKey{Group: group}, err)
	}
	return parseGroupLimits(get.Val())
}

func limitValues(l store.GroupLimits) [5]int64 {
	return [5]int64{l.Channels, l.Subscribers, l.Messages, l.MessageBytes, l.DiskBytes}
}

func parseGroupLimits(vals []any) (store.GroupLimits, error) {
	var v [5]int64
	for i := range v {
		if i >= len(vals) || vals[i] == nil {
			continue
		}
		str, _ := vals[i].(string)
		n, err := strconv.ParseInt(str, 10, 64)
		if err != nil {
			return store.GroupLimits{}, fmt.Errorf("redis: bad group limit %q: %w", str, err)
		}
		v[i] = n
	}
	return store.GroupLimits{Channels: v[0], Subscribers: v[1], Messages: v[2], MessageBytes: v[3], DiskBytes: v[4]}, nil
}

// GroupLimits implements store.GroupLimiter: the limits live in Redis,
// shared by every node.
func (n *Nostore) GroupLimits(ctx context.Context, group string) (store.GroupLimits, error) {
	return n.t.GroupLimits(ctx, group)
}

// SetGroupLimits implements store.GroupLimiter.
func (n *Nostore) SetGroupLimits(ctx context.Context, group string, set store.GroupLimits) (store.GroupLimits, error) {
	return n.t.SetGroupLimits(ctx, group, set)
}

// GroupLimits implements store.GroupLimiter: a backup node's limits are its
// own, as its channels are.
func (b *Backup) GroupLimits(ctx context.Context, group string) (store.GroupLimits, error) {
	return b.mem.GroupLimits(ctx, group)
}

// SetGroupLimits implements store.GroupLimiter.
func (b *Backup) SetGroupLimits(ctx context.Context, group string, set store.GroupLimits) (store.GroupLimits, error) {
	return b.mem.SetGroupLimits(ctx, group, set)
}

var (
	_ store.GroupAccounter = (*Store)(nil)
	_ store.GroupLimiter   = (*Store)(nil)
	_ store.GroupLimiter   = (*Nostore)(nil)
	_ store.GroupLimiter   = (*Backup)(nil)
)
