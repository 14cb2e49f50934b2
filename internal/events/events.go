// Package events is Herald's event bus: a typed stream of what happens to
// subscribers, messages and channels. Each event is emitted once, where it
// happens (the request pipeline, a subscriber session's end, the engines),
// and read by consumers that must never slow the emitter down.
//
// Emit never blocks: every consumer has a bounded queue, and an event that
// finds a consumer's queue full is dropped for that consumer and counted
// (Subscription.Dropped, Bus.Dropped). The bus also keeps a running total
// per kind (Bus.Count) that costs one atomic add per event and needs no
// consumer, which is what status counters read.
//
// A nil *Bus is valid and discards everything, so packages can emit
// unconditionally.
package events

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/protocol/msgid"
)

// Kind is what an event reports.
type Kind uint8

// The kinds of event.
const (
	// SubscriberJoined: a subscriber was admitted to its channels.
	SubscriberJoined Kind = iota + 1
	// SubscriberLeft: a subscriber's session ended; Reason says why.
	SubscriberLeft
	// SubscriberRefused: a subscriber request was answered with an error
	// before it was admitted; Status and Reason say how.
	SubscriberRefused
	// SubscriberTooSlow: a streaming subscriber was disconnected because it
	// did not keep up (its messages left the buffer, or nothing was
	// accepted within send_timeout).
	SubscriberTooSlow
	// MessagePublished: a message was stored in a channel.
	MessagePublished
	// MessageDelivered: N messages were written to subscribers.
	MessageDelivered
	// MessageExpired: N messages left a channel's buffer by age.
	MessageExpired
	// ChannelCreated: a channel came into being in an engine.
	ChannelCreated
	// ChannelDeleted: a channel was deleted by a publisher (Reason
	// "deleted") or removed after its timeout (Reason "expired").
	ChannelDeleted
	// StoreError: an engine call failed; Err says how.
	StoreError
	// StoreOp: the server made a call to an engine (Reason names it:
	// "publish", "create", "info", "delete", "subscribe"); Duration is how
	// long it took and Err its error, nil when it succeeded. Reads on a
	// subscriber's path are not reported (they are the fan-out's hot path).
	StoreOp
	// HookCalled: an application hook was called (Reason names the hook);
	// Status is the application's answer (0 when it could not be reached)
	// and Duration how long the call took.
	HookCalled
	// RequestRefused: a request other than a subscriber's (a publisher, a
	// channel info or delete request) was refused before its role handler
	// ran; Status and Reason say how, and Transport names the role it
	// asked for ("publish", "info", "refused", ...). Subscribers have
	// SubscriberRefused.
	RequestRefused

	numKinds
)

var kindNames = [numKinds]string{
	SubscriberJoined:  "subscriber_joined",
	SubscriberLeft:    "subscriber_left",
	SubscriberRefused: "subscriber_refused",
	SubscriberTooSlow: "subscriber_too_slow",
	MessagePublished:  "message_published",
	MessageDelivered:  "message_delivered",
	MessageExpired:    "message_expired",
	ChannelCreated:    "channel_created",
	ChannelDeleted:    "channel_deleted",
	StoreError:        "store_error",
	StoreOp:           "store_op",
	HookCalled:        "hook_called",
	RequestRefused:    "request_refused",
}

// String returns the kind's name, as in "subscriber_joined".
func (k Kind) String() string {
	if k == 0 || k >= numKinds {
		return "unknown"
	}
	return kindNames[k]
}

// Kinds returns every kind, in order.
func Kinds() []Kind {
	out := make([]Kind, 0, numKinds-1)
	for k := Kind(1); k < numKinds; k++ {
		out = append(out, k)
	}
	return out
}

// Event is one thing that happened. Fields that do not apply to its kind
// are zero.
type Event struct {
	Kind Kind
	Time time.Time
	// Group and Channel name the channel (Nchan's channel group and id);
	// for a subscriber or publisher of several channels, the first.
	Group, Channel string
	// Channels is how many channels the subscriber or publisher named.
	Channels int
	// Transport is the subscriber's transport ("longpoll", "eventsource",
	// "websocket", ...) or the publisher's ("http", "websocket").
	Transport string
	// Location is the pattern of the location that served the request.
	Location string
	// Remote is the client's address.
	Remote string
	// Status is the HTTP status a refusal or an ending answered with.
	Status int
	// Reason says why a subscriber left or was refused, or why a channel
	// was deleted.
	Reason string
	// MessageID is the id of the message published (MessagePublished),
	// or of the newest message of those delivered (MessageDelivered).
	MessageID msgid.ID
	// N counts what one event stands for (messages delivered or expired);
	// 0 means 1.
	N int
	// Bytes is the size of what was published or delivered.
	Bytes int
	// Err is the error of a StoreError or a failed StoreOp.
	Err error
	// Duration is how long something took: a publish's store call
	// (MessagePublished), an engine call (StoreOp), a hook call
	// (HookCalled).
	Duration time.Duration
}

// Count returns N, or 1 when N is 0.
func (e *Event) Count() int {
	if e.N > 0 {
		return e.N
	}
	return 1
}

// Bus carries events from emitters to consumers. The zero value is not
// ready; use New.
type Bus struct {
	counts  [numKinds]atomic.Uint64
	dropped atomic.Uint64
	now     func() time.Time

	mu    sync.Mutex
	subs  atomic.Pointer[[]*Subscription] // copy-on-write; nil when none
	wants atomic.Uint32                   // bit k set: some consumer wants kind k
}

// New returns a bus with no consumers.
func New() *Bus { return &Bus{now: time.Now} }

// Active reports whether any consumer is subscribed, so an emitter can skip
// building an event that only counters would see (Emit counts it either
// way; use CountOnly for that case).
func (b *Bus) Active() bool {
	if b == nil {
		return false
	}
	s := b.subs.Load()
	return s != nil && len(*s) > 0
}

// Wants reports whether some consumer wants events of kind k, so an
// emitter on a hot path builds an event only for a kind that is read (Emit
// counts it either way; use CountOnly when Wants is false).
func (b *Bus) Wants(k Kind) bool {
	if b == nil || k == 0 || k >= numKinds {
		return false
	}
	return b.wants.Load()&(1<<k) != 0
}

// CountOnly adds n to the running total of kind k without building an
// event for consumers. Emitters on hot paths call it when Active is false.
func (b *Bus) CountOnly(k Kind, n int) {
	if b == nil || k == 0 || k >= numKinds {
		return
	}
	b.counts[k].Add(uint64(max(n, 1)))
}

// Emit counts e and hands it to every consumer that wants its kind, without
// blocking: a consumer whose queue is full misses it (and the miss is
// counted). A zero Time is set to now.
func (b *Bus) Emit(e Event) {
	if b == nil || e.Kind == 0 || e.Kind >= numKinds {
		return
	}
	b.counts[e.Kind].Add(uint64(e.Count()))
	subs := b.subs.Load()
	if subs == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = b.now()
	}
	for _, s := range *subs {
		if s.kinds&(1<<e.Kind) == 0 {
			continue
		}
		select {
		case s.ch <- e:
		default:
			s.dropped.Add(1)
			b.dropped.Add(1)
		}
	}
}

// Count returns the running total of kind k: the sum of Event.Count over
// every event of that kind emitted so far.
func (b *Bus) Count(k Kind) uint64 {
	if b == nil || k == 0 || k >= numKinds {
		return 0
	}
	return b.counts[k].Load()
}

// Dropped returns how many events consumers missed in all, because their
// queues were full.
func (b *Bus) Dropped() uint64 {
	if b == nil {
		return 0
	}
	return b.dropped.Load()
}

// Subscription is one consumer's queue.
type Subscription struct {
	b       *Bus
	ch      chan Event
	kinds   uint32 // bit k set: wants kind k
	dropped atomic.Uint64
	once    sync.Once
}

// Subscribe adds a consumer with a queue of size events (at least 1) that
// receives the given kinds, or every kind when none is given. The consumer
// reads C until it calls Close.
func (b *Bus) Subscribe(size int, kinds ...Kind) *Subscription {
	s := &Subscription{b: b, ch: make(chan Event, max(size, 1))}
	if len(kinds) == 0 {
		kinds = Kinds()
	}
	for _, k := range kinds {
		if k > 0 && k < numKinds {
			s.kinds |= 1 << k
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var next []*Subscription
	if cur := b.subs.Load(); cur != nil {
		next = slices.Clone(*cur)
	}
	next = append(next, s)
	b.subs.Store(&next)
	b.wants.Store(unionKinds(next))
	return s
}

// C is the consumer's queue.
func (s *Subscription) C() <-chan Event { return s.ch }

// Dropped returns how many events this consumer missed because its queue
// was full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close removes the consumer. Events already queued stay readable; nothing
// more is queued.
func (s *Subscription) Close() {
	s.once.Do(func() {
		b := s.b
		b.mu.Lock()
		defer b.mu.Unlock()
		cur := b.subs.Load()
		if cur == nil {
			return
		}
		next := slices.DeleteFunc(slices.Clone(*cur), func(x *Subscription) bool { return x == s })
		b.wants.Store(unionKinds(next))
		if len(next) == 0 {
			b.subs.Store(nil)
			return
		}
		b.subs.Store(&next)
	})
}

// unionKinds returns the kinds any of subs wants, as a bit set.
func unionKinds(subs []*Subscription) uint32 {
	var u uint32
	for _, s := range subs {
		u |= s.kinds
	}
	return u
}
