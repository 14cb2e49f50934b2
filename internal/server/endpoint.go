package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/http1"
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
	s   *Server
	la  config.Listener
	tls bool
	raw net.Listener // as opened or inherited
	ln  net.Listener // raw, with the PROXY protocol and TLS layers
	hs  *http.Server
	// h1 serves plain-text HTTP/1.1 (nil over TLS, where hs serves
	// everything); it hands hs, through fb, whatever it does not serve.
	h1    *http1.Server
	fb    *http1.Listener
	block atomic.Pointer[block]
}

// openEndpoint opens (or takes inherited, when not nil) a listen address
// of block b, served by internal/http1 in clear text when fast
// (fast_http1). Nothing is served until serveEndpoint.
func (s *Server) openEndpoint(ctx context.Context, la config.Listener, b *block, inherited net.Listener, fast bool) (*endpoint, error) {
	raw := inherited
	if raw == nil {
		var err error
		if raw, err = s.open(ctx, la); err != nil {
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
	if !ep.tls && fast {
		ep.fb = http1.NewListener(ep.ln.Addr())
		ep.h1 = &http1.Server{
			Handler:           ep,
			Handoff:           ep.fb.Handoff,
			ReadHeaderTimeout: ep.hs.ReadHeaderTimeout,
			IdleTimeout:       ep.hs.IdleTimeout,
			// httputil.ReverseProxy (proxy_pass) aborts a broken answer
			// by a panic only under an http.Server, which it finds here.
			BaseContext: context.WithValue(context.WithoutCancel(ctx), http.ServerContextKey, ep.hs),
			Log:         s.log,
		}
	}
	return ep, nil
}

// shutdown stops accepting and waits for every request in progress (see
// http.Server.Shutdown).
func (ep *endpoint) shutdown(ctx context.Context) error {
	if ep.h1 == nil {
		return ep.hs.Shutdown(ctx)
	}
	var wg sync.WaitGroup
	var e1 error
	wg.Go(func() { e1 = ep.h1.Shutdown(ctx) })
	e2 := ep.hs.Shutdown(ctx)
	wg.Wait()
	return errors.Join(e1, e2)
}

// close closes the listener and every connection.
func (ep *endpoint) close() {
	if ep.h1 != nil {
		ep.h1.Close()
	}
	ep.hs.Close()
}

// serveEndpoint serves ep in the background. Its failure, unless it was
// closed on purpose (shutdown, a reload that removed it, a handover), is
// reported on Failed.
func (s *Server) serveEndpoint(ep *endpoint) {
	go func() {
		s.log.Info("listening", "addr", ep.ln.Addr().String())
		var err error
		if ep.h1 != nil {
			go ep.hs.Serve(ep.fb)
			err = ep.h1.Serve(ep.ln)
		} else {
			err = ep.hs.Serve(ep.ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !s.handover.started.Load() {
			select {
			case s.errc <- fmt.Errorf("serve %s: %w", ep.ln.Addr(), err):
			default:
			}
		}
	}()
}
