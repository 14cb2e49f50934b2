package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/client"
)

// TestConcurrentUse shares one client among publishers and a
// subscription whose state is read while it receives.
func TestConcurrentUse(t *testing.T) {
	srv := startHerald(t, nil)
	c := newClient(t, srv.URL)
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, []string{"conc"}, &client.SubscribeOptions{Transport: client.WebSocket})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	waitFor(t, "the subscriber", func() bool {
		in, err := c.Info(ctx, "conc")
		return err == nil && in.Subscribers == 1
	})
	const publishers, each = 8, 20
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := c.Publish(ctx, "conc", client.Message{Body: fmt.Appendf(nil, "%d-%d", p, i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			sub.Position()
			sub.Channels()
			sub.Transport()
			sub.Err()
			time.Sleep(time.Millisecond)
		}
	}()
	seen := map[string]bool{}
	for range publishers * each {
		m := next(t, sub)
		if seen[string(m.Body)] {
			t.Fatalf("%q twice", m.Body)
		}
		seen[string(m.Body)] = true
	}
	close(stop)
	wg.Wait()
}

// TestCancellationAndTimeouts: a context ends a subscription and a
// request; Timeout bounds a request to a server that does not answer.
func TestCancellationAndTimeouts(t *testing.T) {
	srv := startHerald(t, nil)
	c := newClient(t, srv.URL)
	for _, tr := range transports[:3] {
		ctx, cancel := context.WithCancel(context.Background())
		sub, err := c.Subscribe(ctx, []string{"cancel"}, &client.SubscribeOptions{Transport: tr})
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		select {
		case <-sub.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: subscription did not end with its context", tr)
		}
		if _, err := sub.Next(context.Background()); !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: Next after cancel: %v", tr, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Publish(ctx, "x", client.Message{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish with a cancelled context: %v", err)
	}

	// A listener that accepts and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, conn)
		}
	}()
	silent, err := client.New("http://"+ln.Addr().String(), &client.Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := silent.Info(context.Background(), "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Info from a silent server: %v", err)
	}
}

// TestIdleTimeout: a stream that dies without a word (a relay that
// swallows everything) is reconnected after IdleTimeout, and resumes.
func TestIdleTimeout(t *testing.T) {
	srv := startHerald(t, nil)
	pub := newClient(t, srv.URL)
	for _, tr := range []client.Transport{client.EventSource, client.WebSocket} {
		t.Run(name(tr), func(t *testing.T) {
			ctx := testCtx(t)
			px := newProxy(t, hostport(srv.URL))
			c := newClient(t, px.URL())
			ch := "idle-" + name(tr)
			sub, err := c.Subscribe(ctx, []string{ch}, &client.SubscribeOptions{Transport: tr, IdleTimeout: 300 * time.Millisecond, MinBackoff: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			if _, err := pub.Publish(ctx, ch, client.Message{Body: []byte("one")}); err != nil {
				t.Fatal(err)
			}
			if m := next(t, sub); string(m.Body) != "one" {
				t.Fatalf("got %q", m.Body)
			}
			px.blackHole()
			for _, b := range []string{"two", "three"} {
				if _, err := pub.Publish(ctx, ch, client.Message{Body: []byte(b)}); err != nil {
					t.Fatal(err)
				}
			}
			for _, want := range []string{"two", "three"} {
				if m := next(t, sub); string(m.Body) != want {
					t.Fatalf("got %q, want %q", m.Body, want)
				}
			}
		})
	}
}
