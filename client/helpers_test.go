package client_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/client"
	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/servertest"
	"github.com/heraldpush/herald/internal/store"
)

// bigBufferConfig is the built-in configuration with room for every
// message a test publishes.
func bigBufferConfig() *config.Config {
	cfg := config.Default()
	for i := range cfg.Servers {
		for j := range cfg.Servers[i].Locations {
			cfg.Servers[i].Locations[j].MessageBufferLength = 1000
		}
	}
	return cfg
}

// startHerald starts a Herald with the built-in layout on st (nil: its own
// memory store).
func startHerald(t *testing.T, st store.Store) *servertest.Server {
	t.Helper()
	return servertest.Start(t, servertest.Options{Config: bigBufferConfig(), Store: st})
}

// newClient returns a client of the server at url.
func newClient(t *testing.T, url string) *client.Client {
	t.Helper()
	c, err := client.New(url, &client.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testCtx is a context that ends with the test, or after a minute.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// proxy is a TCP relay on a loopback port in front of a Herald: a test
// drops every connection through it, or points it at another server, so
// subscribers keep one address across a restart.
type proxy struct {
	ln     net.Listener
	mu     sync.Mutex
	target string
	conns  map[net.Conn]*atomic.Bool // → the relay's black-hole switch
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]*atomic.Bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.dropAll()
		p.wg.Wait()
	})
	return p
}

// URL is the proxy's http:// address.
func (p *proxy) URL() string { return "http://" + p.ln.Addr().String() }

// setTarget points new connections at addr (host:port).
func (p *proxy) setTarget(addr string) {
	p.mu.Lock()
	p.target = addr
	p.mu.Unlock()
}

// dropAll closes every relayed connection, both ends.
func (p *proxy) dropAll() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns)
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
	return n
}

// blackHole makes every relayed connection swallow what it reads without
// closing: connections that died without a word. New ones relay.
func (p *proxy) blackHole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.conns {
		b.Store(true)
	}
}

func (p *proxy) track(hole *atomic.Bool, cs ...net.Conn) {
	p.mu.Lock()
	for _, c := range cs {
		p.conns[c] = hole
	}
	p.mu.Unlock()
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		target := p.target
		p.mu.Unlock()
		out, err := net.DialTimeout("tcp", target, 5*time.Second)
		if err != nil {
			in.Close()
			continue
		}
		hole := new(atomic.Bool)
		p.track(hole, in, out)
		p.wg.Add(2)
		go p.pipe(in, out, hole)
		go p.pipe(out, in, hole)
	}
}

func (p *proxy) pipe(dst, src net.Conn, hole *atomic.Bool) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !hole.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}

// hostport is a server URL's host:port.
func hostport(url string) string { return url[len("http://"):] }
