package server_test

// Push-stream subscribers (push_stream_subscriber): the bytes each mode
// sends, compared with what nginx-push-stream-module sends for the same
// configuration and requests.

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
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
      - location: ~ /nottl/(.*)
        push_stream_subscriber: streaming
        push_stream_channels_path: $1
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
      - location: ~ /wscors/(.*)
        push_stream_subscriber: websocket
        push_stream_channels_path: $1
        push_stream_allowed_origins: "*"
      - location: ~ /pad/(.*)
        push_stream_subscriber: streaming
        push_stream_channels_path: $1
        push_stream_header_template: "0123456789"
        push_stream_padding_by_user_agent: "[T|t]est 1,1024,508:[T|t]est 2,4097,0"
        push_stream_subscriber_connection_ttl: 1s
      - location: ~ /evpad/(.*)
        push_stream_subscriber: eventsource
        push_stream_channels_path: $1
        push_stream_padding_by_user_agent: "[T|t]est 1,0,545"
        push_stream_subscriber_connection_ttl: 1s
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

// chunk frames s as one HTTP/1.1 chunk.
func chunk(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }

// chunks frames each of parts as a chunk and ends the body.
func chunks(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(chunk(p))
	}
	return b.String() + "0\r\n\r\n"
}

// psJSON is a message as psConfig's /sub/ template renders it.
func psJSON(m *store.Message, ch string) string {
	return fmt.Sprintf(`{"id":%d,"channel":"%s","text":"%s","tag":"%d","time":"%s","eventid":"%s","type":"%s","size":%d}`,
		m.Number, ch, m.Body, psTagOf(m), httpDate(m.ID.Time), m.EventID, m.EventName, len(m.Body))
}

// psTagOf is a message's tag as the module numbers it: its place among
// the messages of its second.
func psTagOf(m *store.Message) uint32 {
	if m.SecondTag == 0 {
		panic("the memory store numbers messages within their second")
	}
	return m.SecondTag
}

func httpDate(sec int64) string { return time.Unix(sec, 0).UTC().Format(http.TimeFormat) }

// psPing is /sub/'s ping message.
const psPing = `{"id":-1,"channel":"","text":" ","tag":"0","time":"Thu, 01 Jan 1970 00:00:00 GMT","eventid":"","type":"","size":1}`

// TestPushStreamAnswers checks the exact answer of each subscriber mode to
// a channel with two stored messages: status, the module's headers and
// the body bytes (chunks included), as nginx-push-stream-module answers
// the same configuration.
func TestPushStreamAnswers(t *testing.T) {
	t.Parallel()
	s := startServer(t, psConfig)
	// Cases that count pings have channels of their own: subscribers of
	// one channel and location share their fan-out writer's ping ticker.
	pub2 := func(ch string) (*store.Message, *store.Message) {
		return psPublish(t, s, ch, "hello", "e1", "t1"), psPublish(t, s, ch, "l1\nl2\r\n\nl3", "", "")
	}
	m1, m2 := pub2("ch1")
	s1, s2 := pub2("sch")
	pub2("ech")
	pub2("eid")
	pub2("enone")
	ims := "If-Modified-Since: " + httpDate(m1.ID.Time)
	tag1 := fmt.Sprintf("If-None-Match: W/%d", psTagOf(m1))
	noCache := map[string]string{"Expires": "Thu, 01 Jan 1970 00:00:01 GMT", "Cache-Control": "no-cache, no-store, must-revalidate"}
	cors := map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET",
		"Access-Control-Allow-Headers": "If-Modified-Since,If-None-Match,Etag,Event-Id,Event-Type,Last-Event-Id"}
	lastMod := map[string]string{"Last-Modified": httpDate(m2.ID.Time), "Etag": fmt.Sprintf("W/%d", psTagOf(m2))}
	cases := []struct {
		name, path string
		headers    []string
		status     string
		want       []map[string]string
		body       string
	}{
		{"streaming with backtrack, ping and footer at the connection ttl", "/sub/sch.b2", nil, "200 OK",
			[]map[string]string{noCache, {"Content-Type": "text/plain", "Transfer-Encoding": "chunked"}},
			chunks("HEAD\r\nline2", psJSON(s1, "sch"), psJSON(s2, "sch"), psPing, "FOOT")},
		{"streaming backtrack of one", "/plain/ch1.b1", nil, "200 OK", nil, chunks(string(m2.Body))},
		{"streaming without backtrack gets nothing old", "/plain/ch1", nil, "200 OK", nil, chunks()},
		{"streaming after If-Modified-Since and the tag", "/plain/ch1", []string{ims, tag1}, "200 OK", nil, chunks(string(m2.Body))},
		{"streaming after If-Modified-Since without a tag", "/plain/ch1", []string{"If-Modified-Since: " + httpDate(m1.ID.Time-1)}, "200 OK", nil,
			chunks(string(m1.Body), string(m2.Body))},
		{"eventsource", "/ev/ech.b2", nil, "200 OK",
			[]map[string]string{noCache, {"Content-Type": "text/event-stream; charset=utf-8", "Transfer-Encoding": "chunked"}},
			chunks(": \n", "id: e1\nevent: t1\ndata: hello\n\n", "data: l1\ndata: l2\ndata: l3\n\n", ": -1\n", ": bye\n")},
		{"eventsource after Last-Event-Id", "/ev/eid", []string{"Last-Event-Id: e1"}, "200 OK", nil,
			chunks(": \n", "data: l1\ndata: l2\ndata: l3\n\n", ": -1\n", ": bye\n")},
		{"eventsource with an unknown Last-Event-Id", "/ev/enone", []string{"Last-Event-Id: nope"}, "200 OK", nil,
			chunks(": \n", ": -1\n", ": bye\n")},
		{"long-polling JSONP groups old messages", "/lp/ch1.b2?callback=fn", nil, "200 OK",
			[]map[string]string{noCache, cors, lastMod, {"Content-Type": "application/javascript"}},
			fmt.Sprintf("fn([hello|1|%d,l1\nl2\r\n\nl3|2|%d]);", psTagOf(m1), psTagOf(m2))},
		{"long-polling header and footer", "/lpb/ch1", []string{ims, tag1}, "200 OK",
			[]map[string]string{lastMod, {"Content-Type": "text/plain"}}, "H" + string(m2.Body) + "F"},
		{"polling without a position", "/poll/ch1", nil, "304 Not Modified", []map[string]string{noCache}, ""},
		{"polling from arguments", "/poll/ch1?time=" + strings.ReplaceAll(httpDate(m1.ID.Time), " ", "%20") + fmt.Sprintf("&tag=%d", psTagOf(m1)), nil,
			"200 OK", []map[string]string{lastMod}, string(m2.Body)},
		{"polling with nothing newer keeps the position", "/poll/ch1?time=" + strings.ReplaceAll(httpDate(m2.ID.Time), " ", "%20") + fmt.Sprintf("&tag=%d", psTagOf(m2)), nil,
			"304 Not Modified", []map[string]string{lastMod}, ""},
		{"mode header polls an eventsource location in its shape", "/ev/ech.b1?callback=f", []string{"X-Nginx-PushStream-Mode: polling"}, "200 OK",
			[]map[string]string{{"Content-Type": "application/javascript"}}, ": \nf([data: l1\ndata: l2\ndata: l3\n\n]);: bye\n"},
		{"mode header makes a stream a poll", "/plain/ch1.b1", []string{"X-Nginx-PushStream-Mode: polling"}, "200 OK",
			[]map[string]string{lastMod}, string(m2.Body)},
		{"mode header makes a stream a long-poll", "/plain/ch1", []string{"X-Nginx-PushStream-Mode: long-polling", ims, tag1}, "200 OK",
			[]map[string]string{lastMod}, string(m2.Body)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, hd, body := splitResponse(t, rawGet(t, s, tc.path, 4*time.Second, tc.headers...))
			if status != "HTTP/1.1 "+tc.status {
				t.Fatalf("status %q, want %q", status, tc.status)
			}
			for _, w := range tc.want {
				for k, v := range w {
					if got := hd.Get(k); got != v {
						t.Errorf("%s: %q, want %q", k, got, v)
					}
				}
			}
			if body != tc.body {
				t.Errorf("body\n%q\nwant\n%q", body, tc.body)
			}
		})
	}
}

// TestPushStreamRefusals checks the module's refusals: status, no body,
// the reason in X-Nginx-PushStream-Explain.
func TestPushStreamRefusals(t *testing.T) {
	t.Parallel()
	s := startServer(t, psConfig)
	psPublish(t, s, "stored", "x", "", "")
	cases := []struct {
		name, method, path string
		status             string
		explain            string
	}{
		{"no channel", "GET", "/sub/", "400 Bad Request", "No channel id provided."},
		{"only slashes", "GET", "/sub///", "400 Bad Request", "No channel id provided."},
		{"id too long", "GET", "/sub/aaaaaaaaaaaaaaaaaaaaaaaaaaa", "400 Bad Request", "Channel id is too large."},
		{"ALL", "GET", "/sub/ALL", "403 Forbidden", "Channel id not authorized for this method."},
		{"a wildcard pattern", "GET", "/sub/a*b", "403 Forbidden", "Channel id not authorized for this method."},
		{"only wildcard channels", "GET", "/sub/broad_1", "403 Forbidden", "Subscribed too much wildcard channels."},
		{"too many wildcard channels", "GET", "/sub/a/broad_1/broad_2/broad_3", "403 Forbidden", "Subscribed too much wildcard channels."},
		{"authorized only: no stored message", "GET", "/auth/nochan", "403 Forbidden", "Subscriber could not create channels."},
		{"events channel", "GET", "/sub/events", "403 Forbidden", "Subscription to events channel is not allowed."},
		{"POST", "POST", "/sub/ch", "405 Method Not Allowed", ""},
		{"websocket without the handshake headers", "GET", "/wscors/ch", "400 Bad Request",
			"Don't have at least one of the mandatory headers: Connection, Upgrade, Sec-WebSocket-Key and Sec-WebSocket-Version"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw := rawRequest(t, s, tc.method, tc.path, 3*time.Second)
			status, hd, body := splitResponse(t, raw)
			if status != "HTTP/1.1 "+tc.status || body != "" {
				t.Fatalf("got %q %q, want %q and no body", status, body, tc.status)
			}
			if !strings.Contains(raw, "\r\nX-Nginx-PushStream-Explain: "+tc.explain+"\r\n") && tc.explain != "" {
				t.Errorf("no X-Nginx-PushStream-Explain: %s in\n%s", tc.explain, raw)
			}
			if strings.HasPrefix(tc.path, "/wscors/") && hd.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("a WebSocket location answers with CORS headers: %v", hd)
			}
			if tc.method == "POST" && hd.Get("Allow") != "GET" {
				t.Errorf("Allow %q", hd.Get("Allow"))
			}
		})
	}
	t.Run("authorized only: a stored channel and a wildcard", func(t *testing.T) {
		status, _, _ := splitResponse(t, rawGet(t, s, "/auth/stored/broad_x", 3*time.Second))
		if status != "HTTP/1.1 200 OK" {
			t.Errorf("status %q", status)
		}
	})
	t.Run("OPTIONS", func(t *testing.T) {
		status, hd, _ := splitResponse(t, rawRequest(t, s, "OPTIONS", "/lp/ch", 3*time.Second))
		if status != "HTTP/1.1 200 OK" || hd.Get("Access-Control-Allow-Origin") != "*" || hd.Get("Expires") != "" {
			t.Errorf("got %q %v", status, hd)
		}
	})
	t.Run("max number of channels", func(t *testing.T) {
		s := startServer(t, strings.Replace(psConfig, "push_stream_events_channel_id: events\n", "push_stream_max_number_of_channels: 1\n", 1))
		c := sendRaw(t, s, "GET", "/nottl/one")
		defer c.conn.Close()
		waitSubscribers(t, s, "one", 1)
		status, hd, _ := splitResponse(t, rawGet(t, s, "/plain/two", 3*time.Second))
		if status != "HTTP/1.1 403 Forbidden" || hd.Get("X-Nginx-Pushstream-Explain") != "Number of channels were exceeded." {
			t.Errorf("got %q %v", status, hd)
		}
	})
	t.Run("max subscribers per channel", func(t *testing.T) {
		s := startServer(t, strings.Replace(psConfig, "servers:", "push_stream_max_subscribers_per_channel: 2\nservers:", 1))
		for range 2 {
			c := sendRaw(t, s, "GET", "/nottl/full")
			defer c.conn.Close()
		}
		waitSubscribers(t, s, "full", 2)
		status, hd, _ := splitResponse(t, rawGet(t, s, "/plain/full", 3*time.Second))
		if status != "HTTP/1.1 403 Forbidden" || hd.Get("X-Nginx-Pushstream-Explain") != "Subscribers limit per channel has been exceeded." {
			t.Errorf("got %q %v", status, hd)
		}
	})
}

// rawRequest is rawGet with any method.
func rawRequest(t testing.TB, s *testServer, method, path string, limit time.Duration) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.addr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, method+" "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(limit))
	b, _ := io.ReadAll(c)
	return string(b)
}

// dechunk decodes a chunked body.
func dechunk(t testing.TB, body string) string {
	t.Helper()
	var out strings.Builder
	for {
		line, rest, ok := strings.Cut(body, "\r\n")
		if !ok {
			t.Fatalf("bad chunked body at %q", body)
		}
		var n int
		if _, err := fmt.Sscanf(line, "%x", &n); err != nil {
			t.Fatalf("bad chunk size %q", line)
		}
		if n == 0 {
			return out.String()
		}
		out.WriteString(rest[:n])
		body = rest[n+2:]
	}
}

// TestPushStreamLongPoll checks a long-poll that waits: the next message
// (alone, with its Etag and Last-Modified, in the JSONP callback), the
// channel deleted, and push_stream_longpolling_connection_ttl with and
// without push_stream_timeout_with_body.
func TestPushStreamLongPoll(t *testing.T) {
	t.Parallel()
	s := startServer(t, psConfig)
	withBody := startServer(t, strings.Replace(psConfig, "servers:", "push_stream_timeout_with_body: on\nservers:", 1))
	type result struct {
		status string
		hd     http.Header
		body   string
	}
	get := func(s *testServer, path string) <-chan result {
		ch := make(chan result, 1)
		go func() {
			status, hd, body := splitResponse(t, rawGet(t, s, path, 4*time.Second))
			ch <- result{status, hd, body}
		}()
		return ch
	}
	cases := []struct {
		name   string
		s      *testServer
		path   string
		action func(ch string) *store.Message // run once the long-poll waits
		status string
		body   string
		etag   string
	}{
		{"a message", s, "/lpb/w1", func(ch string) *store.Message { return psPublish(t, s, ch, "later", "", "") }, "200 OK", "HlaterF", "W/1"},
		{"a message in the callback", s, "/lpb/w2?callback=c", func(ch string) *store.Message { return psPublish(t, s, ch, "later", "", "") },
			"200 OK", "Hc([later]);F", "W/1"},
		{"one message per answer", s, "/lpb/w3", func(ch string) *store.Message {
			m := psPublish(t, s, ch, "first", "", "")
			psPublish(t, s, ch, "second", "", "")
			return m
		}, "200 OK", "HfirstF", "W/1"},
		{"channel deleted", s, "/lpb/w4?callback=c", func(ch string) *store.Message {
			if _, err := s.Store.Delete(context.Background(), store.ChannelKey{ID: ch}); err != nil {
				t.Error(err)
			}
			return nil
		}, "200 OK", "Hc([Channel deleted]);F", "W/0"},
		{"timeout", s, "/lpb/w5", nil, "304 Not Modified", "", "W/0"},
		{"timeout with body", withBody, "/lpb/w6", nil, "200 OK", "HTimed outF", "W/0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ch := strings.TrimPrefix(strings.Split(tc.path, "?")[0], "/lpb/")
			if tc.name == "channel deleted" {
				psPublish(t, tc.s, ch, "old", "", "")
			}
			got := get(tc.s, tc.path)
			waitSubscribers(t, tc.s, ch, 1)
			var m *store.Message
			if tc.action != nil {
				m = tc.action(ch)
			}
			r := <-got
			if r.status != "HTTP/1.1 "+tc.status || r.body != tc.body {
				t.Fatalf("got %q %q, want %q %q", r.status, r.body, tc.status, tc.body)
			}
			if m != nil {
				tc.etag = fmt.Sprintf("W/%d", psTagOf(m))
			}
			if r.hd.Get("Etag") != tc.etag {
				t.Errorf("Etag %q, want %q", r.hd.Get("Etag"), tc.etag)
			}
			if m != nil && r.hd.Get("Last-Modified") != httpDate(m.ID.Time) {
				t.Errorf("Last-Modified %q, want %q", r.hd.Get("Last-Modified"), httpDate(m.ID.Time))
			}
			if m == nil && r.hd.Get("Last-Modified") == "" {
				t.Error("no Last-Modified")
			}
		})
	}
}

// TestPushStreamChannelDeleted checks that a streaming subscriber whose
// channel is deleted gets the channel-deleted message through its
// template, then the footer.
func TestPushStreamChannelDeleted(t *testing.T) {
	t.Parallel()
	s := startServer(t, psConfig)
	psPublish(t, s, "gone", "x", "", "")
	got := make(chan string, 1)
	go func() { got <- rawGet(t, s, "/sub/gone", 4*time.Second) }()
	waitSubscribers(t, s, "gone", 1)
	if _, err := s.Store.Delete(context.Background(), store.ChannelKey{ID: "gone"}); err != nil {
		t.Fatal(err)
	}
	_, _, body := splitResponse(t, <-got)
	deleted := `{"id":-2,"channel":"gone","text":"Channel deleted","tag":"0","time":"Thu, 01 Jan 1970 00:00:00 GMT","eventid":"","type":"","size":15}`
	if want := chunks("HEAD\r\nline2", deleted, "FOOT"); body != want {
		t.Errorf("body\n%q\nwant\n%q", body, want)
	}
}

// TestPushStreamPadding checks push_stream_padding_by_user_agent: the
// header and each message padded to the minimum of the first entry whose
// pattern matches the User-Agent, in steps of 100 bytes up to the largest
// minimum.
func TestPushStreamPadding(t *testing.T) {
	t.Parallel()
	s := startServer(t, psConfig)
	psPublish(t, s, "padded", "x", "", "")
	cases := []struct {
		path, agent string
		size        int
		fill        string
	}{
		{"/pad/p1", "Test 1", 10 + 1100, "\r\n"},
		{"/pad/p2", "Test 2", 10 + 4097, "\r\n"},
		{"/pad/p3", "Test 3", 10, ""},
		{"/pad/p4", "", 10, ""},
		{"/evpad/padded.b1", "test 1", 3 + 9 + 545, ":"},
		{"/evpad/padded.b1", "Other", 3 + 9, ""},
	}
	for _, tc := range cases {
		t.Run(tc.path+" "+tc.agent, func(t *testing.T) {
			t.Parallel()
			var hs []string
			if tc.agent != "" {
				hs = append(hs, "User-Agent: "+tc.agent)
			}
			_, _, body := splitResponse(t, rawGet(t, s, tc.path, 3*time.Second, hs...))
			got := dechunk(t, body)
			if len(got) != tc.size {
				t.Fatalf("%d bytes, want %d: %q", len(got), tc.size, got[:min(len(got), 40)])
			}
			if tc.fill != "" && !strings.Contains(got, strings.Repeat(tc.fill, 20)) {
				t.Errorf("no %q filler", tc.fill)
			}
		})
	}
}

// TestPushStreamWebSocket checks a WebSocket subscriber: old messages and
// new ones as text frames, a text message published to its channel
// (push_stream_websocket_allow_publish), bare ping frames, and at the
// connection ttl the footer as a text frame and a close frame.
func TestPushStreamWebSocket(t *testing.T) {
	t.Parallel()
	s := startServer(t, psConfig)
	psPublish(t, s, "wsch", "m1", "x", "")
	c, err := net.DialTimeout("tcp", s.addr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /ws/wsch.b1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(4 * time.Second))
	br := bufio.NewReader(c)
	status, _ := br.ReadString('\n')
	if status != "HTTP/1.1 101 Switching Protocols\r\n" {
		t.Fatalf("status %q", status)
	}
	head := ""
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
		head += l
	}
	for _, h := range []string{"Upgrade: WebSocket\r\n", "Expires: Thu, 01 Jan 1970 00:00:01 GMT\r\n",
		"Cache-Control: no-cache, no-store, must-revalidate\r\n", "Connection: Upgrade\r\n"} {
		if !strings.Contains(head, h) {
			t.Errorf("no %q in the handshake answer\n%s", h, head)
		}
	}
	frame := func() string {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatalf("read frame: %v", err)
		}
		p := make([]byte, h[1]&0x7f)
		io.ReadFull(br, p)
		return string(h[:]) + string(p)
	}
	if f := frame(); f != "\x81\x02m1" {
		t.Fatalf("first frame %q", f)
	}
	mask := []byte{1, 2, 3, 4}
	msg := []byte("pub!")
	out := append([]byte{0x81, 0x80 | byte(len(msg))}, mask...)
	for i, b := range msg {
		out = append(out, b^mask[i%4])
	}
	c.Write(out)
	want := []string{"\x81\x04pub!", "\x89\x00", "\x81\x02ft", "\x88\x00"}
	for _, w := range want {
		if f := frame(); f != w {
			t.Fatalf("frame %q, want %q", f, w)
		}
	}
	info, err := s.Store.Info(context.Background(), store.ChannelKey{ID: "wsch"})
	if err != nil || info.Messages != 2 {
		t.Errorf("channel after the socket's publish: %+v %v", info, err)
	}
}

// TestPushStreamMultiChannel checks a subscriber of several channels: old
// messages of each by its backtrack, then new messages of either, each
// rendered with its own channel's id.
func TestPushStreamMultiChannel(t *testing.T) {
	t.Parallel()
	s := startServer(t, psConfig)
	a1 := psPublish(t, s, "mca", "a1", "", "")
	psPublish(t, s, "mcb", "b0", "", "")
	b1 := psPublish(t, s, "mcb", "b1", "", "")
	got := make(chan string, 1)
	go func() { got <- rawGet(t, s, "/sub/mca.b1/mcb.b1/mcc", 4*time.Second) }()
	waitSubscribers(t, s, "mcc", 1)
	b2 := psPublish(t, s, "mcb", "b2", "", "")
	c1 := psPublish(t, s, "mcc", "c1", "", "")
	_, _, body := splitResponse(t, <-got)
	want := chunks("HEAD\r\nline2", psJSON(a1, "mca"), psJSON(b1, "mcb"), psJSON(b2, "mcb"), psJSON(c1, "mcc"), psPing, "FOOT")
	if body != want {
		t.Errorf("body\n%q\nwant\n%q", body, want)
	}
}

// TestPushStreamTagTieBreak checks resuming by If-Modified-Since and
// If-None-Match where tags count the messages of a second across channels,
// as the module's do: a position taken from another channel's message
// (pushstream.js keeps one for all its channels) selects the messages
// published after it.
func TestPushStreamTagTieBreak(t *testing.T) {
	t.Parallel()
	s := startServer(t, psConfig)
	var as []*store.Message
	var b1 *store.Message
	for i, ch := range []string{"tia", "tib", "tia", "tib", "tia"} {
		m := psPublish(t, s, ch, fmt.Sprint("m", i), "", "")
		if ch == "tia" {
			as = append(as, m)
		} else if b1 == nil {
			b1 = m
		}
	}
	var want []string
	for _, m := range as {
		if m.ID.Time > b1.ID.Time || (m.ID.Time == b1.ID.Time && psTagOf(m) > psTagOf(b1)) {
			want = append(want, string(m.Body))
		}
	}
	_, hd, body := splitResponse(t, rawGet(t, s, "/lpb/tia", 3*time.Second,
		"If-Modified-Since: "+httpDate(b1.ID.Time), fmt.Sprintf("If-None-Match: W/%d", psTagOf(b1))))
	if len(want) > 0 {
		want = []string{"H" + strings.Join(want, "") + "F"}
	}
	if got := body; got != strings.Join(want, "") {
		t.Errorf("body %q, want %q (tags %v)", got, strings.Join(want, ""), hd.Get("Etag"))
	}
}

// TestPushStreamMultiChannelDeleted checks a subscriber of several
// channels whose channels are deleted one by one: each deletion comes as
// the channel-deleted message of that channel, the subscriber stays on
// the others, and the last deletion ends the stream with the footer.
func TestPushStreamMultiChannelDeleted(t *testing.T) {
	t.Parallel()
	s := startServer(t, psConfig)
	got := make(chan string, 1)
	go func() { got <- rawGet(t, s, "/sub/mda/mdb", 4*time.Second) }()
	waitSubscribers(t, s, "mdb", 1)
	del := func(ch string) {
		if _, err := s.Store.Delete(context.Background(), store.ChannelKey{ID: ch}); err != nil {
			t.Fatal(err)
		}
	}
	deleted := func(ch string) string {
		return `{"id":-2,"channel":"` + ch + `","text":"Channel deleted","tag":"0","time":"Thu, 01 Jan 1970 00:00:00 GMT","eventid":"","type":"","size":15}`
	}
	del("mda")
	time.Sleep(100 * time.Millisecond)
	m := psPublish(t, s, "mdb", "still here", "", "")
	time.Sleep(100 * time.Millisecond)
	del("mdb")
	_, _, body := splitResponse(t, <-got)
	if want := chunks("HEAD\r\nline2", deleted("mda"), psJSON(m, "mdb"), deleted("mdb"), "FOOT"); body != want {
		t.Errorf("body\n%q\nwant\n%q", body, want)
	}
}

// TestPushStreamHTTP2 checks streaming and EventSource subscribers over
// TLS with HTTP/2: the same bytes without chunk framing, ended by the
// connection TTL with the footer.
func TestPushStreamHTTP2(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := writeSelfSigned(t)
	cfg := strings.Replace(psConfig, "    locations:\n", "    ssl_certificate: "+certFile+"\n    ssl_certificate_key: "+keyFile+"\n    locations:\n", 1)
	s := startServer(t, cfg)
	m := psPublish(t, s, "h2ch", "hello", "e1", "t1")
	base := strings.Replace(s.URL, "http://", "https://", 1)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	cases := []struct{ path, ctype, body string }{
		{"/plain/h2ch.b1", "text/plain", "hello"},
		{"/ev/h2ch.b1", "text/event-stream; charset=utf-8", ": \nid: e1\nevent: t1\ndata: hello\n\n: -1\n: bye\n"},
		{"/sub/h2ch.b1", "text/plain", "HEAD\r\nline2" + psJSON(m, "h2ch") + psPing + "FOOT"},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			res, err := client.Get(base + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			if res.ProtoMajor != 2 || res.StatusCode != 200 || res.Header.Get("Content-Type") != tc.ctype {
				t.Fatalf("got %s %d %q", res.Proto, res.StatusCode, res.Header.Get("Content-Type"))
			}
			if string(b) != tc.body {
				t.Errorf("body\n%q\nwant\n%q", b, tc.body)
			}
		})
	}
}
