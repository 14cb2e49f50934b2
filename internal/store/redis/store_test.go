package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/redis/redistest"
	"github.com/heraldpush/herald/internal/store/storetest"
	"github.com/heraldpush/herald/protocol/msgid"
)

// The store contract, as memory_test.go states it for the memory engine,
// against a real redis-server. Where the memory tests move a fake clock,
// these wait for real (short) timeouts: Redis's clock is the one that counts.

var ctx = context.Background()

var buffered = store.ChannelOptions{BufferLength: 10, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}

// testOpts are quick liveness settings for tests.
func testOpts(addrs []string, cluster bool) Options {
	return Options{
		Addrs:           addrs,
		Cluster:         cluster,
		Namespace:       "t:",
		RefreshInterval: 200 * time.Millisecond,
		NodeTTL:         time.Second,
		OpTimeout:       time.Second,
		DialTimeout:     300 * time.Millisecond,
	}
}

// newStore starts a Store on a redis-server of its own (or on srv).
func newStore(t testing.TB, srv *redistest.Server, mod ...func(*Options)) (*Store, *redistest.Server) {
	t.Helper()
	if srv == nil {
		srv = redistest.Start(t)
	}
	o := testOpts([]string{srv.Addr}, false)
	for _, f := range mod {
		f(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, srv
}

// TestContract runs the store contract (internal/store/storetest) on the
// Redis engine: two nodes on one redis-server, real time.
func TestContract(t *testing.T) {
	storetest.Run(t, storetest.Engine{
		Open: func(t *testing.T) (store.Store, store.Store, func(time.Duration)) {
			srv := redistest.Start(t)
			a, _ := newStore(t, srv)
			b, _ := newStore(t, srv)
			return a, b, time.Sleep
		},
		Unit: time.Second,
		OpenEvents: func(t *testing.T, bus *events.Bus) (store.Store, func(time.Duration)) {
			s, _ := newStore(t, nil, func(o *Options) { o.Events = bus })
			return s, time.Sleep
		},
	})
}

// TestMessageExpiry: Redis keys expire with the channel's messages; a
// channel whose messages never expire has keys without a TTL.
func TestMessageExpiry(t *testing.T) {
	s, _ := newStore(t, nil)
	forever := store.ChannelOptions{BufferLength: 10, ChannelTimeout: time.Second}
	storetest.Publish(t, s, storetest.Key("keep"), "k", forever)
	if ttl := s.rdb.PTTL(ctx, s.keys(storetest.Key("keep")).stream).Val(); ttl >= 0 {
		t.Fatalf("stream of a never-expiring message has TTL %v", ttl)
	}
	o := store.ChannelOptions{BufferLength: 10, MessageTimeout: time.Minute, ChannelTimeout: time.Second}
	storetest.Publish(t, s, storetest.Key("ch"), "m", o)
	if ttl := s.rdb.PTTL(ctx, s.keys(storetest.Key("ch")).stream).Val(); ttl <= 0 || ttl > time.Minute+2*time.Second {
		t.Fatalf("stream TTL %v, want about the message timeout", ttl)
	}
}

// TestKeyLifetimes: a channel's meta and stream keys always live at least
// the time its messages and timeout ask, and at most a second more; a busy
// channel does not extend them on every publish; a stream key made when
// the meta already had its lifetime gets one too.
func TestKeyLifetimes(t *testing.T) {
	o := store.ChannelOptions{BufferLength: 1, MessageTimeout: time.Minute, ChannelTimeout: time.Second}
	const need = time.Minute
	tests := []struct {
		name string
		// before runs before the publish that is checked.
		before func(t *testing.T, s *Store, k store.ChannelKey)
	}{
		{"new channel", func(*testing.T, *Store, store.ChannelKey) {}},
		{"created without messages", func(t *testing.T, s *Store, k store.ChannelKey) {
			if _, err := s.Create(ctx, k, o); err != nil {
				t.Fatal(err)
			}
		}},
		{"stream key lost", func(t *testing.T, s *Store, k store.ChannelKey) {
			storetest.Publish(t, s, k, "a", o)
			s.rdb.Del(ctx, s.keys(k).stream)
		}},
		{"never-expiring message pushed out", func(t *testing.T, s *Store, k store.ChannelKey) {
			storetest.Publish(t, s, k, "forever", store.ChannelOptions{BufferLength: 1, ChannelTimeout: time.Second})
			if ttl := s.rdb.PTTL(ctx, s.keys(k).meta).Val(); ttl >= 0 {
				t.Fatalf("meta of a never-expiring message has TTL %v", ttl)
			}
		}},
	}
	s, _ := newStore(t, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := storetest.Key(strings.ReplaceAll(tc.name, " ", "-"))
			tc.before(t, s, k)
			storetest.Publish(t, s, k, "m", o)
			for _, key := range []string{s.keys(k).meta, s.keys(k).stream} {
				if ttl := s.rdb.PTTL(ctx, key).Val(); ttl < need-time.Second || ttl > need+time.Second {
					t.Errorf("%s lives %v, want %v to %v", key, ttl, need, need+time.Second)
				}
			}
		})
	}
	t.Run("busy channel", func(t *testing.T) {
		k := storetest.Key("busy")
		kx := func() string { return s.rdb.HGet(ctx, s.keys(k).meta, "kx").Val() }
		storetest.Publish(t, s, k, "a", o)
		first := kx()
		storetest.Publish(t, s, k, "b", o)
		if got := kx(); got != first || first == "" {
			t.Fatalf("a publish right after extended the keys again: kx %q then %q", first, got)
		}
		time.Sleep(1100 * time.Millisecond)
		storetest.Publish(t, s, k, "c", o)
		if got := kx(); got == first {
			t.Fatalf("a publish a second later did not extend the keys: kx %q", got)
		}
		if ttl := s.rdb.PTTL(ctx, s.keys(k).stream).Val(); ttl < need {
			t.Fatalf("stream lives %v, want at least %v", ttl, need)
		}
	})
}

func TestChannelExpiry(t *testing.T) {
	s, _ := newStore(t, nil)
	o := store.ChannelOptions{BufferLength: 10, MessageTimeout: time.Second, ChannelTimeout: time.Second}
	if _, err := s.Create(ctx, storetest.Key("idle"), o); err != nil {
		t.Fatal(err)
	}
	storetest.Publish(t, s, storetest.Key("withmsgs"), "x", o)
	sub := storetest.Subscribe(t, s, storetest.Key("busy"), store.SubscribeOptions{ChannelTimeout: time.Second})
	time.Sleep(2500 * time.Millisecond)
	for _, ch := range []string{"idle", "withmsgs"} {
		if _, err := s.Info(ctx, storetest.Key(ch)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s did not expire: %v", ch, err)
		}
	}
	if info, err := s.Info(ctx, storetest.Key("busy")); err != nil || info.Subscribers != 1 {
		t.Fatalf("channel with a subscriber expired: %+v, %v", info, err)
	}
	sub.Close()
}

// TestStoreMessagesOff: a channel that keeps no messages still holds its
// latest ones in Redis for the in-flight time, with a TTL.
func TestStoreMessagesOff(t *testing.T) {
	s, _ := newStore(t, nil)
	off := store.ChannelOptions{BufferLength: 0, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
	storetest.Publish(t, s, storetest.Key("ch"), "m0", off)
	storetest.Publish(t, s, storetest.Key("ch"), "m1", off)
	ttl := s.rdb.PTTL(ctx, s.keys(storetest.Key("ch")).stream).Val()
	if ttl <= 0 || ttl > time.Hour+time.Second {
		t.Fatalf("stream TTL %v", ttl)
	}
	x := s.rdb.XRange(ctx, s.keys(storetest.Key("ch")).stream, "-", "+").Val()
	if len(x) != 2 {
		t.Fatalf("stream holds %d entries, want 2", len(x))
	}
}

func TestIDs(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := newStore(t, srv)
	b, _ := newStore(t, srv)
	// Two nodes publishing to one channel get one increasing order.
	var ids []msgid.ID
	for i := range 20 {
		s := a
		if i%2 == 1 {
			s = b
		}
		ids = append(ids, storetest.Publish(t, s, storetest.Key("ch"), fmt.Sprint(i), buffered).ID)
	}
	for i := 1; i < len(ids); i++ {
		if !ids[i].After(ids[i-1]) {
			t.Fatalf("ids not increasing: %v", ids)
		}
	}
	// Ids stay in the last id's second while Redis's clock is behind it
	// (a channel last published by a Redis whose clock was ahead), and move
	// on to the next second past the last tag.
	future := time.Now().Unix() + 100
	k := a.keys(storetest.Key("skew"))
	storetest.Publish(t, a, storetest.Key("skew"), "x", buffered)
	srv.MustDo("HSET", k.meta, "l", fmt.Sprintf("%d-5", future))
	if id := storetest.Publish(t, a, storetest.Key("skew"), "y", buffered).ID; id != (msgid.ID{Time: future, Tag: 6}) {
		t.Fatalf("id %v, want %d:6", id, future)
	}
	srv.MustDo("HSET", k.meta, "l", fmt.Sprintf("%d-%d", future, msgid.MaxTag))
	if id := storetest.Publish(t, a, storetest.Key("skew"), "z", buffered).ID; id != (msgid.ID{Time: future + 1, Tag: 0}) {
		t.Fatalf("id %v, want %d:0", id, future+1)
	}
}

func TestMirrorShorterThanBuffer(t *testing.T) {
	s, _ := newStore(t, nil, func(o *Options) { o.MirrorLength = 64 })
	o := store.ChannelOptions{BufferLength: 150, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
	var msgs []*store.Message
	for i := range 100 {
		msgs = append(msgs, storetest.Publish(t, s, storetest.Key("ch"), fmt.Sprintf("m%d", i), o))
	}
	sub := storetest.Subscribe(t, s, storetest.Key("ch"), store.SubscribeOptions{})
	for i := range 100 {
		msgs = append(msgs, storetest.Publish(t, s, storetest.Key("ch"), fmt.Sprintf("m%d", 100+i), o))
	}
	// 150 in Redis, 64 in the node: older cursors read from Redis.
	got := storetest.ReadAll(t, sub, msgid.ID{}, 150)
	for i, m := range got {
		if want := fmt.Sprintf("m%d", 50+i); string(m.Body) != want {
			t.Fatalf("message %d is %q, want %q", i, m.Body, want)
		}
	}
	c, err := sub.Start(store.Start{Kind: store.StartNth, N: 3})
	if err != nil || c != msgs[51].ID {
		t.Fatalf("Start(3) = %v, %v; want %v", c, err, msgs[51].ID)
	}
	if st := s.Stats(); st.StoredMessages != 64 {
		t.Fatalf("node holds %d messages, want 64", st.StoredMessages)
	}
}

// TestCrossNode: a message published on one node reaches the subscribers
// of every node, and a node that joins late reads the buffer.
func TestCrossNode(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := newStore(t, srv)
	b, _ := newStore(t, srv)
	c, _ := newStore(t, srv)
	subB := storetest.Subscribe(t, b, storetest.Key("ch"), store.SubscribeOptions{})
	subC := storetest.Subscribe(t, c, storetest.Key("ch"), store.SubscribeOptions{})
	r, err := a.Publish(ctx, storetest.Key("ch"), store.Publication{Body: []byte("hi")}, buffered)
	if err != nil || r.Info.Subscribers != 2 {
		t.Fatalf("Publish = %+v, %v; want 2 subscribers", r, err)
	}
	for _, sub := range []store.Subscription{subB, subC} {
		if got := storetest.ReadAll(t, sub, msgid.ID{}, 1); got[0].ID != r.Message.ID || string(got[0].Body) != "hi" {
			t.Fatalf("got %v %q", got[0].ID, got[0].Body)
		}
	}
	// Info counts every node's subscribers.
	info, err := a.Info(ctx, storetest.Key("ch"))
	if err != nil || info.Subscribers != 2 || info.Messages != 1 {
		t.Fatalf("Info on a third node = %+v, %v", info, err)
	}
}

// TestNodeExpiry: the subscribers of a node that stops renewing its counts
// stop counting after NodeTTL.
func TestNodeExpiry(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := newStore(t, srv)
	b, _ := newStore(t, srv)
	storetest.Subscribe(t, a, storetest.Key("ch"), store.SubscribeOptions{})
	storetest.Subscribe(t, b, storetest.Key("ch"), store.SubscribeOptions{})
	storetest.Subscribe(t, b, storetest.Key("ch"), store.SubscribeOptions{}) // admitted by b alone: its count follows
	storetest.Eventually(t, "3 subscribers", func() bool {
		info, _ := a.Info(ctx, storetest.Key("ch"))
		return info.Subscribers == 3
	})
	time.Sleep(1500 * time.Millisecond) // past NodeTTL: renewals keep them
	if info, _ := a.Info(ctx, storetest.Key("ch")); info.Subscribers != 3 {
		t.Fatalf("Subscribers = %d after the node TTL, want 3 (renewed)", info.Subscribers)
	}
	b.Crash()
	storetest.Eventually(t, "the dead node's subscribers to stop counting", func() bool {
		info, _ := a.Info(ctx, storetest.Key("ch"))
		return info.Subscribers == 1
	})
	if n := srv.MustDo("HLEN", a.keys(storetest.Key("ch")).counts); n != ":1" {
		t.Fatalf("counts hash has %s entries, want the live node's only", n)
	}
}

// TestUnavailable: while Redis is down, calls fail fast with
// ErrUnavailable and subscribers keep waiting; after it is back, what is
// published reaches them.
func TestUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := newStore(t, srv)
	b, _ := newStore(t, srv)
	sub := storetest.Subscribe(t, b, storetest.Key("ch"), store.SubscribeOptions{})
	m0 := storetest.Publish(t, a, storetest.Key("ch"), "m0", buffered)
	storetest.ReadAll(t, sub, msgid.ID{}, 1)
	srv.Kill()
	start := time.Now()
	for _, call := range []func() error{
		func() error {
			_, err := a.Publish(ctx, storetest.Key("ch"), store.Publication{Body: []byte("x")}, buffered)
			return err
		},
		func() error { _, err := a.Create(ctx, storetest.Key("ch"), buffered); return err },
		func() error { _, err := a.Info(ctx, storetest.Key("ch")); return err },
		func() error { _, err := a.Delete(ctx, storetest.Key("ch")); return err },
		func() error { _, err := a.Subscribe(ctx, storetest.Key("other"), store.SubscribeOptions{}); return err },
	} {
		if err := call(); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("call while Redis is down = %v, want ErrUnavailable", err)
		}
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("failing took %v", d)
	}
	_, w, err := storetest.Read3(sub, m0.ID, nil, 10)
	if err != nil || w == nil {
		t.Fatalf("Read while Redis is down = %v, %v; want a wait channel", w, err)
	}
	srv.Restart()
	var m1 *store.Message
	storetest.Eventually(t, "publishing to work again", func() bool {
		r, err := a.Publish(ctx, storetest.Key("ch"), store.Publication{Body: []byte("m1")}, buffered)
		if err == nil {
			m1 = r.Message
		}
		return err == nil
	})
	got := storetest.ReadAll(t, sub, m0.ID, 1)
	if got[0].ID != m1.ID || string(got[0].Body) != "m1" {
		t.Fatalf("after restart got %v %q, want %v m1", got[0].ID, got[0].Body, m1.ID)
	}
	// The node restored the channel it has a subscriber on.
	storetest.Eventually(t, "the subscriber count to come back", func() bool {
		info, err := a.Info(ctx, storetest.Key("ch"))
		return err == nil && info.Subscribers == 1
	})
}

// TestKeysShareSlot: every key of a channel hashes to one slot, however
// odd the channel name.
func TestKeysShareSlot(t *testing.T) {
	s := &Store{ns: "ns:", psSuffix: pubsubSuffix(0)}
	for _, name := range []string{"/a", "g/b}c", "/{x}", "/}", "/日本", "g/a/b", "/" + strings.Repeat("long", 100)} {
		ch, err := store.ParseChannelKey(name)
		if err != nil {
			t.Fatal(err)
		}
		k := s.keys(ch)
		base := "ns:{" + name + "}"
		if got, want := []string{k.meta, k.stream, k.counts, k.floor, k.pubsub},
			[]string{base + ":m", base + ":s", base + ":n", base + ":f", base + pubsubSuffix(0)}; !slices.Equal(got, want) {
			t.Fatalf("channel %q: keys %q, want %q", name, got, want)
		}
		slot := keySlot(k.meta)
		for _, key := range []string{k.stream, k.counts, k.floor, k.pubsub} {
			if keySlot(key) != slot {
				t.Fatalf("channel %q: %s and %s in different slots", ch, k.meta, key)
			}
		}
		if got, ok := s.channelOf(k.pubsub); !ok || got != ch {
			t.Fatalf("channelOf(%q) = %v, %v", k.pubsub, got, ok)
		}
		if got, ok := s.channelOfMeta(k.meta); !ok || got != ch {
			t.Fatalf("channelOfMeta(%q) = %v, %v", k.meta, got, ok)
		}
	}
	if keySlot("123456789") != 12739 { // the Redis Cluster spec's example
		t.Fatalf("keySlot(123456789) = %d", keySlot("123456789"))
	}
	if !strings.HasPrefix(s.keys(storetest.Key("a")).meta, "ns:{/a}") {
		t.Fatal(s.keys(storetest.Key("a")).meta)
	}
}

// TestGapCatchUp: a node that misses a notice (here: a message published
// without one) reads it from the stream when the next notice shows the gap.
func TestGapCatchUp(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := newStore(t, srv)
	b, _ := newStore(t, srv)
	sub := storetest.Subscribe(t, b, storetest.Key("ch"), store.SubscribeOptions{})
	m0 := storetest.Publish(t, a, storetest.Key("ch"), "m0", buffered)
	storetest.ReadAll(t, sub, msgid.ID{}, 1)
	// m1 goes into the stream, but its notice to a channel nobody follows.
	k := a.keys(storetest.Key("ch"))
	if err := scriptPublish.Run(ctx, a.rdb, []string{k.meta, k.stream, k.counts, k.floor},
		"m1", "", "", 10, 0, 3600000, 3600000, "", "", k.pubsub+"-nowhere", "PUBLISH", a.node, 0).Err(); err != nil {
		t.Fatal(err)
	}
	storetest.Publish(t, a, storetest.Key("ch"), "m2", buffered)
	got := storetest.ReadAll(t, sub, m0.ID, 2)
	if string(got[0].Body) != "m1" || string(got[1].Body) != "m2" {
		t.Fatalf("after the gap: %q %q", got[0].Body, got[1].Body)
	}
}

// TestPubsubReconnect: when the node's pubsub connection is dropped, it
// reconnects, resubscribes and reads what was published meanwhile.
func TestPubsubReconnect(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := newStore(t, srv)
	b, _ := newStore(t, srv)
	sub := storetest.Subscribe(t, b, storetest.Key("ch"), store.SubscribeOptions{})
	var last msgid.ID
	for round := range 5 {
		if n := srv.MustDo("CLIENT", "KILL", "TYPE", "pubsub"); n == ":0" {
			t.Fatal("no pubsub connection to kill")
		}
		for i := range 5 {
			storetest.Publish(t, a, storetest.Key("ch"), fmt.Sprintf("r%d-%d", round, i), store.ChannelOptions{BufferLength: 100, ChannelTimeout: time.Hour})
		}
		got := storetest.ReadAll(t, sub, last, 5)
		for i, m := range got {
			if want := fmt.Sprintf("r%d-%d", round, i); string(m.Body) != want {
				t.Fatalf("round %d: message %d is %q, want %q", round, i, m.Body, want)
			}
		}
		last = got[len(got)-1].ID
	}
}

// TestOutOfMemory: Redis's maxmemory refusal is the store's "full" error
// (507), not an outage.
func TestOutOfMemory(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory", "2mb", "--maxmemory-policy", "noeviction")
	s, _ := newStore(t, srv)
	big := make([]byte, 256<<10)
	var err error
	for i := 0; i < 40 && err == nil; i++ {
		_, err = s.Publish(ctx, storetest.Key(fmt.Sprintf("ch%d", i)), store.Publication{Body: big}, store.ChannelOptions{BufferLength: 10, ChannelTimeout: time.Hour})
	}
	if !errors.Is(err, store.ErrOutOfMemory) {
		t.Fatalf("publish past maxmemory = %v, want ErrOutOfMemory", err)
	}
}

// TestDatabasesApart: the same channel in two databases of one server are
// two channels, pubsub included.
func TestDatabasesApart(t *testing.T) {
	srv := redistest.Start(t)
	db1, _ := newStore(t, srv, func(o *Options) { o.DB = 1 })
	db2, _ := newStore(t, srv, func(o *Options) { o.DB = 2 })
	sub2 := storetest.Subscribe(t, db2, storetest.Key("ch"), store.SubscribeOptions{})
	m := storetest.Publish(t, db2, storetest.Key("ch"), "two", buffered)
	storetest.Publish(t, db1, storetest.Key("ch"), "one", buffered)
	if _, err := db1.Delete(ctx, storetest.Key("ch")); err != nil {
		t.Fatal(err)
	}
	storetest.Publish(t, db2, storetest.Key("ch"), "two again", buffered)
	got := storetest.ReadAll(t, sub2, msgid.ID{}, 2)
	if string(got[0].Body) != "two" || string(got[1].Body) != "two again" || got[0].ID != m.ID {
		t.Fatalf("database 2 reads %q, %q", got[0].Body, got[1].Body)
	}
}

// TestListPatterns: the characters Redis's glob patterns give a meaning
// are taken literally in a listing's group and prefix.
func TestListPatterns(t *testing.T) {
	s, _ := newStore(t, nil, func(o *Options) { o.Namespace = "t*[" })
	names := []string{"/x*1", "/x1", "/x[1]", "/x?", `/x\y`, "*/x", "[g]/x", "g/x"}
	for _, n := range names {
		k, _ := store.ParseChannelKey(n)
		if _, err := s.Create(ctx, k, buffered); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		o    store.ListOptions
		want []string
	}{
		{store.ListOptions{Prefix: "x*"}, []string{"/x*1"}},
		{store.ListOptions{Prefix: "x["}, []string{"/x[1]"}},
		{store.ListOptions{Prefix: "x?"}, []string{"/x?"}},
		{store.ListOptions{Prefix: `x\`}, []string{`/x\y`}},
		{store.ListOptions{Prefix: "x"}, []string{"/x*1", "/x1", "/x?", "/x[1]", `/x\y`}},
		{store.ListOptions{Group: "*"}, []string{"*/x"}},
		{store.ListOptions{Group: "[g]"}, []string{"[g]/x"}},
		{store.ListOptions{AllGroups: true, Prefix: "x"}, []string{"/x*1", "/x1", "/x?", "/x[1]", `/x\y`, "*/x", "[g]/x", "g/x"}},
	}
	for _, tt := range tests {
		page, err := s.Channels(ctx, tt.o)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range page.Channels {
			got = append(got, c.Key.String())
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Channels(%+v) = %q, want %q", tt.o, got, tt.want)
		}
	}
}

// TestStoreErrorEvents: a call that fails in Redis is emitted as a
// StoreError with the store error it returned; a canceled call is not.
func TestStoreErrorEvents(t *testing.T) {
	bus := events.New()
	evs := bus.Subscribe(16, events.StoreError)
	defer evs.Close()
	s, srv := newStore(t, nil, func(o *Options) { o.Events = bus })
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Info(canceled, storetest.Key("ch")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Info on a canceled context = %v", err)
	}
	srv.Kill()
	key := store.ChannelKey{Group: "g", ID: "ch"}
	_, err := s.Publish(ctx, key, store.Publication{Body: []byte("x")}, buffered)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Publish while Redis is down = %v", err)
	}
	select {
	case ev := <-evs.C():
		if ev.Group != "g" || ev.Channel != "ch" || !errors.Is(ev.Err, store.ErrUnavailable) || ev.Err.Error() != err.Error() {
			t.Fatalf("event %+v, want the publish's error %v", ev, err)
		}
	case <-time.After(time.Second):
		t.Fatal("no StoreError event")
	}
	if n := bus.Count(events.StoreError); n != 1 {
		t.Fatalf("%d store errors counted, want 1", n)
	}
}
