package server

import (
	"strconv"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/events"
)

// TestDashboardStateObserve: subscribers are counted per transport as they
// join and leave, and the last dashboardSlowKept slow-subscriber
// disconnects are kept, oldest first.
func TestDashboardStateObserve(t *testing.T) {
	var d dashboardState
	for _, e := range []events.Event{
		{Kind: events.SubscriberJoined, Transport: "websocket"},
		{Kind: events.SubscriberJoined, Transport: "websocket"},
		{Kind: events.SubscriberJoined, Transport: "longpoll"},
		{Kind: events.SubscriberLeft, Transport: "longpoll"},
		{Kind: events.SubscriberJoined, Transport: "eventsource"},
		{Kind: events.MessagePublished, Channel: "x"},
	} {
		d.observe(&e)
	}
	got := d.transportCounts()
	want := map[string]int64{"websocket": 2, "longpoll": 0, "eventsource": 1}
	if len(got) != len(want) {
		t.Errorf("transports %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("transports %v, want %v", got, want)
		}
	}
	base := time.Unix(1700000000, 0)
	for i := range dashboardSlowKept + 5 {
		e := events.Event{Kind: events.SubscriberTooSlow, Time: base.Add(time.Duration(i) * time.Second), Channel: "c" + strconv.Itoa(i), Transport: "websocket"}
		d.observe(&e)
	}
	if len(d.slow) != dashboardSlowKept || d.slow[0].Channel != "c5" || d.slow[len(d.slow)-1].Channel != "c24" {
		t.Errorf("slow kept %d, from %q to %q; want %d from c5 to c24", len(d.slow), d.slow[0].Channel, d.slow[len(d.slow)-1].Channel, dashboardSlowKept)
	}
	if d.slow[0].Time != base.Add(5*time.Second).UnixMilli() {
		t.Errorf("slow time %d, want %d", d.slow[0].Time, base.Add(5*time.Second).UnixMilli())
	}
}
