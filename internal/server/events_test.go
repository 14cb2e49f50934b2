package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/events"
)

// eventLog collects a server's events.
type eventLog struct {
	t       testing.TB
	sub     *events.Subscription
	skipped []events.Event // read while waiting for another kind
}

func watchEvents(t testing.TB, s *testServer) *eventLog {
	sub := s.srv.Server.Events().Subscribe(1024)
	t.Cleanup(sub.Close)
	return &eventLog{t: t, sub: sub}
}

// next returns the next event of kind k. Events of other kinds read while
// waiting are kept for later calls: events of different kinds emitted by
// different goroutines (a publisher's and the subscriber it wakes) may
// arrive in either order.
func (l *eventLog) next(k events.Kind) events.Event {
	l.t.Helper()
	for i, e := range l.skipped {
		if e.Kind == k {
			l.skipped = append(l.skipped[:i], l.skipped[i+1:]...)
			return e
		}
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e := <-l.sub.C():
			if e.Kind == k {
				return e
			}
			l.skipped = append(l.skipped, e)
		case <-deadline:
			l.t.Fatalf("no %v event within 5s", k)
		}
	}
}

// TestEvents checks what the server reports on its event bus at a
// subscriber's and a message's lifecycle points.
func TestEvents(t *testing.T) {
	s := startServer(t, testConfig([]string{"access_control_allow_origin: https://ok.example"},
		prefixLocation("pub", "publisher: true"),
		prefixLocation("sub", "subscriber: true")))
	log := watchEvents(t, s)
	bus := s.srv.Server.Events()

	// A long-poll that gets a message: joined, published, delivered, left
	// (answered).
	got := async(t, 5*time.Second, "GET", s.URL+"/sub/ev", "")
	if e := log.next(events.SubscriberJoined); e.Channel != "ev" || e.Transport != "longpoll" || e.Location != "~ ^/sub/(.+)$" {
		t.Fatalf("joined: %+v", e)
	}
	id, status := publish(t, s, "ev", "hello")
	if status != http.StatusCreated {
		t.Fatalf("publish: %d", status)
	}
	if e := log.next(events.MessagePublished); e.Channel != "ev" || e.MessageID.String() != id.String() || e.Bytes != 5 || e.Transport != "http" {
		t.Fatalf("published: %+v (id %v)", e, id)
	}
	if e := log.next(events.MessageDelivered); e.Count() != 1 || e.Transport != "longpoll" {
		t.Fatalf("delivered: %+v", e)
	}
	if e := log.next(events.SubscriberLeft); e.Reason != "answered" {
		t.Fatalf("left: %+v", e)
	}
	recv(t, got)

	// An EventSource subscriber whose client goes away.
	es := openEventSource(t, s, "/sub/ev2")
	if e := log.next(events.SubscriberJoined); e.Transport != "eventsource" {
		t.Fatalf("joined: %+v", e)
	}
	publish(t, s, "ev2", "one")
	if e := log.next(events.MessageDelivered); e.Channel != "ev2" {
		t.Fatalf("delivered: %+v", e)
	}
	es.conn.Close()
	if e := log.next(events.SubscriberLeft); e.Reason != "client gone" || e.Transport != "eventsource" {
		t.Fatalf("left: %+v", e)
	}

	// A subscriber whose channel is deleted.
	es = openEventSource(t, s, "/sub/ev3")
	log.next(events.SubscriberJoined)
	deleteChannel(t, s, "ev3")
	if e := log.next(events.SubscriberLeft); e.Reason != "channel deleted" {
		t.Fatalf("left: %+v", e)
	}
	es.conn.Close()

	// A subscriber refused by the pipeline.
	r := do(t, "GET", s.URL+"/sub/ev4", "", "Origin", "https://evil.example")
	if r.Status != http.StatusForbidden {
		t.Fatalf("forbidden origin: %d", r.Status)
	}
	if e := log.next(events.SubscriberRefused); e.Status != http.StatusForbidden || e.Reason != "origin" {
		t.Fatalf("refused: %+v", e)
	}

	// Totals are kept whether or not anyone listens.
	if bus.Count(events.MessagePublished) != 2 || bus.Count(events.SubscriberJoined) != 3 || bus.Count(events.SubscriberLeft) != 3 {
		t.Fatalf("totals: published %d, joined %d, left %d", bus.Count(events.MessagePublished),
			bus.Count(events.SubscriberJoined), bus.Count(events.SubscriberLeft))
	}
}
