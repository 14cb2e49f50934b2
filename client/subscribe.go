package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/protocol/msgid"
)

// Transport is how a subscription receives messages.
type Transport string

// The transports. Auto tries the multiplexed WebSocket (when the client
// has a MultiplexURL), then EventSource, and falls back to long-poll where
// the server offers neither.
const (
	Auto        Transport = ""
	EventSource Transport = "eventsource"
	LongPoll    Transport = "longpoll"
	WebSocket   Transport = "websocket"
	// Multiplex is Herald's herald.v1 WebSocket protocol
	// (docs/multiplex.md): one connection to the client's MultiplexURL,
	// each channel subscribed with its own position.
	Multiplex Transport = "herald.v1"
)

// ParseTransport reads a transport's name: auto, eventsource (or sse, es),
// longpoll (or long-poll, poll), websocket (or ws), herald.v1 (or
// multiplex, mux).
func ParseTransport(s string) (Transport, error) {
	switch s {
	case "", "auto":
		return Auto, nil
	case "eventsource", "sse", "es":
		return EventSource, nil
	case "longpoll", "long-poll", "poll":
		return LongPoll, nil
	case "websocket", "ws":
		return WebSocket, nil
	case "herald.v1", "multiplex", "mux":
		return Multiplex, nil
	}
	return Auto, fmt.Errorf("unknown transport %q (want auto, eventsource, longpoll, websocket or herald.v1)", s)
}

// ErrClosed is returned by Next once the subscription was closed.
var ErrClosed = errors.New("subscription closed")

// SubscribeOptions configure a subscription. The zero value picks the
// transport itself and starts where the server starts a new subscriber
// (by default, the oldest buffered message).
type SubscribeOptions struct {
	// Transport is the transport to use; Auto tries EventSource, then
	// long-poll.
	Transport Transport
	// From is the id of the last message already seen (a Received.ID of
	// an earlier subscription to the same channels, or a Published.ID for
	// one channel): the subscription starts after it.
	From string
	// MinBackoff and MaxBackoff bound the wait before reconnecting after a
	// failure: it starts at MinBackoff (0: 100 ms), doubles with each
	// failure in a row up to MaxBackoff (0: 10 s), and is jittered
	// (between half and all of it).
	MinBackoff, MaxBackoff time.Duration
	// PollInterval is the wait between polls that the server answered with
	// 304 Not Modified (an interval-poll location); 0: 1 s.
	PollInterval time.Duration
	// Buffer is how many received messages wait for Next before the
	// subscription stops reading (0: 64).
	Buffer int
	// MaxMessage is the largest message accepted (0: 16 MiB); a larger
	// one ends the subscription with an error.
	MaxMessage int
	// IdleTimeout, when positive, reconnects an EventSource or WebSocket
	// stream on which nothing arrived for that long: a connection that
	// died without a word (a NAT that forgot it). Set it above the
	// location's eventsource_ping_interval or websocket_ping_interval,
	// which keep a quiet stream talking; 0 waits for the operating
	// system to notice.
	IdleTimeout time.Duration
	// Logger receives reconnections and their reasons at debug level; nil
	// logs nothing.
	Logger *slog.Logger
}

// Received is a message a subscription received.
type Received struct {
	// Channel is the channel it was published to.
	Channel string
	// ID is the position after this message, as the server gave it: the
	// message's id for one channel, a multiplexed id ("1795376591:[0],-")
	// for several. Give it as SubscribeOptions.From to the same channels
	// to resume after this message.
	ID string
	// ChannelID is the message's id in its channel.
	ChannelID msgid.ID
	// ContentType is the message's content type (long-poll and
	// WebSocket carry it; EventSource does not).
	ContentType string
	// Event is its EventSource event name (EventSource only).
	Event string
	// Body is the message.
	Body []byte
	// Transport is the transport it came by.
	Transport Transport
}

// Subscription receives the messages of a set of channels, in order, and
// reconnects by itself: after a dropped connection, a server restart or
// a refused attempt that may succeed later, it resumes after the last
// message received, waiting with exponential backoff and jitter. Every
// message the server still buffers reaches Next exactly once. Its
// methods are safe for concurrent use.
type Subscription struct {
	c    *Client
	opts SubscribeOptions
	out  chan *Received
	done chan struct{}
	stop context.CancelFunc
	log  *slog.Logger

	mu       sync.Mutex
	channels []string // the channel set, in the order of the URL
	gen      uint64   // counts changes to channels
	cancel   context.CancelFunc
	err      error
	closed   bool
	// Positions: owned by the run goroutine, read under mu.
	pos      map[string]msgid.ID
	lastTime int64
	haveID   bool
	using    Transport
}

// Subscribe subscribes to channels (one or several, multiplexed into one
// connection) until ctx ends or Close is called. It returns at once; the
// first connection is made in the background, and an error that no
// reconnection can mend (403, 404, a deleted channel...) is returned by
// Next.
func (c *Client) Subscribe(ctx context.Context, channels []string, o *SubscribeOptions) (*Subscription, error) {
	if o == nil {
		o = &SubscribeOptions{}
	}
	opts := *o
	if err := checkSet(channels); err != nil {
		return nil, fmt.Errorf("herald client: subscribe: %w", err)
	}
	switch opts.Transport {
	case Auto, EventSource, LongPoll, WebSocket:
	case Multiplex:
		if c.muxURL == "" {
			return nil, errors.New("herald client: subscribe: the herald.v1 transport needs Options.MultiplexURL")
		}
	default:
		return nil, fmt.Errorf("herald client: subscribe: unknown transport %q", opts.Transport)
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 10 * time.Second
	}
	opts.MaxBackoff = max(opts.MaxBackoff, opts.MinBackoff)
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 64
	}
	if opts.MaxMessage <= 0 {
		opts.MaxMessage = protocol.DefaultMaxMessage
	}
	s := &Subscription{c: c, opts: opts, out: make(chan *Received, opts.Buffer), done: make(chan struct{}),
		channels: slices.Clone(channels), pos: map[string]msgid.ID{}, using: opts.Transport, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if opts.From != "" {
		m, err := msgid.Parse(opts.From, len(channels))
		if err != nil {
			return nil, fmt.Errorf("herald client: subscribe: From: %w", err)
		}
		for i, ch := range channels {
			s.pos[ch] = m.Cursor(i)
		}
		s.lastTime, s.haveID = m.Time, true
	}
	ctx, s.stop = context.WithCancel(ctx)
	go s.run(ctx)
	return s, nil
}

// checkSet checks a subscription's channel set.
func checkSet(channels []string) error {
	if err := checkChannels(channels); err != nil {
		return err
	}
	if len(channels) > msgid.MaxChannels {
		return fmt.Errorf("%d channels: at most %d", len(channels), msgid.MaxChannels)
	}
	for i, ch := range channels {
		if slices.Contains(channels[:i], ch) {
			return fmt.Errorf("channel %q named twice", ch)
		}
	}
	return nil
}

// Next returns the next message, waiting for it until ctx ends. Once the
// subscription has ended and the messages received before are taken (or
// at once after Close), it returns why: ErrClosed after Close, the context's error, or what the
// server answered (a *StatusError; errors.Is(err, ErrGone) when a channel
// was deleted).
func (s *Subscription) Next(ctx context.Context) (*Received, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	select {
	case m, ok := <-s.out:
		if ok {
			return m, nil
		}
		<-s.done // closed right after out, once the ending is recorded
		return nil, s.Err()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Err returns why the subscription ended, or nil while it runs.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
	default:
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription and waits for its connection to close.
func (s *Subscription) Close() error {
	s.mu.Lock()
	s.closed = true
	if s.err == nil {
		s.err = ErrClosed
	}
	s.mu.Unlock()
	s.stop()
	<-s.done
	return nil
}

// Done is closed when the subscription has ended.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Channels returns the subscription's channels.
func (s *Subscription) Channels() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.channels)
}

// Transport returns the transport in use (Auto until the first connection
// settled it).
func (s *Subscription) Transport() Transport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.using
}

// Position returns the id to resume the subscription's current channels
// from (SubscribeOptions.From), or "" before any message.
func (s *Subscription) Position() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.resumeLocked(s.channels)
	if !ok {
		return ""
	}
	return m.String()
}

// Add adds channels to the live subscription. Over EventSource and
// long-poll (and WebSocket) this reconnects with the new set; the
// channels already there resume where they stood. A channel added starts
// with the messages of the second of the last message received (or where
// the server starts a new subscriber, before any message).
func (s *Subscription) Add(channels ...string) error {
	return s.change(func(cur []string) []string {
		for _, ch := range channels {
			if !slices.Contains(cur, ch) {
				cur = append(cur, ch)
			}
		}
		return cur
	})
}

// Remove removes channels from the live subscription, reconnecting with
// the rest; removing every channel is an error.
func (s *Subscription) Remove(channels ...string) error {
	return s.change(func(cur []string) []string {
		return slices.DeleteFunc(cur, func(ch string) bool { return slices.Contains(channels, ch) })
	})
}

func (s *Subscription) change(f func([]string) []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return fmt.Errorf("herald client: subscription ended: %w", s.err)
	default:
	}
	next := f(slices.Clone(s.channels))
	if err := checkSet(next); err != nil {
		return fmt.Errorf("herald client: change subscription: %w", err)
	}
	if slices.Equal(next, s.channels) {
		return nil
	}
	s.channels = next
	s.gen++
	if s.cancel != nil {
		s.cancel()
	}
	return nil
}

// resumeLocked builds the id that resumes channels from the positions:
// the second of the newest message received, each channel's tag in that
// second or "-" (nothing of that second yet). The server delivers a
// multiplexed subscription's messages in id order, so a channel whose
// last message is older has nothing unseen before that second; anything
// sent again is dropped by deliver.
func (s *Subscription) resumeLocked(channels []string) (msgid.Multi, bool) {
	if !s.haveID {
		return msgid.Multi{}, false
	}
	m := msgid.Multi{Time: s.lastTime, Tags: make([]int32, len(channels)), Active: -1}
	for i, ch := range channels {
		m.Tags[i] = -1
		if p, ok := s.pos[ch]; ok && p.Time == s.lastTime && p.Tag >= 0 {
			m.Tags[i] = p.Tag
			if m.Active < 0 {
				m.Active = i
			}
		}
	}
	if m.Active < 0 {
		m.Active = 0
	}
	return m, true
}

// attempt is one connection: its channel set, where it resumes, and its
// own context, cancelled by a change of the set.
type attempt struct {
	ctx      context.Context
	channels []string
	from     msgid.Multi
	resume   bool
	gen      uint64
}

// errRetryNow marks an ending after which the subscription reconnects at
// once: a subscriber timeout, a transport the server does not offer.
type errRetryNow struct{ error }

func (e errRetryNow) Unwrap() error { return e.error }

// run connects, reads and reconnects until the subscription ends.
func (s *Subscription) run(ctx context.Context) {
	defer close(s.done)
	defer close(s.out)
	backoff := s.opts.MinBackoff
	for {
		s.mu.Lock()
		actx, cancel := context.WithCancel(ctx)
		a := attempt{ctx: actx, channels: slices.Clone(s.channels), gen: s.gen}
		a.from, a.resume = s.resumeLocked(a.channels)
		s.cancel = cancel
		tr := s.using
		s.mu.Unlock()

		connected, err := s.connect(&a, tr)
		cancel()
		if ctx.Err() != nil {
			s.end(ctx.Err())
			return
		}
		s.mu.Lock()
		changed := s.gen != a.gen
		s.mu.Unlock()
		if changed {
			s.log.Debug("herald subscription: channels changed, reconnecting")
			backoff = s.opts.MinBackoff
			continue
		}
		if connected {
			backoff = s.opts.MinBackoff
		}
		var now errRetryNow
		switch {
		case errors.As(err, &now):
			s.log.Debug("herald subscription: reconnecting", "err", err)
			continue
		case !retryable(err):
			s.end(err)
			return
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		s.log.Debug("herald subscription: connection lost, reconnecting", "err", err, "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			s.end(ctx.Err())
			return
		case <-t.C:
		}
		backoff = min(2*backoff, s.opts.MaxBackoff)
	}
}

// connect runs one connection over tr (settling Auto) until it ends, and
// reports whether it was accepted.
func (s *Subscription) connect(a *attempt, tr Transport) (bool, error) {
	switch tr {
	case EventSource:
		return s.eventSource(a)
	case LongPoll:
		return s.longPoll(a)
	case WebSocket:
		return s.webSocket(a)
	case Multiplex:
		return s.multiplex(a)
	}
	if s.c.muxURL != "" {
		ok, err := s.multiplex(a)
		if ok || !errors.Is(err, errNoMultiplex) {
			return ok, err
		}
		s.log.Debug("herald subscription: no herald.v1 here, falling back to EventSource", "err", err)
	}
	ok, err := s.eventSource(a)
	if ok {
		return ok, err
	}
	var se *StatusError
	if errors.Is(err, errNotEventStream) || errors.As(err, &se) && (se.Code == http.StatusForbidden || se.Code == http.StatusNotAcceptable || se.Code == http.StatusMethodNotAllowed || se.Code == http.StatusNotModified) {
		s.log.Debug("herald subscription: no EventSource here, falling back to long-poll", "err", err)
		s.setUsing(LongPoll)
		return false, errRetryNow{err}
	}
	return ok, err
}

func (s *Subscription) setUsing(t Transport) {
	s.mu.Lock()
	s.using = t
	s.mu.Unlock()
}

// retryable reports whether a connection's ending may mend by
// reconnecting: a network failure, the server shutting down or
// overloaded, a server error. Refusals (4xx), a deleted channel and
// malformed answers end the subscription.
func retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code >= 500 || se.Code == http.StatusRequestTimeout || se.Code == http.StatusTooManyRequests
	}
	var pe protocolError
	return !errors.As(err, &pe)
}

// protocolError is an answer the client cannot read: retrying would read
// it again.
type protocolError struct{ error }

func (e protocolError) Unwrap() error { return e.error }

// deliver takes a message of a connection: it drops what the subscription
// already received (a server that sends a message again after a
// reconnection), records the position and hands the message to Next.
// id is the message's id as received (empty when the transport gave
// none). It returns false when the attempt ended meanwhile.
func (s *Subscription) deliver(a *attempt, id string, r *Received) (bool, error) {
	n := len(a.channels)
	if id != "" {
		m, err := msgid.Parse(id, n)
		if err != nil {
			return false, protocolError{fmt.Errorf("message id %q: %w", id, err)}
		}
		if m.Active < 0 || m.Active >= n {
			m.Active = 0
		}
		ch := a.channels[m.Active]
		cid := msgid.ID{Time: m.Time, Tag: m.Tags[m.Active]}
		s.mu.Lock()
		p, seen := s.pos[ch]
		removed := !slices.Contains(s.channels, ch)
		s.mu.Unlock()
		if seen && !cid.After(p) || removed {
			return true, nil // a repeat, or a channel just removed
		}
		r.Channel, r.ChannelID = ch, cid
		r.ID = id
		if n > 1 {
			r.ID = m.String()
		}
		// The position moves only once Next can have the message: a
		// message dropped by a change of the channel set comes again.
		if ok, err := s.send(a, r); !ok {
			return ok, err
		}
		s.mu.Lock()
		s.pos[ch] = cid
		s.lastTime = max(s.lastTime, m.Time)
		s.haveID = true
		s.mu.Unlock()
		return true, nil
	}
	if n == 1 {
		r.Channel = a.channels[0]
	}
	return s.send(a, r)
}

// deliverTo takes a message of a transport that names each message's
// channel and gives its id in that channel (herald.v1), as deliver does:
// a repeat or a message of a channel just removed is dropped, and the
// position moves once Next can have the message.
func (s *Subscription) deliverTo(a *attempt, ch string, cid msgid.ID, r *Received) (bool, error) {
	s.mu.Lock()
	p, seen := s.pos[ch]
	if seen && !cid.After(p) || !slices.Contains(s.channels, ch) {
		s.mu.Unlock()
		return true, nil
	}
	r.Channel, r.ChannelID, r.ID = ch, cid, cid.String()
	if len(a.channels) > 1 {
		// Received.ID resumes every channel: the multiplexed id of the
		// positions once this message is taken.
		lastTime, haveID := s.lastTime, s.haveID
		s.pos[ch], s.lastTime, s.haveID = cid, max(s.lastTime, cid.Time), true
		m, _ := s.resumeLocked(a.channels)
		r.ID = m.String()
		if seen {
			s.pos[ch] = p
		} else {
			delete(s.pos, ch)
		}
		s.lastTime, s.haveID = lastTime, haveID
	}
	s.mu.Unlock()
	if ok, err := s.send(a, r); !ok {
		return ok, err
	}
	s.mu.Lock()
	s.pos[ch] = cid
	s.lastTime = max(s.lastTime, cid.Time)
	s.haveID = true
	s.mu.Unlock()
	return true, nil
}

func (s *Subscription) send(a *attempt, r *Received) (bool, error) {
	select {
	case s.out <- r:
		return true, nil
	case <-a.ctx.Done():
		return false, a.ctx.Err()
	}
}

// end records why the subscription ended, unless Close did first.
func (s *Subscription) end(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}
