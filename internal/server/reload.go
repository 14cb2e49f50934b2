package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/store"
)

// ErrRestartNeeded wraps what a reload cannot apply to a running server.
var ErrRestartNeeded = errors.New("needs a restart")

// Reload puts cfg in force for new requests: every location of every
// server block is provisioned again on the store storeFor picks, TLS
// certificates are read again, and max_body_memory and shutdown_timeout
// take their new values. Requests and subscribers already admitted keep
// the route they were admitted on: every connected subscriber keeps its
// connection and receives every message, since the channels stay in the
// same stores.
//
// It is all or nothing: if a location cannot be provisioned, a certificate
// cannot be loaded, a location needs a store the server does not already
// use, or the server blocks or their listen addresses changed (which
// needs a restart; the error wraps ErrRestartNeeded), nothing changes and
// the error says why.
func (s *Server) Reload(cfg *config.Config, storeFor StoreFor) error {
	s.reload.Lock()
	defer s.reload.Unlock()
	old := s.cfg.Load()
	if err := sameListeners(old, cfg); err != nil {
		return err
	}
	certs := make([]*tls.Certificate, len(cfg.Servers))
	for i, sc := range cfg.Servers {
		if sc.TLSCertificate == "" {
			continue
		}
		cert, err := tls.LoadX509KeyPair(sc.TLSCertificate, sc.TLSKey)
		if err != nil {
			return fmt.Errorf("server %d: load TLS certificate: %w", i+1, err)
		}
		certs[i] = &cert
	}
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
	routers := make([]*router, len(cfg.Servers))
	for i := range cfg.Servers {
		rr, err := newRouter(&cfg.Servers[i], pick)
		if err != nil {
			return err
		}
		routers[i] = rr
	}
	if err := s.applyOps(cfg); err != nil {
		return err
	}
	// Everything is built: put it in force.
	for i, rr := range routers {
		s.routers[i].Store(rr)
		if certs[i] != nil {
			s.certs[i].Store(certs[i])
		}
	}
	s.budget.limit.Store(cfg.MaxBodyMemory)
	s.cfg.Store(cfg)
	return nil
}

// sameListeners refuses a configuration whose server blocks listen
// differently from the running one's: the listeners stay open across a
// reload.
func sameListeners(old, cfg *config.Config) error {
	if len(old.Servers) != len(cfg.Servers) {
		return fmt.Errorf("the configuration has %d server blocks instead of %d: %w", len(cfg.Servers), len(old.Servers), ErrRestartNeeded)
	}
	for i := range cfg.Servers {
		o, n := &old.Servers[i], &cfg.Servers[i]
		if !slices.Equal(o.Listen, n.Listen) {
			return fmt.Errorf("server %d listens on %v instead of %v: %w", i+1, n.Listen, o.Listen, ErrRestartNeeded)
		}
		if (o.TLSCertificate == "") != (n.TLSCertificate == "") {
			return fmt.Errorf("server %d turns TLS on or off: %w", i+1, ErrRestartNeeded)
		}
	}
	return nil
}

// certificate returns the GetCertificate of server block i: the
// certificate in force, which Reload may replace.
func (s *Server) certificate(i int) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return s.certs[i].Load(), nil
	}
}
