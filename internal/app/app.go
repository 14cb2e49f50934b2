// Package app builds a running Herald from a configuration: it opens the
// stores the locations choose (through a registry of engines), provisions
// the server, listens (on sockets it opens or that are handed to it),
// serves, trims memory, and stops in two steps: Drain (stop accepting and
// let every client finish) and Stop (drain within the shutdown timeout,
// then close the stores).
//
// The command line (package cli) only parses flags and calls it; tests
// build the same App.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/memtrim"
	"github.com/heraldpush/herald/internal/server"
	"github.com/heraldpush/herald/internal/store"
)

// Options configure an App.
type Options struct {
	Logger *slog.Logger
	// Engines are the stores locations can choose; nil is DefaultRegistry.
	Engines *Registry
	// Listeners are sockets handed in from outside (by a parent process or
	// a service manager), by the configured listen address they serve; the
	// App opens the other addresses itself.
	Listeners map[string]net.Listener
	// NoMemoryTrim turns off returning freed memory to the operating system.
	NoMemoryTrim bool
	// Stderr is where access_log: stderr writes; nil is os.Stderr.
	Stderr io.Writer
}

// App is a running (or ready to run) Herald.
type App struct {
	cfg    *config.Config
	log    *slog.Logger
	bus    *events.Bus
	stores *stores
	srv    *server.Server
	o      Options

	mu sync.Mutex // guards cfg

	stopTrim context.CancelFunc
	trimDone chan struct{}
	stopOnce sync.Once
	stopErr  error
}

// New opens the stores of cfg and provisions its server. Nothing listens
// yet; Start does. Stores do not wait for their backends (a Redis that is
// down is retried in the background).
func New(ctx context.Context, cfg *config.Config, o Options) (*App, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Engines == nil {
		o.Engines = DefaultRegistry()
	}
	a := &App{cfg: cfg, log: o.Logger, bus: events.New(), o: o}
	ss, err := o.Engines.open(ctx, Env{Logger: o.Logger, Events: a.bus}, cfg)
	if err != nil {
		return nil, err
	}
	a.stores = ss
	srv, err := server.New(cfg, server.Options{Logger: o.Logger, Events: a.bus, StoreFor: o.Engines.storeFor(cfg, ss), Stderr: o.Stderr})
	if err != nil {
		ss.close()
		return nil, err
	}
	a.srv = srv
	return a, nil
}

// Check validates what New would refuse in a configuration that parsed:
// every location's store is one the registry has and can serve. It opens
// nothing.
func Check(cfg *config.Config, engines *Registry) error {
	if engines == nil {
		engines = DefaultRegistry()
	}
	return engines.Check(cfg)
}

// Server returns the App's server.
func (a *App) Server() *server.Server { return a.srv }

// Events returns the App's event bus.
func (a *App) Events() *events.Bus { return a.bus }

// Stores returns every store the App opened.
func (a *App) Stores() []store.Store { return a.stores.order }

// Start listens on every configured address and serves in the background.
func (a *App) Start(ctx context.Context) error {
	if err := a.srv.Listen(ctx, a.o.Listeners); err != nil {
		return err
	}
	if err := a.srv.Start(); err != nil {
		return err
	}
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.stopTrim, a.trimDone = cancel, make(chan struct{})
	go func() {
		defer close(a.trimDone)
		if !a.o.NoMemoryTrim {
			memtrim.Run(tctx, memtrim.Options{Logger: a.log, Enabled: func() bool { return a.Config().MemoryTrim }})
		}
	}()
	return nil
}

// Reload puts cfg in force for new requests (see server.Server.Reload):
// locations, limits, CORS, TLS certificates. Connected subscribers keep
// their connections and receive everything. A configuration that a running
// Herald cannot take (new or changed stores, other listen addresses; the
// error wraps server.ErrRestartNeeded) or that does not provision is
// refused whole, and the running one stays in force.
func (a *App) Reload(ctx context.Context, cfg *config.Config) error {
	if err := a.o.Engines.Check(cfg); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	if err := a.srv.Reload(cfg, a.o.Engines.storeFor(cfg, a.stores)); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	a.mu.Lock()
	a.cfg = cfg
	a.mu.Unlock()
	a.log.Info("configuration reloaded")
	return nil
}

// ReopenLogs reopens the access log's file, as log rotation asks once it
// has moved the file away (SIGUSR1).
func (a *App) ReopenLogs() error { return a.srv.ReopenLogs() }

// Config returns the configuration in force.
func (a *App) Config() *config.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// ListenerFiles returns copies of the App's listening sockets, by
// configured listen address, for a new process to inherit.
func (a *App) ListenerFiles() (map[string]*os.File, error) { return a.srv.ListenerFiles() }

// StopAccepting closes the App's listeners, which a new process accepts on
// now, and returns the newest Unix second its message ids used (the new
// process numbers its messages after it).
func (a *App) StopAccepting() int64 {
	a.srv.StopAccepting()
	return time.Now().Unix() + 1 // a publish finishing now may still take this second
}

// NumberAfter makes the App's stores number new messages after Unix
// second sec (see StopAccepting). Stores whose ids are shared (Redis) need
// nothing.
func (a *App) NumberAfter(sec int64) {
	for _, st := range a.stores.order {
		if n, ok := st.(interface{ NumberAfter(int64) }); ok {
			n.NumberAfter(sec)
		}
	}
}

// Handover ends the App after a new process took over its listeners:
// subscribers are ended at random moments within spread (long-polls with
// their timeout answer, streams with a reconnect hint) and the stores are
// closed. See server.Server.Handover.
func (a *App) Handover(ctx context.Context, spread time.Duration) error {
	err := a.srv.Handover(ctx, spread)
	a.Stop(ctx)
	return err
}

// Addrs returns the addresses the App listens on, in configuration order.
func (a *App) Addrs() []net.Addr { return a.srv.Addrs() }

// Failed delivers the error of a listener that stopped serving on its own.
func (a *App) Failed() <-chan error { return a.srv.Failed() }

// Drain stops accepting connections, answers every waiting subscriber and
// waits for every request and stream to finish, until ctx ends.
func (a *App) Drain(ctx context.Context) error { return a.srv.Drain(ctx) }

// Stop drains for at most the configured shutdown timeout, closes what is
// left, closes the stores and stops the memory trimmer. It runs once;
// later calls return its result.
func (a *App) Stop(ctx context.Context) error {
	a.stopOnce.Do(func() {
		err := a.srv.Stop(ctx)
		a.stores.close()
		if a.stopTrim != nil {
			a.stopTrim()
			<-a.trimDone
		}
		a.stopErr = err
	})
	return a.stopErr
}

// Run starts the App and serves until ctx ends or a listener fails, then
// stops it (see Wait).
func (a *App) Run(ctx context.Context) error {
	if err := a.Start(ctx); err != nil {
		a.Stop(context.Background())
		return fmt.Errorf("start: %w", err)
	}
	return a.Wait(ctx)
}

// Wait serves until ctx ends or a listener fails, then stops the App. It
// returns the listener's failure, if that is why it stopped.
func (a *App) Wait(ctx context.Context) error {
	var failed error
	select {
	case <-ctx.Done():
	case failed = <-a.Failed():
	}
	a.log.Info("shutting down")
	if err := a.Stop(context.Background()); err != nil {
		a.log.Warn("stopped before every client finished", "err", err)
	}
	return failed
}
