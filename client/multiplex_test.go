package client_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald/client"
	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/servertest"
)

// startMuxHerald starts a Herald with /pub/<id>, /sub/<id> and a herald.v1
// location at /mux.
func startMuxHerald(t *testing.T) *servertest.Server {
	t.Helper()
	cfg, err := config.Parse([]byte(`servers:
  - listen: 127.0.0.1:0
    locations:
      - location: ~ ^/pub/(.+)$
        publisher: true
        channel_id: $1
        message_buffer_length: 1000
      - location: ~ ^/sub/(.+)$
        subscriber: true
        channel_id: $1
      - location: = /mux
        pubsub: true
        websocket_multiplex: on
        message_buffer_length: 1000
`), "mux.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return servertest.Start(t, servertest.Options{Config: cfg})
}

// TestMultiplexTransport subscribes over herald.v1 to two channels, adds
// a third on the live subscription, and resumes every channel from its own
// position while every connection is dropped again and again: each message
// arrives once, in order, tagged with its channel.
func TestMultiplexTransport(t *testing.T) {
	srv := startMuxHerald(t)
	pub := newClient(t, srv.URL)
	ctx := testCtx(t)
	px := newProxy(t, hostport(srv.URL))
	c, err := client.New(px.URL(), &client.Options{Timeout: 10 * time.Second, MultiplexURL: px.URL() + "/mux"})
	if err != nil {
		t.Fatal(err)
	}
	chans := []string{"mux-a", "mux-b"}
	sub, err := c.Subscribe(ctx, chans, &client.SubscribeOptions{Transport: client.Multiplex, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	const n = 60
	done := make(chan error, 1)
	go func() {
		for i := range n {
			ch := chans[i%2]
			if _, err := pub.Publish(ctx, ch, client.Message{Body: fmt.Appendf(nil, "%s#%d", ch, i/2)}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	r := &received{t: t, seen: map[string]int{}, last: map[string]int{}}
	drops := 0
	for got := 0; got < n; got++ {
		m := next(t, sub)
		if m.Transport != client.Multiplex {
			t.Fatalf("message came over %q", m.Transport)
		}
		r.add(m)
		if got%7 == 3 {
			drops += px.dropAll()
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if drops < 5 {
		t.Errorf("only %d connections dropped", drops)
	}
	// A channel added to the live subscription; nothing of the others comes again.
	if err := sub.Add("mux-c"); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []string{"mux-c", "mux-a"} {
		body := ch + "#30"
		if ch == "mux-c" {
			body = ch + "#0"
		}
		if _, err := pub.Publish(ctx, ch, client.Message{Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
		r.add(next(t, sub))
	}
	if got := sub.Transport(); got != client.Multiplex {
		t.Errorf("Transport() = %q", got)
	}
}

// TestMultiplexAuto: Auto takes herald.v1 where the MultiplexURL speaks it,
// and falls back to EventSource where it does not.
func TestMultiplexAuto(t *testing.T) {
	srv := startMuxHerald(t)
	pub := newClient(t, srv.URL)
	ctx := testCtx(t)
	for _, tc := range []struct {
		name, muxPath string
		want          client.Transport
	}{
		{"herald.v1 offered", "/mux", client.Multiplex},
		{"no herald.v1 there", "/sub/elsewhere", client.EventSource},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := client.New(srv.URL, &client.Options{Timeout: 10 * time.Second, MultiplexURL: srv.URL + tc.muxPath})
			if err != nil {
				t.Fatal(err)
			}
			ch := "auto-" + string(tc.want)
			sub, err := c.Subscribe(ctx, []string{ch}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			if _, err := pub.Publish(ctx, ch, client.Message{Body: []byte(ch + "#0")}); err != nil {
				t.Fatal(err)
			}
			m := next(t, sub)
			if m.Transport != tc.want || m.Channel != ch || string(m.Body) != ch+"#0" {
				t.Errorf("got %q on %q over %q, want it over %q", m.Body, m.Channel, m.Transport, tc.want)
			}
		})
	}
	// Without a MultiplexURL the transport cannot be chosen.
	if _, err := newClient(t, srv.URL).Subscribe(ctx, []string{"x"}, &client.SubscribeOptions{Transport: client.Multiplex}); err == nil {
		t.Error("herald.v1 without a MultiplexURL was accepted")
	}
}
