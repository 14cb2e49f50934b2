// Package store defines how Herald keeps channels and their message buffers:
// the Store interface that every engine implements (the in-memory engine,
// internal/store/memory, and the Redis engine, internal/store/redis), the
// optional interfaces an engine may add (Lister, GroupAccounter), and the
// values that cross them.
//
// A channel is named by a ChannelKey: Nchan's channel group and the
// channel's id within it.
//
// A channel is a log of recent messages addressed by message id; a subscriber
// is a cursor into that log. Subscribers read every message after their
// cursor and, when there is none, wait on a channel that is closed when the
// log changes. Live delivery, catch-up after a reconnect and resume from an
// id are therefore one code path.
package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/protocol/msgid"
)

// Errors returned by engines. Callers map them to HTTP statuses.
var (
	// ErrNotFound: the channel does not exist.
	ErrNotFound = errors.New("channel not found")
	// ErrGone: the channel was deleted while the subscriber was on it.
	ErrGone = errors.New("channel deleted")
	// ErrNotCreated: subscribing to a channel no publisher created, with
	// existing-channels-only set (subscribe_existing_channels_only).
	ErrNotCreated = errors.New("channel not created by a publisher")
	// ErrTooManySubscribers: the channel is at its subscriber cap.
	ErrTooManySubscribers = errors.New("channel subscriber limit reached")
	// ErrConflict: a subscriber concurrency rule (first/last) refused or
	// evicted the subscriber.
	ErrConflict = errors.New("subscriber conflict")
	// ErrOutOfMemory: the store's memory limit would be exceeded.
	ErrOutOfMemory = errors.New("message store is full")
	// ErrUnavailable: the engine's backend cannot be reached.
	ErrUnavailable = errors.New("store unavailable")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("store closed")
)

// Message is one published message. Messages are immutable once published and
// shared by every subscriber that receives them.
type Message struct {
	ID          msgid.ID
	Body        []byte
	ContentType string
	EventName   string // EventSource event name, from X-EventSource-Event (the push-stream Event-Type).
	// EventID is the publisher's event id (the push-stream module's
	// Event-Id request header: the EventSource id and ~event-id~); "" for
	// none.
	EventID string
	// Number is the message's place in its channel: 1 for the first
	// message published to the channel, 2 for the next, ... (the
	// push-stream module's message id, ~id~), counting every publish to
	// the channel since it was created, stored or not. A channel deleted
	// or expired and made again counts from 1. 0 when the engine has none
	// (an imported message).
	Number uint64
	// SecondTag is the message's place among every message the store took
	// in its second, from 1 (the push-stream module's ~tag~ and Etag,
	// which count across channels, so a message's time and tag name it
	// among all channels); 0 when the engine has none (the Redis engine),
	// and then ID.Tag+1 is the closest.
	SecondTag uint32
	// Seq is the engine-wide publish order; it orders messages of different
	// channels that share a second, so a subscriber to several channels gets
	// them in the order they were published. 0 when the engine has none.
	Seq uint64
	// Deflate is the zlib level (1-9) at which WebSocket subscribers that
	// negotiated permessage-deflate receive the message compressed, as its
	// publishing location asked (deflate_message_for_websocket); 0 sends
	// it uncompressed to everyone.
	Deflate uint8

	enc [NumEncodings]atomic.Pointer[Encoding]
	// encBytes is the size of the encodings built so far, -1 once the
	// engine has released the message; acct is the engine's memory
	// counter they are added to (see Account).
	encBytes atomic.Int64
	acct     *atomic.Int64
}

// NumEncodings is the number of transport encodings a message caches.
const NumEncodings = 12

// Encoding is a message in one transport's format: Parts, written in
// order (one writev). Parts may be slices of the message's Body and
// constants shared by every message, so a body is held once however many
// formats it goes out in; Own is the bytes the encoding holds of its own
// (its framing, or a transformed copy of the body such as a compressed
// one).
type Encoding struct {
	Parts [][]byte
	Own   int
}

// encodingOverhead approximates the bookkeeping bytes of a cached
// encoding: the Encoding itself and its pointer in the message.
const encodingOverhead = 48

// Size is the memory an encoding holds beyond what it references: its own
// bytes, its slice headers and its bookkeeping.
func (e *Encoding) Size() int64 {
	return int64(e.Own) + int64(cap(e.Parts))*24 + encodingOverhead
}

// Encoded returns the message's encoding in slot (0..NumEncodings-1),
// building it with build the first time: a message is encoded once per
// transport format and the same encoding is written to every subscriber.
func (m *Message) Encoded(slot int, build func(*Message) Encoding) *Encoding {
	if p := m.enc[slot].Load(); p != nil {
		return p
	}
	e := build(m)
	if !m.enc[slot].CompareAndSwap(nil, &e) {
		return m.enc[slot].Load()
	}
	if m.acct != nil {
		size := e.Size()
		for {
			v := m.encBytes.Load()
			if v < 0 {
				break // released: the engine no longer counts it
			}
			if m.encBytes.CompareAndSwap(v, v+size) {
				m.acct.Add(size)
				break
			}
		}
	}
	return &e
}

// Account makes the message add the size of every encoding it caches
// (Encoding.Size: what it holds beyond the body it references) to used,
// an engine's memory counter, until Release: a message costs its
// encodings as well as its body. The engine calls it before the message is
// shared.
func (m *Message) Account(used *atomic.Int64) { m.acct = used }

// Release stops the accounting of Account and returns the bytes of the
// encodings counted so far, which the engine subtracts as it drops the
// message. An encoding built later is not counted.
func (m *Message) Release() int64 {
	if n := m.encBytes.Swap(-1); n > 0 {
		return n
	}
	return 0
}

// Before reports whether m was published before o: by id time, then by
// engine publish order, then by tag.
func (m *Message) Before(o *Message) bool {
	if m.ID.Time != o.ID.Time {
		return m.ID.Time < o.ID.Time
	}
	if m.Seq != 0 && o.Seq != 0 && m.Seq != o.Seq {
		return m.Seq < o.Seq
	}
	return m.ID.Tag < o.ID.Tag
}

// Size is the number of bytes the message accounts for in a store.
func (m *Message) Size() int64 {
	return int64(len(m.Body)+len(m.ContentType)+len(m.EventName)+len(m.EventID)) + messageOverhead
}

// messageOverhead approximates the bookkeeping bytes of one stored message.
const messageOverhead = 96

// Publication is what a publisher sends.
type Publication struct {
	Body        []byte
	ContentType string
	EventName   string
	// EventID is Message.EventID: the publisher's event id (push-stream
	// Event-Id); "" for none.
	EventID string
	// Deflate is Message.Deflate: the publishing location's compression
	// for WebSocket subscribers.
	Deflate uint8
}

// ChannelOptions are the buffer settings of the publishing location; a channel
// takes the options of its most recent publish or create.
type ChannelOptions struct {
	BufferLength    int           // messages kept; 0 keeps none (store_messages off).
	MinBufferLength int           // messages kept even past MessageTimeout.
	MessageTimeout  time.Duration // message lifetime; 0 = never expire.
	ChannelTimeout  time.Duration // how long an idle, empty channel lingers.
}

// Info describes a channel, as publishers see it.
type Info struct {
	Messages      int       // messages in the buffer.
	Subscribers   int       // subscribers connected now.
	LastRequested time.Time // last time a subscriber touched the channel; zero if never.
	LastMessageID msgid.ID  // id of the newest message ever published; zero if none.
	// Published counts the messages ever published to the channel since it
	// was created, stored or not: the newest message's Number (the
	// push-stream module's published_messages of a channel).
	Published uint64
	// Created is when the channel was made (this time, if it was deleted
	// or expired before); zero when the engine does not know.
	Created time.Time
}

// Requested returns the seconds since a subscriber last touched the channel,
// or -1 if none ever did, as Nchan reports it.
func (i Info) Requested(now time.Time) int64 {
	if i.LastRequested.IsZero() {
		return -1
	}
	d := int64(now.Sub(i.LastRequested) / time.Second)
	if d < 0 {
		return 0
	}
	return d
}

// PublishResult is the outcome of a publish.
type PublishResult struct {
	Message *Message
	Info    Info // after the publish; Subscribers is the count that received it.
}

// Concurrency is a Push Module subscriber concurrency rule.
type Concurrency uint8

// The subscriber concurrency rules.
const (
	Broadcast Concurrency = iota // any number of subscribers.
	First                        // the oldest subscriber stays; newcomers get a conflict.
	Last                         // the newest subscriber stays; older ones get a conflict.
)

// SubscribeOptions are the subscriber settings of the location.
type SubscribeOptions struct {
	ExistingOnly   bool // refuse channels no publisher created.
	MaxSubscribers int  // 0 = unlimited.
	Concurrency    Concurrency
	ChannelTimeout time.Duration // for a channel the subscribe creates.
	// Follow marks a streaming subscriber, which reads the channel
	// continuously: messages that leave the buffer while it has not been
	// sent them yet stay readable to it for a grace period, so a burst of
	// publishes larger than the buffer costs it nothing. Engines without
	// such a grace period ignore it.
	Follow bool
}

// StartKind says where a new subscriber without a message id starts.
type StartKind uint8

// The start positions of subscriber_first_message.
const (
	StartOldest StartKind = iota // the oldest buffered message.
	StartNewest                  // the next message published.
	StartNth                     // N-th from the oldest (N>0) or from the newest (N<0).
)

// Start is a parsed subscriber_first_message value.
type Start struct {
	Kind StartKind
	N    int
}

// String formats the start as the config value it came from.
func (s Start) String() string {
	switch s.Kind {
	case StartNewest:
		return "newest"
	case StartNth:
		return fmt.Sprint(s.N)
	}
	return "oldest"
}

// Batch is the result of a Subscription.Read.
type Batch struct {
	Messages []*Message      // the messages after the cursor, oldest first.
	Wait     <-chan struct{} // when Messages is empty: closed on the next change.
	// Missed reports that messages after the (non-zero) cursor were dropped
	// from the buffer before this subscriber read them.
	Missed bool
}

// Subscription is one subscriber's hold on one channel; it counts as a
// subscriber until Close.
type Subscription interface {
	// Start returns the cursor a subscriber without a message id begins at.
	Start(s Start) (msgid.ID, error)
	// Read appends to buf up to max messages after cursor, oldest first. A
	// cursor older than the buffer yields the oldest buffered message (and
	// Missed). When nothing is new it returns no messages and a channel that
	// is closed as soon as something changes (a publish, a delete, an
	// eviction); the caller then reads again. Errors: ErrGone, ErrConflict,
	// ErrUnavailable.
	//
	// The wait channels of one channel's subscriptions close in the order
	// they were handed out (a channel returned later never closes before
	// one returned earlier), so a caller serving many subscribers of a
	// channel may wait on the earliest channel any of them got.
	Read(cursor msgid.ID, buf []*Message, max int) (Batch, error)
	// Close releases the subscription. It is safe to call more than once.
	Close()
}

// Stats are engine-wide counters.
type Stats struct {
	Channels       int
	Subscribers    int
	StoredMessages int
	Published      uint64
	MemoryUsed     int64
	MemoryLimit    int64
}

// Store is a message engine.
type Store interface {
	// Publish appends a message to a channel, creating the channel if needed.
	Publish(ctx context.Context, channel ChannelKey, p Publication, o ChannelOptions) (PublishResult, error)
	// Create makes the channel exist (as a publisher's PUT does) without
	// publishing, and returns its info.
	Create(ctx context.Context, channel ChannelKey, o ChannelOptions) (Info, error)
	// Info returns the channel's info or ErrNotFound.
	Info(ctx context.Context, channel ChannelKey) (Info, error)
	// Delete removes the channel; its subscribers get ErrGone. It returns the
	// info from just before the delete, or ErrNotFound.
	Delete(ctx context.Context, channel ChannelKey) (Info, error)
	// Subscribe registers a subscriber on a channel.
	Subscribe(ctx context.Context, channel ChannelKey, o SubscribeOptions) (Subscription, error)
	// Stats returns engine-wide counters.
	Stats() Stats
	// Close stops the engine's background work; waiting subscribers are not
	// woken (the server answers them itself).
	Close() error
}
