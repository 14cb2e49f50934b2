package route

import (
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/config"
)

// TestPushStreamRoutes checks that push-stream locations take every
// method to their role, refuse no origin, resolve no channel, and give the
// store the module's settings.
func TestPushStreamRoutes(t *testing.T) {
	prepare := routes(t, `
push_stream_max_messages_stored_per_channel: 20
push_stream_message_ttl: 5m
servers:
  - listen: 127.0.0.1:0
    locations:
      - location: /pub
        push_stream_publisher: admin
        push_stream_channels_path: $arg_id
        push_stream_store_messages: on
      - location: /pub2
        push_stream_publisher:
        push_stream_channels_path: $arg_id
      - location: ~ ^/sub/(.*)$
        push_stream_subscriber: long-polling
        push_stream_channels_path: $1
        push_stream_authorized_channels_only: on
        push_stream_max_subscribers_per_channel: 3
      - location: /channels-stats
        push_stream_channels_statistics:
        push_stream_channels_path: $arg_id
`)
	for _, tt := range []struct {
		method, target string
		role           Role
	}{
		{"POST", "/pub?id=a", PSPublisher},
		{"PUT", "/pub?id=a", PSPublisher},
		{"GET", "/pub?id=a", PSPublisher},
		{"DELETE", "/pub2?id=a", PSPublisher},
		{"PATCH", "/pub?id=a", PSPublisher},
		{"OPTIONS", "/pub?id=a", PSPublisher},
		{"GET", "/sub/a/b", PSSubscriber},
		{"POST", "/sub/a", PSSubscriber},
		{"GET", "/channels-stats", PSStatistics},
	} {
		q, rf := prepare(request(tt.method, tt.target, "Origin", "http://elsewhere.example"))
		if rf != nil || q.Role != tt.role || len(q.Channels) != 0 {
			t.Errorf("%s %s: role %v, refusal %v, channels %v", tt.method, tt.target, q.Role, rf, q.Channels)
		}
		if q.Route.PushStream == nil || q.allowOrigin != "" {
			t.Errorf("%s %s: push-stream %v, allow origin %q", tt.method, tt.target, q.Route.PushStream, q.allowOrigin)
		}
	}
	q, _ := prepare(request("POST", "/pub?id=a"))
	if p := q.Route.PushStream; p.Publisher != config.PSAdmin || p.Channel.BufferLength != 20 || p.Channel.MessageTimeout != 5*time.Minute || p.Channel.ChannelTimeout != 30*time.Second {
		t.Errorf("publisher %+v", p)
	}
	q, _ = prepare(request("POST", "/pub2?id=a"))
	if p := q.Route.PushStream; p.Publisher != config.PSNormal || p.Channel.BufferLength != 0 {
		t.Errorf("publisher without store_messages %+v", p.Channel)
	}
	q, _ = prepare(request("GET", "/sub/a"))
	if p := q.Route.PushStream; p.Subscriber != config.PSLongPolling || !p.Subscribe.ExistingOnly || p.Subscribe.MaxSubscribers != 3 || p.Subscribe.ChannelTimeout != 30*time.Second {
		t.Errorf("subscriber %+v", p.Subscribe)
	}
}
