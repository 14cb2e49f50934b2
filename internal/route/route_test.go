package route

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/location"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

// routes provisions the locations of a configuration and returns a
// function that prepares a request on whichever route its path matches.
func routes(t *testing.T, yamlText string) func(r *http.Request) (*Request, *Refusal) {
	t.Helper()
	cfg, err := config.Parse([]byte(yamlText), "test.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	sc := cfg.Servers[0]
	var rts []*Route
	pats := make([]location.Pattern, len(sc.Locations))
	for i := range sc.Locations {
		pats[i] = sc.Locations[i].Pattern
		rts = append(rts, Provision(&sc.Locations[i], nil))
	}
	m := location.NewMatcher(pats)
	return func(r *http.Request) (*Request, *Refusal) {
		i, caps, ok := m.Match(r.URL.Path)
		if !ok {
			t.Fatalf("no location matches %s", r.URL.Path)
		}
		return rts[i].Prepare(context.Background(), r, caps)
	}
}

func request(method, target string, headers ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	return r
}

const testConfig = `
channel_id_split_delimiter: ","
servers:
  - listen: 127.0.0.1:0
    locations:
      - location: ~ ^/pub/(.+)$
        publisher: true
        channel_id: $1
      - location: ~ ^/sub/(.+)$
        subscriber: true
        channel_id: $1
        channel_group: $arg_group
      - location: ~ ^/pubsub/(.+)$
        pubsub: true
        channel_id: $1
      - location: ~ ^/lp/(.+)$
        subscriber: longpoll
        channel_id: $1
        subscriber_first_message: newest
      - location: ~ ^/es/(.+)$
        subscriber: eventsource
        channel_id: $1
      - location: ~ ^/wspub/(.+)$
        publisher: websocket
        channel_id: $1
      - location: ~ ^/cors/(.+)$
        subscriber: true
        channel_id: $1
        access_control_allow_origin: https://ok.example
      - location: ~ ^/short/(.+)$
        publisher: true
        channel_id: $1
        max_channel_id_length: 4
      - location: = /status
        stub_status: true
`

var wsUpgrade = []string{"Connection", "Upgrade", "Upgrade", "websocket"}

func TestPrepareRoles(t *testing.T) {
	prepare := routes(t, testConfig)
	tests := []struct {
		name      string
		req       *http.Request
		role      Role
		transport config.Transport
		status    int // of the refusal; 0 when admitted
	}{
		{"publish", request("POST", "/pub/a"), Publish, 0, 0},
		{"create", request("PUT", "/pub/a"), Publish, 0, 0},
		{"info", request("GET", "/pub/a"), Info, 0, 0},
		{"delete", request("DELETE", "/pub/a"), Delete, 0, 0},
		{"options", request("OPTIONS", "/pub/a"), Options, 0, 0},
		{"long-poll", request("GET", "/sub/a"), Subscribe, config.LongPoll, 0},
		{"eventsource", request("GET", "/sub/a", "Accept", "text/event-stream"), Subscribe, config.EventSource, 0},
		{"websocket", request("GET", "/sub/a", wsUpgrade...), Subscribe, config.WebSocket, 0},
		{"chunked", request("GET", "/sub/a", "TE", "chunked"), Subscribe, config.Chunked, 0},
		{"multipart", request("GET", "/sub/a", "Accept", "multipart/mixed"), Subscribe, config.Multipart, 0},
		{"pubsub subscriber", request("GET", "/pubsub/a"), Subscribe, config.LongPoll, 0},
		{"pubsub publisher", request("POST", "/pubsub/a"), Publish, 0, 0},
		{"websocket publisher", request("GET", "/wspub/a", wsUpgrade...), PublishSocket, 0, 0},
		{"status", request("GET", "/status"), Status, 0, 0},
		{"status refuses nothing by method", request("POST", "/status"), Status, 0, 0},
		{"no publishing on a subscriber location", request("POST", "/sub/a"), Refused, 0, http.StatusForbidden},
		{"no info on a subscriber-only websocket location", request("GET", "/wspub/a"), Refused, 0, http.StatusForbidden},
		{"eventsource only: websocket refused", request("GET", "/es/a", wsUpgrade...), Refused, 0, http.StatusForbidden},
		{"eventsource only: plain GET refused", request("GET", "/es/a"), Refused, 0, http.StatusForbidden},
		{"long-poll only: eventsource falls through", request("GET", "/lp/a", "Accept", "text/event-stream"), Subscribe, config.LongPoll, 0},
		{"unknown method", request("PATCH", "/pub/a"), Refused, 0, http.StatusMethodNotAllowed},
		{"forbidden origin", request("GET", "/cors/a", "Origin", "https://evil.example"), Subscribe, config.LongPoll, http.StatusForbidden},
		{"forbidden origin before the method", request("PATCH", "/cors/a", "Origin", "https://evil.example"), Refused, 0, http.StatusForbidden},
		{"allowed origin", request("GET", "/cors/a", "Origin", "https://OK.example"), Subscribe, config.LongPoll, 0},
		{"id too long", request("POST", "/short/abcde"), Publish, 0, http.StatusForbidden},
		{"id at the limit", request("POST", "/short/abcd"), Publish, 0, 0},
		{"empty id in a list", request("POST", "/pub/a,,b"), Publish, 0, http.StatusNotFound},
		{"empty id at a list's end", request("POST", "/pub/a,"), Publish, 0, http.StatusNotFound},
		{"only a delimiter", request("GET", "/sub/,"), Subscribe, config.LongPoll, http.StatusNotFound},
		{"255 channels", request("POST", "/pub/"+strings.Repeat("a,", 254)+"a"), Publish, 0, 0},
		{"256 channels", request("POST", "/pub/"+strings.Repeat("a,", 255)+"a"), Publish, 0, http.StatusForbidden},
		{"reserved group", request("GET", "/sub/a?group=m"), Subscribe, config.LongPoll, http.StatusForbidden},
		{"bad message id", request("GET", "/sub/a", "If-None-Match", "x:y"), Subscribe, config.LongPoll, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, rf := prepare(tt.req)
			if q.Role != tt.role || q.Transport != tt.transport {
				t.Errorf("role %v transport %v, want %v %v", q.Role, q.Transport, tt.role, tt.transport)
			}
			switch {
			case tt.status == 0 && rf != nil:
				t.Errorf("refused: %v", rf)
			case tt.status != 0 && rf == nil:
				t.Errorf("admitted, want %d", tt.status)
			case rf != nil && rf.Status != tt.status:
				t.Errorf("refused with %d (%v), want %d", rf.Status, rf, tt.status)
			}
		})
	}
}

func TestPrepareMethodNotAllowedSaysAllow(t *testing.T) {
	prepare := routes(t, testConfig)
	_, rf := prepare(request("PATCH", "/sub/a"))
	if rf == nil || rf.Header.Get("Allow") != "GET, OPTIONS" {
		t.Fatalf("refusal %+v: want Allow: GET, OPTIONS", rf)
	}
}

func TestPrepareChannels(t *testing.T) {
	prepare := routes(t, testConfig)
	tests := []struct {
		name string
		req  *http.Request
		keys []store.ChannelKey
		// given and cursors describe the position the request names.
		given   bool
		cursors []msgid.ID
		active  int
		start   store.Start
	}{
		{
			name: "one channel, no id", req: request("GET", "/sub/a"),
			keys: []store.ChannelKey{{ID: "a"}}, active: -1,
		},
		{
			name: "group", req: request("GET", "/sub/a?group=g1"),
			keys: []store.ChannelKey{{Group: "g1", ID: "a"}}, active: -1,
		},
		{
			name: "split", req: request("POST", "/pub/a,b,c"),
			keys: []store.ChannelKey{{ID: "a"}, {ID: "b"}, {ID: "c"}},
		},
		{
			name: "first message rule", req: request("GET", "/lp/a"),
			keys: []store.ChannelKey{{ID: "a"}}, active: -1, start: store.Start{Kind: store.StartNewest},
		},
		{
			name: "Last-Modified and Etag", req: request("GET", "/sub/a", "If-Modified-Since", "Sun, 22 Nov 2026 19:43:11 GMT", "If-None-Match", "3"),
			keys: []store.ChannelKey{{ID: "a"}}, given: true, cursors: []msgid.ID{{Time: 1795376591, Tag: 3}},
		},
		{
			name: "compound id in If-None-Match", req: request("GET", "/sub/a", "If-None-Match", `"1795376591:2"`),
			keys: []store.ChannelKey{{ID: "a"}}, given: true, cursors: []msgid.ID{{Time: 1795376591, Tag: 2}},
		},
		{
			name: "Last-Event-ID", req: request("GET", "/sub/a", "Last-Event-ID", "1795376591:7"),
			keys: []store.ChannelKey{{ID: "a"}}, given: true, cursors: []msgid.ID{{Time: 1795376591, Tag: 7}},
		},
		{
			name: "last_event_id argument, url-encoded", req: request("GET", "/sub/a?last_event_id=1795376591%3A5"),
			keys: []store.ChannelKey{{ID: "a"}}, given: true, cursors: []msgid.ID{{Time: 1795376591, Tag: 5}},
		},
		{
			name: "multiplexed id", req: request("GET", "/sub/a,b", "Last-Event-ID", "1795376591:-,[4]"),
			keys: []store.ChannelKey{{ID: "a"}, {ID: "b"}}, given: true,
			cursors: []msgid.ID{{Time: 1795376591, Tag: -1}, {Time: 1795376591, Tag: 4}}, active: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, rf := prepare(tt.req)
			if rf != nil {
				t.Fatalf("refused: %v", rf)
			}
			if len(q.Channels) != len(tt.keys) {
				t.Fatalf("channels %+v, want keys %v", q.Channels, tt.keys)
			}
			for i, c := range q.Channels {
				if c.Key != tt.keys[i] {
					t.Errorf("channel %d: key %v, want %v", i, c.Key, tt.keys[i])
				}
				if c.Given != tt.given {
					t.Errorf("channel %d: given %v, want %v", i, c.Given, tt.given)
				}
				if tt.given && c.Cursor != tt.cursors[i] {
					t.Errorf("channel %d: cursor %v, want %v", i, c.Cursor, tt.cursors[i])
				}
				if !tt.given && c.Start != tt.start {
					t.Errorf("channel %d: start %v, want %v", i, c.Start, tt.start)
				}
			}
			if q.Role == Subscribe && q.Cursor.Active != tt.active {
				t.Errorf("active %d, want %d", q.Cursor.Active, tt.active)
			}
		})
	}
}

func TestPrepareWebSocketOnPubsubPublishes(t *testing.T) {
	prepare := routes(t, testConfig)
	q, rf := prepare(request("GET", "/pubsub/a,b", wsUpgrade...))
	if rf != nil || q.Role != Subscribe || q.Transport != config.WebSocket {
		t.Fatalf("role %v transport %v refusal %v", q.Role, q.Transport, rf)
	}
	if len(q.Publish) != 2 || q.Publish[1].ID != "b" {
		t.Fatalf("publishes to %v, want a and b", q.Publish)
	}
	q, _ = prepare(request("GET", "/sub/a", wsUpgrade...))
	if len(q.Publish) != 0 {
		t.Fatalf("a subscriber location's WebSocket publishes to %v", q.Publish)
	}
}

func TestPreflight(t *testing.T) {
	prepare := routes(t, testConfig)
	tests := []struct {
		path, methods, headers string
	}{
		{"/pub/a", "GET, POST, PUT, DELETE", "Content-Type"},
		{"/sub/a", "GET", "If-None-Match, If-Modified-Since, Content-Type, Cache-Control, X-EventSource-Event, Etag, Last-Event-ID"},
		{"/pubsub/a", "GET, POST, PUT, DELETE", "If-None-Match, If-Modified-Since, Content-Type, Cache-Control, X-EventSource-Event, Etag, Last-Event-ID"},
	}
	for _, tt := range tests {
		q, rf := prepare(request("OPTIONS", tt.path, "Origin", "https://x.example"))
		if rf != nil {
			t.Fatalf("%s: refused %v", tt.path, rf)
		}
		hd := http.Header{}
		q.SetCORS(hd)
		q.Route.Preflight(hd, q.HTTP)
		if hd.Get("Access-Control-Allow-Methods") != tt.methods || hd.Get("Access-Control-Allow-Headers") != tt.headers ||
			hd.Get("Access-Control-Allow-Origin") != "https://x.example" || hd.Get("Access-Control-Expose-Headers") != "" {
			t.Errorf("%s: preflight headers %v", tt.path, hd)
		}
	}
}

// TestAccess: access_control_allow_origin as Nchan evaluates it, for each
// request: a list, "*", variables (one origin or several per request), an
// empty value; what a refused origin is answered with.
func TestAccess(t *testing.T) {
	locations := []struct{ name, value string }{
		{"list", `"https://ok.example https://ok2.example/"`},
		{"yaml list", `[https://ok.example, "$arg_also"]`},
		{"star", `"*"`},
		{"star in a list", `"https://ok.example *"`},
		{"variable", `$arg_origin`},
		{"header", `$http_x_allowed`},
		{"unset", `""`},
	}
	var yaml strings.Builder
	yaml.WriteString("servers:\n  - listen: 127.0.0.1:0\n    locations:\n")
	for _, l := range locations {
		yaml.WriteString("      - location: ~ ^/" + strings.ReplaceAll(l.name, " ", "-") + "/(.+)$\n        subscriber: true\n        channel_id: $1\n")
		if l.value != `""` {
			yaml.WriteString("        access_control_allow_origin: " + l.value + "\n")
		}
	}
	prepare := routes(t, yaml.String())
	tests := []struct {
		location, target, origin string
		headers                  []string
		allowed                  bool
		allowOrigin              string
	}{
		{"list", "/a", "https://ok.example", nil, true, "https://ok.example"},
		{"list", "/a", "https://OK2.example", nil, true, "https://OK2.example"},
		{"list", "/a", "https://bad.example", nil, false, "https://bad.example"},
		{"yaml list", "/a", "https://ok.example", nil, true, "https://ok.example"},
		{"yaml list", "/a?also=https://x.example", "https://x.example", nil, true, "https://x.example"},
		{"yaml list", "/a", "https://x.example", nil, false, "https://x.example"},
		{"star", "/a", "https://any.example", nil, true, "*"},
		{"star in a list", "/a", "https://any.example", nil, true, "https://any.example"},
		{"variable", "/a?origin=https://v.example", "https://v.example", nil, true, "https://v.example"},
		{"variable", "/a?origin=https://v.example", "https://w.example", nil, false, "https://w.example"},
		{"variable", "/a", "https://w.example", nil, false, "https://w.example"}, // empty: no origin allowed
		{"variable", "/a?origin=*", "https://w.example", nil, true, "*"},
		{"header", "/a", "https://h.example", []string{"X-Allowed", "https://g.example https://h.example"}, true, "https://h.example"},
		{"header", "/a", "https://h.example", []string{"X-Allowed", "https://g.example"}, false, "https://h.example"},
		{"unset", "/a", "https://any.example", nil, true, "https://any.example"},
	}
	for _, tt := range tests {
		t.Run(tt.location+" "+tt.target+" "+tt.origin, func(t *testing.T) {
			path := "/" + strings.ReplaceAll(tt.location, " ", "-") + tt.target
			q, rf := prepare(request("GET", path, append([]string{"Origin", tt.origin}, tt.headers...)...))
			if allowed := rf == nil; allowed != tt.allowed {
				t.Fatalf("allowed %v (refusal %v), want %v", allowed, rf, tt.allowed)
			}
			if rf != nil && (rf.Status != http.StatusForbidden || rf.Message != "") {
				t.Fatalf("refused with %d %q, want 403 with an empty body", rf.Status, rf.Message)
			}
			hd := http.Header{}
			q.SetCORS(hd)
			if got := hd.Get("Access-Control-Allow-Origin"); got != tt.allowOrigin {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tt.allowOrigin)
			}
			if got := hd.Get("Access-Control-Allow-Credentials"); got != "true" {
				t.Errorf("Access-Control-Allow-Credentials %q, want true", got)
			}
		})
	}
	// Without an Origin nothing is checked and no CORS header is sent.
	q, rf := prepare(request("GET", "/variable/a"))
	hd := http.Header{}
	q.SetCORS(hd)
	if rf != nil || len(hd) != 0 {
		t.Fatalf("without an Origin: refusal %v, headers %v", rf, hd)
	}
}

func TestSelectTransportTokens(t *testing.T) {
	all := config.DefaultTransports | config.IntervalPoll | config.RawStream
	tests := []struct {
		headers []string
		allowed config.Transport
		want    config.Transport
	}{
		{[]string{"TE", "trailers, chunked;q=0"}, config.DefaultTransports, config.LongPoll},
		{[]string{"TE", "gzip, Chunked"}, config.DefaultTransports, config.Chunked},
		{[]string{"Accept", "Text/Event-Stream"}, config.DefaultTransports, config.EventSource},
		{nil, all, config.IntervalPoll},
		{nil, config.RawStream | config.LongPoll, config.RawStream},
		{[]string{"Connection", "keep-alive, Upgrade", "Upgrade", "WebSocket"}, config.LongPoll, 0},
	}
	for _, tt := range tests {
		r := request("GET", "/x", tt.headers...)
		if got := SelectTransport(r, tt.allowed); got != tt.want {
			t.Errorf("%v with %v: got %v, want %v", tt.headers, tt.allowed, got, tt.want)
		}
	}
}

func TestStagesInOrder(t *testing.T) {
	cfg, err := config.Parse([]byte(testConfig), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range cfg.Servers[0].Locations {
		l := &cfg.Servers[0].Locations[i]
		if strings.Contains(l.Pattern.String(), "cors") {
			for _, st := range Provision(l, nil).Stages() {
				names = append(names, st.Name())
			}
		}
	}
	if got := strings.Join(names, " "); got != "access channels limits" {
		t.Fatalf("stages %q", got)
	}
}
