package redis

import (
	"context"
	"errors"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald/internal/store"
)

// listScanCount is the COUNT hint of each SCAN of a listing.
const listScanCount = 1000

// listReaders is how many channels' info a listing reads at once.
const listReaders = 16

// Channels implements store.Lister. The listing is cluster-wide: every
// channel in Redis under the store's namespace, including channels no node
// follows, with their info as Info gives it (subscribers of every node).
//
// A page costs a scan: SCAN over the whole keyspace (on every master of a
// cluster), matching the meta keys of the group and prefix asked for, then
// one info script per channel of the page. Read pages rarely, and with a
// Group or Prefix where one will do.
func (s *Store) Channels(ctx context.Context, o store.ListOptions) (store.ChannelPage, error) {
	if s.isClosed() {
		return store.ChannelPage{}, store.ErrClosed
	}
	p, err := store.NewPager(o)
	if err != nil {
		return store.ChannelPage{}, err
	}
	if err := s.scanChannels(ctx, s.metaPattern(o), p.Offer); err != nil {
		return store.ChannelPage{}, err
	}
	keys, next := p.Page()
	infos := make([]store.Info, len(keys))
	errs := make([]error, len(keys))
	sem := make(chan struct{}, listReaders)
	var wg sync.WaitGroup
	for i, key := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			infos[i], errs[i] = s.Info(ctx, key)
		})
	}
	wg.Wait()
	page := store.ChannelPage{Channels: make([]store.ChannelInfo, 0, len(keys)), Next: next}
	for i, key := range keys {
		switch {
		case errors.Is(errs[i], store.ErrNotFound):
			// Gone since the scan.
		case errs[i] != nil:
			return store.ChannelPage{}, errs[i]
		default:
			page.Channels = append(page.Channels, store.ChannelInfo{Key: key, Info: infos[i]})
		}
	}
	return page, nil
}

// scanChannels calls offer with the key of every channel whose meta key
// matches pattern, on every master of a cluster (at once: offer is called
// under a lock). A channel may be offered more than once.
func (s *Store) scanChannels(ctx context.Context, pattern string, offer func(store.ChannelKey)) error {
	var mu sync.Mutex
	scan := func(ctx context.Context, c *goredis.Client) error {
		var cursor uint64
		for {
			octx, cancel := s.opCtx(ctx)
			keys, next, err := c.ScanType(octx, cursor, pattern, listScanCount, "hash").Result()
			cancel()
			if err != nil {
				return err
			}
			mu.Lock()
			for _, k := range keys {
				if key, ok := s.channelOfMeta(k); ok {
					offer(key)
				}
			}
			mu.Unlock()
			if next == 0 {
				return nil
			}
			cursor = next
		}
	}
	var err error
	switch c := s.rdb.(type) {
	case *goredis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *goredis.Client:
		err = scan(ctx, c)
	default:
		err = errors.New("redis: unknown client")
	}
	if err != nil {
		return s.fail(ctx, store.ChannelKey{}, err)
	}
	return nil
}

var _ store.Lister = (*Store)(nil)
