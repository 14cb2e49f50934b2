package redis

import (
	"context"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/redis/redistest"
	"github.com/heraldpush/herald/internal/store/storetest"
)

// newNostore starts a nostore node on srv.
func newNostore(t testing.TB, srv *redistest.Server, mod ...func(*Options, *ModeOptions)) *Nostore {
	t.Helper()
	o, m := testOpts([]string{srv.Addr}, false), ModeOptions{}
	for _, f := range mod {
		f(&o, &m)
	}
	n, err := NewNostore(o, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// newBackup starts a backup node on srv.
func newBackup(t testing.TB, srv *redistest.Server, mod ...func(*Options, *ModeOptions)) *Backup {
	t.Helper()
	o, m := testOpts([]string{srv.Addr}, false), ModeOptions{}
	for _, f := range mod {
		f(&o, &m)
	}
	b, err := NewBackup(o, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestModesContract runs the store contract on the backup and nostore
// modes against a real redis-server, in real time. Backup is one node per
// Redis: both stores of a test are that node. Nostore runs two nodes on one
// Redis; what cannot hold by the mode's nature is excepted, with the
// reason.
func TestModesContract(t *testing.T) {
	openEvents := func(open func(t *testing.T, srv *redistest.Server, bus *events.Bus) store.Store) func(t *testing.T, bus *events.Bus) (store.Store, func(time.Duration)) {
		return func(t *testing.T, bus *events.Bus) (store.Store, func(time.Duration)) {
			return open(t, redistest.Start(t), bus), time.Sleep
		}
	}
	withBus := func(bus *events.Bus) func(*Options, *ModeOptions) {
		return func(o *Options, _ *ModeOptions) { o.Events = bus }
	}
	tests := []struct {
		name string
		e    storetest.Engine
	}{
		{"backup", storetest.Engine{
			Open: func(t *testing.T) (store.Store, store.Store, func(time.Duration)) {
				b := newBackup(t, redistest.Start(t))
				return b, b, time.Sleep
			},
			Unit: time.Second,
			OpenEvents: openEvents(func(t *testing.T, srv *redistest.Server, bus *events.Bus) store.Store {
				return newBackup(t, srv, withBus(bus))
			}),
		}},
		{"nostore", storetest.Engine{
			Open: func(t *testing.T) (store.Store, store.Store, func(time.Duration)) {
				srv := redistest.Start(t)
				return newNostore(t, srv), newNostore(t, srv), time.Sleep
			},
			Unit: time.Second,
			OpenEvents: openEvents(func(t *testing.T, srv *redistest.Server, bus *events.Bus) store.Store {
				return newNostore(t, srv, withBus(bus))
			}),
			Relayed: true,
			Except: map[string]string{
				"ConcurrentPublishRead": "it publishes into one channel from two nodes at once: messages published on two nodes within one second " +
					"get colliding ids, and a node gives the later-arriving one a new id of its own, so readers on different nodes see different ids " +
					"(TestNostoreConcurrentPublishRead publishes from one node and reads on both)",
				"List":             "a node lists the channels it holds; channels made on another node that this node does not follow are not among them",
				"GroupStatsShared": "a node counts the groups of the channels it holds, as Nchan's nostore nodes do; the counts are the node's own",
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { storetest.Run(t, tt.e) })
	}
}

// TestNostoreConcurrentPublishRead: the contract's concurrent test with
// every publisher on one node and the readers on both: each reader sees
// every message once, in id order, with the publisher's ids.
func TestNostoreConcurrentPublishRead(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newNostore(t, srv), newNostore(t, srv)
	storetest.ConcurrentPublishRead(t, a, subscribeOn{Store: a, sub: b})
}

// subscribeOn is a store that subscribes on sub, and does the rest on the
// store it embeds.
type subscribeOn struct {
	store.Store
	sub store.Store
}

func (s subscribeOn) Subscribe(ctx context.Context, key store.ChannelKey, o store.SubscribeOptions) (store.Subscription, error) {
	return s.sub.Subscribe(ctx, key, o)
}
