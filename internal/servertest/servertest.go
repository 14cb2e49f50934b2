// Package servertest runs real Herald servers on random loopback ports for
// the tests of other packages: the server, the load tool, the Redis engine.
package servertest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/server"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/memory"
)

// Server is a running Herald.
type Server struct {
	URL    string         // http://127.0.0.1:PORT of its first listener
	Server *server.Server // the server itself
	Store  store.Store    // its default store

	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// Options say what to run. The zero value runs the built-in configuration
// on a fresh memory store.
type Options struct {
	// Config is the configuration; nil means config.Default(). Only its
	// first server block is started, on 127.0.0.1:0.
	Config *config.Config
	// Store is the default store; nil means a memory store (with a fast
	// sweeper) that is closed with the server.
	Store store.Store
	// StoreFor picks a location's store; a nil result means Store.
	StoreFor func(*config.Location) store.Store
	// Events, when set, is the server's event bus, and the bus of the
	// memory store Start makes, so the server sees the store's events
	// (channels made and removed) as a running Herald does.
	Events *events.Bus
}

// Start starts a server and stops it when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	cfg := o.Config
	if cfg == nil {
		cfg = config.Default()
	}
	cfg.Servers = cfg.Servers[:1]
	cfg.Servers[0].Listen = []string{"127.0.0.1:0"}
	cfg.ShutdownTimeout = 2 * time.Second
	st, ownStore := o.Store, false
	if st == nil {
		st = memory.New(memory.Options{MemoryLimit: cfg.MaxReservedMemory, SweepInterval: 50 * time.Millisecond, Events: o.Events})
		ownStore = true
	}
	storeFor := func(l *config.Location) (store.Store, error) {
		if o.StoreFor != nil {
			if x := o.StoreFor(l); x != nil {
				return x, nil
			}
		}
		return st, nil
	}
	srv, err := server.New(cfg, server.Options{StoreFor: storeFor, Events: o.Events})
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := srv.Listen(ctx, nil); err != nil {
		cancel()
		t.Fatalf("listen: %v", err)
	}
	s := &Server{URL: "http://" + srv.Addrs()[0].String(), Server: srv, Store: st, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
		if ownStore {
			st.Close()
		}
	})
	return s
}

// Stop shuts the server down gracefully (once) and returns what Serve
// returned, or an error if it did not stop within 5 seconds.
func (s *Server) Stop() error {
	s.once.Do(func() {
		s.cancel()
		select {
		case s.err = <-s.done:
		case <-time.After(5 * time.Second):
			s.err = context.DeadlineExceeded
		}
	})
	return s.err
}
