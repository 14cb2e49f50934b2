// Package storetest is the store.Store contract as tests that every engine
// runs against itself: the memory engine on a fake clock, the Redis engine
// against real redis-server processes. What an engine adds of its own (the
// memory limit, Redis keys and nodes) its own tests cover.
package storetest

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
	"github.com/heraldpush/herald/protocol/msgid"
)

// Engine opens stores of one engine.
type Engine struct {
	// Open returns two stores on one backend, closed when the test ends:
	// two nodes of a shared engine, or the same store twice for an engine
	// of one process. pass lets d go by for them (a fake clock's step, or a
	// sleep).
	Open func(t *testing.T) (a, b store.Store, pass func(d time.Duration))
	// Unit scales the expiry tests: long on a fake clock, about a second on
	// a real one (the tests then sleep a few units).
	Unit time.Duration
	// OpenEvents returns a store that emits on bus (one node of a shared
	// engine), closed when the test ends, and pass as Open gives it. An
	// engine that emits promptly what it aggregates (expired messages)
	// does so within a few seconds.
	OpenEvents func(t *testing.T, bus *events.Bus) (s store.Store, pass func(d time.Duration))
	// Relayed says that the two stores Open gives learn of each other's
	// changes asynchronously (the Redis engine's nostore mode relays them
	// over pubsub): the checks of one store after a change on the other
	// wait for it, a few seconds at most, instead of reading at once.
	Relayed bool
	// Except names the contract items (Run's names) that cannot hold for
	// the engine by its nature, each with the reason, which the test
	// states as it skips the item.
	Except map[string]string
	// OpenFull, when set, returns a store (closed when the test ends)
	// that refuses for memory (ErrOutOfMemory) a publish of a body of
	// size bytes to a channel that does not exist; the contract's
	// RefusedPublishLeavesNoTrace runs on it.
	OpenFull func(t *testing.T) (s store.Store, size int)
}

// Run runs the contract.
func Run(t *testing.T, e Engine) {
	tests := []struct {
		name string
		f    func(*testing.T, Engine)
	}{
		{"PublishRead", testPublishRead},
		{"MessageFields", testMessageFields},
		{"Numbers", testNumbers},
		{"InfoNotFound", testInfoNotFound},
		{"BufferTrimming", testBufferTrimming},
		{"MessageExpiry", testMessageExpiry},
		{"MinBufferLength", testMinBufferLength},
		{"StoreMessagesOff", testStoreMessagesOff},
		{"Start", testStart},
		{"DeleteWakesReader", testDeleteWakesReader},
		{"SubscribeExistingOnly", testSubscribeExistingOnly},
		{"MaxSubscribers", testMaxSubscribers},
		{"ConcurrencyFirst", testConcurrencyFirst},
		{"ConcurrencyLast", testConcurrencyLast},
		{"ClosedStore", testClosedStore},
		{"CanceledContext", testCanceledContext},
		{"Follow", testFollow},
		{"List", testList},
		{"Events", testEvents},
		{"GroupStats", testGroupStats},
		{"GroupStatsShared", testGroupStatsShared},
		{"GroupLimits", testGroupLimits},
		{"RefusedPublishLeavesNoTrace", testRefusedPublishLeavesNoTrace},
		{"ConcurrentPublishRead", func(t *testing.T, e Engine) {
			a, b, _ := e.Open(t)
			ConcurrentPublishRead(t, a, b)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if why, ok := e.Except[tt.name]; ok {
				t.Skipf("does not hold for this engine: %s", why)
			}
			tt.f(t, e)
		})
	}
}

var ctx = context.Background()

// Buffered is the channel setting most tests use.
var Buffered = store.ChannelOptions{BufferLength: 10, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}

// Key returns the key of channel id in the default group.
func Key(id string) store.ChannelKey { return store.ChannelKey{ID: id} }

// Publish publishes body to ch and checks the answer.
func Publish(t testing.TB, s store.Store, ch store.ChannelKey, body string, o store.ChannelOptions) *store.Message {
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

// Subscribe subscribes to ch and closes the subscription when the test ends.
func Subscribe(t testing.TB, s store.Store, ch store.ChannelKey, o store.SubscribeOptions) store.Subscription {
	t.Helper()
	sub, err := s.Subscribe(ctx, ch, o)
	if err != nil {
		t.Fatalf("Subscribe(%s): %v", ch, err)
	}
	t.Cleanup(sub.Close)
	return sub
}

// Read3 is Subscription.Read with its batch taken apart.
func Read3(sub store.Subscription, cursor msgid.ID, buf []*store.Message, max int) ([]*store.Message, <-chan struct{}, error) {
	b, err := sub.Read(cursor, buf, max)
	return b.Messages, b.Wait, err
}

// Read returns the bodies and ids of every message after cursor, and
// whether the subscriber would have to wait.
func Read(t testing.TB, sub store.Subscription, cursor msgid.ID) (bodies []string, ids []msgid.ID, wait bool) {
	t.Helper()
	msgs, w, err := Read3(sub, cursor, nil, 1000)
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

// ReadAll reads until the subscriber has n messages after cursor, waiting
// as a subscriber does (5 s at most).
func ReadAll(t testing.TB, sub store.Subscription, cursor msgid.ID, n int) []*store.Message {
	t.Helper()
	var got []*store.Message
	deadline := time.After(5 * time.Second)
	for len(got) < n {
		msgs, w, err := Read3(sub, cursor, nil, 100)
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

// Bodies returns prefix+from ... prefix+to.
func Bodies(prefix string, from, to int) []string {
	var b []string
	for i := from; i <= to; i++ {
		b = append(b, fmt.Sprintf("%s%d", prefix, i))
	}
	return b
}

// Closed reports whether c is closed within 3 seconds.
func Closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	case <-time.After(3 * time.Second):
		return false
	}
}

// Eventually polls cond until it holds, failing after 5 seconds.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testPublishRead(t *testing.T, e Engine) {
	s, _, _ := e.Open(t)
	var msgs []*store.Message
	for i := range 3 {
		msgs = append(msgs, Publish(t, s, Key("ch"), fmt.Sprintf("m%d", i), Buffered))
	}
	for i := 1; i < len(msgs); i++ {
		if !msgs[i].ID.After(msgs[i-1].ID) || msgs[i].Seq <= msgs[i-1].Seq {
			t.Fatalf("ids not increasing: %v then %v (seq %d, %d)", msgs[i-1].ID, msgs[i].ID, msgs[i-1].Seq, msgs[i].Seq)
		}
	}
	sub := Subscribe(t, s, Key("ch"), store.SubscribeOptions{})
	tests := []struct {
		name   string
		cursor msgid.ID
		want   []string
	}{
		{"zero cursor reads from the oldest", msgid.ID{}, Bodies("m", 0, 2)},
		{"after the first", msgs[0].ID, Bodies("m", 1, 2)},
		{"after the second", msgs[1].ID, Bodies("m", 2, 2)},
		{"dash cursor of the first's second", msgid.ID{Time: msgs[0].ID.Time, Tag: -1}, Bodies("m", 0, 2)},
		{"previous second", msgid.ID{Time: msgs[0].ID.Time - 1, Tag: msgid.MaxTag}, Bodies("m", 0, 2)},
		{"at the newest waits", msgs[2].ID, nil},
		{"newer than the newest waits", msgid.ID{Time: msgs[2].ID.Time + 5}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, wait := Read(t, sub, tt.cursor)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Read(%v) = %q, want %q", tt.cursor, got, tt.want)
			}
			if wait != (tt.want == nil) {
				t.Fatalf("Read(%v) wait = %v", tt.cursor, wait)
			}
		})
	}
	// max limits the messages returned; buf is appended to.
	got, w, err := Read3(sub, msgid.ID{}, make([]*store.Message, 0, 4), 2)
	if err != nil || w != nil || len(got) != 2 || string(got[0].Body) != "m0" || string(got[1].Body) != "m1" {
		t.Fatalf("Read(zero, max 2) = %v, %v, %v", got, w, err)
	}
	if got[0].ContentType != "text/plain" || got[0].Seq != msgs[0].Seq {
		t.Fatalf("message fields %+v, want content type and seq of %+v", got[0], msgs[0])
	}

	info, err := s.Info(ctx, Key("ch"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Messages != 3 || info.Subscribers != 1 || info.LastMessageID != msgs[2].ID || info.LastRequested.IsZero() {
		t.Fatalf("Info = %+v", info)
	}

	// A publish wakes a waiting reader.
	_, w, _ = Read3(sub, msgs[2].ID, nil, 10)
	if w == nil {
		t.Fatal("no wait channel at the newest message")
	}
	m3 := Publish(t, s, Key("ch"), "m3", Buffered)
	if !Closed(w) {
		t.Fatal("publish did not wake the reader")
	}
	if got, _, _ := Read(t, sub, msgs[2].ID); !slices.Equal(got, []string{"m3"}) {
		t.Fatalf("after wake: %q", got)
	}
	r, err := s.Publish(ctx, Key("ch"), store.Publication{Body: []byte("m4"), EventName: "ev"}, Buffered)
	if err != nil || r.Info.Subscribers != 1 || r.Info.Messages != 5 || !r.Message.ID.After(m3.ID) || r.Info.LastRequested.IsZero() {
		t.Fatalf("Publish result %+v, %v", r, err)
	}
	if got := ReadAll(t, sub, m3.ID, 1); got[0].EventName != "ev" {
		t.Fatalf("event name %q", got[0].EventName)
	}
}

// testMessageFields: what a publisher sends besides the body (content type,
// event name, event id, the WebSocket compression its location asks for)
// and the message's number in its channel reach the other store's
// subscribers, whether they were waiting for the message or subscribe
// after it was published.
func testMessageFields(t *testing.T, e Engine) {
	a, b, _ := e.Open(t)
	p := store.Publication{Body: []byte("fields"), ContentType: "application/json", EventName: "ev", EventID: "id-1", Deflate: 6}
	check := func(what string, m *store.Message) {
		t.Helper()
		if string(m.Body) != "fields" || m.ContentType != p.ContentType || m.EventName != p.EventName || m.EventID != p.EventID || m.Deflate != p.Deflate || m.Number != 1 {
			t.Fatalf("%s: message %q type %q event %q id %q deflate %d number %d, want %+v and number 1", what, m.Body, m.ContentType, m.EventName, m.EventID, m.Deflate, m.Number, p)
		}
	}
	waiting := Subscribe(t, b, Key("live"), store.SubscribeOptions{Follow: true})
	if _, err := a.Publish(ctx, Key("live"), p, Buffered); err != nil {
		t.Fatal(err)
	}
	check("a waiting subscriber", ReadAll(t, waiting, msgid.ID{}, 1)[0])
	if _, err := a.Publish(ctx, Key("stored"), p, Buffered); err != nil {
		t.Fatal(err)
	}
	if e.Relayed {
		return // the other store keeps only what it followed
	}
	late := Subscribe(t, b, Key("stored"), store.SubscribeOptions{})
	check("a later subscriber", ReadAll(t, late, msgid.ID{}, 1)[0])
}

// testNumbers: each channel numbers its messages 1, 2, 3... (every
// publish counts, stored or not), Info.Published is the count, a create
// counts nothing, and a channel deleted and made again counts from 1.
func testNumbers(t *testing.T, e Engine) {
	a, b, _ := e.Open(t)
	follow := Subscribe(t, b, Key("n"), store.SubscribeOptions{Follow: true})
	for i := uint64(1); i <= 3; i++ {
		r, err := a.Publish(ctx, Key("n"), store.Publication{Body: []byte(fmt.Sprint(i)), EventID: fmt.Sprintf("e%d", i)}, Buffered)
		if err != nil || r.Message.Number != i || r.Info.Published != i {
			t.Fatalf("publish %d: number %d, published %d, %v", i, r.Message.Number, r.Info.Published, err)
		}
	}
	for i, m := range ReadAll(t, follow, msgid.ID{}, 3) {
		if m.Number != uint64(i+1) || m.EventID != fmt.Sprintf("e%d", i+1) {
			t.Fatalf("the other store's subscriber read message %d as number %d, event id %q", i+1, m.Number, m.EventID)
		}
	}
	published := func(s store.Store, ch string) uint64 {
		info, err := s.Info(ctx, Key(ch))
		if err != nil {
			t.Fatalf("Info(%s): %v", ch, err)
		}
		return info.Published
	}
	if got := published(a, "n"); got != 3 {
		t.Fatalf("Info.Published = %d, want 3", got)
	}
	Eventually(t, "the other store's count", func() bool { return published(b, "n") == 3 })
	if m := Publish(t, a, Key("other"), "x", Buffered); m.Number != 1 {
		t.Fatalf("another channel's first message is number %d", m.Number)
	}
	off := store.ChannelOptions{BufferLength: 0, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
	for i := uint64(1); i <= 2; i++ {
		if m := Publish(t, a, Key("off"), "x", off); m.Number != i {
			t.Fatalf("unstored message %d is number %d", i, m.Number)
		}
	}
	if info, err := a.Info(ctx, Key("off")); err != nil || info.Published != 2 || info.Messages != 0 {
		t.Fatalf("Info of a channel that stores nothing = %+v, %v; want 2 published, 0 stored", info, err)
	}
	made, err := a.Create(ctx, Key("made"), Buffered)
	if err != nil || made.Published != 0 || made.Created.IsZero() {
		t.Fatalf("Create = %+v, %v; want 0 published and when it was made", made, err)
	}
	// (engines that convert another clock's reading may differ by a little)
	if info, err := a.Info(ctx, Key("made")); err != nil || info.Created.Sub(made.Created).Abs() > time.Second {
		t.Fatalf("Info = %+v, %v; want made at %v", info, err, made.Created)
	}
	if m := Publish(t, a, Key("made"), "x", Buffered); m.Number != 1 {
		t.Fatalf("first message of a created channel is number %d", m.Number)
	}
	if _, err := a.Delete(ctx, Key("n")); err != nil {
		t.Fatal(err)
	}
	if m := Publish(t, a, Key("n"), "again", Buffered); m.Number != 1 {
		t.Fatalf("a channel made again starts at number %d", m.Number)
	}
	if got := published(a, "n"); got != 1 {
		t.Fatalf("Info.Published of a channel made again = %d", got)
	}
}

func testInfoNotFound(t *testing.T, e Engine) {
	s, _, _ := e.Open(t)
	if _, err := s.Info(ctx, Key("nope")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Info(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.Delete(ctx, Key("nope")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Delete(unknown) = %v, want ErrNotFound", err)
	}
	info, err := s.Create(ctx, Key("made"), Buffered)
	if err != nil || info.Messages != 0 || info.Subscribers != 0 || !info.LastMessageID.IsZero() || !info.LastRequested.IsZero() {
		t.Fatalf("Create = %+v, %v", info, err)
	}
	if _, err := s.Info(ctx, Key("made")); err != nil {
		t.Fatalf("Info after Create: %v", err)
	}
}

func testBufferTrimming(t *testing.T, e Engine) {
	s, _, _ := e.Open(t)
	o := store.ChannelOptions{BufferLength: 3, ChannelTimeout: time.Hour}
	var msgs []*store.Message
	for i := range 5 {
		msgs = append(msgs, Publish(t, s, Key("ch"), fmt.Sprintf("m%d", i), o))
	}
	sub := Subscribe(t, s, Key("ch"), store.SubscribeOptions{})
	tests := []struct {
		name   string
		cursor msgid.ID
		want   []string
		missed bool
	}{
		{"zero cursor", msgid.ID{}, Bodies("m", 2, 4), false},
		{"cursor older than the buffer gets the oldest buffered", msgs[0].ID, Bodies("m", 2, 4), true},
		{"cursor of the newest dropped message", msgs[1].ID, Bodies("m", 2, 4), false},
		{"cursor within the buffer", msgs[2].ID, Bodies("m", 3, 4), false},
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
	if info, _ := s.Info(ctx, Key("ch")); info.Messages != 3 || info.LastMessageID != msgs[4].ID {
		t.Fatalf("Info = %+v", info)
	}
	if st := s.Stats(); st.StoredMessages != 3 {
		t.Fatalf("StoredMessages = %d, want 3", st.StoredMessages)
	}
	// A publish with a shorter buffer trims the channel to it.
	m5 := Publish(t, s, Key("ch"), "m5", store.ChannelOptions{BufferLength: 1, ChannelTimeout: time.Hour})
	Eventually(t, "the buffer to shrink", func() bool {
		got, _, _ := Read(t, sub, msgid.ID{})
		return slices.Equal(got, []string{"m5"})
	})
	if info, _ := s.Info(ctx, Key("ch")); info.Messages != 1 || info.LastMessageID != m5.ID {
		t.Fatalf("Info = %+v", info)
	}
}

func testMessageExpiry(t *testing.T, e Engine) {
	s, _, pass := e.Open(t)
	u := e.Unit
	o := store.ChannelOptions{BufferLength: 10, MessageTimeout: 3 * u / 2, ChannelTimeout: time.Hour}
	for i := range 3 {
		Publish(t, s, Key("ch"), fmt.Sprintf("m%d", i), o)
	}
	pass(8 * u / 10)
	Publish(t, s, Key("ch"), "m3", o)
	sub := Subscribe(t, s, Key("ch"), store.SubscribeOptions{})
	if got, _, _ := Read(t, sub, msgid.ID{}); !slices.Equal(got, Bodies("m", 0, 3)) {
		t.Fatalf("before expiry: %q", got)
	}
	pass(9 * u / 10) // m0..m2 are 1.7 units old, m3 0.9.
	if got, _, _ := Read(t, sub, msgid.ID{}); !slices.Equal(got, []string{"m3"}) {
		t.Fatalf("after the first three expired: %q", got)
	}
	if info, _ := s.Info(ctx, Key("ch")); info.Messages != 1 {
		t.Fatalf("Info.Messages = %d, want 1", info.Messages)
	}
	pass(8 * u / 10)
	if _, _, wait := Read(t, sub, msgid.ID{}); !wait {
		t.Fatal("all expired, but the reader does not wait")
	}
	info, _ := s.Info(ctx, Key("ch"))
	if info.Messages != 0 || info.LastMessageID.IsZero() {
		t.Fatalf("Info after expiry = %+v (last id must survive expiry)", info)
	}
	if st := s.Stats(); st.StoredMessages != 0 {
		t.Fatalf("StoredMessages = %d, want 0", st.StoredMessages)
	}

	// MessageTimeout 0: never expire.
	forever := store.ChannelOptions{BufferLength: 10, ChannelTimeout: time.Hour}
	Publish(t, s, Key("keep"), "k", forever)
	pass(11 * u / 10)
	if info, err := s.Info(ctx, Key("keep")); err != nil || info.Messages != 1 {
		t.Fatalf("message with no timeout expired: %+v, %v", info, err)
	}
}

func testMinBufferLength(t *testing.T, e Engine) {
	s, _, pass := e.Open(t)
	o := store.ChannelOptions{BufferLength: 10, MinBufferLength: 2, MessageTimeout: e.Unit, ChannelTimeout: time.Hour}
	for i := range 5 {
		Publish(t, s, Key("ch"), fmt.Sprintf("m%d", i), o)
	}
	pass(11 * e.Unit / 10)
	if info, _ := s.Info(ctx, Key("ch")); info.Messages != 2 {
		t.Fatalf("Info.Messages = %d, want 2 (the minimum buffer)", info.Messages)
	}
	sub := Subscribe(t, s, Key("ch"), store.SubscribeOptions{})
	if got, _, _ := Read(t, sub, msgid.ID{}); !slices.Equal(got, Bodies("m", 3, 4)) {
		t.Fatalf("Read = %q, want the newest two", got)
	}
}

func testStoreMessagesOff(t *testing.T, e Engine) {
	s, _, _ := e.Open(t)
	off := store.ChannelOptions{BufferLength: 0, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
	m0 := Publish(t, s, Key("ch"), "m0", off)
	info, err := s.Info(ctx, Key("ch"))
	if err != nil || info.Messages != 0 || info.LastMessageID != m0.ID {
		t.Fatalf("Info = %+v, %v; want 0 messages and last id %v", info, err, m0.ID)
	}
	sub := Subscribe(t, s, Key("ch"), store.SubscribeOptions{})
	for _, st := range []store.Start{{Kind: store.StartOldest}, {Kind: store.StartNewest}, {Kind: store.StartNth, N: 2}, {Kind: store.StartNth, N: -1}} {
		cur, err := sub.Start(st)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, wait := Read(t, sub, cur); !wait {
			t.Fatalf("Start(%v) on an unbuffered channel does not wait", st)
		}
	}
	cur, _ := sub.Start(store.Start{Kind: store.StartOldest})
	_, w, _ := Read3(sub, cur, nil, 10)
	m1 := Publish(t, s, Key("ch"), "m1", off)
	if !Closed(w) {
		t.Fatal("publish did not wake the waiting reader")
	}
	if got, _, _ := Read(t, sub, cur); !slices.Equal(got, []string{"m1"}) {
		t.Fatalf("Read(start) = %q, want [m1]", got)
	}
	// A subscriber between two requests still gets what was published meanwhile.
	if got, _, _ := Read(t, sub, m0.ID); !slices.Equal(got, []string{"m1"}) {
		t.Fatalf("Read(cursor at m0) = %q, want [m1]", got)
	}
	if info, _ := s.Info(ctx, Key("ch")); info.Messages != 0 || info.LastMessageID != m1.ID {
		t.Fatalf("Info = %+v", info)
	}
}

func testStart(t *testing.T, e Engine) {
	s, _, _ := e.Open(t)
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
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := Key(fmt.Sprintf("start%d", i))
			o := store.ChannelOptions{BufferLength: tt.bufferLen, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
			if _, err := s.Create(ctx, ch, o); err != nil {
				t.Fatal(err)
			}
			for i := range tt.published {
				Publish(t, s, ch, fmt.Sprintf("m%d", i), o)
			}
			sub := Subscribe(t, s, ch, store.SubscribeOptions{})
			cur, err := sub.Start(tt.start)
			if err != nil {
				t.Fatalf("Start(%v): %v", tt.start, err)
			}
			got, _, wait := Read(t, sub, cur)
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

func testDeleteWakesReader(t *testing.T, e Engine) {
	s, other, _ := e.Open(t)
	Publish(t, s, Key("ch"), "m0", Buffered)
	m1 := Publish(t, s, Key("ch"), "m1", Buffered)
	sub, err := s.Subscribe(ctx, Key("ch"), store.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	osub := Subscribe(t, other, Key("ch"), store.SubscribeOptions{})
	_, w, err := Read3(sub, m1.ID, nil, 10)
	if err != nil || w == nil {
		t.Fatalf("Read at newest = %v, %v; want a wait channel", w, err)
	}
	_, ow, _ := Read3(osub, m1.ID, nil, 10)
	info, err := s.Delete(ctx, Key("ch"))
	if err != nil || info.Messages != 2 || info.Subscribers != 2 || info.LastMessageID != m1.ID {
		t.Fatalf("Delete = %+v, %v; want the info from before the delete", info, err)
	}
	if !Closed(w) || !Closed(ow) {
		t.Fatal("Delete did not wake the waiting readers")
	}
	for _, x := range []store.Subscription{sub, osub} {
		if _, _, err := Read3(x, m1.ID, nil, 10); !errors.Is(err, store.ErrGone) {
			t.Fatalf("Read after Delete = %v, want ErrGone", err)
		}
		if _, err := x.Start(store.Start{}); !errors.Is(err, store.ErrGone) {
			t.Fatalf("Start after Delete = %v, want ErrGone", err)
		}
	}
	if _, err := s.Info(ctx, Key("ch")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Info after Delete = %v, want ErrNotFound", err)
	}
	if _, err := s.Delete(ctx, Key("ch")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second Delete = %v, want ErrNotFound", err)
	}
	sub.Close()
	sub.Close()
	osub.Close()
	if st := s.Stats(); st.Subscribers != 0 || st.StoredMessages != 0 {
		t.Fatalf("Stats after Delete and Close = %+v", st)
	}
	// The channel can be made again, empty; its ids continue past the old ones.
	again := Publish(t, other, Key("ch"), "again", Buffered)
	if !again.ID.After(m1.ID) {
		t.Fatalf("re-created channel id %v not after %v", again.ID, m1.ID)
	}
	if e.Relayed {
		Eventually(t, "the re-created channel on the other store", func() bool {
			info, _ := s.Info(ctx, Key("ch"))
			return info.Messages == 1
		})
	}
	if info, _ := s.Info(ctx, Key("ch")); info.Messages != 1 {
		t.Fatalf("re-created channel Info = %+v", info)
	}
	nsub := Subscribe(t, s, Key("ch"), store.SubscribeOptions{})
	if got, _, _ := Read(t, nsub, msgid.ID{}); !slices.Equal(got, []string{"again"}) {
		t.Fatalf("re-created channel reads %q", got)
	}
}

func testSubscribeExistingOnly(t *testing.T, e Engine) {
	s, _, _ := e.Open(t)
	only := store.SubscribeOptions{ExistingOnly: true}
	if _, err := s.Subscribe(ctx, Key("ch"), only); !errors.Is(err, store.ErrNotCreated) {
		t.Fatalf("Subscribe before Create = %v, want ErrNotCreated", err)
	}
	if _, err := s.Info(ctx, Key("ch")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused subscribe created the channel: %v", err)
	}
	// A subscriber without the option makes the channel, but not authorized.
	sub := Subscribe(t, s, Key("ch"), store.SubscribeOptions{})
	if _, err := s.Subscribe(ctx, Key("ch"), only); !errors.Is(err, store.ErrNotCreated) {
		t.Fatalf("Subscribe to a subscriber-made channel = %v, want ErrNotCreated", err)
	}
	sub.Close()
	if _, err := s.Create(ctx, Key("ch"), Buffered); err != nil {
		t.Fatal(err)
	}
	Subscribe(t, s, Key("ch"), only)
	// Publishing authorizes too.
	Publish(t, s, Key("pubbed"), "x", Buffered)
	Subscribe(t, s, Key("pubbed"), only)
}

func testMaxSubscribers(t *testing.T, e Engine) {
	a, b, _ := e.Open(t)
	o := store.SubscribeOptions{MaxSubscribers: 2}
	x := Subscribe(t, a, Key("ch"), o)
	Subscribe(t, b, Key("ch"), o) // the limit counts every node's subscribers
	if _, err := a.Subscribe(ctx, Key("ch"), o); !errors.Is(err, store.ErrTooManySubscribers) {
		t.Fatalf("third Subscribe = %v, want ErrTooManySubscribers", err)
	}
	if _, err := b.Subscribe(ctx, Key("ch"), o); !errors.Is(err, store.ErrTooManySubscribers) {
		t.Fatalf("third Subscribe on the other node = %v, want ErrTooManySubscribers", err)
	}
	if info, _ := a.Info(ctx, Key("ch")); info.Subscribers != 2 {
		t.Fatalf("Subscribers = %d, want 2", info.Subscribers)
	}
	x.Close()
	x.Close() // twice is harmless
	Eventually(t, "the count to drop", func() bool {
		info, _ := b.Info(ctx, Key("ch"))
		return info.Subscribers == 1
	})
	Subscribe(t, b, Key("ch"), o)
}

func testConcurrencyFirst(t *testing.T, e Engine) {
	s, other, _ := e.Open(t)
	o := store.SubscribeOptions{Concurrency: store.First}
	a := Subscribe(t, s, Key("ch"), o)
	if _, err := s.Subscribe(ctx, Key("ch"), o); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second subscriber under first = %v, want ErrConflict", err)
	}
	if _, err := other.Subscribe(ctx, Key("ch"), o); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second subscriber on another node = %v, want ErrConflict", err)
	}
	if _, _, wait := Read(t, a, msgid.ID{}); !wait {
		t.Fatal("first subscriber disturbed")
	}
	a.Close()
	Eventually(t, "the first subscriber to leave", func() bool {
		sub, err := other.Subscribe(ctx, Key("ch"), o)
		if err == nil {
			sub.Close()
		}
		return err == nil
	})
}

func testConcurrencyLast(t *testing.T, e Engine) {
	s, other, _ := e.Open(t)
	o := store.SubscribeOptions{Concurrency: store.Last}
	a := Subscribe(t, s, Key("ch"), o)
	_, w, err := Read3(a, msgid.ID{}, nil, 10)
	if err != nil || w == nil {
		t.Fatalf("Read = %v, %v", w, err)
	}
	b := Subscribe(t, s, Key("ch"), o)
	if !Closed(w) {
		t.Fatal("newcomer did not wake the evicted subscriber")
	}
	if _, _, err := Read3(a, msgid.ID{}, nil, 10); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("evicted subscriber Read = %v, want ErrConflict", err)
	}
	if _, _, wait := Read(t, b, msgid.ID{}); !wait {
		t.Fatal("newest subscriber cannot read")
	}
	_, w, _ = Read3(b, msgid.ID{}, nil, 10)
	c := Subscribe(t, other, Key("ch"), o) // a newcomer on another node evicts b
	if !Closed(w) {
		t.Fatal("a newcomer on another node did not wake the evicted subscriber")
	}
	if _, _, err := Read3(b, msgid.ID{}, nil, 10); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second evicted subscriber Read = %v, want ErrConflict", err)
	}
	if _, _, wait := Read(t, c, msgid.ID{}); !wait {
		t.Fatal("newest subscriber cannot read")
	}
	a.Close()
	b.Close()
	c.Close()
	Eventually(t, "every subscriber to leave", func() bool {
		info, _ := s.Info(ctx, Key("ch"))
		return info.Subscribers == 0
	})
}

func testClosedStore(t *testing.T, e Engine) {
	s, _, _ := e.Open(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(ctx, Key("ch"), store.Publication{}, Buffered); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Publish after Close = %v", err)
	}
	if _, err := s.Subscribe(ctx, Key("ch"), store.SubscribeOptions{}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Subscribe after Close = %v", err)
	}
	if _, err := s.Create(ctx, Key("ch"), Buffered); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Create after Close = %v", err)
	}
}

func testCanceledContext(t *testing.T, e Engine) {
	s, _, _ := e.Open(t)
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Publish(c, Key("ch"), store.Publication{}, Buffered); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish = %v, want context.Canceled", err)
	}
	if _, err := s.Subscribe(c, Key("ch"), store.SubscribeOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe = %v, want context.Canceled", err)
	}
}

// testFollow: messages that leave the buffer while a streaming subscriber
// (Follow) has not read them stay readable to it, and only to it.
func testFollow(t *testing.T, e Engine) {
	s, other, _ := e.Open(t)
	o := store.ChannelOptions{BufferLength: 3, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
	follower := Subscribe(t, s, Key("ch"), store.SubscribeOptions{Follow: true})
	poller := Subscribe(t, s, Key("ch"), store.SubscribeOptions{})
	var first *store.Message
	for i := range 10 {
		m := Publish(t, other, Key("ch"), fmt.Sprintf("m%d", i), o)
		if i == 0 {
			first = m
		}
	}
	var got []string
	for _, m := range ReadAll(t, follower, first.ID, 9) {
		got = append(got, string(m.Body))
	}
	if !slices.Equal(got, Bodies("m", 1, 9)) {
		t.Fatalf("follower read %q, want m1..m9", got)
	}
	if b, err := follower.Read(first.ID, nil, 100); err != nil || b.Missed {
		t.Fatalf("follower Read = missed %v, %v; want nothing missed", b.Missed, err)
	}
	b, err := poller.Read(first.ID, nil, 100)
	if err != nil || !b.Missed || len(b.Messages) != 3 || string(b.Messages[0].Body) != "m7" {
		t.Fatalf("poller Read = %d messages, missed %v, %v; want m7..m9 and missed", len(b.Messages), b.Missed, err)
	}
	if all, _, _ := Read(t, follower, msgid.ID{}); !slices.Equal(all, Bodies("m", 0, 9)) {
		t.Fatalf("follower's zero cursor read %q, want m0..m9, all published since it subscribed", all)
	}
	late := Subscribe(t, s, Key("ch"), store.SubscribeOptions{Follow: true})
	if buf, _, _ := Read(t, late, msgid.ID{}); !slices.Equal(buf, Bodies("m", 7, 9)) {
		t.Fatalf("a later follower's zero cursor read %q, want the buffer m7..m9", buf)
	}
	if info, err := s.Info(ctx, Key("ch")); err != nil || info.Messages != 3 {
		t.Fatalf("Info = %+v, %v; want 3 messages", info, err)
	}
	if st := s.Stats(); st.StoredMessages != 3 {
		t.Fatalf("StoredMessages = %d, want 3", st.StoredMessages)
	}
}

// ConcurrentPublishRead publishes from 6 goroutines (alternately on a and
// b) into 3 channels while 2 readers per channel (alternately on a and b)
// follow them, and checks that every reader sees every message once, in id
// order, and that no id is issued twice. Run runs it on the stores Open
// gives; an engine may run it on other stores too (a real clock, a busy
// sweeper).
func ConcurrentPublishRead(t *testing.T, a, b store.Store) {
	const (
		channels     = 3
		publishers   = 6
		perPublisher = 100
		readersPerCh = 2
		perChannel   = publishers / channels * perPublisher
		batch        = 16
	)
	nodes := []store.Store{a, b}
	o := store.ChannelOptions{BufferLength: perChannel, ChannelTimeout: time.Hour, MessageTimeout: time.Hour}
	name := func(i int) store.ChannelKey { return store.ChannelKey{Group: "g", ID: fmt.Sprintf("chan-%d", i)} }
	var published [channels][]msgid.ID
	var pubMu [channels]sync.Mutex
	type result struct {
		ch  int
		ids []msgid.ID
		err error
	}
	results := make(chan result, channels*readersPerCh)
	var wg sync.WaitGroup
	for c := range channels {
		for r := range readersPerCh {
			sub := Subscribe(t, nodes[r%2], name(c), store.SubscribeOptions{})
			wg.Go(func() {
				defer sub.Close()
				var got []msgid.ID
				var cursor msgid.ID
				buf := make([]*store.Message, 0, batch)
				for len(got) < perChannel {
					msgs, wait, err := Read3(sub, cursor, buf[:0], batch)
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
	var pwg sync.WaitGroup
	var failed atomic.Value
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
		if len(published[c]) != perChannel || len(slices.Compact(slices.Clone(published[c]))) != perChannel {
			t.Fatalf("channel %d: %d published, or an id issued twice", c, len(published[c]))
		}
	}
	n := 0
	for r := range results {
		n++
		if r.err != nil {
			t.Fatalf("reader on channel %d: %v after %d messages", r.ch, r.err, len(r.ids))
		}
		if !slices.Equal(r.ids, published[r.ch]) {
			t.Fatalf("reader on channel %d saw %d ids, not the %d published", r.ch, len(r.ids), len(published[r.ch]))
		}
	}
	if n != channels*readersPerCh {
		t.Fatalf("%d reader results", n)
	}
}

func testList(t *testing.T, e Engine) {
	a, b, _ := e.Open(t)
	if _, ok := a.(store.Lister); !ok {
		t.Skip("the engine does not list channels")
	}
	List(t, a, b)
}

// List checks a Lister (a) on two nodes of an engine with no channels yet:
// it lists the channels of every node in key order, a group and an id
// prefix at a time, in pages that follow each other, with their info. Run
// runs it on the stores Open gives; an engine may run it on other stores
// too (a cluster).
func List(t *testing.T, a, b store.Store) {
	l := a.(store.Lister)
	var all []store.ChannelKey
	for i, g := range []string{"", "g", "g-2"} {
		for j := range 12 {
			k := store.ChannelKey{Group: g, ID: fmt.Sprintf("%c-%02d", "ab"[j%2], j)}
			all = append(all, k)
			if _, err := []store.Store{a, b}[(i+j)%2].Create(ctx, k, Buffered); err != nil {
				t.Fatal(err)
			}
		}
	}
	busy := store.ChannelKey{Group: "g", ID: "a-00"}
	Publish(t, b, busy, "m0", Buffered)
	Publish(t, a, busy, "m1", Buffered)
	Subscribe(t, b, busy, store.SubscribeOptions{})
	gone := store.ChannelKey{Group: "g", ID: "a-02"}
	if _, err := a.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		o    store.ListOptions
		want func(store.ChannelKey) bool
	}{
		{"the default group", store.ListOptions{Limit: 5}, func(k store.ChannelKey) bool { return k.Group == "" }},
		{"a group", store.ListOptions{Group: "g", Limit: 4}, func(k store.ChannelKey) bool { return k.Group == "g" }},
		{"a prefix", store.ListOptions{Group: "g-2", Prefix: "b-", Limit: 4}, func(k store.ChannelKey) bool { return k.Group == "g-2" && k.ID[0] == 'b' }},
		{"every group in one page", store.ListOptions{AllGroups: true}, func(store.ChannelKey) bool { return true }},
		{"every group, a prefix", store.ListOptions{AllGroups: true, Prefix: "a-0", Limit: 2}, func(k store.ChannelKey) bool { return k.ID[:3] == "a-0" }},
		{"no such group", store.ListOptions{Group: "nope"}, func(store.ChannelKey) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []store.ChannelKey
			for _, k := range all {
				if k != gone && tt.want(k) {
					want = append(want, k)
				}
			}
			slices.SortFunc(want, store.ChannelKey.Compare)
			var got []store.ChannelKey
			o := tt.o
			for pages := 0; ; pages++ {
				page, err := l.Channels(ctx, o)
				if err != nil {
					t.Fatal(err)
				}
				if limit := max(o.Limit, 0); limit > 0 && len(page.Channels) > limit || pages > len(all) {
					t.Fatalf("page %d has %d channels", pages, len(page.Channels))
				}
				for _, c := range page.Channels {
					got = append(got, c.Key)
					wantInfo := store.Info{}
					if c.Key == busy {
						wantInfo = store.Info{Messages: 2, Subscribers: 1}
					}
					if c.Info.Messages != wantInfo.Messages || c.Info.Subscribers != wantInfo.Subscribers || c.Info.LastMessageID.IsZero() != (c.Key != busy) {
						t.Fatalf("%v: info %+v", c.Key, c.Info)
					}
				}
				if page.Next == "" {
					break
				}
				o.After = page.Next
			}
			if !slices.Equal(got, want) {
				t.Fatalf("listed %v, want %v", got, want)
			}
		})
	}
	if _, err := l.Channels(ctx, store.ListOptions{After: "no group"}); err == nil {
		t.Fatal("a bad cursor was accepted")
	}
}

// testEvents: what an engine emits as channels are made, their messages
// expire and they are deleted.
func testEvents(t *testing.T, e Engine) {
	if e.OpenEvents == nil {
		t.Skip("the engine emits no events")
	}
	bus := events.New()
	evs := bus.Subscribe(256, events.ChannelCreated, events.ChannelDeleted, events.MessageExpired)
	defer evs.Close()
	s, pass := e.OpenEvents(t, bus)

	expired := map[store.ChannelKey]int{}
	// expect reads events until one of want's kind about want's channel
	// arrives; channels made and deleted must come in order, expired
	// messages are summed.
	expect := func(want events.Event) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case ev := <-evs.C():
				key := store.ChannelKey{Group: ev.Group, ID: ev.Channel}
				if ev.Kind == events.MessageExpired {
					expired[key] += ev.Count()
					if want.Kind == events.MessageExpired && key == (store.ChannelKey{Group: want.Group, ID: want.Channel}) && expired[key] >= want.N {
						return
					}
					continue
				}
				if ev.Kind != want.Kind || ev.Group != want.Group || ev.Channel != want.Channel || ev.Reason != want.Reason {
					t.Fatalf("event %v %q/%q %q, want %v %q/%q %q", ev.Kind, ev.Group, ev.Channel, ev.Reason, want.Kind, want.Group, want.Channel, want.Reason)
				}
				if ev.Time.IsZero() {
					t.Fatalf("event %v without a time", ev.Kind)
				}
				return
			case <-deadline:
				t.Fatalf("no %v event for %q/%q (expired so far: %v)", want.Kind, want.Group, want.Channel, expired)
			}
		}
	}
	none := func() {
		t.Helper()
		select {
		case ev := <-evs.C():
			if ev.Kind != events.MessageExpired {
				t.Fatalf("unexpected event %v %q/%q", ev.Kind, ev.Group, ev.Channel)
			}
			expired[store.ChannelKey{Group: ev.Group, ID: ev.Channel}] += ev.Count()
		default:
		}
	}

	made := store.ChannelKey{Group: "g", ID: "made"}
	o := store.ChannelOptions{BufferLength: 10, MessageTimeout: e.Unit, ChannelTimeout: time.Hour}
	if _, err := s.Create(ctx, made, o); err != nil {
		t.Fatal(err)
	}
	expect(events.Event{Kind: events.ChannelCreated, Group: "g", Channel: "made"})
	if _, err := s.Create(ctx, made, o); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		Publish(t, s, made, fmt.Sprint(i), o)
	}
	none()
	Publish(t, s, Key("published"), "x", Buffered)
	expect(events.Event{Kind: events.ChannelCreated, Channel: "published"})
	Subscribe(t, s, Key("subscribed"), store.SubscribeOptions{ChannelTimeout: time.Hour}).Close()
	expect(events.Event{Kind: events.ChannelCreated, Channel: "subscribed"})

	pass(2 * e.Unit)
	if info, err := s.Info(ctx, made); err != nil || info.Messages != 0 {
		t.Fatalf("Info after expiry = %+v, %v", info, err)
	}
	expect(events.Event{Kind: events.MessageExpired, Group: "g", Channel: "made", N: 3})
	if _, err := s.Delete(ctx, made); err != nil {
		t.Fatal(err)
	}
	expect(events.Event{Kind: events.ChannelDeleted, Group: "g", Channel: "made", Reason: "deleted"})
	if expired[made] != 3 {
		t.Fatalf("%d messages of %v expired, want 3", expired[made], made)
	}
	if n := bus.Count(events.ChannelCreated); n != 3 {
		t.Fatalf("%d channels counted as made, want 3", n)
	}
	if n := bus.Count(events.ChannelDeleted); n != 1 {
		t.Fatalf("%d channels counted as deleted, want 1", n)
	}
}

// testGroupStats: a GroupAccounter counts a group's channels, subscribers
// and buffered messages as they come and go.
func testGroupStats(t *testing.T, e Engine) {
	s, _, pass := e.Open(t)
	ga, ok := s.(store.GroupAccounter)
	if !ok {
		t.Skip("the engine keeps no group counts")
	}
	check := func(step, group string, want store.GroupStats) {
		t.Helper()
		got, err := ga.GroupStats(ctx, group)
		if err != nil || got != want {
			t.Fatalf("%s: GroupStats(%q) = %+v, %v; want %+v", step, group, got, err, want)
		}
	}
	check("empty", "g", store.GroupStats{})
	a, b := store.ChannelKey{Group: "g", ID: "a"}, store.ChannelKey{Group: "g", ID: "b"}
	two := store.ChannelOptions{BufferLength: 2, MessageTimeout: e.Unit, ChannelTimeout: time.Hour}
	var size int64
	for i := range 3 {
		size = Publish(t, s, a, fmt.Sprint(i), two).Size()
	}
	if _, err := s.Create(ctx, b, Buffered); err != nil {
		t.Fatal(err)
	}
	other := Publish(t, s, Key("a"), "other group", Buffered)
	sa := Subscribe(t, s, a, store.SubscribeOptions{Follow: true})
	sb := Subscribe(t, s, b, store.SubscribeOptions{})
	check("made", "g", store.GroupStats{Channels: 2, Subscribers: 2, Messages: 2, MessageBytes: 2 * size})
	check("made", "", store.GroupStats{Channels: 1, Messages: 1, MessageBytes: other.Size()})
	Publish(t, s, b, "4", Buffered)
	check("published", "g", store.GroupStats{Channels: 2, Subscribers: 2, Messages: 3, MessageBytes: 3 * size})
	pass(2 * e.Unit)
	if _, err := s.Info(ctx, a); err != nil { // trims
		t.Fatal(err)
	}
	check("expired", "g", store.GroupStats{Channels: 2, Subscribers: 2, Messages: 1, MessageBytes: size})
	sa.Close()
	if _, err := s.Delete(ctx, b); err != nil {
		t.Fatal(err)
	}
	check("deleted", "g", store.GroupStats{Channels: 1})
	sb.Close()
	if _, err := s.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	check("all gone", "g", store.GroupStats{})
}

// testGroupStatsShared: a group's counts on one node include what the
// other node added (its channels, its subscribers, its messages).
func testGroupStatsShared(t *testing.T, e Engine) {
	a, b, _ := e.Open(t)
	ga, ok := a.(store.GroupAccounter)
	if !ok {
		t.Skip("the engine keeps no group counts")
	}
	k1, k2 := store.ChannelKey{Group: "shared", ID: "1"}, store.ChannelKey{Group: "shared", ID: "2"}
	m := Publish(t, a, k1, "one", Buffered)
	Publish(t, b, k2, "two", Buffered)
	sub := Subscribe(t, b, k1, store.SubscribeOptions{})
	defer sub.Close()
	want := store.GroupStats{Channels: 2, Subscribers: 1, Messages: 2, MessageBytes: 2 * m.Size()}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := ga.GroupStats(ctx, "shared")
		if err == nil && got == want {
			return
		}
		if !e.Relayed || time.Now().After(deadline) {
			t.Fatalf("GroupStats on the other node = %+v, %v; want %+v", got, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testGroupLimits: a GroupLimiter keeps each group's limits, sets only the
// fields given, and shares them between the nodes of a shared engine.
func testGroupLimits(t *testing.T, e Engine) {
	a, b, _ := e.Open(t)
	la, ok := a.(store.GroupLimiter)
	if !ok {
		t.Skip("the engine keeps no group limits")
	}
	lb := b.(store.GroupLimiter)
	if got, err := la.GroupLimits(ctx, "lim"); err != nil || got != (store.GroupLimits{}) {
		t.Fatalf("limits of a new group = %+v, %v; want none", got, err)
	}
	set := store.UnsetGroupLimits()
	set.Channels, set.MessageBytes = 3, 1024
	want := store.GroupLimits{Channels: 3, MessageBytes: 1024}
	if got, err := la.SetGroupLimits(ctx, "lim", set); err != nil || got != want {
		t.Fatalf("SetGroupLimits = %+v, %v; want %+v", got, err, want)
	}
	set = store.UnsetGroupLimits()
	set.Subscribers, set.Channels = 5, 0
	want = store.GroupLimits{Subscribers: 5, MessageBytes: 1024}
	if got, err := lb.SetGroupLimits(ctx, "lim", set); err != nil || got != want {
		t.Fatalf("SetGroupLimits on the other node = %+v, %v; want %+v", got, err, want)
	}
	if got, err := la.GroupLimits(ctx, "lim"); err != nil || got != want {
		t.Fatalf("GroupLimits = %+v, %v; want %+v", got, err, want)
	}
	if got, err := la.SetGroupLimits(ctx, "lim", store.UnsetGroupLimits()); err != nil || got != want {
		t.Fatalf("SetGroupLimits of nothing = %+v, %v; want %+v", got, err, want)
	}
	if got, err := la.GroupLimits(ctx, "other"); err != nil || got != (store.GroupLimits{}) {
		t.Fatalf("limits of another group = %+v, %v; want none", got, err)
	}
}

// testRefusedPublishLeavesNoTrace: a publish the store refuses for memory
// leaves nothing behind: the channel it would have made does not exist
// (no info, no listing, not "created by a publisher" for
// existing-channels-only subscribers).
func testRefusedPublishLeavesNoTrace(t *testing.T, e Engine) {
	if e.OpenFull == nil {
		t.Skip("the engine has no way to fill its memory in a test")
	}
	s, size := e.OpenFull(t)
	k := Key("refused")
	_, err := s.Publish(ctx, k, store.Publication{Body: make([]byte, size)}, Buffered)
	if !errors.Is(err, store.ErrOutOfMemory) {
		t.Fatalf("Publish of %d bytes to a full store = %v, want ErrOutOfMemory", size, err)
	}
	if info, err := s.Info(ctx, k); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Info after the refused publish = %+v, %v; want ErrNotFound", info, err)
	}
	if sub, err := s.Subscribe(ctx, k, store.SubscribeOptions{ExistingOnly: true}); !errors.Is(err, store.ErrNotCreated) {
		if err == nil {
			sub.Close()
		}
		t.Fatalf("existing-channels-only Subscribe after the refused publish = %v, want ErrNotCreated", err)
	}
	if l, ok := s.(store.Lister); ok {
		page, err := l.Channels(ctx, store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Channels {
			if c.Key == k {
				t.Fatalf("the refused publish's channel is listed: %+v", c)
			}
		}
	}
}
