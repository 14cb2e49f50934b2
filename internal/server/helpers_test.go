package server_test

// The one helper vocabulary of the black-box server tests: a real Herald on
// a loopback port, configurations, plain and asynchronous requests,
// publishing, channel info, waiting for subscribers, raw connections,
// EventSource events, a WebSocket client, message ids and deflate.
// Expected values are computed here from the ids the publisher reports,
// independently of Herald's own encoders and id parsing.

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/server"
	"github.com/heraldpush/herald/internal/servertest"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/memory"
)

// ---------------------------------------------------------------------------
// Servers.

// testServer is a real Herald listening on a random loopback port.
type testServer struct {
	URL   string
	Store *memory.Store
	srv   *servertest.Server
}

// startServer starts Herald with the given YAML configuration (listen
// addresses are replaced by 127.0.0.1:0); an empty string uses the built-in
// default. It is stopped when the test ends.
func startServer(t testing.TB, yamlText string) *testServer {
	t.Helper()
	return startServerWith(t, yamlText, servertest.Options{})
}

// startServerWith is startServer with more servertest options (the
// configuration comes from yamlText).
func startServerWith(t testing.TB, yamlText string, o servertest.Options) *testServer {
	t.Helper()
	if yamlText != "" {
		cfg, err := config.Parse([]byte(yamlText), "test.yaml")
		if err != nil {
			t.Fatalf("config: %v", err)
		}
		o.Config = cfg
	}
	srv := servertest.Start(t, o)
	return &testServer{URL: srv.URL, Store: srv.Store.(*memory.Store), srv: srv}
}

// storeKey parses a store key written "group/id" ("/id" in the default
// group).
func storeKey(t testing.TB, s string) store.ChannelKey {
	t.Helper()
	k, err := store.ParseChannelKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// addr is the server's host:port.
func (s *testServer) addr() string { return strings.TrimPrefix(s.URL, "http://") }

// receiving is what the server is receiving from publishers now: bodies
// and WebSocket messages in progress, and the bytes they hold.
func (s *testServer) receiving() server.Receiving { return s.srv.Server.Receiving() }

// waitReceiving waits until the server holds want bytes of publishes
// still arriving (what slow or stalled publishers sent so far).
func waitReceiving(t testing.TB, s *testServer, want int64) {
	t.Helper()
	var got server.Receiving
	if !poll(waitTimeout, func() bool { got = s.receiving(); return got.Bytes == want }) {
		t.Fatalf("receiving %+v after %v, want %d bytes held", got, waitTimeout, want)
	}
}

// shutdown begins a graceful shutdown; what Serve returned arrives on the
// channel.
func (s *testServer) shutdown() <-chan error {
	done := make(chan error, 1)
	go func() { done <- s.srv.Stop() }()
	return done
}

// ---------------------------------------------------------------------------
// Configurations.

// testConfig is a one-server configuration whose channel ids split on ",":
// top-level directives ("key: value", applying to every location), then
// the locations.
func testConfig(top []string, locations ...string) string {
	var b strings.Builder
	b.WriteString("channel_id_split_delimiter: \",\"\n")
	for _, d := range top {
		b.WriteString(d + "\n")
	}
	b.WriteString("servers:\n  - listen: 127.0.0.1:0\n    locations:\n")
	for _, l := range locations {
		b.WriteString(l)
	}
	return b.String()
}

// location is one location block: its match, then "key: value" lines
// (empty ones are left out).
func location(match string, lines ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "      - location: %s\n", match)
	for _, l := range lines {
		if l != "" {
			fmt.Fprintf(&b, "        %s\n", l)
		}
	}
	return b.String()
}

// prefixLocation is the location ~ ^/<prefix>/(.+)$, whose channel id is
// the rest of the path.
func prefixLocation(prefix string, lines ...string) string {
	return location("~ ^/"+prefix+"/(.+)$", append([]string{"channel_id: $1"}, lines...)...)
}

// defaultConfig is the built-in default configuration's locations (/pub,
// /sub and /pubsub, each by path and by ?id=) with extra top-level
// directives.
func defaultConfig(directives ...string) string {
	var locs []string
	for _, l := range []struct{ path, role string }{{"pub", "publisher"}, {"sub", "subscriber"}, {"pubsub", "pubsub"}} {
		locs = append(locs,
			location("= /"+l.path, l.role+": true", "channel_id: $arg_id"),
			prefixLocation(l.path, l.role+": true"))
	}
	return testConfig(directives, locs...)
}

// pollConfig has four locations: /pub/<id> (publisher, with pubOpt),
// /sub/<id> (every subscriber transport, with subOpt), /lp/<id> (long-poll
// only) and /ipoll/<id> (interval-poll only). Options are "key: value" or
// empty.
func pollConfig(pubOpt, subOpt string) string {
	return testConfig(nil,
		prefixLocation("pub", "publisher: true", pubOpt),
		prefixLocation("sub", "subscriber: true", subOpt),
		prefixLocation("lp", "subscriber: longpoll"),
		prefixLocation("ipoll", "subscriber: intervalpoll"))
}

// streamConfig is the configuration of the streaming tests: one location
// per combination of settings under test. All share the channel namespace,
// so /pub/x publishes to what /sub/x, /es/x, /raw/x ... subscribe to.
var streamConfig = testConfig(nil,
	prefixLocation("pub", "publisher: true"),
	prefixLocation("sub", "subscriber: true"),
	prefixLocation("pubsub", "pubsub: true"),
	prefixLocation("all", "subscriber: [websocket, eventsource, chunked, multipart-mixed, intervalpoll, http-raw-stream, longpoll]"),
	prefixLocation("rawlp", "subscriber: [http-raw-stream, longpoll]"),
	prefixLocation("lp", "subscriber: [longpoll]"),
	prefixLocation("ipoll", "subscriber: [intervalpoll]"),
	prefixLocation("lpwspub", "publisher: [websocket]", "subscriber: [longpoll]"),
	prefixLocation("es", "subscriber: [eventsource]"),
	prefixLocation("raw", "subscriber: [http-raw-stream]"),
	prefixLocation("rawsep", "subscriber: [http-raw-stream]", `subscriber_http_raw_stream_separator: "--sep"`),
	prefixLocation("pubev", "publisher: true", "eventsource_event: from-publisher"),
	prefixLocation("esev", "subscriber: true", "eventsource_event: forced"),
	prefixLocation("esping", "subscriber: true", "eventsource_ping_interval: 150ms"),
	prefixLocation("espingc", "subscriber: true", "eventsource_ping_interval: 150ms", "eventsource_ping_comment: keepalive", `eventsource_ping_data: "{}"`),
	prefixLocation("espinge", "subscriber: true", "eventsource_ping_interval: 150ms", `eventsource_ping_event: ""`),
	prefixLocation("timeout", "subscriber: true", "subscriber_timeout: 700ms"),
	prefixLocation("wsping", "subscriber: true", "websocket_ping_interval: 150ms"),
	prefixLocation("hb", "subscriber: true", "websocket_client_heartbeat: PING PONG"),
	prefixLocation("small", "pubsub: true", "client_max_body_size: 16"),
	prefixLocation("pubdeflate", "publisher: true", "deflate_message_for_websocket: on"),
	prefixLocation("pubdeflate1", "publisher: true", "deflate_message_for_websocket: on", "permessage_deflate_compression_level: 1"),
	prefixLocation("subdeflate", "subscriber: true", "deflate_message_for_websocket: on"),
	prefixLocation("slowpub", "publisher: true", "message_buffer_length: 400"),
	prefixLocation("slow", "subscriber: true", "send_timeout: 1s"),
	prefixLocation("cors", "subscriber: true", "access_control_allow_origin: http://good.example"),
)

// ---------------------------------------------------------------------------
// Plain requests.

// response is a finished HTTP exchange; Status -1 is a failed request with
// the error in Body.
type response struct {
	Status int
	Header http.Header
	Body   string
}

// request sends one request (headers as name, value pairs) and reads the
// whole answer; chunked sends the body without a Content-Length.
func request(ctx context.Context, method, url, body string, chunked bool, headers []string) (response, error) {
	var rd io.Reader
	switch {
	case chunked:
		rd = io.MultiReader(strings.NewReader(body)) // hides the length
	case body != "":
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return response{}, err
	}
	if chunked {
		req.ContentLength = -1
		req.TransferEncoding = []string{"chunked"}
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, fmt.Errorf("read body: %w", err)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: string(b)}, nil
}

// do sends one request with a bounded timeout (5s) and reads the whole
// answer.
func do(t testing.TB, method, url, body string, headers ...string) response {
	t.Helper()
	return doTimeout(t, 5*time.Second, method, url, body, headers...)
}

func doTimeout(t testing.TB, timeout time.Duration, method, url, body string, headers ...string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r, err := request(ctx, method, url, body, false, headers)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

// doChunked sends body with chunked transfer encoding (no Content-Length).
func doChunked(t testing.TB, method, url, body string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := request(ctx, method, url, body, true, nil)
	if err != nil {
		t.Fatalf("%s %s (chunked): %v", method, url, err)
	}
	return r
}

// async sends a request from a goroutine; the response arrives on the
// returned channel (Status -1 if it failed). It never calls t.Fatal, so it
// may be used off the test goroutine.
func async(t testing.TB, timeout time.Duration, method, url, body string, headers ...string) <-chan response {
	ch, _ := asyncCancel(timeout, method, url, body, headers...)
	return ch
}

// asyncCancel is async with a function that drops the request.
func asyncCancel(timeout time.Duration, method, url, body string, headers ...string) (<-chan response, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	ch := make(chan response, 1)
	go func() {
		r, err := request(ctx, method, url, body, false, headers)
		if err != nil {
			r = response{Status: -1, Body: err.Error()}
		}
		ch <- r
	}()
	return ch, cancel
}

// recvTimeout bounds recv; longer than the 5s of every async request.
const recvTimeout = 6 * time.Second

// recv waits (bounded) for an async response and fails if the request did.
func recv(t testing.TB, ch <-chan response) response {
	t.Helper()
	select {
	case r := <-ch:
		if r.Status == -1 {
			t.Fatalf("request failed: %s", r.Body)
		}
		return r
	case <-time.After(recvTimeout):
		t.Fatalf("no response within %v", recvTimeout)
	}
	return response{}
}

// expectPending fails if the async request is answered within d: it is
// supposed to be a parked long-poll.
func expectPending(t testing.TB, ch <-chan response, d time.Duration) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("request answered while it should wait: %d %q (Etag %q)", r.Status, r.Body, r.Header.Get("Etag"))
	case <-time.After(d):
	}
}

// expectStatus fails unless r has the wanted status.
func expectStatus(t testing.TB, r response, want int, what string) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("%s: got %d (body %q), want %d", what, r.Status, r.Body, want)
	}
}

// expect404 expects GET url to answer 404 with an empty body.
func expect404(t testing.TB, url string) {
	t.Helper()
	r := do(t, "GET", url, "")
	if r.Status != http.StatusNotFound || r.Body != "" {
		t.Fatalf("GET %s: got %d %q, want 404 with an empty body", url, r.Status, r.Body)
	}
}

// headerValue is the value of name in a list of name, value pairs, or "".
func headerValue(headers []string, name string) string {
	for i := 0; i+1 < len(headers); i += 2 {
		if strings.EqualFold(headers[i], name) {
			return headers[i+1]
		}
	}
	return ""
}

// checkCORS checks the CORS headers of an answer to a request with an
// Origin: Access-Control-Allow-Origin is origin; Allow-Credentials is
// "true" when credentials is set, absent otherwise; and, when exposed is
// set (the answers of long-poll and interval-poll subscribers, which carry
// message ids), Access-Control-Expose-Headers names the id headers and Vary
// the request headers they come back in; absent otherwise.
func checkCORS(t testing.TB, h http.Header, origin string, credentials, exposed bool) {
	t.Helper()
	if got := h.Get("Access-Control-Allow-Origin"); got != origin {
		t.Errorf("Access-Control-Allow-Origin %q, want %q", got, origin)
	}
	wantCreds := ""
	if credentials {
		wantCreds = "true"
	}
	if got := h.Get("Access-Control-Allow-Credentials"); got != wantCreds {
		t.Errorf("Access-Control-Allow-Credentials %q, want %q", got, wantCreds)
	}
	wantExpose, wantVary := "", ""
	if exposed {
		wantExpose, wantVary = "Last-Modified, Etag, Content-Type", "If-None-Match, If-Modified-Since"
	}
	if got := h.Get("Access-Control-Expose-Headers"); got != wantExpose {
		t.Errorf("Access-Control-Expose-Headers %q, want %q", got, wantExpose)
	}
	if got := h.Get("Vary"); got != wantVary {
		t.Errorf("Vary %q, want %q", got, wantVary)
	}
}

// ---------------------------------------------------------------------------
// Publishing and channel info.

// publish POSTs body to /pub/<ch> and returns the new message's id (the
// channel info's last message id) and the status, 201 or 202.
func publish(t testing.TB, s *testServer, ch, body string, headers ...string) (msgID, int) {
	t.Helper()
	return publishTo(t, s, "/pub/"+ch, body, headers...)
}

// publishTo is publish to a publisher location's path.
func publishTo(t testing.TB, s *testServer, path, body string, headers ...string) (msgID, int) {
	t.Helper()
	r := do(t, "POST", s.URL+path, body, headers...)
	if r.Status != http.StatusCreated && r.Status != http.StatusAccepted {
		t.Fatalf("publish to %s: got %d %q", path, r.Status, r.Body)
	}
	return parseInfo(t, r.Body).ID, r.Status
}

// deleteChannel DELETEs channel ch through /pub/<ch> and expects 200.
func deleteChannel(t testing.TB, s *testServer, ch string) {
	t.Helper()
	expectStatus(t, do(t, "DELETE", s.URL+"/pub/"+ch, ""), http.StatusOK, "DELETE /pub/"+ch)
}

// publishN publishes bodies prefix1..prefixN to ch and returns their ids.
func publishN(t testing.TB, s *testServer, ch, prefix string, n int) []msgID {
	t.Helper()
	ids := make([]msgID, n)
	for i := range ids {
		ids[i], _ = publish(t, s, ch, fmt.Sprintf("%s%d", prefix, i+1))
	}
	return ids
}

// channelInfo is a parsed channel info.
type channelInfo struct {
	Messages    int
	Requested   int
	Subscribers int
	ID          msgID // last message id
}

// infoRE is Nchan's text/plain channel info, byte for byte; infoJSONRE its
// text/json one.
var (
	infoRE     = regexp.MustCompile(`^queued messages: (\d+)\r\nlast requested: (-?\d+) sec\. ago\r\nactive subscribers: (\d+)\r\nlast message id: (\d+:\d+)$`)
	infoJSONRE = regexp.MustCompile(`^\{"messages": (\d+), "requested": (-?\d+), "subscribers": (\d+), "last_message_id": "(\d+:\d+)" \}\s*$`)
)

// tryParseInfo parses a text/plain (or, with re infoJSONRE, text/json)
// channel info; it never calls t.Fatal.
func tryParseInfo(re *regexp.Regexp, body string) (channelInfo, error) {
	m := re.FindStringSubmatch(body)
	if m == nil {
		return channelInfo{}, fmt.Errorf("not a channel info: %q", body)
	}
	var n [3]int
	for i := range n {
		var err error
		if n[i], err = strconv.Atoi(m[i+1]); err != nil {
			return channelInfo{}, fmt.Errorf("channel info %q: %v", body, err)
		}
	}
	id, err := tryParseMsgID(m[4])
	if err != nil {
		return channelInfo{}, fmt.Errorf("channel info %q: %v", body, err)
	}
	return channelInfo{Messages: n[0], Requested: n[1], Subscribers: n[2], ID: id}, nil
}

// parseInfo parses a text/plain channel info.
func parseInfo(t testing.TB, body string) channelInfo {
	t.Helper()
	info, err := tryParseInfo(infoRE, body)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// getInfo GETs the channel info at url and expects 200 with a text/plain
// info.
func getInfo(t testing.TB, url string) channelInfo {
	t.Helper()
	r := do(t, "GET", url, "")
	expectStatus(t, r, http.StatusOK, "GET "+url)
	if ct := r.Header.Get("Content-Type"); ct != "text/plain" {
		t.Fatalf("GET %s: Content-Type %q, want text/plain", url, ct)
	}
	return parseInfo(t, r.Body)
}

// subscribers is the "active subscribers" of /pub/<ch>'s channel info,
// which must exist.
func subscribers(t testing.TB, s *testServer, ch string) int {
	t.Helper()
	r := do(t, "GET", s.URL+"/pub/"+ch, "")
	expectStatus(t, r, http.StatusOK, "channel info "+ch)
	return parseInfo(t, r.Body).Subscribers
}

// queued is the "queued messages" of /pub/<ch>'s channel info (0 when the
// channel does not exist).
func queued(t testing.TB, s *testServer, ch string) int {
	t.Helper()
	r := do(t, "GET", s.URL+"/pub/"+ch, "")
	if r.Status == http.StatusNotFound {
		return 0
	}
	expectStatus(t, r, http.StatusOK, "channel info "+ch)
	return parseInfo(t, r.Body).Messages
}

// ---------------------------------------------------------------------------
// Waiting for a condition.

// waitTimeout bounds the waits for the server to reach a state.
const waitTimeout = 5 * time.Second

// poll calls cond every 10ms until it holds (true) or within passes
// (false). It never calls t.Fatal.
func poll(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// waitFor fails unless cond holds within the deadline.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if !poll(within, cond) {
		t.Fatalf("%s: not within %v", what, within)
	}
}

// storeSubscribers is the subscriber count the store has for channel ch
// (no group); 0 when the channel does not exist.
func storeSubscribers(s *testServer, ch string) int {
	info, err := s.Store.Info(context.Background(), store.ChannelKey{ID: ch})
	if err != nil {
		return 0
	}
	return info.Subscribers
}

// waitSubscribers waits until channel ch (no group) has n subscribers, so
// a test knows its subscribers are parked, or gone.
func waitSubscribers(t testing.TB, s *testServer, ch string, n int) {
	t.Helper()
	waitSubscribersWithin(t, s, ch, n, waitTimeout)
}

func waitSubscribersWithin(t testing.TB, s *testServer, ch string, n int, within time.Duration) {
	t.Helper()
	got := 0
	if !poll(within, func() bool { got = storeSubscribers(s, ch); return got == n }) {
		t.Fatalf("channel %q: %d subscribers after %v, want %d", ch, got, within, n)
	}
}

// ---------------------------------------------------------------------------
// Message ids.

// msgID is a single-channel message id, parsed here independently of
// Herald.
type msgID struct {
	T   int64
	Tag int
}

func (m msgID) String() string { return fmt.Sprintf("%d:%d", m.T, m.Tag) }

func (m msgID) less(o msgID) bool { return m.T < o.T || (m.T == o.T && m.Tag < o.Tag) }

// httpDate is the Last-Modified value of id m.
func (m msgID) httpDate() string { return time.Unix(m.T, 0).UTC().Format(http.TimeFormat) }

func tryParseMsgID(s string) (msgID, error) {
	ts, tag, ok := strings.Cut(strings.TrimSpace(s), ":")
	sec, err1 := strconv.ParseInt(ts, 10, 64)
	n, err2 := strconv.Atoi(tag)
	if !ok || err1 != nil || err2 != nil {
		return msgID{}, fmt.Errorf("bad message id %q", s)
	}
	return msgID{sec, n}, nil
}

func parseMsgID(t testing.TB, s string) msgID {
	t.Helper()
	id, err := tryParseMsgID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// responseID is the "<time>:<tags>" id a long-poll response describes:
// Last-Modified as Unix seconds and the Etag.
func responseID(t testing.TB, r response) string {
	t.Helper()
	lm, err := http.ParseTime(r.Header.Get("Last-Modified"))
	if err != nil {
		t.Fatalf("response has no valid Last-Modified (%q): %v", r.Header.Get("Last-Modified"), err)
	}
	return strconv.FormatInt(lm.Unix(), 10) + ":" + r.Header.Get("Etag")
}

// checkMessage asserts a 200 long-poll answer carrying body with message id
// id.
func checkMessage(t testing.TB, r response, body string, id msgID) {
	t.Helper()
	if r.Status != http.StatusOK || r.Body != body {
		t.Fatalf("got %d %q (Etag %q), want 200 %q", r.Status, r.Body, r.Header.Get("Etag"), body)
	}
	if got, want := r.Header.Get("Etag"), strconv.Itoa(id.Tag); got != want {
		t.Errorf("%q: Etag %q, want %q", body, got, want)
	}
	if got, want := r.Header.Get("Last-Modified"), id.httpDate(); got != want {
		t.Errorf("%q: Last-Modified %q, want %q", body, got, want)
	}
}

// muxTags is the Nchan multiplexed tag list for a message from channel
// active, given the id last delivered from each channel (nil: none): the
// time is the active message's; channels whose last message is of that
// second keep their tag, the others are "-"; the active tag is bracketed.
func muxTags(last []*msgID, active int) string {
	t := last[active].T
	parts := make([]string, len(last))
	for i, m := range last {
		p := "-"
		if m != nil && m.T == t {
			p = strconv.Itoa(m.Tag)
		}
		if i == active {
			p = "[" + p + "]"
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}

// muxIDs tracks the ids of a multiplexed subscription.
type muxIDs struct{ last []*msgID }

func newMuxIDs(channels int) *muxIDs { return &muxIDs{last: make([]*msgID, channels)} }

// next records id as delivered from channel idx and returns the compound
// "<time>:<tags>" id the subscriber must see for it.
func (m *muxIDs) next(idx int, id msgID) string {
	m.last[idx] = &id
	return strconv.FormatInt(id.T, 10) + ":" + muxTags(m.last, idx)
}

// checkMuxMessage asserts a 200 multiplexed long-poll answer carrying body
// with message id id, given the last ids delivered per channel.
func checkMuxMessage(t testing.TB, r response, body string, id msgID, last []*msgID, active int) {
	t.Helper()
	if r.Status != http.StatusOK || r.Body != body {
		t.Fatalf("got %d %q (Etag %q), want 200 %q", r.Status, r.Body, r.Header.Get("Etag"), body)
	}
	if got, want := r.Header.Get("Etag"), muxTags(last, active); got != want {
		t.Errorf("%q: Etag %q, want %q", body, got, want)
	}
	if got, want := r.Header.Get("Last-Modified"), id.httpDate(); got != want {
		t.Errorf("%q: Last-Modified %q, want %q", body, got, want)
	}
}

// resumeMode is a way for a client to send back the id it last got.
type resumeMode int

const (
	byHeaders     resumeMode = iota // If-Modified-Since + If-None-Match
	byQuery                         // ?last_event_id=<url-encoded t:tags>
	byLastEventID                   // Last-Event-ID: t:tags
	byINMCompound                   // If-None-Match: t:tags alone
	byEtagRequest                   // a request header named Etag: t:tags (NchanSubscriber.js)
)

var resumeModes = []resumeMode{byHeaders, byQuery, byLastEventID, byINMCompound, byEtagRequest}

func (m resumeMode) String() string {
	return [...]string{"IfModifiedSince+IfNoneMatch", "last_event_id", "Last-Event-ID", "IfNoneMatch-compound", "Etag-request-header"}[m]
}

// resumeWithID returns the URL and headers that resume base after the
// compound id ("<time>:<tags>"); not for byHeaders, which needs a response.
func resumeWithID(t testing.TB, base string, mode resumeMode, id string) (string, []string) {
	t.Helper()
	switch mode {
	case byQuery:
		return base + "?last_event_id=" + url.QueryEscape(id), nil
	case byLastEventID:
		return base, []string{"Last-Event-ID", id}
	case byINMCompound:
		return base, []string{"If-None-Match", id}
	case byEtagRequest:
		return base, []string{"Etag", id}
	}
	t.Fatalf("resume mode %v needs a response", mode)
	return "", nil
}

// resumeRequest returns the URL and headers of the long-poll following
// prev (nil: the first request, which carries no id).
func resumeRequest(t testing.TB, base string, mode resumeMode, prev *response) (string, []string) {
	t.Helper()
	switch {
	case prev == nil:
		return base, nil
	case mode == byHeaders:
		return base, []string{"If-Modified-Since", prev.Header.Get("Last-Modified"), "If-None-Match", prev.Header.Get("Etag")}
	}
	return resumeWithID(t, base, mode, responseID(t, *prev))
}

// longPollGetsNext checks that a long-poll of target parks (for at least
// pending) and then gets body, published to channel ch meanwhile.
func longPollGetsNext(t testing.TB, s *testServer, target, ch, body string, pending time.Duration, headers ...string) {
	t.Helper()
	got := async(t, 5*time.Second, "GET", s.URL+target, "", headers...)
	waitSubscribers(t, s, ch, 1)
	parkedGetsNext(t, s, got, ch, body, pending)
}

// parkedGetsNext checks that the parked long-poll got is not answered
// within pending (0: no such check), then publishes body to channel ch
// (201: a subscriber waits) and checks that the long-poll gets it. It
// returns the answer and the message id.
func parkedGetsNext(t testing.TB, s *testServer, got <-chan response, ch, body string, pending time.Duration, pubHeaders ...string) (response, msgID) {
	t.Helper()
	if pending > 0 {
		expectPending(t, got, pending)
	}
	id, status := publish(t, s, ch, body, pubHeaders...)
	if status != http.StatusCreated {
		t.Errorf("publish %q with a waiting subscriber: got %d, want 201", body, status)
	}
	r := recv(t, got)
	checkMessage(t, r, body, id)
	return r, id
}

// ---------------------------------------------------------------------------
// Raw connections.

// rawConn is a raw TCP HTTP/1.1 client connection: the request is written
// by hand and the response read byte for byte.
type rawConn struct {
	conn   net.Conn
	br     *bufio.Reader
	Status int
	Header http.Header
}

// sendRaw dials the server and writes one request (headers as name, value
// pairs) without reading anything.
func sendRaw(t testing.TB, s *testServer, method, target string, headers ...string) *rawConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.addr(), 2*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return sendRawOn(t, s, conn, method, target, headers...)
}

// sendRawOn writes one request on conn, which the test then owns.
func sendRawOn(t testing.TB, s *testServer, conn net.Conn, method, target string, headers ...string) *rawConn {
	t.Helper()
	t.Cleanup(func() { conn.Close() })
	conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(conn, requestHead(s, method, target, headers)); err != nil {
		t.Fatalf("write request: %v", err)
	}
	return &rawConn{conn: conn, br: bufio.NewReaderSize(conn, 128<<10)}
}

// requestHead is an HTTP/1.1 request head for s (headers as name, value
// pairs).
func requestHead(s *testServer, method, target string, headers []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, s.addr())
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	b.WriteString("\r\n")
	return b.String()
}

// openRaw sends a request and reads the response head.
func openRaw(t testing.TB, s *testServer, method, target string, headers ...string) *rawConn {
	t.Helper()
	c := sendRaw(t, s, method, target, headers...)
	if err := c.readHead(3 * time.Second); err != nil {
		t.Fatalf("%s %s: read response head: %v", method, target, err)
	}
	return c
}

// openLean sends a request on a new connection and reads the response
// head with a small reader it then drops, for tests that hold thousands
// of connections: nothing may follow the head until the test sends again
// (a 101 answer, a request still being sent). It returns the connection,
// which the test then owns, and the status.
func openLean(s *testServer, method, target string, headers ...string) (net.Conn, int, error) {
	conn, err := net.DialTimeout("tcp", s.addr(), 5*time.Second)
	if err != nil {
		return nil, 0, err
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	defer conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, requestHead(s, method, target, headers)); err != nil {
		conn.Close()
		return nil, 0, err
	}
	br := bufio.NewReaderSize(conn, 16)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, 0, err
	}
	if br.Buffered() > 0 {
		conn.Close()
		return nil, 0, fmt.Errorf("%d bytes after the response head", br.Buffered())
	}
	return conn, res.StatusCode, nil
}

func (c *rawConn) readHead(d time.Duration) error {
	c.conn.SetReadDeadline(time.Now().Add(d))
	tp := textproto.NewReader(c.br)
	line, err := tp.ReadLine()
	if err != nil {
		return err
	}
	_, rest, _ := strings.Cut(line, " ")
	code, _, _ := strings.Cut(rest, " ")
	if c.Status, err = strconv.Atoi(code); err != nil {
		return fmt.Errorf("bad status line %q", line)
	}
	mh, err := tp.ReadMIMEHeader()
	if err != nil {
		return err
	}
	c.Header = http.Header(mh)
	return nil
}

// body reads a Content-Length body.
func (c *rawConn) body(t testing.TB) string {
	t.Helper()
	n, err := strconv.Atoi(c.Header.Get("Content-Length"))
	if err != nil {
		t.Fatalf("response without Content-Length (%v): %v", c.Header, err)
	}
	return c.readN(t, n, 3*time.Second)
}

func (c *rawConn) readN(t testing.TB, n int, d time.Duration) string {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, n)
	k, err := io.ReadFull(c.br, buf)
	if err != nil {
		t.Fatalf("reading %d bytes: got %q, then %v", n, buf[:k], err)
	}
	return string(buf)
}

// readUntil reads (within 3s) until the bytes read contain want, and
// returns them; it fails if the connection ends or the time passes first.
func (c *rawConn) readUntil(t testing.TB, want string) string {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte(want)) {
		n, err := c.br.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("reading until %q: got %q, then %v", want, got, err)
		}
	}
	return string(got)
}

// expect reads exactly the bytes of want.
func (c *rawConn) expect(t testing.TB, want string) {
	t.Helper()
	if got := c.readN(t, len(want), 3*time.Second); got != want {
		t.Fatalf("stream bytes:\n got %q\nwant %q", got, want)
	}
}

// drain reads until the connection ends or d passes; err is nil when the
// server closed the connection (EOF or reset).
func (c *rawConn) drain(d time.Duration) (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c.br)
	if err != nil && !isTimeoutErr(err) {
		err = nil // reset by peer: closed too.
	}
	return string(b), err
}

// expectEOF asserts the server closes the connection with nothing more.
func (c *rawConn) expectEOF(t testing.TB) {
	t.Helper()
	rest, err := c.drain(3 * time.Second)
	if rest != "" {
		t.Fatalf("unexpected bytes before the connection ended: %q", rest)
	}
	if err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
}

// expectSilence asserts nothing arrives for d and the connection stays open.
func (c *rawConn) expectSilence(t testing.TB, d time.Duration) {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(d))
	if _, err := c.br.Peek(1); err == nil {
		b, _ := c.br.Peek(c.br.Buffered())
		t.Fatalf("unexpected bytes: %q", b)
	} else if !isTimeoutErr(err) {
		t.Fatalf("connection ended: %v", err)
	}
}

func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ---------------------------------------------------------------------------
// EventSource.

// openEventSource opens an EventSource subscription and checks its start.
func openEventSource(t testing.TB, s *testServer, target string, headers ...string) *rawConn {
	t.Helper()
	c := openRaw(t, s, "GET", target, append([]string{"Accept", "text/event-stream"}, headers...)...)
	if c.Status != http.StatusOK {
		t.Fatalf("EventSource %s: status %d, want 200", target, c.Status)
	}
	if ct := c.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
		t.Errorf("EventSource %s: Content-Type %q, want %q", target, ct, "text/event-stream; charset=utf-8")
	}
	if cl := c.Header.Get("Content-Length"); cl != "" {
		t.Errorf("EventSource %s: Content-Length %q, want none", target, cl)
	}
	c.expect(t, ": hi\n\n")
	return c
}

// sseEvent is the EventSource event Herald must write for a message.
func sseEvent(event, id, data string) string {
	var b strings.Builder
	if event != "" {
		b.WriteString("event: " + event + "\n")
	}
	b.WriteString("id: " + id + "\n")
	for _, line := range strings.Split(data, "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	return b.String()
}

// readEvent reads one EventSource event of a one-line message: an id line
// and a data line.
func readEvent(br *bufio.Reader) (id, data string, err error) {
	var lines []string
	for len(lines) <= 2 { // at most one line more than an id and a data line
		line, err := br.ReadString('\n')
		if err != nil {
			return "", "", err
		}
		if line == "\n" {
			break
		}
		lines = append(lines, strings.TrimSuffix(line, "\n"))
	}
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "id: ") || !strings.HasPrefix(lines[1], "data: ") {
		return "", "", fmt.Errorf("malformed event %.120q", lines)
	}
	return strings.TrimPrefix(lines[0], "id: "), strings.TrimPrefix(lines[1], "data: "), nil
}

// ---------------------------------------------------------------------------
// WebSocket client (raw TCP, gobwas/ws framing).

const wsKey = "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455 §1.3 example

func wsAccept(key string) string {
	sum := sha1.Sum([]byte(strings.TrimSpace(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// wsHeaders are the headers of a WebSocket handshake, then extra ones.
func wsHeaders(extra ...string) []string {
	return append([]string{
		"Connection", "Upgrade",
		"Upgrade", "websocket",
		"Sec-WebSocket-Version", "13",
		"Sec-WebSocket-Key", wsKey,
	}, extra...)
}

// openWebSocket opens a WebSocket and checks the 101 answer.
func openWebSocket(t testing.TB, s *testServer, target string, extra ...string) *rawConn {
	t.Helper()
	c := openRaw(t, s, "GET", target, wsHeaders(extra...)...)
	if c.Status != http.StatusSwitchingProtocols {
		t.Fatalf("WebSocket %s: status %d, want 101", target, c.Status)
	}
	if got := c.Header.Get("Sec-WebSocket-Accept"); got != wsAccept(wsKey) {
		t.Fatalf("WebSocket %s: Sec-WebSocket-Accept %q, want %q", target, got, wsAccept(wsKey))
	}
	return c
}

// openStream opens an EventSource or (isWS) a WebSocket subscription.
func openStream(t testing.TB, s *testServer, target string, isWS bool) *rawConn {
	t.Helper()
	if isWS {
		return openWebSocket(t, s, target)
	}
	return openEventSource(t, s, target)
}

// frame reads one server frame.
func (c *rawConn) frame(t testing.TB, d time.Duration) (ws.Header, []byte) {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(d))
	h, err := ws.ReadHeader(c.br)
	if err != nil {
		t.Fatalf("read frame header: %v", err)
	}
	if h.Masked {
		t.Fatalf("server frame is masked: %+v", h)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c.br, p); err != nil {
		t.Fatalf("read frame payload (%d bytes): %v", h.Length, err)
	}
	return h, p
}

// expectFrame reads a final, uncompressed frame with op and payload.
func (c *rawConn) expectFrame(t testing.TB, op ws.OpCode, payload string) {
	t.Helper()
	h, p := c.frame(t, 3*time.Second)
	if h.OpCode != op || !h.Fin || h.Rsv != 0 || string(p) != payload {
		t.Fatalf("frame: op %d fin %v rsv %d payload %q; want op %d fin true rsv 0 payload %q", h.OpCode, h.Fin, h.Rsv, p, op, payload)
	}
}

// expectClose reads a close frame with code and reason (reason "*": any)
// and then the end of the connection.
func (c *rawConn) expectClose(t testing.TB, code ws.StatusCode, reason string) {
	t.Helper()
	h, p := c.frame(t, 3*time.Second)
	if h.OpCode != ws.OpClose {
		t.Fatalf("frame op %d payload %q, want a close frame", h.OpCode, p)
	}
	if len(p) < 2 {
		t.Fatalf("close frame without a status code: %q", p)
	}
	gotCode, gotReason := ws.ParseCloseFrameData(p)
	if gotCode != code || (reason != "*" && gotReason != reason) {
		t.Fatalf("close frame %d %q, want %d %q", gotCode, gotReason, code, reason)
	}
	c.expectEOF(t)
}

// metaID reads a ws+meta.nchan frame, checks its content type and body and
// returns its id.
func (c *rawConn) metaID(t testing.TB, op ws.OpCode, ct, body string) string {
	t.Helper()
	h, p := c.frame(t, 3*time.Second)
	re := regexp.MustCompile(`^id: (\d+:\d+)\n` + regexp.QuoteMeta("content-type: "+ct+"\n\n"+body) + `$`)
	m := re.FindSubmatch(p)
	if h.OpCode != op || m == nil {
		t.Fatalf("ws+meta frame op %d %q, want op %d with content-type %q and body %q", h.OpCode, p, op, ct, body)
	}
	return string(m[1])
}

// send writes one final client frame: masked unless told otherwise, with
// RSV1 when compressed.
func (c *rawConn) send(t testing.TB, op ws.OpCode, payload []byte, masked, rsv1 bool) {
	t.Helper()
	f := ws.NewFrame(op, true, payload)
	if rsv1 {
		f.Header.Rsv = ws.Rsv(true, false, false)
	}
	if masked {
		f = ws.MaskFrame(f)
	}
	c.writeFrame(t, f)
}

// write writes raw bytes: a request body, or frames in pieces.
func (c *rawConn) write(t testing.TB, b []byte) {
	t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.conn.Write(b); err != nil {
		t.Fatalf("write %d bytes: %v", len(b), err)
	}
}

// maskedHeader is the header of a final, masked client frame announcing
// a payload of n bytes, with the mask key 1 2 3 4 (see maskedPayload).
func maskedHeader(op ws.OpCode, fin bool, n int64) []byte {
	var b bytes.Buffer
	ws.WriteHeader(&b, ws.Header{Fin: fin, OpCode: op, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: n})
	return b.Bytes()
}

// maskedPayload masks p with maskedHeader's key, from offset pos of the
// payload.
func maskedPayload(p []byte, pos int) []byte {
	out := bytes.Clone(p)
	ws.Cipher(out, [4]byte{1, 2, 3, 4}, pos)
	return out
}

func (c *rawConn) writeFrame(t testing.TB, f ws.Frame) {
	t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if err := ws.WriteFrame(c.conn, f); err != nil {
		t.Fatalf("write frame: %v", err)
	}
}

// readWSMessage reads the next message of a WebSocket subscription: a
// final, unmasked, uncompressed text frame. Pongs on the way are counted in
// pongs and skipped. It never calls t.Fatal.
func (c *rawConn) readWSMessage(pongs *int) (string, error) {
	for range 100 { // at most 99 pongs before the message
		h, err := ws.ReadHeader(c.br)
		if err != nil {
			return "", err
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(c.br, p); err != nil {
			return "", err
		}
		switch {
		case h.OpCode == ws.OpPong && h.Fin:
			*pongs++
			continue
		case h.OpCode != ws.OpText || !h.Fin || h.Masked || h.Rsv != 0:
			return "", fmt.Errorf("frame op %d fin %v masked %v rsv %d", h.OpCode, h.Fin, h.Masked, h.Rsv)
		}
		return string(p), nil
	}
	return "", errors.New("100 pongs and no message")
}

// readMessage reads the next one-line message of an EventSource (its id and
// body) or (isWS) WebSocket subscription (its body; pongs as in
// readWSMessage). It never calls t.Fatal.
func (c *rawConn) readMessage(isWS bool, pongs *int) (id, body string, err error) {
	if isWS {
		body, err = c.readWSMessage(pongs)
		return "", body, err
	}
	return readEvent(c.br)
}

// ---------------------------------------------------------------------------
// HTTP streams.

var multipartBoundaryRE = regexp.MustCompile(`^multipart/mixed; boundary=([./0-9A-Za-z]{32})$`)

// multipartPart is the multipart/mixed part of a message and the boundary
// after it.
func multipartPart(boundary string, id msgID, ct, body string) string {
	p := "\r\nLast-Modified: " + id.httpDate() + "\r\nEtag: " + strconv.Itoa(id.Tag)
	if ct != "" {
		p += "\r\nContent-Type: " + ct
	}
	return p + "\r\n\r\n" + body + "\r\n--" + boundary
}

// ---------------------------------------------------------------------------
// permessage-deflate.

// inflate decompresses a permessage-deflate payload (RFC 7692 §7.2.2: add
// the 0x00 0x00 0xff 0xff tail; an empty final block ends the stream).
func inflate(t testing.TB, p []byte) string {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff})))
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("inflate %d bytes: %v", len(p), err)
	}
	return string(out)
}

// deflate compresses a client message as permessage-deflate does.
func deflate(t testing.TB, s string) []byte {
	t.Helper()
	return deflateAt(t, s, flate.BestCompression)
}

// deflateAt compresses a message at a zlib level, as permessage-deflate
// without context takeover does.
func deflateAt(t testing.TB, s string, level int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, level)
	w.Write([]byte(s))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{0x00, 0x00, 0xff, 0xff})
}

// compressed is a masked, compressed text frame of msg.
func compressed(t testing.TB, msg string) []byte {
	f := ws.MaskFrame(ws.NewFrame(ws.OpText, true, deflate(t, msg)))
	f.Header.Rsv = ws.Rsv(true, false, false)
	var b bytes.Buffer
	ws.WriteFrame(&b, f)
	return b.Bytes()
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
