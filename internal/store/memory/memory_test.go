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

	"herald/internal/msgid"
	"herald/internal/store"
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

// read returns the bodies of every message after cursor, and whether the
// subscriber would have to wait.
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
	case <-time.After(2 * time.Second):
		return false
	}
}

func TestPublishRead(t *testing.T) {
	s, _ := newStore(t, Options{})
	var msgs []*store.Message
	for i := range 3 {
		msgs = append(msgs, publish(t, s, "ch", fmt.Sprintf("m%d", i), buffered))
	}
	wantIDs := []msgid.ID{{Time: t0.Unix(), Tag: 0}, {Time: t0.Unix(), Tag: 1}, {Time: t0.Unix(), Tag: 2}}
	for i, m := range msgs {
		if m.ID != wantIDs[i] {
			t.Errorf("message %d id %v, want %v", i, m.ID, wantIDs[i])
		}
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
		{"dash cursor of the second", msgid.ID{Time: t0.Unix(), Tag: -1}, bodies("m", 0, 2)},
		{"previous second", msgid.ID{Time: t0.Unix() - 1, Tag: msgid.MaxTag}, bodies("m", 0, 2)},
		{"at the newest waits", msgs[2].ID, nil},
		{"newer than the newest waits", msgid.ID{Time: t0.Unix() + 5}, nil},
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

	// max limits the messages returned; buf is appended to.
	buf := make([]*store.Message, 0, 4)
	got, w, err := read3(sub, msgid.ID{}, buf, 2)
	if err != nil || w != nil || len(got) != 2 || string(got[0].Body) != "m0" || string(got[1].Body) != "m1" {
		t.Fatalf("Read(zero, max 2) = %v, %v, %v", got, w, err)
	}

	info, err := s.Info(ctx, "ch")
	if err != nil {
		t.Fatal(err)
	}
	if info.Messages != 3 || info.Subscribers != 1 || info.LastMessageID != msgs[2].ID {
		t.Fatalf("Info = %+v", info)
	}
	if info.Requested(t0.Add(18*time.Second)) != 18 {
		t.Fatalf("Requested = %d, want 18", info.Requested(t0.Add(18*time.Second)))
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
	if r, err := s.Publish(ctx, "ch", store.Publication{Body: []byte("m4")}, buffered); err != nil || r.Info.Subscribers != 1 || r.Info.Messages != 5 || !r.Message.ID.After(m3.ID) {
		t.Fatalf("Publish result %+v, %v", r, err)
	}
}

func TestInfoNotFound(t *testing.T) {
	s, _ := newStore(t, Options{})
	if _, err := s.Info(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Info(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.Delete(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Delete(unknown) = %v, want ErrNotFound", err)
	}
	info, err := s.Create(ctx, "made", buffered)
	if err != nil || info.Messages != 0 || info.Subscribers != 0 || !info.LastMessageID.IsZero() || info.Requested(t0) != -1 {
		t.Fatalf("Create = %+v, %v", info, err)
	}
	if _, err := s.Info(ctx, "made"); err != nil {
		t.Fatalf("Info after Create: %v", err)
	}
}

func TestBufferTrimming(t *testing.T) {
	s, _ := newStore(t, Options{})
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
	}{
		{"zero cursor", msgid.ID{}, bodies("m", 2, 4)},
		{"cursor older than the buffer gets the oldest buffered", msgs[0].ID, bodies("m", 2, 4)},
		{"cursor of the newest dropped message", msgs[1].ID, bodies("m", 2, 4)},
		{"cursor within the buffer", msgs[2].ID, bodies("m", 3, 4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _, _ := read(t, sub, tt.cursor); !slices.Equal(got, tt.want) {
				t.Fatalf("Read(%v) = %q, want %q", tt.cursor, got, tt.want)
			}
		})
	}
	if info, _ := s.Info(ctx, "ch"); info.Messages != 3 || info.LastMessageID != msgs[4].ID {
		t.Fatalf("Info = %+v", info)
	}
	if st := s.Stats(); st.StoredMessages != 3 || st.Published != 5 {
		t.Fatalf("Stats = %+v", st)
	}

	// A publish with a shorter buffer trims the channel to it.
	publish(t, s, "ch", "m5", store.ChannelOptions{BufferLength: 1})
	if got, _, _ := read(t, sub, msgid.ID{}); !slices.Equal(got, []string{"m5"}) {
		t.Fatalf("after shrinking the buffer: %q", got)
	}
	if st := s.Stats(); st.StoredMessages != 1 {
		t.Fatalf("StoredMessages = %d, want 1", st.StoredMessages)
	}
}

func TestMessageExpiry(t *testing.T) {
	s, clk := newStore(t, Options{})
	o := store.ChannelOptions{BufferLength: 10, MessageTimeout: time.Minute, ChannelTimeout: time.Hour}
	for i := range 3 {
		publish(t, s, "ch", fmt.Sprintf("m%d", i), o)
	}
	clk.Advance(30 * time.Second)
	publish(t, s, "ch", "m3", o)
	sub := subscribe(t, s, "ch", store.SubscribeOptions{})
	if got, _, _ := read(t, sub, msgid.ID{}); !slices.Equal(got, bodies("m", 0, 3)) {
		t.Fatalf("before expiry: %q", got)
	}
	clk.Advance(31 * time.Second) // m0..m2 are 61s old, m3 31s.
	if got, _, _ := read(t, sub, msgid.ID{}); !slices.Equal(got, []string{"m3"}) {
		t.Fatalf("after the first three expired: %q", got)
	}
	if info, _ := s.Info(ctx, "ch"); info.Messages != 1 {
		t.Fatalf("Info.Messages = %d, want 1", info.Messages)
	}
	clk.Advance(30 * time.Second)
	if _, _, wait := read(t, sub, msgid.ID{}); !wait {
		t.Fatal("all expired, but the reader does not wait")
	}
	info, _ := s.Info(ctx, "ch")
	if info.Messages != 0 || info.LastMessageID.IsZero() {
		t.Fatalf("Info after expiry = %+v (last id must survive expiry)", info)
	}
	if st := s.Stats(); st.StoredMessages != 0 {
		t.Fatalf("StoredMessages = %d, want 0", st.StoredMessages)
	}

	// MessageTimeout 0: never expire.
	forever := store.ChannelOptions{BufferLength: 10, ChannelTimeout: time.Hour}
	publish(t, s, "keep", "k", forever)
	clk.Advance(1000 * time.Hour)
	if info, _ := s.Info(ctx, "keep"); info.Messages != 1 {
		t.Fatalf("message with no timeout expired: %+v", info)
	}
}

func TestMinBufferLength(t *testing.T) {
	s, clk := newStore(t, Options{})
	o := store.ChannelOptions{BufferLength: 10, MinBufferLength: 2, MessageTimeout: time.Minute, ChannelTimeout: time.Hour}
	for i := range 5 {
		publish(t, s, "ch", fmt.Sprintf("m%d", i), o)
	}
	clk.Advance(2 * time.Minute)
	if info, _ := s.Info(ctx, "ch"); info.Messages != 2 {
		t.Fatalf("Info.Messages = %d, want 2 (the minimum buffer)", info.Messages)
	}
	sub := subscribe(t, s, "ch", store.SubscribeOptions{})
	if got, _, _ := read(t, sub, msgid.ID{}); !slices.Equal(got, bodies("m", 3, 4)) {
		t.Fatalf("Read = %q, want the newest two", got)
	}
}

func TestStoreMessagesOff(t *testing.T) {
	s, clk := newStore(t, Options{})
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
	// ...but not long after.
	clk.Advance(time.Minute)
	if _, _, wait := read(t, sub, m0.ID); !wait {
		t.Fatal("unbuffered message still delivered a minute later")
	}
}

func TestStart(t *testing.T) {
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
		{"32nd of 5 is the newest", 5, 10, nth(32), "m4"},
		{"-1 is the newest", 5, 10, nth(-1), "m4"},
		{"-2 is the second newest", 5, 10, nth(-2), "m3"},
		{"-5 is the oldest", 5, 10, nth(-5), "m0"},
		{"-6 of 5 is the oldest", 5, 10, nth(-6), "m0"},
		{"2nd of 1", 1, 10, nth(2), "m0"},
		{"-2 of 1", 1, 10, nth(-2), "m0"},
		{"oldest of 1", 1, 10, oldest, "m0"},
		{"newest of 1", 1, 10, newest, ""},
		{"3rd of 2", 2, 10, nth(3), "m1"},
		{"-3 of 2", 2, 10, nth(-3), "m0"},
		{"empty oldest", 0, 10, oldest, ""},
		{"empty newest", 0, 10, newest, ""},
		{"empty 2nd", 0, 10, nth(2), ""},
		{"empty -1", 0, 10, nth(-1), ""},
		{"trimmed oldest", 5, 3, oldest, "m2"},
		{"trimmed 2nd", 5, 3, nth(2), "m3"},
		{"trimmed -1", 5, 3, nth(-1), "m4"},
		{"trimmed -3", 5, 3, nth(-3), "m2"},
		{"trimmed -4", 5, 3, nth(-4), "m2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t, Options{})
			o := store.ChannelOptions{BufferLength: tt.bufferLen, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
			if _, err := s.Create(ctx, "ch", o); err != nil {
				t.Fatal(err)
			}
			for i := range tt.published {
				publish(t, s, "ch", fmt.Sprintf("m%d", i), o)
			}
			sub := subscribe(t, s, "ch", store.SubscribeOptions{})
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
	s, _ := newStore(t, Options{})
	publish(t, s, "ch", "m0", buffered)
	m1 := publish(t, s, "ch", "m1", buffered)
	sub, err := s.Subscribe(ctx, "ch", store.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, w, err := read3(sub, m1.ID, nil, 10)
	if err != nil || w == nil {
		t.Fatalf("Read at newest = %v, %v; want a wait channel", w, err)
	}
	info, err := s.Delete(ctx, "ch")
	if err != nil || info.Messages != 2 || info.Subscribers != 1 || info.LastMessageID != m1.ID {
		t.Fatalf("Delete = %+v, %v; want the info from before the delete", info, err)
	}
	if !closed(w) {
		t.Fatal("Delete did not wake the waiting reader")
	}
	if _, _, err := read3(sub, m1.ID, nil, 10); !errors.Is(err, store.ErrGone) {
		t.Fatalf("Read after Delete = %v, want ErrGone", err)
	}
	if _, err := sub.Start(store.Start{}); !errors.Is(err, store.ErrGone) {
		t.Fatalf("Start after Delete = %v, want ErrGone", err)
	}
	if _, err := s.Info(ctx, "ch"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Info after Delete = %v, want ErrNotFound", err)
	}
	if _, err := s.Delete(ctx, "ch"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second Delete = %v, want ErrNotFound", err)
	}
	sub.Close()
	sub.Close()
	if st := s.Stats(); st.Subscribers != 0 || st.Channels != 0 || st.StoredMessages != 0 || st.MemoryUsed != 0 {
		t.Fatalf("Stats after Delete and Close = %+v", st)
	}
	// The channel can be made again, empty. (As in Nchan, its ids start
	// afresh: the first message of this second is tag 0 again.)
	publish(t, s, "ch", "again", buffered)
	if info, _ := s.Info(ctx, "ch"); info.Messages != 1 {
		t.Fatalf("re-created channel Info = %+v", info)
	}
}

func TestSubscribeExistingOnly(t *testing.T) {
	s, _ := newStore(t, Options{})
	only := store.SubscribeOptions{ExistingOnly: true}
	if _, err := s.Subscribe(ctx, "ch", only); !errors.Is(err, store.ErrNotAuthorized) {
		t.Fatalf("Subscribe before Create = %v, want ErrNotAuthorized", err)
	}
	if _, err := s.Info(ctx, "ch"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused subscribe created the channel: %v", err)
	}
	// A subscriber without the option makes the channel, but not authorized.
	sub := subscribe(t, s, "ch", store.SubscribeOptions{})
	if _, err := s.Subscribe(ctx, "ch", only); !errors.Is(err, store.ErrNotAuthorized) {
		t.Fatalf("Subscribe to a subscriber-made channel = %v, want ErrNotAuthorized", err)
	}
	sub.Close()
	if _, err := s.Create(ctx, "ch", buffered); err != nil {
		t.Fatal(err)
	}
	subscribe(t, s, "ch", only)
	// Publishing authorizes too.
	publish(t, s, "pubbed", "x", buffered)
	subscribe(t, s, "pubbed", only)
}

func TestMaxSubscribers(t *testing.T) {
	s, _ := newStore(t, Options{})
	o := store.SubscribeOptions{MaxSubscribers: 2}
	a := subscribe(t, s, "ch", o)
	subscribe(t, s, "ch", o)
	if _, err := s.Subscribe(ctx, "ch", o); !errors.Is(err, store.ErrTooManySubscribers) {
		t.Fatalf("third Subscribe = %v, want ErrTooManySubscribers", err)
	}
	if info, _ := s.Info(ctx, "ch"); info.Subscribers != 2 {
		t.Fatalf("Subscribers = %d, want 2", info.Subscribers)
	}
	a.Close()
	a.Close() // twice is harmless
	subscribe(t, s, "ch", o)
	if st := s.Stats(); st.Subscribers != 2 {
		t.Fatalf("Stats.Subscribers = %d, want 2", st.Subscribers)
	}
}

func TestConcurrencyFirst(t *testing.T) {
	s, _ := newStore(t, Options{})
	o := store.SubscribeOptions{Concurrency: store.First}
	a := subscribe(t, s, "ch", o)
	if _, err := s.Subscribe(ctx, "ch", o); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second subscriber under first = %v, want ErrConflict", err)
	}
	if _, _, wait := read(t, a, msgid.ID{}); !wait {
		t.Fatal("first subscriber disturbed")
	}
	a.Close()
	subscribe(t, s, "ch", o)
}

func TestConcurrencyLast(t *testing.T) {
	s, _ := newStore(t, Options{})
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
	a.Close()
	c := subscribe(t, s, "ch", o)
	if _, _, err := read3(b, msgid.ID{}, nil, 10); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second evicted subscriber Read = %v, want ErrConflict", err)
	}
	b.Close()
	c.Close()
	if info, _ := s.Info(ctx, "ch"); info.Subscribers != 0 {
		t.Fatalf("Subscribers = %d after all closed", info.Subscribers)
	}
}

func TestMemoryLimit(t *testing.T) {
	const limit = 2000
	s, _ := newStore(t, Options{MemoryLimit: limit})
	body := string(make([]byte, 600))
	m := &store.Message{Body: []byte(body), ContentType: "text/plain"}
	chanSize := int64(channelOverhead + len("ch"))

	publish(t, s, "ch", body, buffered)
	publish(t, s, "ch", body, buffered)
	if got, want := s.Stats().MemoryUsed, chanSize+2*m.Size(); got != want {
		t.Fatalf("MemoryUsed = %d, want %d", got, want)
	}
	_, err := s.Publish(ctx, "ch", store.Publication{Body: []byte(body), ContentType: "text/plain"}, buffered)
	if !errors.Is(err, store.ErrOutOfMemory) {
		t.Fatalf("Publish past the limit = %v, want ErrOutOfMemory", err)
	}
	st := s.Stats()
	if st.MemoryUsed > limit || st.MemoryLimit != limit || st.StoredMessages != 2 {
		t.Fatalf("Stats after refused publish = %+v", st)
	}
	if info, _ := s.Info(ctx, "ch"); info.Messages != 2 {
		t.Fatalf("refused publish changed the buffer: %+v", info)
	}

	// A publish that replaces the oldest message of a full buffer fits.
	one := store.ChannelOptions{BufferLength: 2, ChannelTimeout: time.Hour}
	publish(t, s, "ch", body, one)
	if got, want := s.Stats().MemoryUsed, chanSize+2*m.Size(); got != want {
		t.Fatalf("MemoryUsed after replacing = %d, want %d", got, want)
	}

	if _, err := s.Delete(ctx, "ch"); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().MemoryUsed; got != 0 {
		t.Fatalf("MemoryUsed after Delete = %d, want 0", got)
	}

	// A message larger than the whole limit never fits.
	huge := make([]byte, limit)
	if _, err := s.Publish(ctx, "big", store.Publication{Body: huge}, buffered); !errors.Is(err, store.ErrOutOfMemory) {
		t.Fatalf("huge Publish = %v, want ErrOutOfMemory", err)
	}
	if _, err := s.Delete(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().MemoryUsed; got != 0 {
		t.Fatalf("MemoryUsed after deleting the empty channel = %d, want 0", got)
	}
	// Channels themselves count: with the limit used up, new channels fail.
	for i := 0; ; i++ {
		_, err := s.Create(ctx, fmt.Sprintf("c%d", i), buffered)
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
		m := publish(t, s, "ch", fmt.Sprintf("message %d", i), o)
		size = m.Size()
	}
	if got, want := s.Stats().MemoryUsed, int64(channelOverhead+len("ch"))+3*size; got != want {
		t.Fatalf("MemoryUsed = %d, want %d", got, want)
	}
	clk.Advance(2 * time.Minute)
	if _, err := s.Info(ctx, "ch"); err != nil { // trims the expired messages
		t.Fatal(err)
	}
	if got, want := s.Stats().MemoryUsed, int64(channelOverhead+len("ch")); got != want {
		t.Fatalf("MemoryUsed after expiry = %d, want %d", got, want)
	}
	if _, err := s.Delete(ctx, "ch"); err != nil {
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
	if _, err := s.Create(ctx, "idle", o); err != nil {
		t.Fatal(err)
	}
	publish(t, s, "withmsgs", "x", o)
	publish(t, s, "keepmsgs", "x", store.ChannelOptions{BufferLength: 10, ChannelTimeout: time.Minute})
	subscribe(t, s, "busy", store.SubscribeOptions{ChannelTimeout: time.Minute})
	closedSub, err := s.Subscribe(ctx, "wasbusy", store.SubscribeOptions{ChannelTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Second)
	closedSub.Close() // active again at +30s

	// Let the sweeper run a few times: nothing has timed out yet.
	time.Sleep(20 * time.Millisecond)
	for _, ch := range []string{"idle", "withmsgs", "keepmsgs", "busy", "wasbusy"} {
		if _, err := s.Info(ctx, ch); err != nil {
			t.Fatalf("%s gone before its timeout: %v", ch, err)
		}
	}

	clk.Advance(45 * time.Second) // +75s
	gone := func(ch string) func() bool {
		return func() bool { _, err := s.Info(ctx, ch); return errors.Is(err, store.ErrNotFound) }
	}
	waitFor(t, "idle channel to expire", gone("idle"))
	waitFor(t, "channel whose messages expired to expire", gone("withmsgs"))
	time.Sleep(20 * time.Millisecond)
	for _, ch := range []string{"keepmsgs", "busy", "wasbusy"} {
		if _, err := s.Info(ctx, ch); err != nil {
			t.Fatalf("%s expired: %v", ch, err)
		}
	}

	clk.Advance(time.Minute) // +135s: wasbusy idle since +30s.
	waitFor(t, "channel whose subscriber left to expire", gone("wasbusy"))
	if st := s.Stats(); st.Channels != 2 {
		t.Fatalf("Stats.Channels = %d, want 2 (keepmsgs, busy)", st.Channels)
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
		m := publish(t, s, st.ch, fmt.Sprint(i), buffered)
		if m.ID != st.want {
			t.Fatalf("step %d (clock %v, channel %s): id %v, want %v", i, st.at.Unix()-T, st.ch, m.ID, st.want)
		}
	}
	sub := subscribe(t, s, "a", store.SubscribeOptions{})
	_, ids, _ := read(t, sub, msgid.ID{})
	for i := 1; i < len(ids); i++ {
		if !ids[i].After(ids[i-1]) {
			t.Fatalf("ids not increasing: %v", ids)
		}
	}
}

func TestClosedStore(t *testing.T) {
	s := New(Options{SweepInterval: time.Millisecond})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
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
	s, _ := newStore(t, Options{})
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Publish(c, "ch", store.Publication{}, buffered); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish = %v, want context.Canceled", err)
	}
	if _, err := s.Subscribe(c, "ch", store.SubscribeOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe = %v, want context.Canceled", err)
	}
}

// TestConcurrentPublishRead runs publishers and readers together (run it with
// -race): every reader sees every message of its channel exactly once, in
// increasing id order.
func TestConcurrentPublishRead(t *testing.T) {
	const (
		channels      = 4
		publishers    = 8
		perPublisher  = 300
		readersPerCh  = 2
		perChannel    = publishers / channels * perPublisher
		readBatchSize = 16
	)
	s := New(Options{SweepInterval: time.Millisecond}) // real clock, busy sweeper
	defer s.Close()
	o := store.ChannelOptions{BufferLength: perChannel, ChannelTimeout: time.Hour}
	name := func(i int) string { return fmt.Sprintf("chan-%d", i) }

	var published [channels][]msgid.ID
	var pubMu [channels]sync.Mutex
	var wg sync.WaitGroup
	type result struct {
		ch  int
		ids []msgid.ID
		err error
	}
	results := make(chan result, channels*readersPerCh)

	for c := range channels {
		for range readersPerCh {
			sub, err := s.Subscribe(ctx, name(c), store.SubscribeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer sub.Close()
				var got []msgid.ID
				var cursor msgid.ID
				buf := make([]*store.Message, 0, readBatchSize)
				for len(got) < perChannel {
					msgs, wait, err := read3(sub, cursor, buf[:0], readBatchSize)
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
			}()
		}
	}

	var pwg sync.WaitGroup
	var failed atomic.Bool
	for p := range publishers {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			c := p % channels
			for i := range perPublisher {
				r, err := s.Publish(ctx, name(c), store.Publication{Body: fmt.Appendf(nil, "%d-%d", p, i)}, o)
				if err != nil {
					failed.Store(true)
					return
				}
				pubMu[c].Lock()
				published[c] = append(published[c], r.Message.ID)
				pubMu[c].Unlock()
			}
		}()
	}
	pwg.Wait()
	if failed.Load() {
		t.Fatal("a publish failed")
	}
	wg.Wait()
	close(results)

	for c := range channels {
		slices.SortFunc(published[c], msgid.ID.Compare)
		if len(published[c]) != perChannel {
			t.Fatalf("channel %d: %d published", c, len(published[c]))
		}
		for i := 1; i < len(published[c]); i++ {
			if !published[c][i].After(published[c][i-1]) {
				t.Fatalf("channel %d: duplicate id %v", c, published[c][i])
			}
		}
	}
	n := 0
	for r := range results {
		n++
		if r.err != nil {
			t.Fatalf("reader on channel %d: %v after %d messages", r.ch, r.err, len(r.ids))
		}
		if !slices.Equal(r.ids, published[r.ch]) {
			t.Fatalf("reader on channel %d saw %d ids, not the %d published (first difference at %d)", r.ch, len(r.ids), len(published[r.ch]), firstDiff(r.ids, published[r.ch]))
		}
	}
	if n != channels*readersPerCh {
		t.Fatalf("%d reader results", n)
	}
	if st := s.Stats(); st.Published != publishers*perPublisher || st.Subscribers != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}

func firstDiff(a, b []msgid.ID) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

var benchBody = make([]byte, 64)

func BenchmarkPublish(b *testing.B) {
	s := New(Options{})
	defer s.Close()
	o := store.ChannelOptions{BufferLength: 100, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
	p := store.Publication{Body: benchBody, ContentType: "text/plain"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Publish(ctx, "bench", p, o); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPublishParallel(b *testing.B) {
	s := New(Options{})
	defer s.Close()
	o := store.ChannelOptions{BufferLength: 100, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
	p := store.Publication{Body: benchBody, ContentType: "text/plain"}
	names := make([]string, 1024)
	for i := range names {
		names[i] = fmt.Sprintf("bench-%d", i)
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
		r, err := s.Publish(ctx, "bench", store.Publication{Body: benchBody}, o)
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, r.Message.ID)
	}
	sub, err := s.Subscribe(ctx, "bench", store.SubscribeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	buf := make([]*store.Message, 0, 10)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		msgs, _, err := read3(sub, ids[i%90], buf[:0], 10)
		if err != nil || len(msgs) != 10 {
			b.Fatalf("Read: %d, %v", len(msgs), err)
		}
		i++
	}
}

// read3 unpacks a Read batch for tests that check messages and the wait channel.
func read3(sub store.Subscription, cursor msgid.ID, buf []*store.Message, max int) ([]*store.Message, <-chan struct{}, error) {
	b, err := sub.Read(cursor, buf, max)
	return b.Messages, b.Wait, err
}

// TestFollowGrace: messages that leave the buffer while a streaming
// subscriber has not read them stay readable to it (and only to it) for
// followGrace, at most followCap of them, and give way under memory
// pressure; with no streaming subscriber they go at once.
func TestFollowGrace(t *testing.T) {
	o := store.ChannelOptions{BufferLength: 3, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
	setup := func(t *testing.T, opt Options) (*Store, *fakeClock, store.Subscription, store.Subscription, *store.Message) {
		s, clk := newStore(t, opt)
		follower := subscribe(t, s, "ch", store.SubscribeOptions{Follow: true})
		poller := subscribe(t, s, "ch", store.SubscribeOptions{})
		first := publish(t, s, "ch", "m0", o)
		for i := 1; i < 10; i++ {
			publish(t, s, "ch", fmt.Sprintf("m%d", i), o)
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

	t.Run("a follower reads past the buffer, others see the buffer", func(t *testing.T) {
		s, _, follower, poller, first := setup(t, Options{})
		if got, _, _ := read(t, follower, first.ID); !slices.Equal(got, bodies("m", 1, 9)) {
			t.Fatalf("follower read %q, want m1..m9", got)
		}
		if missed(t, follower, first.ID) {
			t.Fatal("follower missed messages kept for it")
		}
		if got, _, _ := read(t, poller, first.ID); !slices.Equal(got, bodies("m", 7, 9)) {
			t.Fatalf("poller read %q, want the buffer m7..m9", got)
		}
		if !missed(t, poller, first.ID) {
			t.Fatal("poller did not see that it missed messages")
		}
		if got, _, _ := read(t, follower, msgid.ID{}); !slices.Equal(got, bodies("m", 0, 9)) {
			t.Fatalf("zero cursor read %q, want m0..m9, all published since it subscribed", got)
		}
		late := subscribe(t, s, "ch", store.SubscribeOptions{Follow: true})
		if got, _, _ := read(t, late, msgid.ID{}); !slices.Equal(got, bodies("m", 7, 9)) {
			t.Fatalf("zero cursor read of a later follower %q, want the buffer m7..m9", got)
		}
		if info, _ := s.Info(ctx, "ch"); info.Messages != 3 {
			t.Fatalf("Info.Messages = %d, want 3", info.Messages)
		}
		if st := s.Stats(); st.StoredMessages != 3 {
			t.Fatalf("StoredMessages = %d, want 3", st.StoredMessages)
		}
		sub := subscribe(t, s, "ch", store.SubscribeOptions{Follow: true})
		if c, err := sub.Start(store.Start{Kind: store.StartOldest}); err != nil || !c.IsZero() {
			t.Fatalf("Start(oldest) = %v, %v", c, err)
		}
		if c, err := sub.Start(store.Start{Kind: store.StartNth, N: 2}); err != nil {
			t.Fatal(err)
		} else if got, _, _ := read(t, sub, c); !slices.Equal(got, bodies("m", 8, 9)) {
			t.Fatalf("Start(2) then read %q, want m8..m9", got)
		}
	})

	t.Run("kept for followGrace only", func(t *testing.T) {
		s, clk, follower, _, first := setup(t, Options{})
		clk.Advance(followGrace)
		if _, err := s.Info(ctx, "ch"); err != nil { // trims
			t.Fatal(err)
		}
		if !missed(t, follower, first.ID) {
			t.Fatal("follower still reads messages past followGrace")
		}
		if got, _, _ := read(t, follower, first.ID); !slices.Equal(got, bodies("m", 7, 9)) {
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
			m := publish(t, s, "ch", fmt.Sprintf("m%d", i), o)
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
		m := publish(t, s2, "ch", "m10", o)
		if got, want := s2.Stats().MemoryUsed, int64(channelOverhead+len("ch"))+2*first.Size()+m.Size(); got != want {
			t.Fatalf("after the follower left: MemoryUsed = %d, want %d", got, want)
		}
	})

	t.Run("at most followCap kept", func(t *testing.T) {
		s, _ := newStore(t, Options{})
		follower := subscribe(t, s, "ch", store.SubscribeOptions{Follow: true})
		first := publish(t, s, "ch", "m0", o)
		for i := 1; i < followCap+10; i++ {
			publish(t, s, "ch", fmt.Sprintf("m%d", i), o)
		}
		b, err := follower.Read(first.ID, nil, 1)
		if err != nil || !b.Missed || len(b.Messages) != 1 {
			t.Fatalf("Read = %+v, %v; want a missed batch", b, err)
		}
		// followCap kept past the buffer of 3; the newest is m(followCap+9).
		if got, want := string(b.Messages[0].Body), fmt.Sprintf("m%d", followCap+9-followCap-3+1); got != want {
			t.Fatalf("oldest readable %q, want %q", got, want)
		}
	})

	t.Run("memory pressure drops what is kept first", func(t *testing.T) {
		body := string(make([]byte, 500))
		size := (&store.Message{Body: []byte(body), ContentType: "text/plain"}).Size()
		limit := int64(channelOverhead+len("ch")) + 5*size
		s, _ := newStore(t, Options{MemoryLimit: limit})
		follower := subscribe(t, s, "ch", store.SubscribeOptions{Follow: true})
		first := publish(t, s, "ch", body, o)
		for range 9 { // would need 10 messages' memory if all were kept
			publish(t, s, "ch", body, o)
		}
		if used := s.Stats().MemoryUsed; used > limit {
			t.Fatalf("MemoryUsed %d passed the limit %d", used, limit)
		}
		if info, _ := s.Info(ctx, "ch"); info.Messages != 3 {
			t.Fatalf("Info.Messages = %d, want 3", info.Messages)
		}
		if !missed(t, follower, first.ID) {
			t.Fatal("follower read a message the limit forced out")
		}
	})
}
