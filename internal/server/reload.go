package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/store"
)

// ErrRestartNeeded wraps what a reload cannot apply to a running server.
var ErrRestartNeeded = errors.New("needs a restart")

// Reload puts cfg in force for new requests: every location of every
// server block is provisioned again on the store storeFor picks, TLS
// certificates are read again, listen addresses that are new are opened
// and those that are gone are closed (requests in progress on them
// finish; streaming subscribers on them go on until they end), and
// max_body_memory and shutdown_timeout take their new values. Requests and
// subscribers already admitted keep the route they were admitted on: every
// connected subscriber keeps its connection and receives every message,
// since the channels stay in the same stores.
//
// It is all or nothing: if a location cannot be provisioned, a certificate
// cannot be loaded, a new address cannot be opened, a location needs a
// store the server does not already use, or a kept address changes how it
// is spoken to (TLS or the PROXY protocol turned on or off; this and the
// store need a restart: the error wraps ErrRestartNeeded), nothing changes
// and the error says why.
func (s *Server) Reload(cfg *config.Config, storeFor StoreFor) error {
	s.reload.Lock()
	defer s.reload.Unlock()
	pick := func(l *config.Location) (store.Store, error) {
		st, err := storeFor(l)
		if err == nil && st == nil {
			err = errors.New("no store")
		}
		if err == nil && !slices.Contains(s.stores, st) {
			err = fmt.Errorf("its store is not one this server already uses: %w", ErrRestartNeeded)
		}
		if err != nil {
			return nil, fmt.Errorf("location %s (line %d): %w", l.Pattern, l.Line, err)
		}
		return st, nil
	}
	blocks, err := s.provision(cfg, pick)
	if err != nil {
		return err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.listened {
		s.put(cfg, blocks)
		return nil
	}
	old := map[string]*endpoint{}
	for _, ep := range s.endpoints {
		old[ep.la.Addr] = ep
	}
	type placed struct {
		ep    *endpoint
		block *block
		fresh bool
	}
	var next []placed
	closeFresh := func() {
		for _, p := range next {
			if p.fresh {
				p.ep.ln.Close()
			}
		}
	}
	for _, b := range blocks {
		for _, la := range listenersOf(b.sc) {
			if ep := old[la.Addr]; ep != nil {
				if ep.la != la || ep.tls != (b.cert != nil) {
					closeFresh()
					return fmt.Errorf("server %d: %s turns TLS or the PROXY protocol on or off: %w", b.index+1, la.Addr, ErrRestartNeeded)
				}
				delete(old, la.Addr)
				next = append(next, placed{ep: ep, block: b})
				continue
			}
			ep, err := s.openEndpoint(context.Background(), la, b, nil, cfg.HTTP1Fast)
			if err != nil {
				closeFresh()
				return fmt.Errorf("listen on %s (server %d): %w", la.Addr, b.index+1, err)
			}
			next = append(next, placed{ep: ep, block: b, fresh: true})
		}
	}
	if len(next) == 0 {
		return errors.New("the configuration listens nowhere")
	}

	if err := s.applyOps(cfg); err != nil {
		closeFresh()
		return err
	}
	// Everything is ready: put it in force.
	s.put(cfg, blocks)
	eps := make([]*endpoint, len(next))
	for i, p := range next {
		p.ep.block.Store(p.block)
		eps[i] = p.ep
		if p.fresh && s.started && !s.handover.started.Load() {
			s.serveEndpoint(p.ep)
		}
	}
	s.endpoints = eps
	timeout := max(cfg.ShutdownTimeout, time.Second)
	for _, ep := range old {
		s.log.Info("no longer listening", "addr", ep.ln.Addr().String())
		s.retiring = append(s.retiring, ep)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			if err := ep.shutdown(ctx); err != nil {
				ep.close()
			}
		}()
	}
	return nil
}

// put makes cfg and its blocks the configuration in force.
func (s *Server) put(cfg *config.Config, blocks []*block) {
	s.blocks.Store(&blocks)
	s.budget.limit.Store(cfg.MaxBodyMemory)
	s.cfg.Store(cfg)
}
