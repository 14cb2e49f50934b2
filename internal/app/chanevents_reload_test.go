package app_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/heraldpush/herald/internal/app"
)

// eventsReloadConfig has a publisher (with pub, its keys), a channel_list
// location (with list) and an events channel subscriber.
func eventsReloadConfig(pub, list string) string {
	return `
shutdown_timeout: 2s
servers:
  - listen: 127.0.0.1:0
    locations:
      - location: ~ ^/pub/(\w+)$
        publisher: true
        channel_id: $1
` + pub + `
      - location: = /channels
        channel_list: on
` + list + `
      - location: ~ ^/meta/(\w+)$
        subscriber: true
        channel_group: meta
        channel_id: $1
`
}

// TestReloadChannelEvents: a reload turns channel events on for new
// requests, and changes who may read a channel listing.
func TestReloadChannelEvents(t *testing.T) {
	const events = "        channel_events_channel_id: $1\n        channel_event_string: \"$nchan_channel_event $arg_n\"\n"
	a := start(t, parse(t, eventsReloadConfig("", "        channel_list_allow: 192.0.2.1\n")), app.Options{NoMemoryTrim: true})
	base := "http://" + a.Addrs()[0].String()
	meta := openES(t, base+"/meta/r")
	if code, _, _ := get(t, "POST", base+"/pub/r?n=1", "x"); code != http.StatusAccepted {
		t.Fatalf("publish: %d", code)
	}
	if code, _, _ := get(t, "GET", base+"/channels", ""); code != http.StatusForbidden {
		t.Fatalf("listing before the reload: %d, want 403", code)
	}
	if err := a.Reload(context.Background(), parse(t, eventsReloadConfig(events, ""))); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if code, _, _ := get(t, "POST", base+"/pub/r?n=2", "x"); code != http.StatusAccepted {
		t.Fatalf("publish: %d", code)
	}
	// The publish before the reload sent nothing: the first event is the
	// second publish's.
	if got := meta.next(t); got != "channel_publish 2" {
		t.Fatalf("first event %q, want %q", got, "channel_publish 2")
	}
	if code, body, _ := get(t, "GET", base+"/channels", ""); code != http.StatusOK {
		t.Fatalf("listing after the reload: %d %q, want 200", code, body)
	}
}
