package hook

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Queue sends notifications (subscribe_request, unsubscribe_request) in
// the background, so a subscriber's start and end never wait on the
// application: a bounded queue, served by a few workers that retry a
// failed request with backoff. A notification that finds the queue full is
// dropped and counted; one that fails every attempt is logged.
//
// Each worker has its own queue and a subscriber's notifications all go to
// one worker (see Shard), so its unsubscribe_request never overtakes its
// subscribe_request.
type Queue struct {
	log      *slog.Logger
	items    []chan notice
	next     atomic.Uint32 // round-robin shard of the next subscriber
	workers  int
	attempts int
	backoff  time.Duration

	start   sync.Once
	mu      sync.RWMutex // guards closed against Notify's send; Notify only reads
	closed  bool
	stop    chan struct{} // closed by Close: retries stop waiting
	wg      sync.WaitGroup
	dropped atomic.Uint64
	failed  atomic.Uint64
	sent    atomic.Uint64
	observe Observer
}

type notice struct {
	h   *Hook
	req *http.Request // built without a context; each attempt adds one
}

// QueueOptions size a Queue; zero values take the defaults.
type QueueOptions struct {
	// Size is how many notifications may wait (default 4096).
	Size int
	// Workers send them (default 4).
	Workers int
	// Attempts is how many times a notification is tried (default 3).
	Attempts int
	// Backoff is the wait after the first failure, doubled after each
	// (default 200ms).
	Backoff time.Duration
	// Observer, when set, is told of every attempt (see Observer).
	Observer Observer
}

// NewQueue returns a queue logging to log. Its workers start with the
// first notification; Close stops them.
func NewQueue(log *slog.Logger, o QueueOptions) *Queue {
	if o.Size <= 0 {
		o.Size = 4096
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = 200 * time.Millisecond
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := &Queue{log: log, workers: o.Workers, attempts: o.Attempts, backoff: o.Backoff, stop: make(chan struct{}), observe: o.Observer}
	for range o.Workers {
		q.items = append(q.items, make(chan notice, max(o.Size/o.Workers, 1)))
	}
	return q
}

// Shard returns the shard a subscriber's notifications go to: pass it to
// each Notify of that subscriber so they are sent in order.
func (q *Queue) Shard() int { return int(q.next.Add(1) % uint32(q.workers)) }

// Notify queues a notification request built by h.Build (its context is
// replaced by each attempt's) on a shard (see Shard). It never blocks:
// with the shard's queue full, or the queue closed, the notification is
// dropped and counted.
func (q *Queue) Notify(h *Hook, req *http.Request, shard int) {
	q.start.Do(func() {
		for _, items := range q.items {
			q.wg.Go(func() { q.work(items) })
		}
	})
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		q.dropped.Add(1)
		return
	}
	select {
	case q.items[shard%len(q.items)] <- notice{h: h, req: req}:
	default:
		// Logged at the 1st, 2nd, 4th, 8th... drop: a flood of ends must
		// not turn into a flood of log lines.
		if n := q.dropped.Add(1); n&(n-1) == 0 {
			q.log.Warn("hook queue full: notification dropped", "url", req.URL.Redacted(), "dropped", n)
		}
	}
}

// Dropped is how many notifications were dropped because the queue was
// full or closed.
func (q *Queue) Dropped() uint64 { return q.dropped.Load() }

// Failed is how many notifications failed every attempt.
func (q *Queue) Failed() uint64 { return q.failed.Load() }

// Sent is how many notifications the application answered with 2xx.
func (q *Queue) Sent() uint64 { return q.sent.Load() }

// Close stops taking notifications and lets the workers send what is
// queued until ctx is done; then retries stop and what is left is
// dropped.
func (q *Queue) Close(ctx context.Context) {
	// Workers not started yet never will be: no Notify adds to the wait
	// group while Close waits on it.
	q.start.Do(func() {})
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	for _, items := range q.items {
		close(items)
	}
	q.mu.Unlock()
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
		close(q.stop)
	case <-ctx.Done():
		close(q.stop)
		<-done
	}
}

func (q *Queue) work(items <-chan notice) {
	for n := range items {
		select {
		case <-q.stop:
			q.dropped.Add(1)
			continue
		default:
		}
		q.send(n)
	}
}

// send tries a notification up to the queue's attempts, waiting longer
// after each failure; a 5xx answer or a failed request is retried, any
// other non-2xx answer is not (the application said no).
func (q *Queue) send(n notice) {
	wait := q.backoff
	var err error
	status := 0
	for attempt := 1; ; attempt++ {
		status, err = q.try(n)
		if err == nil && status >= 200 && status < 300 {
			q.sent.Add(1)
			return
		}
		if err == nil && status < 500 || attempt >= q.attempts {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-q.stop:
			t.Stop()
			attempt = q.attempts
		}
		if attempt >= q.attempts {
			break
		}
		wait *= 2
	}
	q.failed.Add(1)
	if err != nil {
		q.log.Error("hook request failed", "url", n.req.URL.Redacted(), "err", err)
		return
	}
	q.log.Error("hook request refused by the application", "url", n.req.URL.Redacted(), "status", status)
}

func (q *Queue) try(n notice) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), n.h.Timeout)
	defer cancel()
	if q.observe != nil {
		ctx = WithObserver(ctx, q.observe)
	}
	a, err := n.h.do(n.req.Clone(ctx))
	if err != nil {
		return 0, err
	}
	return a.Status, nil
}
