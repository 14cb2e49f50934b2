package server_test

import (
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// psPubConfig is the push-stream layout the publisher, statistics and events
// tests share, as the module's tests configure it: top-level directives
// (the module's http block), then a statistics location, an admin and a
// normal publisher, a publisher without channel info, one with CORS, and
// subscriber-free publishing only (the subscriber side has its own tests).
func psPubConfig(top ...string) string {
	var b strings.Builder
	for _, d := range append([]string{"push_stream_max_channel_id_length: 20"}, top...) {
		b.WriteString(d + "\n")
	}
	b.WriteString(`servers:
  - listen: 127.0.0.1:0
    locations:
      - location: /channels-stats
        push_stream_channels_statistics:
        push_stream_channels_path: $arg_id
      - location: /pub
        push_stream_publisher: admin
        push_stream_channels_path: $arg_id
        push_stream_store_messages: on
        client_max_body_size: 32k
      - location: /pubn
        push_stream_publisher:
        push_stream_channels_path: $arg_id
      - location: /pubnoinfo
        push_stream_publisher:
        push_stream_channels_path: $arg_id
        push_stream_channel_info_on_publish: off
      - location: /pubcors
        push_stream_publisher: admin
        push_stream_channels_path: $arg_id
        push_stream_allowed_origins: "$arg_origin"
        client_max_body_size: 32k
`)
	return b.String()
}

// psPubVolatile matches what changes from run to run in statistics: the
// time and the uptime.
var psPubVolatile = regexp.MustCompile(`("time": ")[^"]*(")|(time: )[0-9T:-]+|(<time>)[^<]*(</time>)|("uptime": )[0-9]+|(uptime: )[0-9]+|(<uptime>)[0-9]+(</uptime>)|("pid": ")[0-9]+(")|(pid: )[0-9]+|(<pid>)[0-9]+(</pid>)`)

// psPubNormalize replaces the time, uptime and pid of statistics with
// placeholders, and the host's name with HOST.
func psPubNormalize(body string) string {
	body = psPubVolatile.ReplaceAllString(body, "${1}${3}${4}${6}${7}${8}${10}${12}${13}X${2}${5}${9}${11}${14}")
	if h, err := os.Hostname(); err == nil && h != "" {
		body = strings.ReplaceAll(body, ": "+h, ": HOST")
		body = strings.ReplaceAll(body, `: "`+h+`"`, `: "HOST"`)
		body = strings.ReplaceAll(body, ">"+h+"<", ">HOST<")
	}
	return body
}

// psPubExchange is one request and the exact answer the module gives it.
type psPubExchange struct {
	name                 string
	method, path, body   string
	headers              []string
	status               int
	contentType, explain string
	allow                string
	want                 string // the body, normalized (psPubNormalize)
}

// run sends the request and checks the answer: status, the module's
// Expires and Cache-Control, Content-Type, X-Nginx-PushStream-Explain,
// Allow and the body byte for byte.
func (x psPubExchange) run(t *testing.T, s *testServer) {
	t.Helper()
	r := do(t, x.method, s.URL+x.path, x.body, x.headers...)
	if r.Status != x.status {
		t.Errorf("%s: %s %s: status %d, want %d (body %q)", x.name, x.method, x.path, r.Status, x.status, r.Body)
	}
	h := r.Header
	if x.status != http.StatusRequestEntityTooLarge && (h.Get("Expires") != "Thu, 01 Jan 1970 00:00:01 GMT" || h.Get("Cache-Control") != "no-cache, no-store, must-revalidate") {
		t.Errorf("%s: Expires %q, Cache-Control %q", x.name, h.Get("Expires"), h.Get("Cache-Control"))
	}
	if got := h.Get("Content-Type"); got != x.contentType {
		t.Errorf("%s: Content-Type %q, want %q", x.name, got, x.contentType)
	}
	if got := h.Get("X-Nginx-PushStream-Explain"); got != x.explain {
		t.Errorf("%s: explain %q, want %q", x.name, got, x.explain)
	}
	if got := h.Get("Allow"); got != x.allow {
		t.Errorf("%s: Allow %q, want %q", x.name, got, x.allow)
	}
	if got := psPubNormalize(r.Body); got != x.want {
		t.Errorf("%s: body\n got %q\nwant %q", x.name, got, x.want)
	}
}

const jsonType = "application/json"

// TestPushStreamPublisher checks the publisher API against the module's
// answers (recorded from nginx-push-stream-module), in order on one
// server: publishing (POST and PUT), statistics by GET in every format,
// several channels at once, the ids it refuses, DELETE, methods, CORS.
func TestPushStreamPublisher(t *testing.T) {
	s := startServer(t, psPubConfig())
	group := func(infos string) string {
		return `{"hostname": "HOST", "time": "X", "channels": 3, "wildcard_channels": 0, "uptime": X, "infos": [` + "\r\n" + infos + "]}\r\n"
	}
	info := func(ch, pub, stored string) string {
		return `{"channel": "` + ch + `", "published_messages": ` + pub + `, "stored_messages": ` + stored + `, "subscribers": 0}`
	}
	for _, x := range []psPubExchange{
		{name: "first publish", method: "POST", path: "/pub?id=ch1", body: "hello", status: 200, contentType: jsonType,
			want: info("ch1", "1", "1") + "\r\n"},
		{name: "PUT publishes too", method: "PUT", path: "/pub?id=ch1", body: "second", status: 200, contentType: jsonType,
			want: info("ch1", "2", "2") + "\r\n"},
		{name: "GET", method: "GET", path: "/pub?id=ch1", status: 200, contentType: jsonType,
			want: info("ch1", "2", "2") + "\r\n"},
		{name: "GET of a channel that does not exist", method: "GET", path: "/pub?id=nope", status: 404},
		{name: "plain", method: "GET", path: "/pub?id=ch1", headers: []string{"Accept", "text/plain"}, status: 200, contentType: "text/plain",
			want: "channel: ch1\r\npublished_messages: 2\r\nstored_messages: 2\r\nactive_subscribers: 0\r\n"},
		{name: "xml", method: "GET", path: "/pub?id=ch1", headers: []string{"Accept", "application/xml"}, status: 200, contentType: "application/xml",
			want: "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\r\n<channel>\r\n  <name>ch1</name>\r\n  <published_messages>2</published_messages>\r\n  <stored_messages>2</stored_messages>\r\n  <subscribers>0</subscribers>\r\n</channel>\r\n\r\n"},
		{name: "yaml", method: "GET", path: "/pub?id=ch1", headers: []string{"Accept", "application/yaml"}, status: 200, contentType: "application/yaml",
			want: "  channel: ch1\r\n  published_messages: 2\r\n  stored_messages: 2\r\n  subscribers: 0\r\n"},
		{name: "x-json", method: "GET", path: "/pub?id=ch1", headers: []string{"Accept", "text/x-json"}, status: 200, contentType: "text/x-json",
			want: info("ch1", "2", "2") + "\r\n"},
		{name: "publish answered in plain text", method: "POST", path: "/pub?id=ch1", body: "x", headers: []string{"Accept", "text/plain"}, status: 200, contentType: "text/plain",
			want: "channel: ch1\r\npublished_messages: 3\r\nstored_messages: 3\r\nactive_subscribers: 0\r\n"},
		{name: "no channel id", method: "GET", path: "/pub", status: 400, explain: "No channel id provided."},
		{name: "no channel id to publish", method: "POST", path: "/pub", body: "x", status: 400, explain: "No channel id provided."},
		{name: "empty channel id", method: "POST", path: "/pub?id=", body: "x", status: 400, explain: "No channel id provided."},
		{name: "several channels", method: "POST", path: "/pub?id=a/b", body: "multi", status: 200, contentType: jsonType,
			want: group(info("a", "1", "1") + ",\r\n" + info("b", "1", "1") + "\r\n")},
		{name: "a backtrack is no part of the id", method: "POST", path: "/pub?id=a.b3/c", body: "bt", status: 200, contentType: jsonType,
			want: strings.Replace(group(info("a", "2", "2")+",\r\n"+info("c", "1", "1")+"\r\n"), `"channels": 3`, `"channels": 4`, 1)},
		{name: "GET of several channels", method: "GET", path: "/pub?id=a/b", headers: []string{"Accept", "text/plain"}, status: 200, contentType: "text/plain",
			want: "hostname: HOST, time: X, channels: 4, wildcard_channels: 0, uptime: X, infos: \r\nchannel: a\r\npublished_messages: 2\r\nstored_messages: 2\r\nactive_subscribers: 0,\r\nchannel: b\r\npublished_messages: 1\r\nstored_messages: 1\r\nactive_subscribers: 0\r\n"},
		{name: "GET of several channels, one that exists", method: "GET", path: "/pub?id=a/nope", status: 200, contentType: jsonType,
			want: info("a", "2", "2") + "\r\n"},
		{name: "xml group", method: "GET", path: "/pub?id=a/b", headers: []string{"Accept", "application/xml"}, status: 200, contentType: "application/xml",
			want: "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\r\n<root>\r\n  <hostname>HOST</hostname>\r\n  <time>X</time>\r\n  <channels>4</channels>\r\n  <wildcard_channels>0</wildcard_channels>\r\n  <uptime>X</uptime>\r\n  <infos>\r\n<channel>\r\n  <name>a</name>\r\n  <published_messages>2</published_messages>\r\n  <stored_messages>2</stored_messages>\r\n  <subscribers>0</subscribers>\r\n</channel>\r\n<channel>\r\n  <name>b</name>\r\n  <published_messages>1</published_messages>\r\n  <stored_messages>1</stored_messages>\r\n  <subscribers>0</subscribers>\r\n</channel>\r\n  </infos>\r\n</root>\r\n"},
		{name: "yaml group", method: "GET", path: "/pub?id=a/b", headers: []string{"Accept", "application/yaml"}, status: 200, contentType: "application/yaml",
			want: "hostname: HOST\r\ntime: X\r\nchannels: 4\r\nwildcard_channels: 0\r\nuptime: X\r\ninfos: \r\n -\r\n  channel: a\r\n  published_messages: 2\r\n  stored_messages: 2\r\n  subscribers: 0\r\n -\r\n  channel: b\r\n  published_messages: 1\r\n  stored_messages: 1\r\n  subscribers: 0\r\n"},
		{name: "ALL", method: "POST", path: "/pub?id=ALL", body: "x", status: 403, explain: "Channel id not authorized for this method."},
		{name: "ALL by GET", method: "GET", path: "/pub?id=ALL", status: 403, explain: "Channel id not authorized for this method."},
		{name: "wildcard", method: "POST", path: "/pub?id=a*", body: "x", status: 403, explain: "Channel id not authorized for this method."},
		{name: "wildcard among others", method: "POST", path: "/pub?id=ok/b*c", body: "x", status: 403, explain: "Channel id not authorized for this method."},
		{name: "id too long", method: "POST", path: "/pub?id=123456789012345678901", body: "x", status: 400, explain: "Channel id is too large."},
		{name: "empty body", method: "POST", path: "/pub?id=ch1", status: 400, explain: "Empty post requests are not allowed."},
		{name: "body too large", method: "POST", path: "/pub?id=ch1", body: strings.Repeat("a", 40000), status: 413, contentType: "text/html",
			want: "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>herald</center>\r\n</body>\r\n</html>\r\n"},
		{name: "Event-Id and Event-Type", method: "POST", path: "/pub?id=ch1", body: "evt", headers: []string{"Event-Id", "myid", "Event-Type", "mytype"}, status: 200, contentType: jsonType,
			want: info("ch1", "4", "4") + "\r\n"},
		{name: "normal publisher refuses DELETE", method: "DELETE", path: "/pubn?id=ch1", status: 405, allow: "GET, POST, PUT"},
		// The module keeps the 4 messages stored before; in Herald a
		// channel keeps messages as its latest publish says (see
		// docs/pushstream.md).
		{name: "normal publisher does not store", method: "POST", path: "/pubn?id=ch1", body: "unstored", status: 200, contentType: jsonType,
			want: info("ch1", "5", "0") + "\r\n"},
		{name: "other methods", method: "PATCH", path: "/pub?id=ch1", status: 405, allow: "GET, POST, PUT, DELETE"},
		{name: "OPTIONS", method: "OPTIONS", path: "/pub?id=ch1", status: 200},
		{name: "channel_info_on_publish off", method: "POST", path: "/pubnoinfo?id=ch1", body: "y", status: 200},
		{name: "DELETE of a channel that does not exist", method: "DELETE", path: "/pub?id=nope", status: 404},
		{name: "DELETE", method: "DELETE", path: "/pub?id=a", status: 200, explain: "Channel deleted."},
		{name: "DELETE of several, one there", method: "DELETE", path: "/pub?id=b/nope", status: 200, explain: "Channel deleted."},
		{name: "DELETE with a message", method: "DELETE", path: "/pub?id=c", body: "custom bye", status: 200, explain: "Channel deleted."},
		{name: "deleted", method: "GET", path: "/pub?id=a/b/c", status: 404},
		{name: "made again counts from 1", method: "POST", path: "/pub?id=a", body: "again", status: 200, contentType: jsonType,
			want: info("a", "1", "1") + "\r\n"},
	} {
		x.run(t, s)
	}
	// Event-Id and Event-Type reach the message.
	m := storeRead(t, s, "ch1", 4)
	if m.EventID != "myid" || m.EventName != "mytype" || m.Number != 4 || string(m.Body) != "evt" {
		t.Errorf("message %+v: want event id myid, type mytype, number 4", m)
	}
}

// TestPushStreamPublisherCORS checks push_stream_allowed_origins: the
// headers, with the value's variables, and none when it is empty.
func TestPushStreamPublisherCORS(t *testing.T) {
	s := startServer(t, psPubConfig())
	for _, tt := range []struct {
		name, method, path, origin string
	}{
		{"preflight", "OPTIONS", "/pubcors?id=ch1&origin=*", "*"},
		{"publish", "POST", "/pubcors?id=ch1&origin=custom.domain.com", "custom.domain.com"},
		{"empty value", "POST", "/pubcors?id=ch1", ""},
		{"not configured", "POST", "/pub?id=ch1&origin=x", ""},
	} {
		r := do(t, tt.method, s.URL+tt.path, "body", "Origin", "http://elsewhere.example")
		h := r.Header
		if r.Status != 200 || h.Get("Access-Control-Allow-Origin") != tt.origin {
			t.Errorf("%s: status %d, Access-Control-Allow-Origin %q, want %q", tt.name, r.Status, h.Get("Access-Control-Allow-Origin"), tt.origin)
		}
		methods, headers := "", ""
		if tt.origin != "" {
			methods, headers = "GET, POST, PUT, DELETE", "If-Modified-Since,If-None-Match,Etag,Event-Id,Event-Type,Last-Event-Id"
		}
		if h.Get("Access-Control-Allow-Methods") != methods || h.Get("Access-Control-Allow-Headers") != headers || h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s: methods %q, headers %q, credentials %q", tt.name, h.Get("Access-Control-Allow-Methods"), h.Get("Access-Control-Allow-Headers"), h.Get("Access-Control-Allow-Credentials"))
		}
	}
}

// TestPushStreamLimits checks push_stream_max_number_of_channels and
// ..._wildcard_channels, and the memory limit.
func TestPushStreamLimits(t *testing.T) {
	s := startServer(t, psPubConfig("push_stream_max_number_of_channels: 2", "push_stream_wildcard_channel_prefix: broad_", "push_stream_max_number_of_wildcard_channels: 1"))
	for _, x := range []psPubExchange{
		{name: "first channel", method: "POST", path: "/pub?id=one", body: "x", status: 200, contentType: jsonType,
			want: `{"channel": "one", "published_messages": 1, "stored_messages": 1, "subscribers": 0}` + "\r\n"},
		{name: "second channel", method: "POST", path: "/pub?id=two", body: "x", status: 200, contentType: jsonType,
			want: `{"channel": "two", "published_messages": 1, "stored_messages": 1, "subscribers": 0}` + "\r\n"},
		{name: "third channel", method: "POST", path: "/pub?id=three", body: "x", status: 403, explain: "Number of channels were exceeded."},
		{name: "a channel that exists", method: "POST", path: "/pub?id=two", body: "x", status: 200, contentType: jsonType,
			want: `{"channel": "two", "published_messages": 2, "stored_messages": 2, "subscribers": 0}` + "\r\n"},
		{name: "a wildcard channel", method: "POST", path: "/pub?id=broad_1", body: "x", status: 200, contentType: jsonType,
			want: `{"channel": "broad_1", "published_messages": 1, "stored_messages": 1, "subscribers": 0}` + "\r\n"},
		{name: "another wildcard channel", method: "POST", path: "/pub?id=broad_2", body: "x", status: 403, explain: "Number of channels were exceeded."},
		{name: "GET makes no channel", method: "GET", path: "/pub?id=three", status: 404},
	} {
		x.run(t, s)
	}

	full := startServer(t, "max_reserved_memory: 1M\n"+psPubConfig())
	big := strings.Repeat("m", 30000)
	status := 0
	for i := 0; i < 100 && status != http.StatusInternalServerError; i++ {
		r := do(t, "POST", full.URL+"/pub?id=full", big)
		status = r.Status
		if status == 500 && (r.Body != "" || r.Header.Get("Expires") == "") {
			t.Errorf("memory full: body %q, headers %v", r.Body, r.Header)
		}
	}
	if status != http.StatusInternalServerError {
		t.Errorf("publishing past the memory limit: status %d, want 500", status)
	}
}

// TestPushStreamHeaderSpelling checks that the module's own headers go
// out spelled as the module spells them (clients that read raw headers
// match them case-sensitively).
func TestPushStreamHeaderSpelling(t *testing.T) {
	s := startServer(t, psPubConfig())
	for _, tt := range []struct{ req, want string }{
		{"POST /pub?id=ALL HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx", "\r\nX-Nginx-PushStream-Explain: Channel id not authorized for this method.\r\n"},
		{"GET /channels-stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "\r\nX-Nginx-PushStream-Tag: 0.5.5\r\n"},
	} {
		conn, err := net.DialTimeout("tcp", s.addr(), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := conn.Write([]byte(tt.req)); err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(conn)
		conn.Close()
		if !strings.Contains(string(got), tt.want) {
			t.Errorf("answer to %q:\n%s\nwant the line %q", tt.req, got, tt.want)
		}
	}
}

// TestPushStreamBodyTooLarge checks that a publisher sending a body over
// client_max_body_size gets the 413, without the module's headers (nginx
// refuses it first), and not a reset connection while it still sends.
func TestPushStreamBodyTooLarge(t *testing.T) {
	s := startServer(t, psPubConfig())
	conn, err := net.DialTimeout("tcp", s.addr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	body := strings.Repeat("b", 200<<10)
	if _, err := io.WriteString(conn, "POST /pubcors?id=big&origin=* HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body); err != nil {
		t.Fatalf("sending the body: %v", err)
	}
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("reading the answer: %v (got %q)", err, got)
	}
	if !strings.HasPrefix(string(got), "HTTP/1.1 413 ") || strings.Contains(string(got), "Access-Control-") || strings.Contains(string(got), "Expires:") {
		t.Errorf("answer %q", got)
	}
}
