package chanevents

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/store"
)

// QueueSize is how many entries (an event, or one event sent n times) wait
// for each store at most. Beyond it, events are dropped and counted
// (Publisher.Dropped) rather than slow the subscribers and publishers that
// cause them.
const QueueSize = 16384

// publishTimeout bounds one event's publish.
const publishTimeout = 5 * time.Second

// Publisher stores channel events in their stores. Each store has a queue
// and a goroutine of its own that publishes its events one at a time, in
// the order they were sent, so events of one request arrive in order
// (subscriber_enqueue before its subscriber_dequeue) and a slow store
// (a far Redis) never holds back another's events.
//
// Nchan publishes an event inside the request that causes it. Herald sends
// it off the request's path instead, and the queue is bounded: a store
// that cannot take events as fast as they come (a Redis gone away, a flood
// of subscribers) loses the events beyond QueueSize, counted and logged,
// where waiting would slow every subscriber of the server. Under any load
// a store keeps up with, nothing is lost.
type Publisher struct {
	log     *slog.Logger
	dropped atomic.Uint64
	sent    atomic.Uint64

	mu     sync.Mutex
	lanes  map[store.Store]*lane
	closed bool
	wg     sync.WaitGroup
}

// NewPublisher returns a publisher; its goroutines start with the first
// event of each store. log may be nil.
func NewPublisher(log *slog.Logger) *Publisher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{log: log, lanes: map[store.Store]*lane{}}
}

// Dropped returns how many events were dropped because their store's
// queue was full (or the publisher closed).
func (p *Publisher) Dropped() uint64 { return p.dropped.Load() }

// Published returns how many events were stored.
func (p *Publisher) Published() uint64 { return p.sent.Load() }

// lane is one store's queue and goroutine.
type lane struct {
	p    *Publisher
	st   store.Store
	q    chan entry
	done chan struct{} // closed by Close: drain what is queued, then stop
}

type entry struct {
	ev event
	n  int
}

// lane returns st's lane, starting it the first time.
func (p *Publisher) lane(st store.Store) *lane {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.lanes[st]; l != nil {
		return l
	}
	l := &lane{p: p, st: st, q: make(chan entry, QueueSize), done: make(chan struct{})}
	if p.closed {
		close(l.done)
		return l // drops what it is sent
	}
	p.lanes[st] = l
	p.wg.Go(l.run)
	return l
}

// send queues ev n times, or drops it when the queue is full.
func (l *lane) send(ev event, n int) {
	select {
	case <-l.done:
		l.p.dropped.Add(uint64(n))
		return
	default:
	}
	select {
	case l.q <- entry{ev: ev, n: n}:
	default:
		if d := l.p.dropped.Add(uint64(n)); d == uint64(n) || d/10000 != (d-uint64(n))/10000 {
			l.p.log.Warn("channel events dropped: the store does not keep up with them",
				"dropped_total", d, "queue", QueueSize)
		}
	}
}

// run publishes the lane's events until Close, then what is left.
func (l *lane) run() {
	for {
		select {
		case e := <-l.q:
			l.publish(e)
		case <-l.done:
			for {
				select {
				case e := <-l.q:
					l.publish(e)
				default:
					return
				}
			}
		}
	}
}

func (l *lane) publish(e entry) {
	for range e.n {
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		o := &channelOptions
		if e.ev.opts != nil {
			o = e.ev.opts
		}
		_, err := l.st.Publish(ctx, e.ev.key, store.Publication{Body: []byte(e.ev.body), EventName: e.ev.name}, *o)
		cancel()
		if err != nil {
			l.p.dropped.Add(1)
			l.p.log.Debug("channel event not published", "channel", e.ev.key.String(), "err", err)
			continue
		}
		l.p.sent.Add(1)
	}
}

// Post queues a message of another kind of events channel (the
// push-stream profile's, push_stream_events_channel_id) for channel key of
// st: body with event name name, published with options o. It goes
// through st's queue with the channel events, in the order sent.
func (p *Publisher) Post(st store.Store, key store.ChannelKey, body, name string, o store.ChannelOptions) {
	p.lane(st).send(event{key: key, body: body, name: name, opts: &o}, 1)
}

// Close publishes the events already queued (until ctx ends) and stops
// every goroutine; events sent afterwards are dropped.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		for _, l := range p.lanes {
			close(l.done)
		}
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
