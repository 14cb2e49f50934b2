package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/servertest"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

// psEvents follows the events channel of a test server through its store.
type psEvents struct {
	t      *testing.T
	sub    store.Subscription
	cursor msgid.ID
}

func followPSEvents(t *testing.T, s *testServer, id string) *psEvents {
	t.Helper()
	sub, err := s.Store.Subscribe(context.Background(), store.ChannelKey{ID: id}, store.SubscribeOptions{Follow: true})
	if err != nil {
		t.Fatalf("subscribe to the events channel: %v", err)
	}
	t.Cleanup(sub.Close)
	cur, err := sub.Start(store.Start{Kind: store.StartNewest})
	if err != nil {
		t.Fatal(err)
	}
	return &psEvents{t: t, sub: sub, cursor: cur}
}

// next returns the next event's body and type, failing after 3 s.
func (e *psEvents) next() (body, eventType string) {
	e.t.Helper()
	deadline := time.After(3 * time.Second)
	for {
		b, err := e.sub.Read(e.cursor, nil, 1)
		if err != nil {
			e.t.Fatalf("read the events channel: %v", err)
		}
		if len(b.Messages) > 0 {
			m := b.Messages[0]
			e.cursor = m.ID
			return string(m.Body), m.EventName
		}
		select {
		case <-b.Wait:
		case <-deadline:
			e.t.Fatal("no event within 3s")
		}
	}
}

// expect checks the next events, in order, each written "type:channel".
func (e *psEvents) expect(what string, want ...string) {
	e.t.Helper()
	for _, w := range want {
		typ, ch, _ := strings.Cut(w, ":")
		wantBody := `{"type": "` + typ + `", "channel": "` + ch + `"}`
		if body, gotType := e.next(); body != wantBody || gotType != typ {
			e.t.Errorf("%s: event %q (type %q), want %q", what, body, gotType, wantBody)
		}
	}
}

// psRoute returns the test server's route of location pattern.
func psRoute(t *testing.T, s *testServer, pattern string) *route.Route {
	t.Helper()
	for _, rt := range s.srv.Server.Routes(0) {
		if rt.Name == pattern {
			return rt
		}
	}
	t.Fatalf("no location %s", pattern)
	return nil
}

// TestPushStreamEventsChannel checks push_stream_events_channel_id: the
// channel exists from the start and is never collected; channel_created,
// channel_destroyed (by DELETE and by inactivity) and the subscriber
// side's client_subscribed and client_unsubscribed arrive in the module's
// order and words; nobody may publish to it or delete it; its messages are
// not counted in the statistics.
func TestPushStreamEventsChannel(t *testing.T) {
	s := startServerWith(t, psPubConfig("push_stream_events_channel_id: events", "push_stream_channel_inactivity_time: 1s", "push_stream_message_ttl: 1s"),
		servertest.Options{Events: events.New()})
	for _, x := range []psPubExchange{
		{name: "the events channel exists from the start", method: "GET", path: "/pub?id=events", status: 200, contentType: jsonType,
			want: `{"channel": "events", "published_messages": 0, "stored_messages": 0, "subscribers": 0}` + "\r\n"},
		{name: "publishing to it", method: "POST", path: "/pub?id=events", body: "x", status: 403, explain: "Only internal routines can change events channel."},
		{name: "publishing to it among others", method: "POST", path: "/pub?id=ok/events", body: "x", status: 403, explain: "Only internal routines can change events channel."},
		{name: "deleting it", method: "DELETE", path: "/pub?id=events", status: 403, explain: "Only internal routines can change events channel."},
	} {
		x.run(t, s)
	}
	ev := followPSEvents(t, s, "events")
	do(t, "POST", s.URL+"/pub?id=ch1", "hello")
	ev.expect("publish", "channel_created:ch1")
	do(t, "POST", s.URL+"/pub?id=ch1", "again")
	do(t, "DELETE", s.URL+"/pub?id=ch1", "")
	ev.expect("delete", "channel_destroyed:ch1")

	// A deleted channel's subscribers leave before it is destroyed.
	sub := psRoute(t, s, "/pub") // any push-stream route with the events channel
	do(t, "POST", s.URL+"/pub?id=ch2", "hello")
	ev.expect("publish", "channel_created:ch2")
	s.srv.Server.PSClientEvent(sub, "ch2", true)
	s.srv.Server.PSClientEvent(sub, "events", true) // the events channel's own subscribers make no event
	ev.expect("subscribe", "client_subscribed:ch2")
	do(t, "DELETE", s.URL+"/pub?id=ch2", "")
	time.Sleep(100 * time.Millisecond)
	s.srv.Server.PSClientEvent(sub, "ch2", false)
	ev.expect("delete with a subscriber", "client_unsubscribed:ch2", "channel_destroyed:ch2")

	// A channel nobody uses is collected after its messages expire and
	// channel_inactivity_time.
	do(t, "POST", s.URL+"/pub?id=idle", "hello")
	ev.expect("publish", "channel_created:idle")
	ev.expect("inactivity", "channel_destroyed:idle")
	if r := do(t, "GET", s.URL+"/pub?id=idle", ""); r.Status != 404 {
		t.Errorf("collected channel: %d", r.Status)
	}
	r := do(t, "GET", s.URL+"/pub?id=events", "")
	if r.Status != 200 {
		t.Fatalf("the events channel was collected: %d", r.Status)
	}
	// Its messages are not counted: the summary's published_messages are
	// the 4 messages published to ch1, ch2 and idle.
	summary := psPubNormalize(do(t, "GET", s.URL+"/channels-stats", "").Body)
	if want := `"channels": 1, "wildcard_channels": 0, "published_messages": 4, "stored_messages": 0`; !strings.Contains(summary, want) {
		t.Errorf("summary %q, want %q", summary, want)
	}
}
