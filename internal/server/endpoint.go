package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/config"
)

// block is a server block of the configuration in force: its routes and
// its certificate. A reload replaces every block whole; each listener
// reads its block at every request (and TLS handshake), so a request sees
// one configuration from start to end.
type block struct {
	index  int            // position in the configuration, for messages
	sc     *config.Server // its configuration
	router *router
	cert   *tls.Certificate // nil without TLS
}

// provision builds the blocks of cfg, every location on the store
// storeFor picks for it, and reads their certificates. It changes nothing
// in force.
func (s *Server) provision(cfg *config.Config, storeFor StoreFor) ([]*block, error) {
	blocks := make([]*block, len(cfg.Servers))
	for i := range cfg.Servers {
		sc := &cfg.Servers[i]
		rr, err := newRouter(sc, storeFor)
		if err != nil {
			return nil, err
		}
		s.attach(rr)
		b := &block{index: i, sc: sc, router: rr}
		if sc.TLSCertificate != "" {
			cert, err := tls.LoadX509KeyPair(sc.TLSCertificate, sc.TLSKey)
			if err != nil {
				return nil, fmt.Errorf("server %d: load TLS certificate: %w", i+1, err)
			}
			b.cert = &cert
		}
		blocks[i] = b
	}
	return blocks, nil
}

// endpoint is one listen address: its socket and the HTTP server on it,
// serving the server block it belongs to.
type endpoint struct {
	s     *Server
	la    config.Listener
	tls   bool
	raw   net.Listener // as opened or inherited
	ln    net.Listener // raw, with the PROXY protocol and TLS layers
	hs    *http.Server
	block atomic.Pointer[block]
}

// openEndpoint opens (or takes inherited, when not nil) a listen address
// of block b. Nothing is served until serveEndpoint.
func (s *Server) openEndpoint(ctx context.Context, la config.Listener, b *block, inherited net.Listener) (*endpoint, error) {
	raw := inherited
	if raw == nil {
		var lc net.ListenConfig
		var err error
		if raw, err = s.open(ctx, &lc, la); err != nil {
			return nil, err
		}
	}
	ep := &endpoint{s: s, la: la, tls: b.cert != nil, raw: raw, ln: raw}
	ep.block.Store(b)
	if la.ProxyProtocol {
		ep.ln = s.proxyListener(raw, ep)
	}
	var tlsCfg *tls.Config
	if ep.tls {
		// The certificate is read at every handshake, so a reload can
		// replace it without closing the listener.
		tlsCfg = &tls.Config{
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return ep.block.Load().cert, nil },
			NextProtos:     []string{"h2", "http/1.1"},
		}
		ep.ln = tls.NewListener(ep.ln, tlsCfg)
	}
	// HTTP/1.1 and HTTP/2: over TLS by ALPN, in clear text (h2c) by prior
	// knowledge.
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	protos.SetUnencryptedHTTP2(true)
	ep.hs = &http.Server{
		Protocols:         protos,
		TLSConfig:         tlsCfg,
		Handler:           ep,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	return ep, nil
}

// serveEndpoint serves ep in the background. Its failure, unless it was
// closed on purpose (shutdown, a reload that removed it, a handover), is
// reported on Failed.
func (s *Server) serveEndpoint(ep *endpoint) {
	go func() {
		s.log.Info("listening", "addr", ep.ln.Addr().String())
		if err := ep.hs.Serve(ep.ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !s.handover.started.Load() {
			select {
			case s.errc <- fmt.Errorf("serve %s: %w", ep.ln.Addr(), err):
			default:
			}
		}
	}()
}
