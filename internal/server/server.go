// Package server is Herald's HTTP side: it listens, matches requests to
// locations, resolves channel ids, and hands publishers to the store and
// subscribers to their transport.
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/location"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol"
)

// Server runs every listener of a configuration. Each location keeps its
// channels in the store Options.StoreFor picks for it (memory or Redis);
// the default store serves the rest.
type Server struct {
	cfg      *config.Config
	store    store.Store
	storeFor func(*config.Location) store.Store
	log      *slog.Logger
	now      func() time.Time

	quit     chan struct{} // closed when shutdown starts: waiting subscribers answer.
	quitOnce sync.Once

	streams         tracker       // streaming subscribers, which Shutdown does not see.
	slowSubscribers atomic.Uint64 // subscribers disconnected for being too slow.
	boundary        string        // multipart boundary of streamed parts.
	deflaters       deflaters
	groups          groups // fan-out groups of streaming subscribers
	storesMu        sync.Mutex
	stores          []store.Store // every distinct store a location uses
	scratchPool     sync.Pool     // *writeScratch for group writers

	mu        sync.Mutex
	listeners []net.Listener
	servers   []*http.Server
}

// Options configure a Server.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// StoreFor picks a location's store; nil (or a nil result) means the
	// default store given to New.
	StoreFor func(*config.Location) store.Store
}

// New prepares a server; Listen and Serve start it.
func New(cfg *config.Config, st store.Store, o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	var rnd [32]byte
	rand.Read(rnd[:])
	s := &Server{cfg: cfg, store: st, storeFor: o.StoreFor, log: o.Logger, now: o.Now, quit: make(chan struct{}), boundary: protocol.Boundary(rnd)}
	s.noteStore(st)
	return s
}

// SlowSubscribers returns how many streaming subscribers were disconnected
// for not keeping up.
func (s *Server) SlowSubscribers() uint64 { return s.slowSubscribers.Load() }

// Handler returns the HTTP handler of configured server block i.
func (s *Server) Handler(i int) http.Handler {
	return newHandler(s, s.cfg.Servers[i])
}

// Listen opens every configured listen address. Addresses holding port 0
// get a free port; Addrs reports what was bound.
func (s *Server) Listen(ctx context.Context) error {
	var lc net.ListenConfig
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, sc := range s.cfg.Servers {
		h := newHandler(s, sc)
		var tlsCfg *tls.Config
		if sc.TLSCertificate != "" {
			cert, err := tls.LoadX509KeyPair(sc.TLSCertificate, sc.TLSKey)
			if err != nil {
				return fmt.Errorf("server %d: load TLS certificate: %w", i+1, err)
			}
			tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
		}
		for _, addr := range sc.Listen {
			ln, err := lc.Listen(ctx, "tcp", addr)
			if err == nil && tlsCfg != nil {
				ln = tls.NewListener(ln, tlsCfg)
			}
			if err != nil {
				for _, l := range s.listeners {
					l.Close()
				}
				s.listeners, s.servers = nil, nil
				return fmt.Errorf("listen on %s (server %d): %w", addr, i+1, err)
			}
			// HTTP/1.1 and HTTP/2: over TLS by ALPN, in clear text (h2c) by
			// prior knowledge.
			protos := new(http.Protocols)
			protos.SetHTTP1(true)
			protos.SetHTTP2(true)
			protos.SetUnencryptedHTTP2(true)
			s.listeners = append(s.listeners, ln)
			s.servers = append(s.servers, &http.Server{
				Protocols:         protos,
				TLSConfig:         tlsCfg,
				Handler:           h,
				ReadHeaderTimeout: 10 * time.Second,
				IdleTimeout:       2 * time.Minute,
				ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
				BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
			})
		}
	}
	return nil
}

// Addrs returns the bound listen addresses, in configuration order.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Addr, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = l.Addr()
	}
	return out
}

// Serve serves every listener until ctx is done, then shuts down gracefully:
// it stops accepting, answers waiting subscribers, waits up to the
// configured shutdown timeout for requests to finish and returns.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	servers, listeners := s.servers, s.listeners
	s.mu.Unlock()
	if len(servers) == 0 {
		return errors.New("serve: no listeners (call Listen first)")
	}
	errc := make(chan error, len(servers))
	for i := range servers {
		go func() {
			s.log.Info("listening", "addr", listeners[i].Addr().String())
			if err := servers[i].Serve(listeners[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s: %w", listeners[i].Addr(), err)
				return
			}
			errc <- nil
		}()
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.log.Info("shutting down")
	s.quitOnce.Do(func() { close(s.quit) })
	timeout := s.cfg.ShutdownTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, hs := range servers {
		wg.Go(func() {
			if err := hs.Shutdown(sctx); err != nil {
				s.log.Warn("shutdown did not finish in time; closing connections", "err", err)
				hs.Close()
			}
		})
	}
	wg.Wait()
	// Streaming subscribers live on hijacked connections that Shutdown does
	// not track; they saw quit and are ending.
	if !s.streams.wait(sctx) {
		s.log.Warn("streaming subscribers did not finish in time")
	}
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
	zero := make(chan struct{})
	t.zero = zero
	t.mu.Unlock()
	select {
	case <-zero:
		return true
	case <-ctx.Done():
		return false
	}
}

// contextFor is the context of work a connection does on its own (a
// WebSocket publish) rather than for one HTTP request.
func contextFor(s *Server) context.Context { return context.Background() }

// loc is a configured location with what is derived from it once.
type loc struct {
	*config.Location
	store    store.Store // where its channels live
	chanOpts store.ChannelOptions
	subOpts  store.SubscribeOptions
	allow    string // methods for the Allow header
}

// noteStore records a store the server's locations use.
func (s *Server) noteStore(st store.Store) {
	if st == nil {
		return
	}
	s.storesMu.Lock()
	defer s.storesMu.Unlock()
	if !slices.Contains(s.stores, st) {
		s.stores = append(s.stores, st)
	}
}

// Stats sums the counters of every store the server uses: the default one
// and those its locations pick. A limit of 0 (none) on any store makes the
// sum 0 too.
func (s *Server) Stats() store.Stats {
	s.storesMu.Lock()
	stores := slices.Clone(s.stores)
	s.storesMu.Unlock()
	var sum store.Stats
	unlimited := false
	for _, st := range stores {
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

func newLoc(s *Server, l *config.Location) *loc {
	lc := &loc{Location: l, store: s.store}
	if s.storeFor != nil {
		if st := s.storeFor(l); st != nil {
			lc.store = st
		}
	}
	s.noteStore(lc.store)
	lc.chanOpts = store.ChannelOptions{
		BufferLength:    l.BufferLength(),
		MinBufferLength: l.MinMessageBufferLength,
		MessageTimeout:  l.MessageTimeout,
		ChannelTimeout:  l.ChannelTimeout,
	}
	lc.subOpts = store.SubscribeOptions{
		ExistingOnly:   l.SubscribeExistingChannelsOnly,
		MaxSubscribers: l.MaxChannelSubscribers,
		Concurrency:    l.SubscriberConcurrency,
		ChannelTimeout: l.ChannelTimeout,
	}
	switch {
	case l.Publisher.HTTP:
		lc.allow = "GET, POST, PUT, DELETE, OPTIONS"
	default:
		lc.allow = "GET, OPTIONS"
	}
	return lc
}

type handler struct {
	s       *Server
	matcher *location.Matcher
	locs    []*loc
}

func newHandler(s *Server, sc config.Server) *handler {
	h := &handler{s: s}
	pats := make([]location.Pattern, len(sc.Locations))
	for i := range sc.Locations {
		pats[i] = sc.Locations[i].Pattern
		h.locs = append(h.locs, newLoc(s, &sc.Locations[i]))
	}
	h.matcher = location.NewMatcher(pats)
	return h
}
