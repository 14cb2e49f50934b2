// Package server is Herald's HTTP side: it listens, matches each request
// to its route (a location provisioned once, see package route), and hands
// publishers to the store and subscribers to their transport.
//
// Where things are: router.go matches a request and dispatches it by role;
// publish.go is the one publish path (HTTP and WebSocket publishers);
// subscribe.go admits a subscriber into a session (session.go), whose end
// runs once; longpoll.go answers long-poll and interval-poll subscribers;
// stream.go runs streaming subscribers over outputs (a hijacked connection
// or an HTTP/2 stream), in the formats of eventsource.go, httpstream.go
// (chunked, multipart/mixed, raw) and websocket.go; fanout.go serves many
// subscribers of one channel from one writer goroutine; proxy.go forwards
// proxy_pass locations to an application and sends its X-Accel-Redirect
// answers back through the router (internal redirects).
// chanevents.go sends a location's channel events (package chanevents)
// from sessions and publishers; channellist.go answers channel_list locations.
// dashboard.go serves dashboard locations: the embedded page (package web)
// and its stream of snapshots.
//
// mux.go serves herald.v1 WebSockets (websocket_multiplex): many
// subscriptions on one connection, changed while it is open.
//
// Lock order (outer first): fanWriters.mu, then fanWriter.mu; connOutput.mu
// is taken alone (never while holding another server lock, except a
// herald.v1 subscription's muxSub.mu, under which it writes) and runs the
// client-gone callback after releasing it; tracker.mu and muxConn.mu are
// taken alone. The
// stores' own locks are taken inside store calls only, never while a
// server lock is held.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/accesslog"
	"github.com/heraldpush/herald/internal/chanevents"
	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/hook"
	"github.com/heraldpush/herald/internal/metrics"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/protocol/msgid"
)

// StoreFor returns the store a location keeps its channels in.
type StoreFor func(*config.Location) (store.Store, error)

// Options configure a Server.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// Events receives what happens to subscribers and messages; nil makes
	// a bus of the server's own (see Server.Events).
	Events *events.Bus
	// StoreFor picks each location's store (stub_status locations keep no
	// channels and have none). Required.
	StoreFor StoreFor
	// Stderr is where access_log: stderr writes; nil is os.Stderr.
	Stderr io.Writer
}

// Server runs every listener of a configuration.
type Server struct {
	cfg    atomic.Pointer[config.Config] // the configuration in force (Reload replaces it)
	log    *slog.Logger
	now    func() time.Time
	events *events.Bus

	blocks atomic.Pointer[[]*block] // the server blocks in force (Reload replaces them)
	reload sync.Mutex               // one Reload at a time
	roles  [route.NumRoles]roleHandler
	stores []store.Store // every distinct store a location uses

	quit     chan struct{} // closed when draining starts: waiting subscribers answer.
	quitOnce sync.Once

	streams     tracker // streaming subscribers, which http.Server.Shutdown does not see.
	boundary    string  // multipart boundary of streamed parts.
	partEnd     []byte  // what follows each streamed part: "\r\n--" and the boundary.
	deflaters   deflaters
	writers     fanWriters  // fan-out writers of streaming subscribers
	scratchPool sync.Pool   // *writeScratch for fan-out writers
	budget      bodyBudget  // publishes being received (max_body_memory)
	hooks       *hook.Queue // subscribe_request and unsubscribe_request notifications
	wsDecoders  sync.Pool   // *protocol.WSDecoder of WebSocket messages in progress
	wsBuffers   sync.Pool   // *[wsReadBuffer]byte WebSocket frames are read into

	chanEvents *chanevents.Publisher // channel events (channel_events_channel_id)
	ps         psState               // push-stream subscribers' templates and encoding slots
	psPub      psPubState            // push-stream statistics' start and the events channels (pushstream_events.go)

	// Operators' side (ops.go): the metrics, once a metrics location is
	// configured; the access log (nil when off) and those replaced by a
	// reload, closed at Stop.
	metrics atomic.Pointer[metrics.Collector]
	alog    atomic.Pointer[accesslog.Logger]
	alogKey accessLogKey
	oldLogs []*accesslog.Logger
	opsMu   sync.Mutex
	stderr  io.Writer

	// dash is what the dashboard shows (dashboard.go).
	dash dashboardState

	mu        sync.Mutex
	endpoints []*endpoint // open listen addresses, in configuration order
	listened  bool        // Listen ran: a reload opens and closes listeners
	started   bool
	retiring  []*endpoint // endpoints a reload removed, shutting down
	handover  handover    // a binary upgrade in progress
	errc      chan error  // a listener that failed while serving
}

// New provisions a server for cfg: every location becomes a route on the
// store o.StoreFor picks for it. Listen and Start run it.
func New(cfg *config.Config, o Options) (*Server, error) {
	if o.StoreFor == nil {
		return nil, errors.New("server: no StoreFor")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Events == nil {
		o.Events = events.New()
	}
	var rnd [32]byte
	rand.Read(rnd[:])
	s := &Server{log: o.Logger, now: o.Now, events: o.Events, quit: make(chan struct{}),
		boundary: protocol.Boundary(rnd), errc: make(chan error, 1), chanEvents: chanevents.NewPublisher(o.Logger)}
	s.stderr = o.Stderr
	s.psPub.start = o.Now()
	s.cfg.Store(cfg)
	s.budget.limit.Store(cfg.MaxBodyMemory)
	s.hooks = hook.NewQueue(o.Logger, hook.QueueOptions{Observer: s.hookCalled})
	s.partEnd = protocol.AppendMultipartBoundary(nil, s.boundary)
	storeFor := func(l *config.Location) (store.Store, error) {
		st, err := o.StoreFor(l)
		if err == nil && st == nil {
			err = errors.New("no store")
		}
		if err != nil {
			return nil, fmt.Errorf("location %s (line %d): %w", l.Pattern, l.Line, err)
		}
		if !slices.Contains(s.stores, st) {
			s.stores = append(s.stores, st)
		}
		return st, nil
	}
	s.roles = s.roleHandlers()
	blocks, err := s.provision(cfg, storeFor)
	if err != nil {
		return nil, err
	}
	s.blocks.Store(&blocks)
	if err := s.applyOps(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// Events returns the server's event bus.
func (s *Server) Events() *events.Bus { return s.events }

// Listen opens every configured listen address, taking the listener for an
// address from inherited when it holds one (a socket handed over by another
// process) instead of opening it. Addresses holding port 0 get a free
// port; Addrs reports what was bound.
func (s *Server) Listen(ctx context.Context, inherited map[string]net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var eps []*endpoint
	for _, b := range *s.blocks.Load() {
		for _, la := range listenersOf(b.sc) {
			ep, err := s.openEndpoint(ctx, la, b, inherited[la.Addr], s.cfg.Load().HTTP1Fast)
			if err != nil {
				for _, e := range eps {
					e.ln.Close()
				}
				return fmt.Errorf("listen on %s (server %d): %w", la.Addr, b.index+1, err)
			}
			eps = append(eps, ep)
		}
	}
	s.endpoints, s.listened = eps, true
	return nil
}

// Addrs returns the bound listen addresses, in configuration order.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Addr, len(s.endpoints))
	for i, ep := range s.endpoints {
		out[i] = ep.ln.Addr()
	}
	return out
}

// Start serves every listener in the background. A listener that fails
// while serving is reported on Failed.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.endpoints) == 0 {
		return errors.New("serve: no listeners (call Listen first)")
	}
	if s.started {
		return errors.New("serve: already started")
	}
	s.started = true
	for _, ep := range s.endpoints {
		s.serveEndpoint(ep)
	}
	return nil
}

// Failed delivers the error of a listener that stopped serving on its own.
func (s *Server) Failed() <-chan error { return s.errc }

// Drain stops accepting connections, answers every waiting subscriber
// (503 with Retry-After; streams get their transport's ending) and waits
// until every request and stream has finished or ctx ends. It returns
// ctx's error if some did not finish.
func (s *Server) Drain(ctx context.Context) error {
	s.quitOnce.Do(func() { close(s.quit) })
	s.mu.Lock()
	eps := slices.Concat(s.endpoints, s.retiring)
	s.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(eps))
	for i, ep := range eps {
		wg.Go(func() { errs[i] = ep.shutdown(ctx) })
	}
	wg.Wait()
	// Streaming subscribers live on hijacked connections that Shutdown does
	// not track; they saw quit and are ending.
	if !s.streams.wait(ctx) {
		errs = append(errs, fmt.Errorf("streaming subscribers still running: %w", ctx.Err()))
	}
	// Channel events of the subscribers that just ended still go out.
	s.psPub.close()
	if err := s.chanEvents.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("channel events still queued: %w", err))
	}
	return errors.Join(errs...)
}

// Stop drains the server for at most the configured shutdown timeout and
// then closes whatever connections are left.
func (s *Server) Stop(ctx context.Context) error {
	timeout := s.cfg.Load().ShutdownTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := s.Drain(dctx)
	if err != nil {
		s.log.Warn("shutdown did not finish in time; closing connections", "err", err)
		s.mu.Lock()
		for _, ep := range slices.Concat(s.endpoints, s.retiring) {
			ep.close()
		}
		s.mu.Unlock()
	}
	// Subscribers that ended queued their unsubscribe_request; send what
	// can be sent in time.
	hctx, hcancel := context.WithTimeout(ctx, timeout)
	defer hcancel()
	s.hooks.Close(hctx)
	s.closeOps()
	return err
}

// HookNotifications counts the subscribe_request and unsubscribe_request
// notifications: sent (the application answered 2xx), failed (every
// attempt failed, logged) and dropped (the queue was full).
func (s *Server) HookNotifications() (sent, failed, dropped uint64) {
	return s.hooks.Sent(), s.hooks.Failed(), s.hooks.Dropped()
}

// Serve serves every listener until ctx is done or a listener fails, then
// stops gracefully (Stop). It returns the listener's failure, if any.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-s.errc:
	}
	s.log.Info("shutting down")
	s.Stop(context.Background())
	return serveErr
}

// tracker counts running streams; once closed it admits no new ones, so
// shutdown can wait for the last one to end.
type tracker struct {
	mu     sync.Mutex
	n      int
	closed bool
	zero   chan struct{} // closed when n drops to 0 after close.
}

// add admits a stream; false once shutdown has begun.
func (t *tracker) add() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.n++
	return true
}

// done ends a stream admitted by add.
func (t *tracker) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.closed && t.n == 0 && t.zero != nil {
		close(t.zero)
		t.zero = nil
	}
}

// wait closes the tracker and waits until no stream runs or ctx ends; it
// reports whether every stream ended.
func (t *tracker) wait(ctx context.Context) bool {
	t.mu.Lock()
	t.closed = true
	if t.n == 0 {
		t.mu.Unlock()
		return true
	}
	zero := t.zero
	if zero == nil {
		zero = make(chan struct{})
		t.zero = zero
	}
	t.mu.Unlock()
	select {
	case <-zero:
		return true
	case <-ctx.Done():
		return false
	}
}

// Stats sums the counters of every store the server's locations use. A
// limit of 0 (none) on any store makes the sum 0 too.
func (s *Server) Stats() store.Stats {
	var sum store.Stats
	unlimited := false
	for _, st := range s.stores {
		x := st.Stats()
		sum.Channels += x.Channels
		sum.Subscribers += x.Subscribers
		sum.StoredMessages += x.StoredMessages
		sum.Published += x.Published
		sum.MemoryUsed += x.MemoryUsed
		sum.MemoryLimit += x.MemoryLimit
		unlimited = unlimited || x.MemoryLimit == 0
	}
	if unlimited {
		sum.MemoryLimit = 0
	}
	return sum
}

// SlowSubscribers returns how many streaming subscribers were disconnected
// for not keeping up.
func (s *Server) SlowSubscribers() uint64 { return s.events.Count(events.SubscriberTooSlow) }

// emit sends an event to the bus.
func (s *Server) emit(e events.Event) {
	s.dash.observe(&e)
	s.events.Emit(e)
}

// delivered reports n messages (bytes in all, when known) written to one
// subscriber.
func (s *Server) delivered(ss *session, n, bytes int) {
	if ss.ev != nil {
		ss.receivedN(n)
	}
	if ss.alog != nil {
		ss.alog.sent(n, bytes)
	}
	if !s.events.Wants(events.MessageDelivered) {
		s.events.CountOnly(events.MessageDelivered, n)
		return
	}
	s.emit(events.Event{Kind: events.MessageDelivered, Group: ss.key.Group, Channel: ss.key.ID,
		Transport: ss.kind, Location: ss.rt.Name, N: n, Bytes: bytes, MessageID: ss.cursors[ss.active]})
}

// deliveredN reports n messages (bytes in all) written by a fan-out writer
// to the subscribers of one channel, the newest being last.
func (s *Server) deliveredN(k *fanKey, n, bytes int, last msgid.ID) {
	if !s.events.Wants(events.MessageDelivered) {
		s.events.CountOnly(events.MessageDelivered, n)
		return
	}
	s.emit(events.Event{Kind: events.MessageDelivered, Group: k.channel.Group, Channel: k.channel.ID,
		Location: k.rt.Name, N: n, Bytes: bytes, MessageID: last})
}
