package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// opsConfig has publishers, subscribers, a subscriber that only takes
// existing channels, metrics (loopback only, and one allowing only a
// network the tests are not in) and health locations.
func opsConfig(top ...string) string {
	return testConfig(top,
		prefixLocation("pub", "publisher: true"),
		prefixLocation("sub", "subscriber: true"),
		prefixLocation("subx", "subscriber: true", "subscribe_existing_channels_only: on"),
		location("= /metrics", "metrics: on"),
		location("= /metrics-far", "metrics: on", "metrics_allow: 10.0.0.0/8 192.0.2.1"),
		location("= /live", "health: live"),
		location("= /ready", "health: ready"),
	)
}

// scrape reads the metrics with Prometheus's own text parser.
func scrape(t testing.TB, s *testServer) map[string]*dto.MetricFamily {
	t.Helper()
	r := do(t, "GET", s.URL+"/metrics", "")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %q", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("metrics Content-Type %q, want Prometheus text 0.0.4", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(r.Body))
	if err != nil {
		t.Fatalf("metrics do not parse: %v\n%s", err, r.Body)
	}
	return mfs
}

// metricValue is the value of the sample of family name whose labels
// include labels (name, value pairs): a counter's or gauge's value, a
// histogram's count. ok is false when there is no such sample.
func metricValue(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// want is one expected metric value.
type want struct {
	name    string
	labels  []string
	value   float64
	atLeast bool
}

// waitMetrics scrapes until every expectation holds (the metrics follow
// the event bus asynchronously), and fails saying which do not.
func waitMetrics(t testing.TB, s *testServer, wants []want) map[string]*dto.MetricFamily {
	t.Helper()
	var mfs map[string]*dto.MetricFamily
	var bad []string
	poll(waitTimeout, func() bool {
		mfs = scrape(t, s)
		bad = bad[:0]
		for _, w := range wants {
			v, ok := metricValue(mfs, w.name, w.labels...)
			if !ok || (!w.atLeast && v != w.value) || (w.atLeast && v < w.value) {
				bad = append(bad, fmt.Sprintf("%s%v = %v (present %v), want %v", w.name, w.labels, v, ok, w.value))
			}
		}
		return len(bad) == 0
	})
	for _, b := range bad {
		t.Error(b)
	}
	return mfs
}

func TestMetricsScrapedAfterKnownTraffic(t *testing.T) {
	s := startServer(t, opsConfig())
	bodies := []string{"one", "two!", "three"}
	for _, b := range bodies {
		if _, st := publish(t, s, "a", b); st != http.StatusAccepted {
			t.Fatalf("publish: %d", st)
		}
	}
	// A long-poll gets the oldest message at once.
	if r := do(t, "GET", s.URL+"/sub/a", ""); r.Status != http.StatusOK || r.Body != "one" {
		t.Fatalf("long-poll: %d %q", r.Status, r.Body)
	}
	// An EventSource stays connected and gets every buffered message.
	es := openEventSource(t, s, "/sub/a")
	es.readUntil(t, "data: three\n\n")
	// Refusals: a subscriber to a channel that does not exist where only
	// existing ones may be subscribed to, and a POST to a subscriber
	// location, twice.
	if r := do(t, "GET", s.URL+"/subx/nothing", ""); r.Status != http.StatusForbidden {
		t.Fatalf("subscriber to a missing channel: %d", r.Status)
	}
	for range 2 {
		if r := do(t, "POST", s.URL+"/sub/a", "x"); r.Status != http.StatusForbidden {
			t.Fatalf("POST to a subscriber location: %d", r.Status)
		}
	}
	published := float64(len("one") + len("two!") + len("three"))
	waitMetrics(t, s, []want{
		{name: "herald_messages_published_total", value: 3},
		{name: "herald_published_bytes_total", value: published},
		{name: "herald_publish_duration_seconds", labels: []string{"location", "~ ^/pub/(.+)$"}, value: 3},
		{name: "herald_store_operations_total", labels: []string{"op", "publish", "result", "ok"}, value: 3},
		{name: "herald_store_operation_duration_seconds", labels: []string{"op", "publish"}, value: 3},
		// 1 long-polled + 3 streamed.
		{name: "herald_messages_delivered_total", value: 4},
		{name: "herald_delivery_lag_seconds", value: 2, atLeast: true},
		{name: "herald_delivered_bytes_total", value: published, atLeast: true},
		{name: "herald_subscribers", labels: []string{"transport", "eventsource", "location", "~ ^/sub/(.+)$"}, value: 1},
		{name: "herald_subscribers", labels: []string{"transport", "longpoll", "location", "~ ^/sub/(.+)$"}, value: 0},
		{name: "herald_subscribers_joined_total", value: 2},
		{name: "herald_channels", value: 1},
		{name: "herald_stored_messages", value: 3},
		{name: "herald_refused_requests_total", labels: []string{"role", "subscribe", "status", "403"}, value: 1},
		{name: "herald_refused_requests_total", labels: []string{"role", "refused", "status", "403", "reason", "role"}, value: 2},
		{name: "herald_subscribers_refused_total", value: 1},
		{name: "herald_slow_subscribers_disconnected_total", value: 0},
		{name: "herald_info", labels: []string{"version", "0.1.0", "nchan_version", "1.3.6"}, value: 1},
		{name: "go_goroutines", value: 1, atLeast: true},
		{name: "herald_metrics_events_dropped_total", value: 0},
	})

	// The client leaves: the gauge follows.
	es.conn.Close()
	waitMetrics(t, s, []want{
		{name: "herald_subscribers", labels: []string{"transport", "eventsource", "location", "~ ^/sub/(.+)$"}, value: 0},
	})

	// The JSON form has the same figures.
	r := do(t, "GET", s.URL+"/metrics", "", "Accept", "application/json")
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("metrics as JSON: %d %q", r.Status, r.Header.Get("Content-Type"))
	}
	var fams map[string]struct {
		Type    string
		Samples []struct {
			Labels map[string]string
			Value  *float64
			Count  *uint64
		}
	}
	if err := json.Unmarshal([]byte(r.Body), &fams); err != nil {
		t.Fatalf("metrics JSON: %v\n%s", err, r.Body)
	}
	pub := fams["herald_messages_published_total"]
	if pub.Type != "counter" || len(pub.Samples) != 1 || pub.Samples[0].Value == nil || *pub.Samples[0].Value != 3 {
		t.Errorf("JSON herald_messages_published_total = %+v, want one counter sample of 3", pub)
	}
	lat := fams["herald_publish_duration_seconds"]
	if lat.Type != "histogram" || len(lat.Samples) != 1 || lat.Samples[0].Count == nil || *lat.Samples[0].Count != 3 ||
		lat.Samples[0].Labels["location"] != "~ ^/pub/(.+)$" {
		t.Errorf("JSON herald_publish_duration_seconds = %+v, want one histogram of 3 for the publisher", lat)
	}
}

func TestMetricsAnswerOnlyAllowedClients(t *testing.T) {
	s := startServer(t, opsConfig())
	if r := do(t, "GET", s.URL+"/metrics-far", ""); r.Status != http.StatusForbidden {
		t.Errorf("metrics for a client metrics_allow does not list: %d, want 403", r.Status)
	}
	if r := do(t, "GET", s.URL+"/metrics", ""); r.Status != http.StatusOK {
		t.Errorf("metrics for a loopback client by default: %d, want 200", r.Status)
	}
	if r := do(t, "POST", s.URL+"/metrics", "x"); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("POST to metrics: %d, want 405", r.Status)
	}
	// The refusal is itself counted.
	waitMetrics(t, s, []want{
		{name: "herald_refused_requests_total", labels: []string{"role", "metrics", "status", "403", "reason", "metrics_allow"}, value: 1},
	})
}

func TestHealthLiveAndReady(t *testing.T) {
	s := startServer(t, opsConfig())
	r := do(t, "GET", s.URL+"/live", "")
	if r.Status != http.StatusOK || r.Body != "ok\n" {
		t.Errorf("live: %d %q", r.Status, r.Body)
	}
	var got response
	if !poll(waitTimeout, func() bool {
		got = do(t, "GET", s.URL+"/ready", "", "Accept", "application/json")
		return got.Status == http.StatusOK
	}) {
		t.Fatalf("ready: %d %q", got.Status, got.Body)
	}
	if got.Body != `{"ready":true,"listening":true}`+"\n" {
		t.Errorf("ready body %q", got.Body)
	}
	if r := do(t, "HEAD", s.URL+"/ready", ""); r.Status != http.StatusOK || r.Body != "" {
		t.Errorf("HEAD ready: %d %q", r.Status, r.Body)
	}
}

// combined matches a line of nginx's combined format, with the stream
// end's two extra fields when there are any.
var combined = regexp.MustCompile(`^(\S+) - (\S+) \[([^\]]+)\] "([^"]*)" (\d{3}) (\d+) "([^"]*)" "([^"]*)"(?: (\d+\.\d{3}) (\d+))?$`)

// logLine is one parsed access log line.
type logLine struct {
	remote, user string
	time         time.Time
	request      string
	status       int
	bytes        int
	referer, ua  string
	duration     float64
	messages     int
	streamEnd    bool
}

func parseLogLine(t testing.TB, line string) logLine {
	t.Helper()
	m := combined.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("access log line not in combined format: %q", line)
	}
	tm, err := time.Parse("02/Jan/2006:15:04:05 -0700", m[3])
	if err != nil {
		t.Fatalf("access log time %q: %v", m[3], err)
	}
	l := logLine{remote: m[1], user: m[2], time: tm, request: m[4], referer: m[7], ua: m[8]}
	l.status, _ = strconv.Atoi(m[5])
	l.bytes, _ = strconv.Atoi(m[6])
	if m[9] != "" {
		l.streamEnd = true
		l.duration, _ = strconv.ParseFloat(m[9], 64)
		l.messages, _ = strconv.Atoi(m[10])
	}
	return l
}

// logLines waits until the file has n lines and returns them parsed.
func logLines(t testing.TB, path string, n int) []logLine {
	t.Helper()
	var lines []string
	poll(waitTimeout, func() bool {
		b, _ := os.ReadFile(path)
		lines = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(b) == 0 {
			lines = nil
		}
		return len(lines) >= n
	})
	if len(lines) != n {
		t.Fatalf("access log has %d lines, want %d:\n%s", len(lines), n, strings.Join(lines, "\n"))
	}
	out := make([]logLine, n)
	for i, l := range lines {
		out[i] = parseLogLine(t, l)
	}
	return out
}

func TestAccessLogLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	s := startServer(t, opsConfig("access_log: "+path))
	before := time.Now().Truncate(time.Second)

	// 1: a publish.
	r := do(t, "POST", s.URL+"/pub/a", "hello", "User-Agent", "tester/1", "Referer", "http://ref.example/x")
	if r.Status != http.StatusAccepted {
		t.Fatalf("publish: %d", r.Status)
	}
	pubBytes := len(r.Body)
	// 2: a long-poll that waits for the next message (3: its publish).
	got := async(t, 5*time.Second, "GET", s.URL+"/sub/b", "", "User-Agent", "poller")
	waitSubscribers(t, s, "b", 1)
	publish(t, s, "b", "news")
	if r := recv(t, got); r.Status != http.StatusOK || r.Body != "news" {
		t.Fatalf("long-poll: %d %q", r.Status, r.Body)
	}
	// 4 and 5: an EventSource stream that gets two messages and ends when
	// its client leaves (6, 7: their publishes).
	es := openEventSource(t, s, "/sub/c?x=1", "User-Agent", "es-client")
	waitSubscribers(t, s, "c", 1)
	publish(t, s, "c", "m1")
	publish(t, s, "c", "m2")
	streamed := es.readUntil(t, "data: m2\n\n")
	// The stream lives at least this long, so its duration (logged in
	// milliseconds) is not 0.
	const held = 20 * time.Millisecond
	time.Sleep(held)
	es.conn.Close()
	logLines(t, path, 7) // the stream's end is seen
	// 8: a refused request.
	if r := do(t, "POST", s.URL+"/sub/a", "x", "User-Agent", "refused"); r.Status != http.StatusForbidden {
		t.Fatalf("refused: %d", r.Status)
	}
	refusedBytes := len("Publishing is not allowed here.\n")

	lines := logLines(t, path, 8)
	after := time.Now()
	// The long-poll and the publish that answered it end together: either
	// may be logged first.
	if strings.HasPrefix(lines[1].request, "GET") {
		lines[1], lines[2] = lines[2], lines[1]
	}
	for i, l := range lines {
		if l.remote != "127.0.0.1" || l.user != "-" {
			t.Errorf("line %d: remote %q user %q, want 127.0.0.1 and -", i+1, l.remote, l.user)
		}
		if l.time.Before(before) || l.time.After(after) {
			t.Errorf("line %d: time %v outside the test (%v to %v)", i+1, l.time, before, after)
		}
	}
	check := func(i int, request string, status, bytes int, referer, ua string) {
		t.Helper()
		l := lines[i]
		if l.request != request || l.status != status || l.bytes != bytes || l.referer != referer || l.ua != ua {
			t.Errorf("line %d = %+v,\nwant request %q status %d bytes %d referer %q user agent %q", i+1, l, request, status, bytes, referer, ua)
		}
	}
	check(0, "POST /pub/a HTTP/1.1", 202, pubBytes, "http://ref.example/x", "tester/1")
	// The long-poll is logged when it is answered, with the publish that
	// answered it.
	check(1, "POST /pub/b HTTP/1.1", 201, lines[1].bytes, "-", "Go-http-client/1.1")
	check(2, "GET /sub/b HTTP/1.1", 200, len("news"), "-", "poller")
	// The stream: a line when it starts, one when it ends with its
	// duration and the messages it was sent.
	check(3, "GET /sub/c?x=1 HTTP/1.1", 200, 0, "-", "es-client")
	check(4, "POST /pub/c HTTP/1.1", 201, lines[4].bytes, "-", "Go-http-client/1.1")
	check(5, "POST /pub/c HTTP/1.1", 201, lines[5].bytes, "-", "Go-http-client/1.1")
	end := lines[6]
	check(6, "GET /sub/c?x=1 HTTP/1.1", 200, end.bytes, "-", "es-client")
	if !end.streamEnd || end.messages != 2 {
		t.Errorf("stream end line %+v: want 2 messages sent", end)
	}
	// The bytes of the messages: the two events.
	if end.bytes != len(streamed) {
		t.Errorf("stream end line: %d bytes sent, want %d (the two events %q)", end.bytes, len(streamed), streamed)
	}
	if d := time.Duration(end.duration * float64(time.Second)); d < held || d > after.Sub(before)+time.Second {
		t.Errorf("stream end line: duration %v, want at least %v and less than the test", d, held)
	}
	for i, l := range lines {
		if l.streamEnd != (i == 6) {
			t.Errorf("line %d: stream end %v", i+1, l.streamEnd)
		}
	}
	check(7, "POST /sub/a HTTP/1.1", 403, refusedBytes, "-", "refused")
}

func TestAccessLogReopenedAfterRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	s := startServer(t, opsConfig("access_log: "+path, `access_log_format: "$request_method $uri $status $http_x_tag"`))
	do(t, "GET", s.URL+"/live", "", "X-Tag", "before")
	waitFile(t, path, "GET /live 200 before\n")
	rotated := filepath.Join(dir, "access.log.1")
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	// Until it is reopened, the log goes on in the moved file.
	do(t, "GET", s.URL+"/live", "", "X-Tag", "moved")
	waitFile(t, rotated, "GET /live 200 before\nGET /live 200 moved\n")
	if err := s.srv.Server.ReopenLogs(); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	do(t, "GET", s.URL+"/live", "", "X-Tag", "after")
	waitFile(t, path, "GET /live 200 after\n")
	waitFile(t, rotated, "GET /live 200 before\nGET /live 200 moved\n")
}

// waitFile waits until the file holds exactly want.
func waitFile(t testing.TB, path, want string) {
	t.Helper()
	var got []byte
	if !poll(waitTimeout, func() bool { got, _ = os.ReadFile(path); return string(got) == want }) {
		t.Fatalf("%s holds %q, want %q", filepath.Base(path), got, want)
	}
}

// TestMetricsCountHookCalls: authorize_request and subscribe_request calls
// to a real application are counted by hook and answer, with their time.
func TestMetricsCountHookCalls(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/deny") {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer app.Close()
	s := startServer(t, testConfig(nil,
		prefixLocation("pub", "publisher: true"),
		prefixLocation("sub", "subscriber: true", `authorize_request: "`+app.URL+`/allow"`, `subscribe_request: "`+app.URL+`/notify"`),
		prefixLocation("subdeny", "subscriber: true", `authorize_request: "`+app.URL+`/deny"`),
		location("= /metrics", "metrics: on"),
	))
	publish(t, s, "a", "m")
	if r := do(t, "GET", s.URL+"/sub/a", ""); r.Status != http.StatusOK {
		t.Fatalf("authorized long-poll: %d %q", r.Status, r.Body)
	}
	if r := do(t, "GET", s.URL+"/subdeny/a", ""); r.Status != http.StatusForbidden {
		t.Fatalf("refused long-poll: %d", r.Status)
	}
	// A stream is authorized too, and notified (long-polls are not, as in
	// Nchan).
	es := openEventSource(t, s, "/sub/a")
	defer es.conn.Close()
	waitMetrics(t, s, []want{
		{name: "herald_hook_calls_total", labels: []string{"hook", "authorize_request", "status", "200"}, value: 2},
		{name: "herald_hook_calls_total", labels: []string{"hook", "authorize_request", "status", "403"}, value: 1},
		{name: "herald_hook_calls_total", labels: []string{"hook", "subscribe_request", "status", "200"}, value: 1},
		{name: "herald_hook_duration_seconds", labels: []string{"hook", "authorize_request"}, value: 3},
		{name: "herald_refused_requests_total", labels: []string{"role", "subscribe", "status", "403", "reason", "authorize"}, value: 1},
	})
}
