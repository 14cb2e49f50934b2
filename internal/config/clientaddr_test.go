package config

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/heraldpush/herald/internal/limit"
)

func TestListenOptions(t *testing.T) {
	c := mustParse(t, `
servers:
  - listen: ["0.0.0.0:80 proxy_protocol", "127.0.0.1:8080", unix:/run/herald/pub.sock]
    locations:
      - location: /sub
        subscriber: true
        channel_id: $arg_id
  - listen: 127.0.0.1:81 proxy_protocol unix:/tmp/x.sock proxy_protocol
    locations:
      - location: /sub
        subscriber: true
        channel_id: $arg_id
`)
	want := [][]Listener{
		{{Addr: "0.0.0.0:80", Network: "tcp", ProxyProtocol: true}, {Addr: "127.0.0.1:8080", Network: "tcp"},
			{Addr: "unix:/run/herald/pub.sock", Network: "unix", Path: "/run/herald/pub.sock"}},
		{{Addr: "127.0.0.1:81", Network: "tcp", ProxyProtocol: true}, {Addr: "unix:/tmp/x.sock", Network: "unix", Path: "/tmp/x.sock", ProxyProtocol: true}},
	}
	for i, s := range c.Servers {
		if len(s.Listeners) != len(want[i]) || len(s.Listen) != len(want[i]) {
			t.Fatalf("server %d: %+v", i, s.Listeners)
		}
		for j, l := range s.Listeners {
			if l != want[i][j] || s.Listen[j] != l.Addr {
				t.Errorf("server %d listener %d: %+v (listen %q), want %+v", i, j, l, s.Listen[j], want[i][j])
			}
		}
	}
	for _, bad := range []string{"proxy_protocol", "unix:", "localhost", "127.0.0.1:80 nonsense"} {
		_, err := Parse([]byte("servers:\n  - listen: \""+bad+"\"\n    locations:\n      - location: /s\n        subscriber: true\n        channel_id: x\n"), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), "listen") {
			t.Errorf("listen %q: %v", bad, err)
		}
	}
}

func TestRealIPKeys(t *testing.T) {
	c := mustParse(t, `
set_real_ip_from: [10.0.0.0/8, "unix:"]
real_ip_header: X-Forwarded-For
servers:
  - listen: 127.0.0.1:8080
    locations:
      - location: /sub
        subscriber: true
        channel_id: $arg_id
  - listen: 127.0.0.1:8081
    set_real_ip_from: 192.0.2.1
    real_ip_recursive: on
    locations:
      - location: /sub
        subscriber: true
        channel_id: $arg_id
  - listen: 127.0.0.1:8082
    real_ip_header: X-Real-IP
    locations:
      - location: /sub
        subscriber: true
        channel_id: $arg_id
`)
	s0, s1, s2 := c.Servers[0].RealIP, c.Servers[1].RealIP, c.Servers[2].RealIP
	if !s0.From.Unix || len(s0.From.Prefixes) != 1 || s0.Header != "X-Forwarded-For" || s0.Recursive {
		t.Errorf("server 0 (top-level defaults): %+v", s0)
	}
	if s1.From.Unix || !s1.From.Contains(netip.MustParseAddr("192.0.2.1"), false) || s1.Header != "X-Forwarded-For" || !s1.Recursive {
		t.Errorf("server 1: %+v", s1)
	}
	if s2.Header != "X-Real-IP" || !s2.From.Unix {
		t.Errorf("server 2: %+v", s2)
	}
	d := mustParse(t, locYAML("")).Servers[0].RealIP
	if !d.From.Empty() || d.Header != "X-Real-IP" || d.Active() {
		t.Errorf("defaults: %+v", d)
	}
	for _, tt := range []struct{ yaml, want string }{
		{locYAML("set_real_ip_from: 10.0.0.1"), "not in a location"},
		{"set_real_ip_from: example.com\n" + locYAML(""), "set_real_ip_from"},
		{"real_ip_header: \"X Bad\"\n" + locYAML(""), "not a header name"},
		{"real_ip_recursive: maybe\n" + locYAML(""), "real_ip_recursive"},
	} {
		_, err := Parse([]byte(tt.yaml), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want an error with %q", tt.yaml, err, tt.want)
		}
	}
}

func TestLimitKeys(t *testing.T) {
	l := mustParse(t, locYAML("limit_req: {rate: 10r/s, burst: 20, nodelay: on}\n        limit_conn: 5\n        limit_req_status: 503")).Servers[0].Locations[0]
	if l.LimitReq != (LimitReq{Rate: limit.PerSecond(10), Burst: 20, NoDelay: true}) || l.LimitConn != 5 ||
		l.LimitReqStatus != 503 || l.LimitConnStatus != 429 || l.LimitZoneSize != 100000 {
		t.Errorf("limits: %+v %d %d %d %d", l.LimitReq, l.LimitConn, l.LimitReqStatus, l.LimitConnStatus, l.LimitZoneSize)
	}
	l = mustParse(t, "limit_req: {rate: 30r/m}\n"+locYAML("")).Servers[0].Locations[0]
	if l.LimitReq != (LimitReq{Rate: limit.PerMinute(30)}) {
		t.Errorf("inherited limit_req: %+v", l.LimitReq)
	}
	l = mustParse(t, "limit_req: {rate: 30r/m}\n"+locYAML("limit_req: off")).Servers[0].Locations[0]
	if l.LimitReq.Enabled() {
		t.Errorf("limit_req: off kept %+v", l.LimitReq)
	}
	for _, tt := range []struct{ extra, want string }{
		{"limit_req: {burst: 5}", "needs a rate"},
		{"limit_req: {rate: 10}", "rate"},
		{"limit_req: {rate: 0r/s}", "rate"},
		{"limit_req: {rate: 10r/h}", "rate"},
		{"limit_req: {rate: 10r/s, burst: -1}", "burst"},
		{"limit_req: {rate: 10r/s, zone: x}", "unknown key"},
		{"limit_req: 10r/s", "mapping"},
		{"limit_req_status: 200", "limit_req_status"},
		{"limit_conn: -1", "limit_conn"},
		{"limit_zone_size: 10", "limit_zone_size"},
	} {
		_, err := Parse([]byte(locYAML(tt.extra)), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want an error with %q", tt.extra, err, tt.want)
		}
	}
}

// FuzzParseListen checks that any listen value parses into addresses
// whose options follow them, or fails.
func FuzzParseListen(f *testing.F) {
	for _, s := range []string{"0.0.0.0:80 proxy_protocol", "unix:/run/h.sock", "127.0.0.1:0, [::1]:0 proxy_protocol", "proxy_protocol", "unix:", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ls, err := parseListen([]string{s})
		if err != nil {
			return
		}
		if len(ls) == 0 {
			t.Fatal("no listener and no error")
		}
		for _, l := range ls {
			switch l.Network {
			case "unix":
				if l.Path == "" || l.Addr != "unix:"+l.Path {
					t.Fatalf("%q: %+v", s, l)
				}
			case "tcp":
				if l.Path != "" || strings.ContainsAny(l.Addr, " \t\n") {
					t.Fatalf("%q: %+v", s, l)
				}
			default:
				t.Fatalf("%q: network %q", s, l.Network)
			}
		}
	})
}

// FuzzParseRate checks that a rate that parses is positive and names as
// many requests as it says.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"10r/s", "30r/m", "1r/m", "0r/s", "1000000r/s", "r/s", "-1r/s", " 5R/S "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if r <= 0 || r > limit.PerSecond(1_000_000) {
			t.Fatalf("%q: rate %d", s, r)
		}
	})
}

// TestClientAddressDocExamples parses every configuration example of
// docs/client-addresses.md.
func TestClientAddressDocExamples(t *testing.T) {
	data, err := os.ReadFile("../../docs/client-addresses.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(data), "```yaml\n")[1:]
	if len(blocks) < 4 {
		t.Fatalf("%d YAML examples, want at least 4", len(blocks))
	}
	for i, b := range blocks {
		text, _, _ := strings.Cut(b, "```")
		if _, err := Parse([]byte(text), "example"); err != nil {
			t.Errorf("example %d: %v\n%s", i+1, err, text)
		}
	}
}
