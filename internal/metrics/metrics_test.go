package metrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/protocol/msgid"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 5s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sample returns the JSON form's samples of a metric.
func samples(t *testing.T, c *Collector, name string) []Sample {
	t.Helper()
	m, err := c.JSON()
	if err != nil {
		t.Fatal(err)
	}
	return m[name].Samples
}

func TestRefusalReasonsAreCapped(t *testing.T) {
	bus := events.New()
	c := New(Options{Bus: bus})
	defer c.Close()
	for i := range maxReasons + 10 {
		bus.Emit(events.Event{Kind: events.RequestRefused, Transport: "publish", Status: 403, Reason: fmt.Sprintf("r%d", i)})
	}
	var got []Sample
	waitFor(t, "every refusal counted", func() bool {
		got = samples(t, c, "herald_refused_requests_total")
		n := 0.0
		for _, s := range got {
			n += *s.Value
		}
		return n == maxReasons+10
	})
	if len(got) != maxReasons+1 {
		t.Fatalf("%d label sets, want %d reasons and other", len(got), maxReasons)
	}
	for _, s := range got {
		if s.Labels["reason"] == "other" && *s.Value != 10 {
			t.Errorf("other = %v, want 10", *s.Value)
		}
	}
}

func TestEventsFeedTheMetrics(t *testing.T) {
	bus := events.New()
	c := New(Options{Bus: bus, Version: "v", NchanVersion: "n"})
	defer c.Close()
	now := time.Unix(1000, 0)
	tests := []events.Event{
		{Kind: events.SubscriberJoined, Transport: "websocket", Location: "/l"},
		{Kind: events.SubscriberJoined, Transport: "websocket", Location: "/l"},
		{Kind: events.SubscriberLeft, Transport: "websocket", Location: "/l"},
		{Kind: events.MessageDelivered, N: 5, Bytes: 100, MessageID: msgid.ID{Time: 997}, Time: now},
		{Kind: events.HookCalled, Reason: "auth", Status: 200, Duration: time.Millisecond},
		{Kind: events.HookCalled, Reason: "auth", Status: 0, Duration: time.Second},
		{Kind: events.StoreOp, Reason: "info", Err: fmt.Errorf("down"), Duration: time.Millisecond},
	}
	for _, e := range tests {
		bus.Emit(e)
	}
	waitFor(t, "hooks counted", func() bool { return len(samples(t, c, "herald_hook_calls_total")) == 2 })
	check := func(name string, labels map[string]string, want float64) {
		t.Helper()
		for _, s := range samples(t, c, name) {
			match := true
			for k, v := range labels {
				match = match && s.Labels[k] == v
			}
			if !match {
				continue
			}
			got := 0.0
			if s.Value != nil {
				got = *s.Value
			} else if s.Count != nil {
				got = float64(*s.Count)
			}
			if got != want {
				t.Errorf("%s%v = %v, want %v", name, labels, got, want)
			}
			return
		}
		t.Errorf("%s%v missing", name, labels)
	}
	waitFor(t, "store op counted", func() bool { return len(samples(t, c, "herald_store_operations_total")) == 1 })
	check("herald_subscribers", map[string]string{"transport": "websocket", "location": "/l"}, 1)
	check("herald_messages_delivered_total", nil, 5)
	check("herald_delivered_bytes_total", nil, 100)
	check("herald_delivery_lag_seconds", nil, 1)
	if s := samples(t, c, "herald_delivery_lag_seconds"); *s[0].Sum != 3 {
		t.Errorf("delivery lag sum %v, want 3 s", *s[0].Sum)
	}
	check("herald_hook_calls_total", map[string]string{"hook": "auth", "status": "0"}, 1)
	check("herald_hook_duration_seconds", map[string]string{"hook": "auth"}, 2)
	check("herald_store_operations_total", map[string]string{"op": "info", "result": "error"}, 1)
	check("herald_info", map[string]string{"version": "v", "nchan_version": "n"}, 1)
}

func TestWantsJSON(t *testing.T) {
	for _, tt := range []struct {
		accept string
		want   bool
	}{{"application/json", true}, {"text/plain, Application/JSON;q=0.5", true}, {"text/plain", false}, {"", false}, {"application/jsonx", false}} {
		if got := wantsJSON(tt.accept); got != tt.want {
			t.Errorf("wantsJSON(%q) = %v", tt.accept, got)
		}
	}
}
