package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"herald/internal/msgid"
	"herald/internal/store"
	"herald/internal/store/redis/redistest"
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

func publish(t testing.TB, s *Store, ch, body string, o store.ChannelOptions) *store.Message {
	t.Helper()
	r, err := s.Publish(ctx, ch, store.Publication{Body: []byte(body), ContentType: "text/plain"}, o)
	if err != nil {
		t.Fatalf("Publish(%s, %q): %v", ch, body, err)
	}
	if string(r.Message.Body) != body {
		t.Fatalf("published body %q, want %q", r.Message.Body, body)
	}
	return r.Message
}

func subscribe(t testing.TB, s *Store, ch string, o store.SubscribeOptions) store.Subscription {
	t.Helper()
	sub, err := s.Subscribe(ctx, ch, o)
	if err != nil {
		t.Fatalf("Subscribe(%s): %v", ch, err)
	}
	t.Cleanup(sub.Close)
	return sub
}

func read3(sub store.Subscription, cursor msgid.ID, buf []*store.Message, max int) ([]*store.Message, <-chan struct{}, error) {
	b, err := sub.Read(cursor, buf, max)
	return b.Messages, b.Wait, err
}

func read(t testing.TB, sub store.Subscription, cursor msgid.ID) (bodies []string, ids []msgid.ID, wait bool) {
	t.Helper()
	msgs, w, err := read3(sub, cursor, nil, 1000)
	if err != nil {
		t.Fatalf("Read(%v): %v", cursor, err)
	}
	if (len(msgs) == 0) != (w != nil) {
		t.Fatalf("Read(%v): %d messages and wait channel %v", cursor, len(msgs), w)
	}
	for _, m := range msgs {
		bodies = append(bodies, string(m.Body))
		ids = append(ids, m.ID)
	}
	return bodies, ids, w != nil
}

func bodies(prefix string, from, to int) []string {
	var b []string
	for i := from; i <= to; i++ {
		b = append(b, fmt.Sprintf("%s%d", prefix, i))
	}
	return b
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	case <-time.After(3 * time.Second):
		return false
	}
}

// eventually polls cond until it holds or 5 seconds pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readAll reads until the subscriber has n messages after cursor, waiting
// as a subscriber does.
func readAll(t testing.TB, sub store.Subscription, cursor msgid.ID, n int) []*store.Message {
	t.Helper()
	var got []*store.Message
	deadline := time.After(5 * time.Second)
	for len(got) < n {
		msgs, w, err := read3(sub, cursor, nil, 100)
		if err != nil {
			t.Fatalf("Read after %d messages: %v", len(got), err)
		}
		if len(msgs) == 0 {
			select {
			case <-w:
			case <-deadline:
				t.Fatalf("got %d of %d messages", len(got), n)
			}
			continue
		}
		for _, m := range msgs {
			if !m.ID.After(cursor) {
				t.Fatalf("message %v not after cursor %v", m.ID, cursor)
			}
			cursor = m.ID
			got = append(got, m)
		}
	}
	return got
}

func TestPublishRead(t *testing.T) {
	s, _ := newStore(t, nil)
	var msgs []*store.Message
	for i := range 3 {
		msgs = append(msgs, publish(t, s, "ch", fmt.Sprintf("m%d", i), buffered))
	}
	for i := 1; i < len(msgs); i++ {
		if !msgs[i].ID.After(msgs[i-1].ID) || msgs[i].Seq <= msgs[i-1].Seq {
			t.Fatalf("ids not increasing: %v then %v (seq %d, %d)", msgs[i-1].ID, msgs[i].ID, msgs[i-1].Seq, msgs[i].Seq)
		}
	}
	if now := time.Now().Unix(); msgs[0].ID.Time < now-2 || msgs[0].ID.Time > now+2 {
		t.Fatalf("id time %d, now %d", msgs[0].ID.Time, now)
	}
	sub := subscribe(t, s, "ch", store.SubscribeOptions{})
	tests := []struct {
		name   string
		cursor msgid.ID
		want   []string
	}{
		{"zero cursor reads from the oldest", msgid.ID{}, bodies("m", 0, 2)},
		{"after the first", msgs[0].ID, bodies("m", 1, 2)},
		{"after the second", msgs[1].ID, bodies("m", 2, 2)},
		{"dash cursor of the first's second", msgid.ID{Time: msgs[0].ID.Time, Tag: -1}, bodies("m", 0, 2)},
		{"previous second", msgid.ID{Time: msgs[0].ID.Time - 1, Tag: msgid.MaxTag}, bodies("m", 0, 2)},
		{"at the newest waits", msgs[2].ID, nil},
		{"newer than the newest waits", msgid.ID{Time: msgs[2].ID.Time + 5}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, wait := read(t, sub, tt.cursor)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Read(%v) = %q, want %q", tt.cursor, got, tt.want)
			}
			if wait != (tt.want == nil) {
				t.Fatalf("Read(%v) wait = %v", tt.cursor, wait)
			}
		})
	}
	got, w, err := read3(sub, msgid.ID{}, make([]*store.Message, 0, 4), 2)
	if err != nil || w != nil || len(got) != 2 || string(got[0].Body) != "m0" || string(got[1].Body) != "m1" {
		t.Fatalf("Read(zero, max 2) = %v, %v, %v", got, w, err)
	}
	if got[0].ContentType != "text/plain" || got[0].Seq != msgs[0].Seq {
		t.Fatalf("message fields %+v, want content type and seq of %+v", got[0], msgs[0])
	}

	info, err := s.Info(ctx, "ch")
	if err != nil {
		t.Fatal(err)
	}
	if info.Messages != 3 || info.Subscribers != 1 || info.LastMessageID != msgs[2].ID {
		t.Fatalf("Info = %+v", info)
	}
	if r := info.Requested(time.Now()); r < 0 || r > 2 {
		t.Fatalf("Requested = %d, want about 0", r)
	}

	// A publish wakes a waiting reader.
	_, w, _ = read3(sub, msgs[2].ID, nil, 10)
	if w == nil {
		t.Fatal("no wait channel at the newest message")
	}
	m3 := publish(t, s, "ch", "m3", buffered)
	if !closed(w) {
		t.Fatal("publish did not wake the reader")
	}
	if got, _, _ := read(t, sub, msgs[2].ID); !slices.Equal(got, []string{"m3"}) {
		t.Fatalf("after wake: %q", got)
	}
	r, err := s.Publish(ctx, "ch", store.Publication{Body: []byte("m4"), EventName: "ev"}, buffered)
	if err != nil || r.Info.Subscribers != 1 || r.Info.Messages != 5 || !r.Message.ID.After(m3.ID) || r.Info.LastRequested.IsZero() {
		t.Fatalf("Publish result %+v, %v", r, err)
	}
	if got := readAll(t, sub, m3.ID, 1); got[0].EventName != "ev" {
		t.Fatalf("event name %q", got[0].EventName)
	}
}

func TestInfoNotFound(t *testing.T) {
	s, _ := newStore(t, nil)
	if _, err := s.Info(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Info(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.Delete(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Delete(unknown) = %v, want ErrNotFound", err)
	}
	info, err := s.Create(ctx, "made", buffered)
	if err != nil || info.Messages != 0 || info.Subscribers != 0 || !info.LastMessageID.IsZero() || info.Requested(time.Now()) != -1 {
		t.Fatalf("Create = %+v, %v", info, err)
	}
	if _, err := s.Info(ctx, "made"); err != nil {
		t.Fatalf("Info after Create: %v", err)
	}
}

func TestBufferTrimming(t *testing.T) {
	s, _ := newStore(t, nil)
	o := store.ChannelOptions{BufferLength: 3, ChannelTimeout: time.Hour}
	var msgs []*store.Message
	for i := range 5 {
		msgs = append(msgs, publish(t, s, "ch", fmt.Sprintf("m%d", i), o))
	}
	sub := subscribe(t, s, "ch", store.SubscribeOptions{})
	tests := []struct {
		name   string
		cursor msgid.ID
		want   []string
		missed bool
	}{
		{"zero cursor", msgid.ID{}, bodies("m", 2, 4), false},
		{"cursor older than the buffer gets the oldest buffered", msgs[0].ID, bodies("m", 2, 4), true},
		{"cursor of the newest dropped message", msgs[1].ID, bodies("m", 2, 4), false},
		{"cursor within the buffer", msgs[2].ID, bodies("m", 3, 4), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := sub.Read(tt.cursor, nil, 100)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range b.Messages {
				got = append(got, string(m.Body))
			}
			if !slices.Equal(got, tt.want) || b.Missed != tt.missed {
				t.Fatalf("Read(%v) = %q missed %v, want %q missed %v", tt.cursor, got, b.Missed, tt.want, tt.missed)
			}
		})
	}
	if info, _ := s.Info(ctx, "ch"); info.Messages != 3 || info.LastMessageID != msgs[4].ID {
		t.Fatalf("Info = %+v", info)
	}
	// A publish with a shorter buffer trims the channel to it.
	m5 := publish(t, s, "ch", "m5", store.ChannelOptions{BufferLength: 1, ChannelTimeout: time.Hour})
	eventually(t, "the copy to trim", func() bool {
		got, _, _ := read(t, sub, msgid.ID{})
		return slices.Equal(got, []string{"m5"})
	})
	if info, _ := s.Info(ctx, "ch"); info.Messages != 1 || info.LastMessageID != m5.ID {
		t.Fatalf("Info = %+v", info)
	}
}

func TestMessageExpiry(t *testing.T) {
	s, _ := newStore(t, nil)
	o := store.ChannelOptions{BufferLength: 10, MessageTimeout: 1500 * time.Millisecond, ChannelTimeout: time.Hour}
	for i := range 3 {
		publish(t, s, "ch", fmt.Sprintf("m%d", i), o)
	}
	time.Sleep(800 * time.Millisecond)
	publish(t, s, "ch", "m3", o)
	sub := subscribe(t, s, "ch", store.SubscribeOptions{})
	if got, _, _ := read(t, sub, msgid.ID{}); !slices.Equal(got, bodies("m", 0, 3)) {
		t.Fatalf("before expiry: %q", got)
	}
	time.Sleep(900 * time.Millisecond) // m0..m2 are 1.7s old, m3 0.9s.
	if got, _, _ := read(t, sub, msgid.ID{}); !slices.Equal(got, []string{"m3"}) {
		t.Fatalf("after the first three expired: %q", got)
	}
	if info, _ := s.Info(ctx, "ch"); info.Messages != 1 {
		t.Fatalf("Info.Messages = %d, want 1", info.Messages)
	}
	time.Sleep(800 * time.Millisecond)
	if _, _, wait := read(t, sub, msgid.ID{}); !wait {
		t.Fatal("all expired, but the reader does not wait")
	}
	info, _ := s.Info(ctx, "ch")
	if info.Messages != 0 || info.LastMessageID.IsZero() {
		t.Fatalf("Info after expiry = %+v (last id must survive expiry)", info)
	}

	// MessageTimeout 0: never expire, and the keys have no TTL.
	forever := store.ChannelOptions{BufferLength: 10, ChannelTimeout: time.Second}
	publish(t, s, "keep", "k", forever)
	if ttl := s.rdb.PTTL(ctx, s.keys("keep").stream).Val(); ttl >= 0 {
		t.Fatalf("stream of a never-expiring message has TTL %v", ttl)
	}
	time.Sleep(1100 * time.Millisecond)
	if info, err := s.Info(ctx, "keep"); err != nil || info.Messages != 1 {
		t.Fatalf("message with no timeout expired: %+v, %v", info, err)
	}
}

func TestMinBufferLength(t *testing.T) {
	s, _ := newStore(t, nil)
	o := store.ChannelOptions{BufferLength: 10, MinBufferLength: 2, MessageTimeout: time.Second, ChannelTimeout: time.Hour}
	for i := range 5 {
		publish(t, s, "ch", fmt.Sprintf("m%d", i), o)
	}
	time.Sleep(1100 * time.Millisecond)
	if info, _ := s.Info(ctx, "ch"); info.Messages != 2 {
		t.Fatalf("Info.Messages = %d, want 2 (the minimum buffer)", info.Messages)
	}
	sub := subscribe(t, s, "ch", store.SubscribeOptions{})
	if got, _, _ := read(t, sub, msgid.ID{}); !slices.Equal(got, bodies("m", 3, 4)) {
		t.Fatalf("Read = %q, want the newest two", got)
	}
}

func TestChannelExpiry(t *testing.T) {
	s, _ := newStore(t, nil)
	o := store.ChannelOptions{BufferLength: 10, MessageTimeout: time.Second, ChannelTimeout: time.Second}
	if _, err := s.Create(ctx, "idle", o); err != nil {
		t.Fatal(err)
	}
	publish(t, s, "withmsgs", "x", o)
	sub := subscribe(t, s, "busy", store.SubscribeOptions{ChannelTimeout: time.Second})
	time.Sleep(2500 * time.Millisecond)
	for _, ch := range []string{"idle", "withmsgs"} {
		if _, err := s.Info(ctx, ch); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s did not expire: %v", ch, err)
		}
	}
	if info, err := s.Info(ctx, "busy"); err != nil || info.Subscribers != 1 {
		t.Fatalf("channel with a subscriber expired: %+v, %v", info, err)
	}
	sub.Close()
}

func TestStoreMessagesOff(t *testing.T) {
	s, _ := newStore(t, nil)
	off := store.ChannelOptions{BufferLength: 0, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
	m0 := publish(t, s, "ch", "m0", off)
	info, err := s.Info(ctx, "ch")
	if err != nil || info.Messages != 0 || info.LastMessageID != m0.ID {
		t.Fatalf("Info = %+v, %v; want 0 messages and last id %v", info, err, m0.ID)
	}
	sub := subscribe(t, s, "ch", store.SubscribeOptions{})
	for _, st := range []store.Start{{Kind: store.StartOldest}, {Kind: store.StartNewest}, {Kind: store.StartNth, N: 2}, {Kind: store.StartNth, N: -1}} {
		cur, err := sub.Start(st)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, wait := read(t, sub, cur); !wait {
			t.Fatalf("Start(%v) on an unbuffered channel does not wait", st)
		}
	}
	cur, _ := sub.Start(store.Start{Kind: store.StartOldest})
	_, w, _ := read3(sub, cur, nil, 10)
	m1 := publish(t, s, "ch", "m1", off)
	if !closed(w) {
		t.Fatal("publish did not wake the waiting reader")
	}
	if got, _, _ := read(t, sub, cur); !slices.Equal(got, []string{"m1"}) {
		t.Fatalf("Read(start) = %q, want [m1]", got)
	}
	// A subscriber between two requests still gets what was published meanwhile.
	if got, _, _ := read(t, sub, m0.ID); !slices.Equal(got, []string{"m1"}) {
		t.Fatalf("Read(cursor at m0) = %q, want [m1]", got)
	}
	if info, _ := s.Info(ctx, "ch"); info.Messages != 0 || info.LastMessageID != m1.ID {
		t.Fatalf("Info = %+v", info)
	}
	// ...for 10 seconds, in Redis too.
	ttl := s.rdb.PTTL(ctx, s.keys("ch").stream).Val()
	if ttl <= 0 || ttl > time.Hour+time.Second {
		t.Fatalf("stream TTL %v", ttl)
	}
	x := s.rdb.XRange(ctx, s.keys("ch").stream, "-", "+").Val()
	if len(x) != 2 {
		t.Fatalf("stream holds %d entries, want 2", len(x))
	}
}

func TestStart(t *testing.T) {
	srv := redistest.Start(t)
	s, _ := newStore(t, srv)
	oldest := store.Start{Kind: store.StartOldest}
	newest := store.Start{Kind: store.StartNewest}
	nth := func(n int) store.Start { return store.Start{Kind: store.StartNth, N: n} }
	tests := []struct {
		name      string
		published int
		bufferLen int
		start     store.Start
		want      string // first message read, "" = wait
	}{
		{"oldest", 5, 10, oldest, "m0"},
		{"newest", 5, 10, newest, ""},
		{"2nd", 5, 10, nth(2), "m1"},
		{"5th", 5, 10, nth(5), "m4"},
		{"6th of 5 is the newest", 5, 10, nth(6), "m4"},
		{"-1 is the newest", 5, 10, nth(-1), "m4"},
		{"-2 is the second newest", 5, 10, nth(-2), "m3"},
		{"-5 is the oldest", 5, 10, nth(-5), "m0"},
		{"-6 of 5 is the oldest", 5, 10, nth(-6), "m0"},
		{"2nd of 1", 1, 10, nth(2), "m0"},
		{"-2 of 1", 1, 10, nth(-2), "m0"},
		{"newest of 1", 1, 10, newest, ""},
		{"empty oldest", 0, 10, oldest, ""},
		{"empty -1", 0, 10, nth(-1), ""},
		{"trimmed oldest", 5, 3, oldest, "m2"},
		{"trimmed 2nd", 5, 3, nth(2), "m3"},
		{"trimmed -1", 5, 3, nth(-1), "m4"},
		{"trimmed -4", 5, 3, nth(-4), "m2"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := fmt.Sprintf("start%d", i)
			o := store.ChannelOptions{BufferLength: tt.bufferLen, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
			if _, err := s.Create(ctx, ch, o); err != nil {
				t.Fatal(err)
			}
			for i := range tt.published {
				publish(t, s, ch, fmt.Sprintf("m%d", i), o)
			}
			sub := subscribe(t, s, ch, store.SubscribeOptions{})
			cur, err := sub.Start(tt.start)
			if err != nil {
				t.Fatalf("Start(%v): %v", tt.start, err)
			}
			got, _, wait := read(t, sub, cur)
			if tt.want == "" {
				if !wait {
					t.Fatalf("Start(%v) reads %q, want to wait", tt.start, got)
				}
				return
			}
			if wait || got[0] != tt.want {
				t.Fatalf("Start(%v) reads %q first, want %q", tt.start, got, tt.want)
			}
		})
	}
}

func TestDeleteWakesReader(t *testing.T) {
	srv := redistest.Start(t)
	s, _ := newStore(t, srv)
	other, _ := newStore(t, srv) // another node
	publish(t, s, "ch", "m0", buffered)
	m1 := publish(t, s, "ch", "m1", buffered)
	sub, err := s.Subscribe(ctx, "ch", store.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	osub := subscribe(t, other, "ch", store.SubscribeOptions{})
	_, w, err := read3(sub, m1.ID, nil, 10)
	if err != nil || w == nil {
		t.Fatalf("Read at newest = %v, %v; want a wait channel", w, err)
	}
	_, ow, _ := read3(osub, m1.ID, nil, 10)
	info, err := s.Delete(ctx, "ch")
	if err != nil || info.Messages != 2 || info.Subscribers != 2 || info.LastMessageID != m1.ID {
		t.Fatalf("Delete = %+v, %v; want the info from before the delete", info, err)
	}
	if !closed(w) || !closed(ow) {
		t.Fatal("Delete did not wake the waiting readers (on both nodes)")
	}
	for _, x := range []store.Subscription{sub, osub} {
		if _, _, err := read3(x, m1.ID, nil, 10); !errors.Is(err, store.ErrGone) {
			t.Fatalf("Read after Delete = %v, want ErrGone", err)
		}
		if _, err := x.Start(store.Start{}); !errors.Is(err, store.ErrGone) {
			t.Fatalf("Start after Delete = %v, want ErrGone", err)
		}
	}
	if _, err := s.Info(ctx, "ch"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Info after Delete = %v, want ErrNotFound", err)
	}
	if _, err := s.Delete(ctx, "ch"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second Delete = %v, want ErrNotFound", err)
	}
	sub.Close()
	sub.Close()
	if st := s.Stats(); st.Subscribers != 0 {
		t.Fatalf("Stats after Delete and Close = %+v", st)
	}
	// The channel can be made again, empty; its ids continue past the old ones.
	again := publish(t, other, "ch", "again", buffered)
	if !again.ID.After(m1.ID) {
		t.Fatalf("re-created channel id %v not after %v", again.ID, m1.ID)
	}
	if info, _ := s.Info(ctx, "ch"); info.Messages != 1 {
		t.Fatalf("re-created channel Info = %+v", info)
	}
	nsub := subscribe(t, s, "ch", store.SubscribeOptions{})
	if got, _, _ := read(t, nsub, msgid.ID{}); !slices.Equal(got, []string{"again"}) {
		t.Fatalf("re-created channel reads %q", got)
	}
}

func TestSubscribeExistingOnly(t *testing.T) {
	s, _ := newStore(t, nil)
	only := store.SubscribeOptions{ExistingOnly: true}
	if _, err := s.Subscribe(ctx, "ch", only); !errors.Is(err, store.ErrNotAuthorized) {
		t.Fatalf("Subscribe before Create = %v, want ErrNotAuthorized", err)
	}
	if _, err := s.Info(ctx, "ch"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused subscribe created the channel: %v", err)
	}
	sub := subscribe(t, s, "ch", store.SubscribeOptions{})
	if _, err := s.Subscribe(ctx, "ch", only); !errors.Is(err, store.ErrNotAuthorized) {
		t.Fatalf("Subscribe to a subscriber-made channel = %v, want ErrNotAuthorized", err)
	}
	sub.Close()
	if _, err := s.Create(ctx, "ch", buffered); err != nil {
		t.Fatal(err)
	}
	subscribe(t, s, "ch", only)
	publish(t, s, "pubbed", "x", buffered)
	subscribe(t, s, "pubbed", only)
}

func TestMaxSubscribers(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := newStore(t, srv)
	b, _ := newStore(t, srv)
	o := store.SubscribeOptions{MaxSubscribers: 2}
	x := subscribe(t, a, "ch", o)
	subscribe(t, b, "ch", o) // the limit counts every node's subscribers
	if _, err := a.Subscribe(ctx, "ch", o); !errors.Is(err, store.ErrTooManySubscribers) {
		t.Fatalf("third Subscribe = %v, want ErrTooManySubscribers", err)
	}
	if _, err := b.Subscribe(ctx, "ch", o); !errors.Is(err, store.ErrTooManySubscribers) {
		t.Fatalf("third Subscribe on the other node = %v, want ErrTooManySubscribers", err)
	}
	if info, _ := a.Info(ctx, "ch"); info.Subscribers != 2 {
		t.Fatalf("Subscribers = %d, want 2", info.Subscribers)
	}
	x.Close()
	x.Close()
	eventually(t, "the count to drop", func() bool {
		info, _ := b.Info(ctx, "ch")
		return info.Subscribers == 1
	})
	subscribe(t, b, "ch", o)
	if st := b.Stats(); st.Subscribers != 2 {
		t.Fatalf("Stats.Subscribers = %d, want 2", st.Subscribers)
	}
}

func TestConcurrencyFirst(t *testing.T) {
	srv := redistest.Start(t)
	s, _ := newStore(t, srv)
	other, _ := newStore(t, srv)
	o := store.SubscribeOptions{Concurrency: store.First}
	a := subscribe(t, s, "ch", o)
	if _, err := s.Subscribe(ctx, "ch", o); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second subscriber under first = %v, want ErrConflict", err)
	}
	if _, err := other.Subscribe(ctx, "ch", o); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second subscriber on another node = %v, want ErrConflict", err)
	}
	if _, _, wait := read(t, a, msgid.ID{}); !wait {
		t.Fatal("first subscriber disturbed")
	}
	a.Close()
	eventually(t, "the first subscriber to leave", func() bool {
		sub, err := other.Subscribe(ctx, "ch", o)
		if err == nil {
			sub.Close()
		}
		return err == nil
	})
}

func TestConcurrencyLast(t *testing.T) {
	srv := redistest.Start(t)
	s, _ := newStore(t, srv)
	other, _ := newStore(t, srv)
	o := store.SubscribeOptions{Concurrency: store.Last}
	a := subscribe(t, s, "ch", o)
	_, w, err := read3(a, msgid.ID{}, nil, 10)
	if err != nil || w == nil {
		t.Fatalf("Read = %v, %v", w, err)
	}
	b := subscribe(t, s, "ch", o)
	if !closed(w) {
		t.Fatal("newcomer did not wake the evicted subscriber")
	}
	if _, _, err := read3(a, msgid.ID{}, nil, 10); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("evicted subscriber Read = %v, want ErrConflict", err)
	}
	if _, _, wait := read(t, b, msgid.ID{}); !wait {
		t.Fatal("newest subscriber cannot read")
	}
	_, w, _ = read3(b, msgid.ID{}, nil, 10)
	c := subscribe(t, other, "ch", o) // a newcomer on another node evicts b
	if !closed(w) {
		t.Fatal("a newcomer on another node did not wake the evicted subscriber")
	}
	if _, _, err := read3(b, msgid.ID{}, nil, 10); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second evicted subscriber Read = %v, want ErrConflict", err)
	}
	if _, _, wait := read(t, c, msgid.ID{}); !wait {
		t.Fatal("newest subscriber cannot read")
	}
	a.Close()
	b.Close()
	c.Close()
	eventually(t, "every subscriber to leave", func() bool {
		info, _ := s.Info(ctx, "ch")
		return info.Subscribers == 0
	})
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
		ids = append(ids, publish(t, s, "ch", fmt.Sprint(i), buffered).ID)
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
	k := a.keys("skew")
	publish(t, a, "skew", "x", buffered)
	srv.MustDo("HSET", k.meta, "l", fmt.Sprintf("%d-5", future))
	if id := publish(t, a, "skew", "y", buffered).ID; id != (msgid.ID{Time: future, Tag: 6}) {
		t.Fatalf("id %v, want %d:6", id, future)
	}
	srv.MustDo("HSET", k.meta, "l", fmt.Sprintf("%d-%d", future, msgid.MaxTag))
	if id := publish(t, a, "skew", "z", buffered).ID; id != (msgid.ID{Time: future + 1, Tag: 0}) {
		t.Fatalf("id %v, want %d:0", id, future+1)
	}
}

func TestClosedStore(t *testing.T) {
	s, _ := newStore(t, nil)
	s.Close()
	s.Close()
	if _, err := s.Publish(ctx, "ch", store.Publication{}, buffered); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Publish after Close = %v", err)
	}
	if _, err := s.Subscribe(ctx, "ch", store.SubscribeOptions{}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Subscribe after Close = %v", err)
	}
	if _, err := s.Create(ctx, "ch", buffered); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Create after Close = %v", err)
	}
}

func TestCanceledContext(t *testing.T) {
	s, _ := newStore(t, nil)
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Publish(c, "ch", store.Publication{}, buffered); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish = %v, want context.Canceled", err)
	}
	if _, err := s.Subscribe(c, "ch", store.SubscribeOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe = %v, want context.Canceled", err)
	}
}

func TestMirrorShorterThanBuffer(t *testing.T) {
	s, _ := newStore(t, nil, func(o *Options) { o.MirrorLength = 64 })
	o := store.ChannelOptions{BufferLength: 150, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
	var msgs []*store.Message
	for i := range 100 {
		msgs = append(msgs, publish(t, s, "ch", fmt.Sprintf("m%d", i), o))
	}
	sub := subscribe(t, s, "ch", store.SubscribeOptions{})
	for i := range 100 {
		msgs = append(msgs, publish(t, s, "ch", fmt.Sprintf("m%d", 100+i), o))
	}
	// 150 in Redis, 64 in the node: older cursors read from Redis.
	got := readAll(t, sub, msgid.ID{}, 150)
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
	subB := subscribe(t, b, "ch", store.SubscribeOptions{})
	subC := subscribe(t, c, "ch", store.SubscribeOptions{})
	r, err := a.Publish(ctx, "ch", store.Publication{Body: []byte("hi")}, buffered)
	if err != nil || r.Info.Subscribers != 2 {
		t.Fatalf("Publish = %+v, %v; want 2 subscribers", r, err)
	}
	for _, sub := range []store.Subscription{subB, subC} {
		if got := readAll(t, sub, msgid.ID{}, 1); got[0].ID != r.Message.ID || string(got[0].Body) != "hi" {
			t.Fatalf("got %v %q", got[0].ID, got[0].Body)
		}
	}
	// Info counts every node's subscribers.
	info, err := a.Info(ctx, "ch")
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
	subscribe(t, a, "ch", store.SubscribeOptions{})
	subscribe(t, b, "ch", store.SubscribeOptions{})
	subscribe(t, b, "ch", store.SubscribeOptions{}) // admitted by b alone: its count follows
	eventually(t, "3 subscribers", func() bool {
		info, _ := a.Info(ctx, "ch")
		return info.Subscribers == 3
	})
	time.Sleep(1500 * time.Millisecond) // past NodeTTL: renewals keep them
	if info, _ := a.Info(ctx, "ch"); info.Subscribers != 3 {
		t.Fatalf("Subscribers = %d after the node TTL, want 3 (renewed)", info.Subscribers)
	}
	b.Crash()
	eventually(t, "the dead node's subscribers to stop counting", func() bool {
		info, _ := a.Info(ctx, "ch")
		return info.Subscribers == 1
	})
	if n := srv.MustDo("HLEN", a.keys("ch").counts); n != ":1" {
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
	sub := subscribe(t, b, "ch", store.SubscribeOptions{})
	m0 := publish(t, a, "ch", "m0", buffered)
	readAll(t, sub, msgid.ID{}, 1)
	srv.Kill()
	start := time.Now()
	for _, call := range []func() error{
		func() error {
			_, err := a.Publish(ctx, "ch", store.Publication{Body: []byte("x")}, buffered)
			return err
		},
		func() error { _, err := a.Create(ctx, "ch", buffered); return err },
		func() error { _, err := a.Info(ctx, "ch"); return err },
		func() error { _, err := a.Delete(ctx, "ch"); return err },
		func() error { _, err := a.Subscribe(ctx, "other", store.SubscribeOptions{}); return err },
	} {
		if err := call(); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("call while Redis is down = %v, want ErrUnavailable", err)
		}
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("failing took %v", d)
	}
	_, w, err := read3(sub, m0.ID, nil, 10)
	if err != nil || w == nil {
		t.Fatalf("Read while Redis is down = %v, %v; want a wait channel", w, err)
	}
	srv.Restart()
	var m1 *store.Message
	eventually(t, "publishing to work again", func() bool {
		r, err := a.Publish(ctx, "ch", store.Publication{Body: []byte("m1")}, buffered)
		if err == nil {
			m1 = r.Message
		}
		return err == nil
	})
	got := readAll(t, sub, m0.ID, 1)
	if got[0].ID != m1.ID || string(got[0].Body) != "m1" {
		t.Fatalf("after restart got %v %q, want %v m1", got[0].ID, got[0].Body, m1.ID)
	}
	// The node restored the channel it has a subscriber on.
	eventually(t, "the subscriber count to come back", func() bool {
		info, err := a.Info(ctx, "ch")
		return err == nil && info.Subscribers == 1
	})
}

// TestConcurrentPublishRead runs publishers on two nodes and readers on
// both (run it with -race): every reader sees every message of its channel
// exactly once, in increasing id order.
func TestConcurrentPublishRead(t *testing.T) {
	const (
		channels     = 3
		publishers   = 6
		perPublisher = 100
		readersPerCh = 2
		perChannel   = publishers / channels * perPublisher
	)
	srv := redistest.Start(t)
	nodes := []*Store{}
	for range 2 {
		s, _ := newStore(t, srv)
		nodes = append(nodes, s)
	}
	o := store.ChannelOptions{BufferLength: perChannel, ChannelTimeout: time.Hour, MessageTimeout: time.Hour}
	name := func(i int) string { return fmt.Sprintf("chan-%d", i) }
	var published [channels][]msgid.ID
	var pubMu [channels]sync.Mutex
	type result struct {
		ch  int
		ids []msgid.ID
		err error
	}
	results := make(chan result, channels*readersPerCh*2)
	var wg sync.WaitGroup
	for c := range channels {
		for r := range readersPerCh {
			sub := subscribe(t, nodes[r%2], name(c), store.SubscribeOptions{})
			wg.Go(func() {
				var got []msgid.ID
				var cursor msgid.ID
				buf := make([]*store.Message, 0, 16)
				for len(got) < perChannel {
					msgs, wait, err := read3(sub, cursor, buf[:0], 16)
					if err != nil {
						results <- result{c, got, err}
						return
					}
					if len(msgs) == 0 {
						select {
						case <-wait:
						case <-time.After(5 * time.Second):
							results <- result{c, got, errors.New("reader stuck")}
							return
						}
						continue
					}
					for _, m := range msgs {
						if !m.ID.After(cursor) {
							results <- result{c, got, fmt.Errorf("id %v not after cursor %v", m.ID, cursor)}
							return
						}
						cursor = m.ID
						got = append(got, m.ID)
					}
				}
				results <- result{c, got, nil}
			})
		}
	}
	var failed atomic.Value
	var pwg sync.WaitGroup
	for p := range publishers {
		pwg.Go(func() {
			c := p % channels
			s := nodes[p%2]
			for i := range perPublisher {
				r, err := s.Publish(ctx, name(c), store.Publication{Body: fmt.Appendf(nil, "%d-%d", p, i)}, o)
				if err != nil {
					failed.Store(err)
					return
				}
				pubMu[c].Lock()
				published[c] = append(published[c], r.Message.ID)
				pubMu[c].Unlock()
			}
		})
	}
	pwg.Wait()
	if err := failed.Load(); err != nil {
		t.Fatalf("a publish failed: %v", err)
	}
	wg.Wait()
	close(results)
	for c := range channels {
		slices.SortFunc(published[c], msgid.ID.Compare)
		if len(slices.Compact(slices.Clone(published[c]))) != perChannel {
			t.Fatalf("channel %d: duplicate ids", c)
		}
	}
	for r := range results {
		if r.err != nil {
			t.Fatalf("reader on channel %d: %v after %d messages", r.ch, r.err, len(r.ids))
		}
		if !slices.Equal(r.ids, published[r.ch]) {
			t.Fatalf("reader on channel %d saw %d ids, not the %d published", r.ch, len(r.ids), len(published[r.ch]))
		}
	}
}

// TestKeysShareSlot: every key of a channel hashes to one slot, however
// odd the channel name.
func TestKeysShareSlot(t *testing.T) {
	s := &Store{ns: "ns:", psSuffix: pubsubSuffix(0)}
	for _, ch := range []string{"/a", "g/b}c", "/{x}", "/}", "/日本"} {
		k := s.keys(ch)
		slot := keySlot(k.meta)
		for _, key := range []string{k.stream, k.counts, k.floor, k.pubsub} {
			if keySlot(key) != slot {
				t.Fatalf("channel %q: %s and %s in different slots", ch, k.meta, key)
			}
		}
		if got, ok := s.channelOf(k.pubsub); !ok || got != ch {
			t.Fatalf("channelOf(%q) = %q, %v", k.pubsub, got, ok)
		}
	}
	if keySlot("123456789") != 12739 { // the Redis Cluster spec's example
		t.Fatalf("keySlot(123456789) = %d", keySlot("123456789"))
	}
	if !strings.HasPrefix(s.keys("/a").meta, "ns:{/a}") {
		t.Fatal(s.keys("/a").meta)
	}
}

// TestGapCatchUp: a node that misses a notice (here: a message published
// without one) reads it from the stream when the next notice shows the gap.
func TestGapCatchUp(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := newStore(t, srv)
	b, _ := newStore(t, srv)
	sub := subscribe(t, b, "ch", store.SubscribeOptions{})
	m0 := publish(t, a, "ch", "m0", buffered)
	readAll(t, sub, msgid.ID{}, 1)
	// m1 goes into the stream, but its notice to a channel nobody follows.
	k := a.keys("ch")
	if err := scriptPublish.Run(ctx, a.rdb, []string{k.meta, k.stream, k.counts, k.floor},
		"m1", "", "", 10, 0, 3600000, 3600000, "", "", k.pubsub+"-nowhere", "PUBLISH", a.node, 0).Err(); err != nil {
		t.Fatal(err)
	}
	publish(t, a, "ch", "m2", buffered)
	got := readAll(t, sub, m0.ID, 2)
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
	sub := subscribe(t, b, "ch", store.SubscribeOptions{})
	var last msgid.ID
	for round := range 5 {
		if n := srv.MustDo("CLIENT", "KILL", "TYPE", "pubsub"); n == ":0" {
			t.Fatal("no pubsub connection to kill")
		}
		for i := range 5 {
			publish(t, a, "ch", fmt.Sprintf("r%d-%d", round, i), store.ChannelOptions{BufferLength: 100, ChannelTimeout: time.Hour})
		}
		got := readAll(t, sub, last, 5)
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
		_, err = s.Publish(ctx, fmt.Sprintf("ch%d", i), store.Publication{Body: big}, store.ChannelOptions{BufferLength: 10, ChannelTimeout: time.Hour})
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
	sub2 := subscribe(t, db2, "ch", store.SubscribeOptions{})
	m := publish(t, db2, "ch", "two", buffered)
	publish(t, db1, "ch", "one", buffered)
	if _, err := db1.Delete(ctx, "ch"); err != nil {
		t.Fatal(err)
	}
	publish(t, db2, "ch", "two again", buffered)
	got := readAll(t, sub2, msgid.ID{}, 2)
	if string(got[0].Body) != "two" || string(got[1].Body) != "two again" || got[0].ID != m.ID {
		t.Fatalf("database 2 reads %q, %q", got[0].Body, got[1].Body)
	}
}

// TestFollowGrace: messages that leave the buffer while a node's streaming
// subscriber has not read them stay readable to it (and only to it), as in
// the memory engine.
func TestFollowGrace(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := newStore(t, srv)
	b, _ := newStore(t, srv)
	o := store.ChannelOptions{BufferLength: 3, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
	follower := subscribe(t, b, "ch", store.SubscribeOptions{Follow: true})
	poller := subscribe(t, b, "ch", store.SubscribeOptions{})
	var first *store.Message
	for i := range 10 {
		m := publish(t, a, "ch", fmt.Sprintf("m%d", i), o)
		if i == 0 {
			first = m
		}
	}
	got := readAll(t, follower, first.ID, 9)
	var gotBodies []string
	for _, m := range got {
		gotBodies = append(gotBodies, string(m.Body))
	}
	if !slices.Equal(gotBodies, bodies("m", 1, 9)) {
		t.Fatalf("follower read %q, want m1..m9", gotBodies)
	}
	if b, err := follower.Read(first.ID, nil, 100); err != nil || b.Missed {
		t.Fatalf("follower Read = missed %v, %v; want nothing missed", b.Missed, err)
	}
	bt, err := poller.Read(first.ID, nil, 100)
	if err != nil || !bt.Missed || len(bt.Messages) != 3 || string(bt.Messages[0].Body) != "m7" {
		t.Fatalf("poller Read = %d messages, missed %v, %v; want m7..m9 and missed", len(bt.Messages), bt.Missed, err)
	}
	if all, _, _ := read(t, follower, msgid.ID{}); !slices.Equal(all, bodies("m", 0, 9)) {
		t.Fatalf("follower's zero cursor read %q, want m0..m9, all published since it subscribed", all)
	}
	late := subscribe(t, b, "ch", store.SubscribeOptions{Follow: true})
	if buf, _, _ := read(t, late, msgid.ID{}); !slices.Equal(buf, bodies("m", 7, 9)) {
		t.Fatalf("a later follower's zero cursor read %q, want the buffer m7..m9", buf)
	}
	if info, err := b.Info(ctx, "ch"); err != nil || info.Messages != 3 {
		t.Fatalf("Info = %+v, %v; want 3 messages", info, err)
	}
	if st := b.Stats(); st.StoredMessages != 3 {
		t.Fatalf("StoredMessages = %d, want 3", st.StoredMessages)
	}
}
