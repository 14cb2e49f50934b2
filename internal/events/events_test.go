package events

import (
	"sync"
	"testing"
)

func TestBusCountsAndDelivers(t *testing.T) {
	tests := []struct {
		name      string
		size      int
		kinds     []Kind
		emit      []Event
		wantKinds []Kind // what the consumer reads, in order
		dropped   uint64
	}{
		{
			name:      "all kinds",
			size:      8,
			emit:      []Event{{Kind: SubscriberJoined}, {Kind: MessagePublished}, {Kind: SubscriberLeft}},
			wantKinds: []Kind{SubscriberJoined, MessagePublished, SubscriberLeft},
		},
		{
			name:      "filtered",
			size:      8,
			kinds:     []Kind{MessagePublished},
			emit:      []Event{{Kind: SubscriberJoined}, {Kind: MessagePublished}, {Kind: SubscriberLeft}},
			wantKinds: []Kind{MessagePublished},
		},
		{
			name:      "full queue drops and counts",
			size:      2,
			emit:      []Event{{Kind: ChannelCreated}, {Kind: ChannelCreated}, {Kind: ChannelCreated}, {Kind: ChannelDeleted}},
			wantKinds: []Kind{ChannelCreated, ChannelCreated},
			dropped:   2,
		},
		{
			name:      "unknown kinds are ignored",
			size:      2,
			emit:      []Event{{Kind: 0}, {Kind: numKinds}, {Kind: numKinds + 3}},
			wantKinds: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New()
			s := b.Subscribe(tt.size, tt.kinds...)
			defer s.Close()
			for _, e := range tt.emit {
				b.Emit(e)
			}
			var got []Kind
			for len(s.C()) > 0 {
				e := <-s.C()
				if e.Time.IsZero() {
					t.Errorf("event %v has no time", e.Kind)
				}
				got = append(got, e.Kind)
			}
			if len(got) != len(tt.wantKinds) {
				t.Fatalf("got %v, want %v", got, tt.wantKinds)
			}
			for i := range got {
				if got[i] != tt.wantKinds[i] {
					t.Fatalf("got %v, want %v", got, tt.wantKinds)
				}
			}
			if s.Dropped() != tt.dropped || b.Dropped() != tt.dropped {
				t.Errorf("dropped: consumer %d, bus %d, want %d", s.Dropped(), b.Dropped(), tt.dropped)
			}
			// Totals count every valid event, consumer or not.
			want := map[Kind]uint64{}
			for _, e := range tt.emit {
				if e.Kind > 0 && e.Kind < numKinds {
					want[e.Kind]++
				}
			}
			for _, k := range Kinds() {
				if b.Count(k) != want[k] {
					t.Errorf("Count(%v) = %d, want %d", k, b.Count(k), want[k])
				}
			}
		})
	}
}

func TestBusCountUsesN(t *testing.T) {
	b := New()
	b.Emit(Event{Kind: MessageDelivered, N: 40})
	b.Emit(Event{Kind: MessageDelivered})
	b.CountOnly(MessageDelivered, 9)
	b.CountOnly(MessageExpired, 0)
	if got := b.Count(MessageDelivered); got != 50 {
		t.Errorf("delivered = %d, want 50", got)
	}
	if got := b.Count(MessageExpired); got != 1 {
		t.Errorf("expired = %d, want 1", got)
	}
}

func TestNilBus(t *testing.T) {
	var b *Bus
	b.Emit(Event{Kind: SubscriberJoined})
	b.CountOnly(SubscriberJoined, 1)
	if b.Active() || b.Count(SubscriberJoined) != 0 || b.Dropped() != 0 {
		t.Fatal("a nil bus should discard everything")
	}
}

func TestSubscriptionClose(t *testing.T) {
	b := New()
	s1 := b.Subscribe(4)
	s2 := b.Subscribe(4)
	if !b.Active() {
		t.Fatal("not active with consumers")
	}
	s1.Close()
	s1.Close() // twice is fine
	b.Emit(Event{Kind: ChannelCreated})
	if len(s1.C()) != 0 || len(s2.C()) != 1 {
		t.Fatalf("after close: closed consumer has %d, open one %d", len(s1.C()), len(s2.C()))
	}
	s2.Close()
	if b.Active() {
		t.Fatal("active with no consumers")
	}
}

func TestKindNames(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Kinds() {
		n := k.String()
		if n == "" || n == "unknown" || seen[n] {
			t.Errorf("kind %d has name %q", k, n)
		}
		seen[n] = true
	}
	if Kind(0).String() != "unknown" {
		t.Error("kind 0 should be unknown")
	}
}

// TestBusConcurrent emits from several goroutines while consumers come and
// go; run with -race.
func TestBusConcurrent(t *testing.T) {
	b := New()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				b.Emit(Event{Kind: MessagePublished})
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 50 {
				s := b.Subscribe(16)
				for len(s.C()) > 0 {
					<-s.C()
				}
				s.Close()
			}
		})
	}
	wg.Wait()
	if got := b.Count(MessagePublished); got != 4000 {
		t.Fatalf("count = %d, want 4000", got)
	}
}

// TestWantsFollowsConsumers: Wants is true for a kind exactly while some
// consumer reads it.
func TestWantsFollowsConsumers(t *testing.T) {
	b := New()
	if b.Wants(MessageDelivered) {
		t.Fatal("Wants with no consumer")
	}
	a := b.Subscribe(1, StoreOp)
	c := b.Subscribe(1, MessageDelivered, StoreOp)
	for _, tt := range []struct {
		k    Kind
		want bool
	}{{StoreOp, true}, {MessageDelivered, true}, {SubscriberJoined, false}, {0, false}, {numKinds, false}} {
		if got := b.Wants(tt.k); got != tt.want {
			t.Errorf("Wants(%v) = %v, want %v", tt.k, got, tt.want)
		}
	}
	c.Close()
	if b.Wants(MessageDelivered) || !b.Wants(StoreOp) {
		t.Error("after the only MessageDelivered consumer left: Wants is wrong")
	}
	a.Close()
	if b.Wants(StoreOp) {
		t.Error("Wants with every consumer gone")
	}
	var nilBus *Bus
	if nilBus.Wants(StoreOp) {
		t.Error("nil bus wants")
	}
}
