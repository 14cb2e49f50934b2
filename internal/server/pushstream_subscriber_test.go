package server_test

// Push-stream subscribers (push_stream_subscriber): the bytes each mode
// sends, compared with what nginx-push-stream-module sends for the same
// configuration and requests.

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/store"
)

// psConfig is the push-stream layout the tests use.
var psConfig = `push_stream_wildcard_channel_prefix: "broad_"
push_stream_events_channel_id: events
push_stream_max_channel_id_length: 20
servers:
  - listen: 127.0.0.1:0
    locations:
      - location: ~ /sub/(.*)
        push_stream_subscriber: streaming
        push_stream_channels_path: $1
        push_stream_header_template: "HEAD\r\nline2"
        push_stream_message_template: '{"id":~id~,"channel":"~channel~","text":"~text~","tag":"~tag~","time":"~time~","eventid":"~event-id~","type":"~event-type~","size":~size~}'
        push_stream_footer_template: FOOT
        push_stream_subscriber_connection_ttl: 1500ms
        push_stream_ping_message_interval: 1s
        push_stream_wildcard_channel_max_qtd: 2
      - location: ~ /plain/(.*)
        push_stream_subscriber: streaming
        push_stream_channels_path: $1
        push_stream_subscriber_connection_ttl: 1s
      - location: ~ /auth/(.*)
        push_stream_subscriber: streaming
        push_stream_channels_path: $1
        push_stream_authorized_channels_only: on
        push_stream_wildcard_channel_max_qtd: 2
        push_stream_subscriber_connection_ttl: 300ms
      - location: ~ /ev/(.*)
        push_stream_subscriber: eventsource
        push_stream_channels_path: $1
        push_stream_subscriber_connection_ttl: 1500ms
        push_stream_ping_message_interval: 1s
        push_stream_footer_template: bye
      - location: ~ /lp/(.*)
        push_stream_subscriber: long-polling
        push_stream_channels_path: $1
        push_stream_longpolling_connection_ttl: 1s
        push_stream_message_template: "~text~|~id~|~tag~"
        push_stream_allowed_origins: "*"
      - location: ~ /lpb/(.*)
        push_stream_subscriber: long-polling
        push_stream_channels_path: $1
        push_stream_longpolling_connection_ttl: 1s
        push_stream_header_template: H
        push_stream_footer_template: F
      - location: ~ /poll/(.*)
        push_stream_subscriber: polling
        push_stream_channels_path: $1
        push_stream_last_received_message_time: $arg_time
        push_stream_last_received_message_tag: $arg_tag
      - location: ~ /ws/(.*)
        push_stream_subscriber: websocket
        push_stream_channels_path: $1
        push_stream_websocket_allow_publish: on
        push_stream_store_messages: on
        push_stream_ping_message_interval: 1s
        push_stream_subscriber_connection_ttl: 1500ms
        push_stream_footer_template: ft
`

// psPublish stores a message in ch as a push-stream publisher would.
func psPublish(t testing.TB, s *testServer, ch, body, eventID, eventType string) *store.Message {
	t.Helper()
	res, err := s.Store.Publish(context.Background(), store.ChannelKey{ID: ch},
		store.Publication{Body: []byte(body), EventID: eventID, EventName: eventType},
		store.ChannelOptions{BufferLength: 100, MessageTimeout: time.Hour, ChannelTimeout: time.Hour})
	if err != nil {
		t.Fatalf("publish to %s: %v", ch, err)
	}
	return res.Message
}

// rawGet sends a GET with headers ("Name: value" lines) over a new
// connection and returns everything the server sends until it closes the
// connection or limit passes.
func rawGet(t testing.TB, s *testServer, path string, limit time.Duration, headers ...string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.addr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(limit))
	b, _ := io.ReadAll(bufio.NewReader(c))
	return string(b)
}

// splitResponse splits a raw answer into its status line, its headers
// (without Date) and its body.
func splitResponse(t testing.TB, raw string) (string, http.Header, string) {
	t.Helper()
	head, body, ok := strings.Cut(raw, "\r\n\r\n")
	if !ok {
		t.Fatalf("no end of head in %q", raw)
	}
	lines := strings.Split(head, "\r\n")
	hd := http.Header{}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ": ")
		hd.Add(k, v)
	}
	hd.Del("Date")
	return lines[0], hd, body
}

func TestPushStreamSmoke(t *testing.T) {
	s := startServer(t, psConfig)
	psPublish(t, s, "ch1", "hello", "e1", "t1")
	psPublish(t, s, "ch1", "l1\nl2\r\n\nl3", "", "")
	for _, p := range []string{"/sub/ch1.b2", "/ev/ch1.b2", "/lp/ch1.b2?callback=fn", "/poll/ch1", "/sub/", "/sub/ALL", "/auth/nochan"} {
		t.Logf("%s:\n%s", p, rawGet(t, s, p, 3*time.Second))
	}
}
