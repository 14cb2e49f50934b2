package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/buffer"
	"github.com/heraldpush/herald/internal/store/storetest"
	"github.com/heraldpush/herald/protocol/msgid"
)

// t0 is the fake clock's starting time.
var t0 = time.Unix(1450755280, 0)

// fakeClock is a clock tests move by hand; the sweeper reads it concurrently.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// newStore returns a store on a fake clock whose sweeper runs rarely (tests
// that need it pass their own interval).
func newStore(t testing.TB, o Options) (*Store, *fakeClock) {
	t.Helper()
	clk := newClock()
	if o.Now == nil {
		o.Now = clk.Now
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = time.Hour
	}
	s := New(o)
	t.Cleanup(func() { s.Close() })
	return s, clk
}

var ctx = context.Background()

var buffered = store.ChannelOptions{BufferLength: 10, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}

// TestContract runs the store contract (internal/store/storetest) on the
// memory engine: "the other node" is the same store, and time passes on a
// fake clock.
func TestContract(t *testing.T) {
	storetest.Run(t, storetest.Engine{
		Open: func(t *testing.T) (store.Store, store.Store, func(time.Duration)) {
			s, clk := newStore(t, Options{})
			return s, s, clk.Advance
		},
		Unit: time.Minute,
		OpenEvents: func(t *testing.T, bus *events.Bus) (store.Store, func(time.Duration)) {
			s, clk := newStore(t, Options{Events: bus, SweepInterval: 5 * time.Millisecond})
			return s, clk.Advance
		},
		OpenFull: func(t *testing.T) (store.Store, int) {
			s, _ := newStore(t, Options{MemoryLimit: 64 << 10})
			return s, 128 << 10
		},
	})
}

// TestIDsAndRequested: ids come from the store's clock, a tag per message
// within a second; Requested counts from the last read.
func TestIDsAndRequested(t *testing.T) {
	s, _ := newStore(t, Options{})
	var msgs []*store.Message
	for i := range 3 {
		msgs = append(msgs, storetest.Publish(t, s, storetest.Key("ch"), fmt.Sprintf("m%d", i), buffered))
	}
	wantIDs := []msgid.ID{{Time: t0.Unix(), Tag: 0}, {Time: t0.Unix(), Tag: 1}, {Time: t0.Unix(), Tag: 2}}
	for i, m := range msgs {
		if m.ID != wantIDs[i] {
			t.Errorf("message %d id %v, want %v", i, m.ID, wantIDs[i])
		}
	}
	sub := storetest.Subscribe(t, s, storetest.Key("ch"), store.SubscribeOptions{})
	storetest.Read(t, sub, msgid.ID{})
	info, err := s.Info(ctx, storetest.Key("ch"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Requested(t0.Add(18*time.Second)) != 18 {
		t.Fatalf("Requested = %d, want 18", info.Requested(t0.Add(18*time.Second)))
	}
}

// TestSecondTags: messages count within their second across channels,
// from 1, and the count starts again in the next second.
func TestSecondTags(t *testing.T) {
	s, clk := newStore(t, Options{})
	for i, ch := range []string{"a", "b", "a", "c"} {
		if m := storetest.Publish(t, s, storetest.Key(ch), "x", buffered); m.SecondTag != uint32(i+1) {
			t.Errorf("message %d (channel %s): second tag %d, want %d", i, ch, m.SecondTag, i+1)
		}
	}
	clk.Advance(time.Second)
	if m := storetest.Publish(t, s, storetest.Key("b"), "x", buffered); m.SecondTag != 1 || m.ID.Time != t0.Unix()+1 {
		t.Errorf("first message of the next second: tag %d, id %v", m.SecondTag, m.ID)
	}
}

// TestStoreMessagesOff: a channel that keeps no messages still holds its
// latest ones for buffer.InflightTTL, for subscribers between two requests, and
// not after.
func TestStoreMessagesOff(t *testing.T) {
	s, clk := newStore(t, Options{})
	off := store.ChannelOptions{BufferLength: 0, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
	m0 := storetest.Publish(t, s, storetest.Key("ch"), "m0", off)
	storetest.Publish(t, s, storetest.Key("ch"), "m1", off)
	sub := storetest.Subscribe(t, s, storetest.Key("ch"), store.SubscribeOptions{})
	if got, _, _ := storetest.Read(t, sub, m0.ID); !slices.Equal(got, []string{"m1"}) {
		t.Fatalf("Read(cursor at m0) = %q, want [m1]", got)
	}
	clk.Advance(buffer.InflightTTL)
	if _, _, wait := storetest.Read(t, sub, m0.ID); !wait {
		t.Fatal("unbuffered message still delivered past buffer.InflightTTL")
	}
}

func TestMemoryLimit(t *testing.T) {
	const limit = 2000
	s, _ := newStore(t, Options{MemoryLimit: limit})
	body := string(make([]byte, 600))
	m := &store.Message{Body: []byte(body), ContentType: "text/plain"}
	chanSize := int64(channelOverhead + len("ch"))

	storetest.Publish(t, s, storetest.Key("ch"), body, buffered)
	storetest.Publish(t, s, storetest.Key("ch"), body, buffered)
	if got, want := s.Stats().MemoryUsed, chanSize+2*m.Size(); got != want {
		t.Fatalf("MemoryUsed = %d, want %d", got, want)
	}
	_, err := s.Publish(ctx, storetest.Key("ch"), store.Publication{Body: []byte(body), ContentType: "text/plain"}, buffered)
	if !errors.Is(err, store.ErrOutOfMemory) {
		t.Fatalf("Publish past the limit = %v, want ErrOutOfMemory", err)
	}
	st := s.Stats()
	if st.MemoryUsed > limit || st.MemoryLimit != limit || st.StoredMessages != 2 {
		t.Fatalf("Stats after refused publish = %+v", st)
	}
	if info, _ := s.Info(ctx, storetest.Key("ch")); info.Messages != 2 {
		t.Fatalf("refused publish changed the buffer: %+v", info)
	}

	// A publish that replaces the oldest message of a full buffer fits.
	one := store.ChannelOptions{BufferLength: 2, ChannelTimeout: time.Hour}
	storetest.Publish(t, s, storetest.Key("ch"), body, one)
	if got, want := s.Stats().MemoryUsed, chanSize+2*m.Size(); got != want {
		t.Fatalf("MemoryUsed after replacing = %d, want %d", got, want)
	}

	if _, err := s.Delete(ctx, storetest.Key("ch")); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().MemoryUsed; got != 0 {
		t.Fatalf("MemoryUsed after Delete = %d, want 0", got)
	}

	// A message larger than the whole limit never fits.
	huge := make([]byte, limit)
	if _, err := s.Publish(ctx, storetest.Key("big"), store.Publication{Body: huge}, buffered); !errors.Is(err, store.ErrOutOfMemory) {
		t.Fatalf("huge Publish = %v, want ErrOutOfMemory", err)
	}
	// ... and leaves no channel behind.
	if _, err := s.Delete(ctx, storetest.Key("big")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Delete of the refused publish's channel = %v, want ErrNotFound", err)
	}
	if got := s.Stats().MemoryUsed; got != 0 {
		t.Fatalf("MemoryUsed after the refused publish = %d, want 0", got)
	}
	// Channels themselves count: with the limit used up, new channels fail.
	for i := 0; ; i++ {
		_, err := s.Create(ctx, storetest.Key(fmt.Sprintf("c%d", i)), buffered)
		if errors.Is(err, store.ErrOutOfMemory) {
			break
		}
		if err != nil || i > limit {
			t.Fatalf("Create %d: %v", i, err)
		}
	}
	if used := s.Stats().MemoryUsed; used > limit {
		t.Fatalf("MemoryUsed %d passed the limit %d", used, limit)
	}
}

func TestMemoryAccounting(t *testing.T) {
	s, clk := newStore(t, Options{})
	o := store.ChannelOptions{BufferLength: 3, MessageTimeout: time.Minute, ChannelTimeout: time.Hour}
	var size int64
	for i := range 10 {
		m := storetest.Publish(t, s, storetest.Key("ch"), fmt.Sprintf("message %d", i), o)
		size = m.Size()
	}
	if got, want := s.Stats().MemoryUsed, int64(channelOverhead+len("ch"))+3*size; got != want {
		t.Fatalf("MemoryUsed = %d, want %d", got, want)
	}
	clk.Advance(2 * time.Minute)
	if _, err := s.Info(ctx, storetest.Key("ch")); err != nil { // trims the expired messages
		t.Fatal(err)
	}
	if got, want := s.Stats().MemoryUsed, int64(channelOverhead+len("ch")); got != want {
		t.Fatalf("MemoryUsed after expiry = %d, want %d", got, want)
	}
	if _, err := s.Delete(ctx, storetest.Key("ch")); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.MemoryUsed != 0 || st.Channels != 0 || st.StoredMessages != 0 {
		t.Fatalf("Stats after Delete = %+v", st)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSweeperExpiresIdleChannels(t *testing.T) {
	s, clk := newStore(t, Options{SweepInterval: time.Millisecond})
	o := store.ChannelOptions{BufferLength: 10, MessageTimeout: time.Minute, ChannelTimeout: time.Minute}
	if _, err := s.Create(ctx, storetest.Key("idle"), o); err != nil {
		t.Fatal(err)
	}
	storetest.Publish(t, s, storetest.Key("withmsgs"), "x", o)
	storetest.Publish(t, s, storetest.Key("keepmsgs"), "x", store.ChannelOptions{BufferLength: 10, ChannelTimeout: time.Minute})
	storetest.Subscribe(t, s, storetest.Key("busy"), store.SubscribeOptions{ChannelTimeout: time.Minute})
	closedSub, err := s.Subscribe(ctx, storetest.Key("wasbusy"), store.SubscribeOptions{ChannelTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Second)
	closedSub.Close() // active again at +30s

	// Let the sweeper run a few times: nothing has timed out yet.
	time.Sleep(20 * time.Millisecond)
	for _, ch := range []string{"idle", "withmsgs", "keepmsgs", "busy", "wasbusy"} {
		if _, err := s.Info(ctx, storetest.Key(ch)); err != nil {
			t.Fatalf("%s gone before its timeout: %v", ch, err)
		}
	}

	clk.Advance(45 * time.Second) // +75s
	gone := func(ch string) func() bool {
		return func() bool { _, err := s.Info(ctx, storetest.Key(ch)); return errors.Is(err, store.ErrNotFound) }
	}
	waitFor(t, "idle channel to expire", gone("idle"))
	waitFor(t, "channel whose messages expired to expire", gone("withmsgs"))
	time.Sleep(20 * time.Millisecond)
	for _, ch := range []string{"keepmsgs", "busy", "wasbusy"} {
		if _, err := s.Info(ctx, storetest.Key(ch)); err != nil {
			t.Fatalf("%s expired: %v", ch, err)
		}
	}

	clk.Advance(time.Minute) // +135s: wasbusy idle since +30s.
	waitFor(t, "channel whose subscriber left to expire", gone("wasbusy"))
	if st := s.Stats(); st.Channels != 2 {
		t.Fatalf("Stats.Channels = %d, want 2 (keepmsgs, busy)", st.Channels)
	}
}

// TestSweeperEvents: expired messages are reported once per channel and
// sweep, however they were trimmed (here by a publish), and the sweeper's
// removal of an idle channel is a deletion for "expired".
func TestSweeperEvents(t *testing.T) {
	bus := events.New()
	evs := bus.Subscribe(64)
	defer evs.Close()
	s, clk := newStore(t, Options{Events: bus, SweepInterval: time.Millisecond})
	o := store.ChannelOptions{BufferLength: 10, MessageTimeout: time.Minute, ChannelTimeout: time.Hour}
	for i := range 3 {
		storetest.Publish(t, s, storetest.Key("busy"), fmt.Sprint(i), o)
	}
	idle := store.ChannelKey{Group: "g", ID: "idle"}
	storetest.Publish(t, s, idle, "x", store.ChannelOptions{BufferLength: 10, MessageTimeout: time.Minute, ChannelTimeout: time.Minute})
	clk.Advance(2 * time.Minute)
	storetest.Publish(t, s, storetest.Key("busy"), "3", o) // trims the 3 expired

	type seen struct {
		kind          events.Kind
		group, ch, re string
		n             int
	}
	want := []seen{
		{events.ChannelCreated, "", "busy", "", 1},
		{events.ChannelCreated, "g", "idle", "", 1},
		{events.MessageExpired, "", "busy", "", 3},
		{events.MessageExpired, "g", "idle", "", 1},
		{events.ChannelDeleted, "g", "idle", "expired", 1},
	}
	var got []seen
	deadline := time.After(5 * time.Second)
	for len(got) < len(want) {
		select {
		case ev := <-evs.C():
			got = append(got, seen{ev.Kind, ev.Group, ev.Channel, ev.Reason, ev.Count()})
		case <-deadline:
			t.Fatalf("events %v, want %v", got, want)
		}
	}
	// Shards are swept in turn: busy's expiry may come before or after
	// idle's, which comes before idle's deletion.
	if i := slices.Index(got, want[2]); i == 4 || i == 2 {
		got = append(slices.Delete(got, i, i+1), want[2])
	}
	if !slices.Equal(got, append(want[:2:2], want[3], want[4], want[2])) {
		t.Fatalf("events %v, want %v", got, want)
	}
	time.Sleep(10 * time.Millisecond)
	select {
	case ev := <-evs.C():
		t.Fatalf("more events: %+v", ev)
	default:
	}
}

func TestIDsMonotonicWhenClockStepsBack(t *testing.T) {
	s, clk := newStore(t, Options{})
	T := t0.Unix()
	steps := []struct {
		at   time.Time
		ch   string
		want msgid.ID
	}{
		{t0, "a", msgid.ID{Time: T, Tag: 0}},
		{t0, "a", msgid.ID{Time: T, Tag: 1}},
		{t0.Add(-100 * time.Second), "a", msgid.ID{Time: T, Tag: 2}},
		{t0.Add(-100 * time.Second), "b", msgid.ID{Time: T, Tag: 0}},
		{t0.Add(-time.Hour), "a", msgid.ID{Time: T, Tag: 3}},
		{t0.Add(time.Second), "a", msgid.ID{Time: T + 1, Tag: 0}},
		{t0.Add(-time.Second), "b", msgid.ID{Time: T + 1, Tag: 0}},
		{t0.Add(2 * time.Second), "b", msgid.ID{Time: T + 2, Tag: 0}},
	}
	for i, st := range steps {
		clk.Set(st.at)
		m := storetest.Publish(t, s, storetest.Key(st.ch), fmt.Sprint(i), buffered)
		if m.ID != st.want {
			t.Fatalf("step %d (clock %v, channel %s): id %v, want %v", i, st.at.Unix()-T, st.ch, m.ID, st.want)
		}
	}
	sub := storetest.Subscribe(t, s, storetest.Key("a"), store.SubscribeOptions{})
	_, ids, _ := storetest.Read(t, sub, msgid.ID{})
	for i := 1; i < len(ids); i++ {
		if !ids[i].After(ids[i-1]) {
			t.Fatalf("ids not increasing: %v", ids)
		}
	}
}

// TestConcurrentPublishRead runs the contract's concurrency test on a
// store with a real clock and a sweeper running every millisecond.
func TestConcurrentPublishRead(t *testing.T) {
	s := New(Options{SweepInterval: time.Millisecond})
	defer s.Close()
	storetest.ConcurrentPublishRead(t, s, s)
	if st := s.Stats(); st.Published != 600 || st.Subscribers != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}

var benchBody = make([]byte, 64)

func BenchmarkPublish(b *testing.B) {
	s := New(Options{})
	defer s.Close()
	o := store.ChannelOptions{BufferLength: 100, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
	p := store.Publication{Body: benchBody, ContentType: "text/plain"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Publish(ctx, storetest.Key("bench"), p, o); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPublishParallel(b *testing.B) {
	s := New(Options{})
	defer s.Close()
	o := store.ChannelOptions{BufferLength: 100, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
	p := store.Publication{Body: benchBody, ContentType: "text/plain"}
	names := make([]store.ChannelKey, 1024)
	for i := range names {
		names[i] = storetest.Key(fmt.Sprintf("bench-%d", i))
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)) * 131
		for pb.Next() {
			i++
			if _, err := s.Publish(ctx, names[i%len(names)], p, o); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkRead(b *testing.B) {
	s := New(Options{})
	defer s.Close()
	o := store.ChannelOptions{BufferLength: 100, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
	var ids []msgid.ID
	for range 100 {
		r, err := s.Publish(ctx, storetest.Key("bench"), store.Publication{Body: benchBody}, o)
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, r.Message.ID)
	}
	sub, err := s.Subscribe(ctx, storetest.Key("bench"), store.SubscribeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	buf := make([]*store.Message, 0, 10)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		msgs, _, err := storetest.Read3(sub, ids[i%90], buf[:0], 10)
		if err != nil || len(msgs) != 10 {
			b.Fatalf("Read: %d, %v", len(msgs), err)
		}
		i++
	}
}

// TestFollowGrace: messages that leave the buffer while a streaming
// subscriber has not read them stay readable to it (and only to it) for
// buffer.FollowGrace, at most buffer.FollowCap of them, and give way under memory
// pressure; with no streaming subscriber they go at once.
func TestFollowGrace(t *testing.T) {
	o := store.ChannelOptions{BufferLength: 3, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
	setup := func(t *testing.T, opt Options) (*Store, *fakeClock, store.Subscription, store.Subscription, *store.Message) {
		s, clk := newStore(t, opt)
		follower := storetest.Subscribe(t, s, storetest.Key("ch"), store.SubscribeOptions{Follow: true})
		poller := storetest.Subscribe(t, s, storetest.Key("ch"), store.SubscribeOptions{})
		first := storetest.Publish(t, s, storetest.Key("ch"), "m0", o)
		for i := 1; i < 10; i++ {
			storetest.Publish(t, s, storetest.Key("ch"), fmt.Sprintf("m%d", i), o)
		}
		return s, clk, follower, poller, first
	}
	missed := func(t *testing.T, sub store.Subscription, cursor msgid.ID) bool {
		t.Helper()
		b, err := sub.Read(cursor, nil, 100)
		if err != nil {
			t.Fatal(err)
		}
		return b.Missed
	}

	t.Run("kept for buffer.FollowGrace only", func(t *testing.T) {
		s, clk, follower, _, first := setup(t, Options{})
		clk.Advance(buffer.FollowGrace)
		if _, err := s.Info(ctx, storetest.Key("ch")); err != nil { // trims
			t.Fatal(err)
		}
		if !missed(t, follower, first.ID) {
			t.Fatal("follower still reads messages past buffer.FollowGrace")
		}
		if got, _, _ := storetest.Read(t, follower, first.ID); !slices.Equal(got, storetest.Bodies("m", 7, 9)) {
			t.Fatalf("follower read %q, want m7..m9", got)
		}
		if got, want := s.Stats().MemoryUsed, int64(channelOverhead+len("ch"))+3*first.Size(); got != want {
			t.Fatalf("MemoryUsed = %d, want %d (only the buffer)", got, want)
		}
	})

	t.Run("no follower, nothing kept", func(t *testing.T) {
		s, _ := newStore(t, Options{})
		var first *store.Message
		for i := range 10 {
			m := storetest.Publish(t, s, storetest.Key("ch"), fmt.Sprintf("m%d", i), o)
			if i == 0 {
				first = m
			}
		}
		if got, want := s.Stats().MemoryUsed, int64(channelOverhead+len("ch"))+3*first.Size(); got != want {
			t.Fatalf("MemoryUsed = %d, want %d", got, want)
		}
		// The follower's closing lets what was kept for it go.
		s2, _, follower, _, _ := setup(t, Options{})
		follower.Close()
		m := storetest.Publish(t, s2, storetest.Key("ch"), "m10", o)
		if got, want := s2.Stats().MemoryUsed, int64(channelOverhead+len("ch"))+2*first.Size()+m.Size(); got != want {
			t.Fatalf("after the follower left: MemoryUsed = %d, want %d", got, want)
		}
	})

	t.Run("at most buffer.FollowCap kept", func(t *testing.T) {
		s, _ := newStore(t, Options{})
		follower := storetest.Subscribe(t, s, storetest.Key("ch"), store.SubscribeOptions{Follow: true})
		first := storetest.Publish(t, s, storetest.Key("ch"), "m0", o)
		for i := 1; i < buffer.FollowCap+10; i++ {
			storetest.Publish(t, s, storetest.Key("ch"), fmt.Sprintf("m%d", i), o)
		}
		b, err := follower.Read(first.ID, nil, 1)
		if err != nil || !b.Missed || len(b.Messages) != 1 {
			t.Fatalf("Read = %+v, %v; want a missed batch", b, err)
		}
		// buffer.FollowCap kept past the buffer of 3; the newest is m(buffer.FollowCap+9).
		if got, want := string(b.Messages[0].Body), fmt.Sprintf("m%d", buffer.FollowCap+9-buffer.FollowCap-3+1); got != want {
			t.Fatalf("oldest readable %q, want %q", got, want)
		}
	})

	t.Run("memory pressure drops what is kept first", func(t *testing.T) {
		body := string(make([]byte, 500))
		size := (&store.Message{Body: []byte(body), ContentType: "text/plain"}).Size()
		limit := int64(channelOverhead+len("ch")) + 5*size
		s, _ := newStore(t, Options{MemoryLimit: limit})
		follower := storetest.Subscribe(t, s, storetest.Key("ch"), store.SubscribeOptions{Follow: true})
		first := storetest.Publish(t, s, storetest.Key("ch"), body, o)
		for range 9 { // would need 10 messages' memory if all were kept
			storetest.Publish(t, s, storetest.Key("ch"), body, o)
		}
		if used := s.Stats().MemoryUsed; used > limit {
			t.Fatalf("MemoryUsed %d passed the limit %d", used, limit)
		}
		if info, _ := s.Info(ctx, storetest.Key("ch")); info.Messages != 3 {
			t.Fatalf("Info.Messages = %d, want 3", info.Messages)
		}
		if !missed(t, follower, first.ID) {
			t.Fatal("follower read a message the limit forced out")
		}
	})
}

// TestEncodingsCount: the encodings a message caches for the transports
// count in the store's memory while the message is held, and no longer once
// it is dropped (whichever way it goes).
func TestEncodingsCount(t *testing.T) {
	// An encoding of 3 parts that holds 1000 bytes of its own (the rest
	// references the body).
	enc := store.Encoding{Parts: make([][]byte, 3), Own: 1000}
	encSize := enc.Size()
	encode := func(m *store.Message, slot int) {
		m.Encoded(slot, func(*store.Message) store.Encoding { return enc })
	}
	chanSize := int64(channelOverhead + len("ch"))
	tests := []struct {
		name string
		drop func(t *testing.T, s *Store, o store.ChannelOptions)
	}{
		{"deleted", func(t *testing.T, s *Store, o store.ChannelOptions) {
			if _, err := s.Delete(ctx, storetest.Key("ch")); err != nil {
				t.Fatal(err)
			}
		}},
		{"replaced in a full buffer", func(t *testing.T, s *Store, o store.ChannelOptions) {
			storetest.Publish(t, s, storetest.Key("ch"), "m1", o)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t, Options{})
			o := store.ChannelOptions{BufferLength: 1, ChannelTimeout: time.Hour}
			m := storetest.Publish(t, s, storetest.Key("ch"), "m0", o)
			base := s.Stats().MemoryUsed
			encode(m, 0)
			encode(m, 0) // cached: counted once
			encode(m, 1)
			if got, want := s.Stats().MemoryUsed, base+2*encSize; got != want {
				t.Fatalf("MemoryUsed with two encodings = %d, want %d", got, want)
			}
			tt.drop(t, s, o)
			encode(m, 2) // built after the drop: not counted
			want := int64(0)
			if tt.name != "deleted" {
				want = chanSize + (&store.Message{Body: []byte("m1"), ContentType: "text/plain"}).Size()
			}
			if got := s.Stats().MemoryUsed; got != want {
				t.Fatalf("MemoryUsed after the drop = %d, want %d", got, want)
			}
		})
	}
}

// TestRefusedPublishLeavesNoTrace: a publish refused for memory leaves the
// store as it was: no channel is made (and no ChannelCreated emitted); a
// channel a subscriber made is still not created by a publisher, with its
// options unchanged; the memory used is what it was.
func TestRefusedPublishLeavesNoTrace(t *testing.T) {
	bus := events.New()
	s, _ := newStore(t, Options{MemoryLimit: 64 << 10, Events: bus})
	huge := store.Publication{Body: make([]byte, 128<<10)}
	if _, err := s.Publish(ctx, storetest.Key("new"), huge, buffered); !errors.Is(err, store.ErrOutOfMemory) {
		t.Fatalf("Publish = %v, want ErrOutOfMemory", err)
	}
	if st := s.Stats(); st.Channels != 0 || st.MemoryUsed != 0 || bus.Count(events.ChannelCreated) != 0 {
		t.Fatalf("after a refused publish to a new channel: %+v, %d ChannelCreated", st, bus.Count(events.ChannelCreated))
	}

	sub := storetest.Subscribe(t, s, storetest.Key("subbed"), store.SubscribeOptions{})
	used := s.Stats().MemoryUsed
	if _, err := s.Publish(ctx, storetest.Key("subbed"), huge, buffered); !errors.Is(err, store.ErrOutOfMemory) {
		t.Fatalf("Publish = %v, want ErrOutOfMemory", err)
	}
	if _, err := s.Subscribe(ctx, storetest.Key("subbed"), store.SubscribeOptions{ExistingOnly: true}); !errors.Is(err, store.ErrNotCreated) {
		t.Fatalf("existing-only Subscribe to a channel only a refused publish touched = %v, want ErrNotCreated", err)
	}
	if got := s.Stats().MemoryUsed; got != used {
		t.Fatalf("MemoryUsed %d after the refused publish, was %d", got, used)
	}
	// Its buffer rules are still its own: a small publish to it is kept
	// under the options it is given, as to any subscriber-made channel.
	storetest.Publish(t, s, storetest.Key("subbed"), "fits", buffered)
	if bodies, _, _ := storetest.Read(t, sub, msgid.ID{}); len(bodies) != 1 || bodies[0] != "fits" {
		t.Fatalf("subscriber reads %q", bodies)
	}
}
