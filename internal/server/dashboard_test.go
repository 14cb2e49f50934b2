package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/config"
)

// dashboardConfig is a dashboard at /dash (with extra lines) next to
// /pub/<id> and /sub/<id>.
func dashboardConfig(top []string, lines ...string) string {
	return testConfig(top,
		location("/dash", append([]string{"dashboard: on"}, lines...)...),
		prefixLocation("pub", "publisher: true"),
		prefixLocation("sub", "subscriber: true"))
}

// TestDashboardServesPageAndAssets: the page at the location, its assets by
// ?asset=, 404 for a file it does not have (paths cannot leave the
// embedded files), 405 for other methods.
func TestDashboardServesPageAndAssets(t *testing.T) {
	s := startServer(t, dashboardConfig(nil))
	for _, tt := range []struct {
		target, ct, contains string
		status               int
	}{
		{"/dash", "text/html; charset=utf-8", "<title>Herald dashboard</title>", 200},
		{"/dash/", "text/html; charset=utf-8", `<script src="?asset=app.js">`, 200},
		{"/dash?asset=app.js", "text/javascript; charset=utf-8", "new EventSource", 200},
		{"/dash?asset=style.css", "text/css; charset=utf-8", "--pub:", 200},
		{"/dash?asset=../web.go", "text/plain; charset=utf-8", "No such dashboard file.", 404},
		{"/dash?asset=nothing.js", "text/plain; charset=utf-8", "No such dashboard file.", 404},
	} {
		r := do(t, "GET", s.URL+tt.target, "")
		if r.Status != tt.status || r.Header.Get("Content-Type") != tt.ct || !strings.Contains(r.Body, tt.contains) {
			t.Errorf("GET %s: %d %q, body %.80q; want %d %q containing %q", tt.target, r.Status, r.Header.Get("Content-Type"), r.Body, tt.status, tt.ct, tt.contains)
		}
	}
	if r := do(t, "POST", s.URL+"/dash", "x"); r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d, Allow %q; want 405 with Allow: GET, HEAD", r.Status, r.Header.Get("Allow"))
	}
	if r := do(t, "HEAD", s.URL+"/dash", ""); r.Status != http.StatusOK || r.Body != "" {
		t.Errorf("HEAD: %d %q, want 200 and no body", r.Status, r.Body)
	}
}

// TestDashboardCrossOrigin: the dashboard sends no CORS headers, so a web
// page on another origin cannot read it through a loopback browser, unless
// access_control_allow_origin names that origin.
func TestDashboardCrossOrigin(t *testing.T) {
	for _, tt := range []struct {
		name, line, origin, want string
	}{
		{"default", "", "http://evil.example", ""},
		{"named origin", "access_control_allow_origin: http://ops.example", "http://ops.example", "http://ops.example"},
		{"other origin", "access_control_allow_origin: http://ops.example", "http://evil.example", "http://evil.example"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, dashboardConfig(nil, tt.line))
			r := do(t, "GET", s.URL+"/dash?asset=app.js", "", "Origin", tt.origin)
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != tt.want {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tt.want)
			}
			if tt.name == "other origin" && r.Status != http.StatusForbidden {
				t.Errorf("a request from an origin not named: %d, want 403", r.Status)
			}
		})
	}
}

// TestDashboardAllow: loopback clients only by default; dashboard_allow
// names others (any, CIDR ranges). The client address is the one Herald
// finds behind a trusted proxy, so the test speaks for other clients
// through X-Real-IP from a trusted loopback peer.
func TestDashboardAllow(t *testing.T) {
	trust := []string{"set_real_ip_from: 127.0.0.1"}
	for _, tt := range []struct {
		name   string
		allow  string
		client string // X-Real-IP; "" for the loopback peer itself
		want   int
	}{
		{"default: loopback", "", "", 200},
		{"default: ::1", "", "::1", 200},
		{"default: other client", "", "203.0.113.7", 403},
		{"any", "dashboard_allow: any", "203.0.113.7", 200},
		{"cidr: inside", "dashboard_allow: [203.0.113.0/24, 10.1.2.3]", "203.0.113.7", 200},
		{"cidr: single address", "dashboard_allow: [203.0.113.0/24, 10.1.2.3]", "10.1.2.3", 200},
		{"cidr: loopback left out", "dashboard_allow: 203.0.113.0/24", "", 403},
		{"cidr: outside", "dashboard_allow: 203.0.113.0/24 198.51.100.0/24", "192.0.2.1", 403},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, dashboardConfig(trust, tt.allow))
			var hdr []string
			if tt.client != "" {
				hdr = []string{"X-Real-IP", tt.client}
			}
			for _, target := range []string{"/dash", "/dash?asset=app.js"} {
				if r := do(t, "GET", s.URL+target, "", hdr...); r.Status != tt.want {
					t.Errorf("GET %s from %q: %d, want %d", target, tt.client, r.Status, tt.want)
				}
			}
			// The publisher next to it answers every client.
			if r := do(t, "POST", s.URL+"/pub/x", "m", hdr...); r.Status != http.StatusAccepted {
				t.Errorf("publish from %q: %d, want 202", tt.client, r.Status)
			}
		})
	}
}

// snapshot is the part of a dashboard snapshot the tests read.
type snapshot struct {
	Status struct {
		Published   int `json:"total_published_messages"`
		Channels    int `json:"channels"`
		Subscribers int `json:"subscribers"`
		// The Redis figures (TestDashboardRedis).
		RedisConnected int `json:"redis_connected_servers"`
		RedisUnhealthy int `json:"redis_unhealthy_upstreams"`
	} `json:"status"`
	Transports map[string]int `json:"transports"`
	Points     []struct {
		Time      int64   `json:"t"`
		Published float64 `json:"pub"`
		Delivered float64 `json:"del"`
		LagAvg    float64 `json:"lag_avg"`
	} `json:"points"`
	Channels []struct {
		ID          string `json:"id"`
		Messages    int    `json:"messages"`
		Subscribers int    `json:"subscribers"`
	} `json:"channels"`
	Delivered int `json:"total_delivered_messages"`
	Slow      []struct {
		Time      int64  `json:"time"`
		Channel   string `json:"channel"`
		Transport string `json:"transport"`
		Location  string `json:"location"`
	} `json:"slow"`
}

// dashStream is an open dashboard event stream.
type dashStream struct {
	br     *bufio.Reader
	cancel context.CancelFunc
}

func openDashStream(t *testing.T, url string) *dashStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
		cancel()
		t.Fatalf("GET %s: %d %q, want 200 text/event-stream", url, res.StatusCode, res.Header.Get("Content-Type"))
	}
	t.Cleanup(func() { cancel(); res.Body.Close() })
	return &dashStream{br: bufio.NewReader(res.Body), cancel: cancel}
}

// next reads one snapshot event.
func (d *dashStream) next(t *testing.T) snapshot {
	t.Helper()
	ev, err := d.br.ReadString('\n')
	if err != nil || ev != "event: snapshot\n" {
		t.Fatalf("event line %q, %v", ev, err)
	}
	data, err := d.br.ReadString('\n')
	if err != nil || !strings.HasPrefix(data, "data: ") {
		t.Fatalf("data line %.80q, %v", data, err)
	}
	if blank, err := d.br.ReadString('\n'); err != nil || blank != "\n" {
		t.Fatalf("after data: %q, %v", blank, err)
	}
	var s snapshot
	if err := json.Unmarshal([]byte(strings.TrimPrefix(data, "data: ")), &s); err != nil {
		t.Fatalf("snapshot %.200q: %v", data, err)
	}
	return s
}

// until reads snapshots (one a second, at most 12) until cond holds.
func (d *dashStream) until(t *testing.T, what string, cond func(snapshot) bool) snapshot {
	t.Helper()
	var s snapshot
	var points []any // every point read, for the failure message
	for range 12 {
		s = d.next(t)
		for _, p := range s.Points {
			points = append(points, p)
		}
		if cond(s) {
			return s
		}
	}
	t.Fatalf("no snapshot with %s; last %+v; points read %+v", what, s, points)
	return s
}

// TestDashboardEvents: the event stream sends a snapshot at once and then
// every second, with the channels (listed from the store, filtered by
// ?prefix=), subscribers per transport, publish and delivery rates and a
// delivery lag once a message reaches a subscriber.
func TestDashboardEvents(t *testing.T) {
	s := startServer(t, dashboardConfig(nil))
	publish(t, s, "dash-a", "one")
	publish(t, s, "other", "two")
	d := openDashStream(t, s.URL+"/dash?events")
	first := d.next(t)
	if first.Status.Published != 2 || first.Status.Channels != 2 || len(first.Channels) != 2 {
		t.Fatalf("first snapshot %+v, want 2 published and 2 channels listed", first)
	}

	es := openEventSource(t, s, "/sub/dash-a")
	defer es.conn.Close()
	lp := async(t, 10*time.Second, "GET", s.URL+"/sub/dash-b", "")
	waitSubscribers(t, s, "dash-a", 1)
	waitSubscribers(t, s, "dash-b", 1)
	d.until(t, "one eventsource and one longpoll subscriber", func(x snapshot) bool {
		return x.Transports["eventsource"] == 1 && x.Transports["longpoll"] == 1 && x.Status.Subscribers == 2
	})
	publish(t, s, "dash-a", "three")
	publish(t, s, "dash-b", "four")
	if r := recv(t, lp); r.Status != 200 || r.Body != "four" {
		t.Fatalf("long-poll subscriber: %d %q, want 200 four", r.Status, r.Body)
	}
	// The publishes and their deliveries may fall in two seconds' points.
	var published, delivered bool
	d.until(t, "a publish and deliveries in the rates and a lag", func(x snapshot) bool {
		for _, p := range x.Points {
			published = published || p.Published > 0
			delivered = delivered || p.Delivered > 0 && p.LagAvg >= 0
		}
		return published && delivered
	})

	f := openDashStream(t, s.URL+"/dash?events&prefix=dash-")
	x := f.next(t)
	if len(x.Channels) != 2 || x.Channels[0].ID != "dash-a" || x.Channels[0].Messages != 2 || x.Channels[0].Subscribers != 1 ||
		x.Channels[1].ID != "dash-b" || x.Channels[1].Messages != 1 {
		t.Errorf("listing with prefix dash-: %+v, want dash-a (2 messages, its eventsource subscriber) and dash-b (1 message)", x.Channels)
	}
}

// TestDashboardHistory: a stream opened while another is open starts with
// the seconds the charts already hold.
func TestDashboardHistory(t *testing.T) {
	s := startServer(t, dashboardConfig(nil))
	a := openDashStream(t, s.URL+"/dash?events")
	a.next(t)
	a.next(t)
	a.next(t) // two points taken
	b := openDashStream(t, s.URL+"/dash?events")
	if got := b.next(t); len(got.Points) < 2 {
		t.Errorf("second viewer's first snapshot holds %d points, want the 2 or more already taken", len(got.Points))
	}
	if running, n := s.srv.Server.DashboardSampling(); !running || n != 2 {
		t.Errorf("with two dashboards open: sampling %v with %d viewers, want true with 2", running, n)
	}
	a.cancel()
	b.cancel()
	waitFor(t, 5*time.Second, "the sampler to stop after the last dashboard closed", func() bool {
		running, n := s.srv.Server.DashboardSampling()
		return !running && n == 0
	})
}

// TestDashboardConfigErrors: a dashboard has no other role, and
// dashboard_allow takes addresses, CIDR ranges, unix: and any.
func TestDashboardConfigErrors(t *testing.T) {
	for _, tt := range []struct{ name, lines, want string }{
		{"with publisher", "publisher: true\n        channel_id: $1", "dashboard goes in a location of its own"},
		{"with stub_status", "stub_status: on", "dashboard goes in a location of its own"},
		{"bad allow", "dashboard_allow: 10.0.0.0/33", "dashboard_allow"},
		{"bad allow word", "dashboard_allow: everyone", "dashboard_allow"},
	} {
		_, err := config.Parse([]byte(testConfig(nil, "      - location: ~ ^/d/(.*)$\n        dashboard: on\n        "+tt.lines+"\n")), "test.yaml")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one saying %q", tt.name, err, tt.want)
		}
	}
}

// TestDashboardSlowSubscribers: a streaming subscriber that stops reading
// is cut after send_timeout, and the dashboard lists the disconnect.
func TestDashboardSlowSubscribers(t *testing.T) {
	s := startServer(t, testConfig(nil,
		location("/dash", "dashboard: on"),
		prefixLocation("pub", "publisher: true"),
		prefixLocation("es", "subscriber: [eventsource]", "send_timeout: 300ms")))
	slow := openEventSource(t, s, "/es/slow-one")
	if tcp, ok := slow.conn.(*net.TCPConn); ok {
		tcp.SetReadBuffer(4 << 10)
	}
	defer slow.conn.Close()
	waitSubscribers(t, s, "slow-one", 1)
	body := strings.Repeat("x", 64<<10)
	// The first publishes fill the socket buffers; later ones, paced, keep
	// the writer blocked until send_timeout passes.
	for i := 0; s.srv.Server.SlowSubscribers() == 0; i++ {
		if i == 1000 {
			t.Fatalf("no slow subscriber cut after %d publishes of 64 KiB", i)
		}
		if i >= 100 {
			time.Sleep(10 * time.Millisecond)
		}
		do(t, "POST", s.URL+"/pub/slow-one", body)
	}
	d := openDashStream(t, s.URL+"/dash?events")
	x := d.next(t)
	if len(x.Slow) != 1 || x.Slow[0].Channel != "slow-one" || x.Slow[0].Transport != "eventsource" || x.Slow[0].Location == "" || x.Slow[0].Time == 0 {
		t.Errorf("slow disconnects %+v, want the eventsource subscriber of slow-one", x.Slow)
	}
}
