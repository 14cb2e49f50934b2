package client_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/client"
	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/servertest"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/memory"
	redisstore "github.com/heraldpush/herald/internal/store/redis"
	"github.com/heraldpush/herald/internal/store/redis/redistest"
)

var transports = []client.Transport{client.EventSource, client.LongPoll, client.WebSocket, client.Auto}

func name(tr client.Transport) string {
	if tr == client.Auto {
		return "auto"
	}
	return string(tr)
}

// next reads one message within 10 seconds.
func next(t *testing.T, sub *client.Subscription) *client.Received {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return m
}

func TestSubscribeTransports(t *testing.T) {
	srv := startHerald(t, nil)
	c := newClient(t, srv.URL)
	for _, tr := range transports {
		t.Run(name(tr), func(t *testing.T) {
			ctx := testCtx(t)
			ch := "t-" + name(tr)
			// Two messages before subscribing, two after: all four come, in
			// order, with what the transport carries of them.
			for i := range 2 {
				if _, err := c.Publish(ctx, ch, client.Message{Body: []byte("m" + strconv.Itoa(i) + "\nline 2"), ContentType: "text/x-test", Event: "ev"}); err != nil {
					t.Fatal(err)
				}
			}
			sub, err := c.Subscribe(ctx, []string{ch}, &client.SubscribeOptions{Transport: tr})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			var ids []string
			for i := range 4 {
				if i == 2 {
					for j := 2; j < 4; j++ {
						if _, err := c.Publish(ctx, ch, client.Message{Body: []byte("m" + strconv.Itoa(j) + "\nline 2"), ContentType: "text/x-test", Event: "ev"}); err != nil {
							t.Fatal(err)
						}
					}
				}
				m := next(t, sub)
				if want := "m" + strconv.Itoa(i) + "\nline 2"; string(m.Body) != want || m.Channel != ch {
					t.Fatalf("message %d: %q on %q, want %q on %q", i, m.Body, m.Channel, want, ch)
				}
				got := sub.Transport()
				switch got {
				case client.EventSource:
					if m.Event != "ev" {
						t.Errorf("EventSource event = %q", m.Event)
					}
				case client.LongPoll, client.WebSocket:
					if m.ContentType != "text/x-test" {
						t.Errorf("%s content type = %q", got, m.ContentType)
					}
				default:
					t.Errorf("transport in use = %q", got)
				}
				if m.Transport != got || m.ID == "" || m.ID != m.ChannelID.String() {
					t.Errorf("message %d: %+v", i, m)
				}
				ids = append(ids, m.ID)
			}
			if tr == client.Auto && sub.Transport() != client.EventSource {
				t.Errorf("auto chose %q", sub.Transport())
			}
			if p := sub.Position(); p != ids[3] {
				t.Errorf("Position = %q, want %q", p, ids[3])
			}
			// Resume after the second with From: the third and fourth.
			sub2, err := c.Subscribe(ctx, []string{ch}, &client.SubscribeOptions{Transport: tr, From: ids[1]})
			if err != nil {
				t.Fatal(err)
			}
			defer sub2.Close()
			if m := next(t, sub2); m.ID != ids[2] {
				t.Fatalf("From %s: first message %s, want %s", ids[1], m.ID, ids[2])
			}
			// Closing the channel ends the subscription with ErrGone (once
			// both subscribers wait: a long-poll between two requests
			// would wait on a new channel).
			waitFor(t, "two subscribers", func() bool {
				in, err := c.Info(ctx, ch)
				return err == nil && in.Subscribers == 2
			})
			if _, err := c.Close(ctx, ch); err != nil {
				t.Fatal(err)
			}
			for {
				_, err := sub.Next(ctx)
				if err == nil {
					continue
				}
				if !errors.Is(err, client.ErrGone) {
					t.Fatalf("after Close: %v, want ErrGone", err)
				}
				break
			}
			sub2.Close()
			if _, err := sub2.Next(ctx); !errors.Is(err, client.ErrClosed) {
				t.Fatalf("Next after Close: %v", err)
			}
		})
	}
}

// TestAutoFallsBackToLongPoll subscribes where EventSource is not offered:
// the EventSource request is answered as a long-poll (Nchan's order), and
// the subscription goes on by long-poll without losing that message.
func TestAutoFallsBackToLongPoll(t *testing.T) {
	cfg := bigBufferConfig()
	for i := range cfg.Servers[0].Locations {
		l := &cfg.Servers[0].Locations[i]
		if l.Subscriber != 0 {
			l.Subscriber = config.LongPoll
		}
	}
	srv := servertest.Start(t, servertest.Options{Config: cfg})
	c := newClient(t, srv.URL)
	ctx := testCtx(t)
	if _, err := c.Publish(ctx, "fb", client.Message{Body: []byte("one")}); err != nil {
		t.Fatal(err)
	}
	sub, err := c.Subscribe(ctx, []string{"fb"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if m := next(t, sub); string(m.Body) != "one" || m.Transport != client.LongPoll {
		t.Fatalf("got %q by %s", m.Body, m.Transport)
	}
	if _, err := c.Publish(ctx, "fb", client.Message{Body: []byte("two")}); err != nil {
		t.Fatal(err)
	}
	if m := next(t, sub); string(m.Body) != "two" {
		t.Fatalf("got %q", m.Body)
	}
	// A transport the location refuses ends a subscription that chose it.
	ws, err := c.Subscribe(ctx, []string{"fb"}, &client.SubscribeOptions{Transport: client.WebSocket})
	if err != nil {
		t.Fatal(err)
	}
	var se *client.StatusError
	if _, err := ws.Next(ctx); !errors.As(err, &se) || se.Code != 403 {
		t.Fatalf("websocket where refused: %v", err)
	}
}

// received counts what a subscriber got: every body once, in order per
// channel.
type received struct {
	t    *testing.T
	seen map[string]int // body → times
	last map[string]int // channel → last number
}

func (r *received) add(m *client.Received) {
	r.seen[string(m.Body)]++
	if r.seen[string(m.Body)] > 1 {
		r.t.Errorf("%q received twice", m.Body)
	}
	ch, num, _ := strings.Cut(string(m.Body), "#")
	n, _ := strconv.Atoi(num)
	if ch != m.Channel {
		r.t.Errorf("%q came as channel %q", m.Body, m.Channel)
	}
	if last, ok := r.last[ch]; ok && n != last+1 {
		r.t.Errorf("%s: #%d after #%d", ch, n, last)
	}
	r.last[ch] = n
}

// TestResumeAcrossDroppedConnections publishes to two channels while every
// connection of a multiplexed subscriber is dropped again and again: each
// message arrives once, in order.
func TestResumeAcrossDroppedConnections(t *testing.T) {
	srv := startHerald(t, nil)
	pub := newClient(t, srv.URL)
	for _, tr := range transports[:3] {
		t.Run(name(tr), func(t *testing.T) {
			ctx := testCtx(t)
			px := newProxy(t, hostport(srv.URL))
			c := newClient(t, px.URL())
			chans := []string{"drop-a-" + name(tr), "drop-b-" + name(tr)}
			sub, err := c.Subscribe(ctx, chans, &client.SubscribeOptions{Transport: tr, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
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
				r.add(next(t, sub))
				if got%7 == 3 {
					drops += px.dropAll()
				}
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			// Nothing comes again before a last message.
			if _, err := pub.Publish(ctx, chans[0], client.Message{Body: []byte(chans[0] + "#30")}); err != nil {
				t.Fatal(err)
			}
			r.add(next(t, sub))
			if drops < 5 {
				t.Errorf("only %d connections dropped", drops)
			}
		})
	}
}

// TestResumeAcrossRestart stops the server while subscribers wait and
// starts another on the same store: they resume without loss or repeat.
// A memory store is kept across the restart; with Redis each server has a
// store of its own, as a new process would, on the same redis-server.
func TestResumeAcrossRestart(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		st := memory.New(memory.Options{SweepInterval: 50 * time.Millisecond})
		t.Cleanup(func() { st.Close() })
		testResumeAcrossRestart(t, func() store.Store { return st })
	})
	t.Run("redis", func(t *testing.T) {
		rs := redistest.Start(t)
		testResumeAcrossRestart(t, func() store.Store {
			st, err := redisstore.New(redisstore.Options{Addrs: []string{rs.Addr}, Namespace: "client:"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		})
	})
}

func testResumeAcrossRestart(t *testing.T, newStore func() store.Store) {
	srv := startHerald(t, newStore())
	px := newProxy(t, hostport(srv.URL))
	c := newClient(t, px.URL())
	ctx := testCtx(t)
	opts := func(tr client.Transport) *client.SubscribeOptions {
		return &client.SubscribeOptions{Transport: tr, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
	}
	subs := map[client.Transport]*client.Subscription{}
	recv := map[client.Transport]*received{}
	for _, tr := range transports[:3] {
		sub, err := c.Subscribe(ctx, []string{"restart"}, opts(tr))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		subs[tr] = sub
		recv[tr] = &received{t: t, seen: map[string]int{}, last: map[string]int{}}
	}
	publish := func(url string, from, to int) {
		p := newClient(t, url)
		for i := from; i < to; i++ {
			if _, err := p.Publish(ctx, "restart", client.Message{Body: fmt.Appendf(nil, "restart#%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(srv.URL, 0, 10)
	for tr, sub := range subs {
		for range 10 {
			recv[tr].add(next(t, sub))
		}
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	srv2 := startHerald(t, newStore())
	publish(srv2.URL, 10, 20) // before anyone reconnected, and after
	px.setTarget(hostport(srv2.URL))
	px.dropAll()
	publish(srv2.URL, 20, 25)
	for tr, sub := range subs {
		for range 15 {
			recv[tr].add(next(t, sub))
		}
		if recv[tr].last["restart"] != 24 {
			t.Errorf("%s: last %d", tr, recv[tr].last["restart"])
		}
	}
}

// TestLiveChannelChanges adds and removes channels of a running
// subscription.
func TestLiveChannelChanges(t *testing.T) {
	srv := startHerald(t, nil)
	c := newClient(t, srv.URL)
	for _, tr := range transports[:3] {
		t.Run(name(tr), func(t *testing.T) {
			ctx := testCtx(t)
			a, b, x := "live-a-"+name(tr), "live-b-"+name(tr), "live-x-"+name(tr)
			pub := func(ch, body string) {
				if _, err := c.Publish(ctx, ch, client.Message{Body: []byte(body)}); err != nil {
					t.Fatal(err)
				}
			}
			sub, err := c.Subscribe(ctx, []string{a}, &client.SubscribeOptions{Transport: tr})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			pub(a, "a1")
			if m := next(t, sub); string(m.Body) != "a1" {
				t.Fatalf("got %q", m.Body)
			}
			if err := sub.Add(b, x); err != nil {
				t.Fatal(err)
			}
			pub(b, "b1")
			pub(a, "a2")
			got := map[string]string{}
			for range 2 {
				m := next(t, sub)
				got[string(m.Body)] = m.Channel
			}
			if got["b1"] != b || got["a2"] != a {
				t.Fatalf("after Add: %v", got)
			}
			if err := sub.Remove(a, x); err != nil {
				t.Fatal(err)
			}
			if chs := sub.Channels(); len(chs) != 1 || chs[0] != b {
				t.Fatalf("Channels = %v", chs)
			}
			pub(a, "a3")
			pub(b, "b2")
			if m := next(t, sub); string(m.Body) != "b2" || m.Channel != b {
				t.Fatalf("after Remove: %q on %q", m.Body, m.Channel)
			}
			if err := sub.Remove(b); err == nil {
				t.Fatal("removing the last channel: no error")
			}
		})
	}
}

// waitFor waits up to 10 seconds for cond.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
