package bench

import (
	"net"
	"strings"
	"testing"
)

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		tmpl    string
		addr    string // "" when refused
		host    string
		errHas  string
		uri     string // request target for channel "a b/c"
		wsURL   string
		httpURL string
	}{
		{tmpl: "http://127.0.0.1:8080/sub/{ch}", addr: "127.0.0.1:8080", host: "127.0.0.1:8080",
			uri: "/sub/a%20b%2Fc", wsURL: "ws://127.0.0.1:8080/sub/a%20b%2Fc", httpURL: "http://127.0.0.1:8080/sub/a%20b%2Fc"},
		{tmpl: "http://localhost:9000/pub?id={ch}", addr: "127.0.0.1:9000", host: "localhost:9000", uri: "/pub?id=a%20b%2Fc"},
		{tmpl: "http://LOCALHOST/sub/{ch}", addr: "127.0.0.1:80", host: "LOCALHOST", uri: "/sub/a%20b%2Fc"},
		{tmpl: "http://127.3.4.5:81/s/{ch}/x", addr: "127.3.4.5:81", host: "127.3.4.5:81", uri: "/s/a%20b%2Fc/x"},
		{tmpl: "http://[::1]:8080/sub/{ch}", addr: "[::1]:8080", host: "[::1]:8080", uri: "/sub/a%20b%2Fc"},
		{tmpl: "ws://127.0.0.1:8080/sub/{ch}", addr: "127.0.0.1:8080", host: "127.0.0.1:8080",
			wsURL: "ws://127.0.0.1:8080/sub/a%20b%2Fc", httpURL: "http://127.0.0.1:8080/sub/a%20b%2Fc"},
		{tmpl: "http://10.0.0.1:8080/sub/{ch}", errHas: "not a loopback address"},
		{tmpl: "http://192.168.1.1/sub/{ch}", errHas: "not a loopback address"},
		{tmpl: "http://[2001:db8::1]/sub/{ch}", errHas: "not a loopback address"},
		{tmpl: "http://0.0.0.0:8080/sub/{ch}", errHas: "not a loopback address"},
		{tmpl: "http://example.com/sub/{ch}", errHas: "not a loopback IP address or localhost"},
		{tmpl: "http://localhost.example.com/sub/{ch}", errHas: "not a loopback IP address or localhost"},
		{tmpl: "http://127.0.0.1.nip.io/sub/{ch}", errHas: "not a loopback IP address or localhost"},
		{tmpl: "https://127.0.0.1/sub/{ch}", errHas: "want an http:// URL"},
		{tmpl: "http://127.0.0.1:8080/sub/chat", errHas: "no {ch} placeholder"},
		{tmpl: "http://{ch}.127.0.0.1/sub/{ch}", errHas: "not the host"},
		{tmpl: "/sub/{ch}", errHas: "want an http:// URL"},
		{tmpl: "http:///sub/{ch}", errHas: "no host"},
	}
	for _, tt := range tests {
		t.Run(tt.tmpl, func(t *testing.T) {
			e, err := parseEndpoint("sub", tt.tmpl)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("got %v, want an error containing %q", err, tt.errHas)
				}
				if !strings.Contains(err.Error(), "--sub") {
					t.Fatalf("error %q does not name the flag", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.addr != tt.addr || e.host != tt.host {
				t.Fatalf("addr %q host %q, want %q %q", e.addr, e.host, tt.addr, tt.host)
			}
			if tt.uri != "" && e.requestURI("a b/c") != tt.uri {
				t.Fatalf("request URI %q, want %q", e.requestURI("a b/c"), tt.uri)
			}
			if tt.wsURL != "" && e.wsURL("a b/c") != tt.wsURL {
				t.Fatalf("ws URL %q, want %q", e.wsURL("a b/c"), tt.wsURL)
			}
			if tt.httpURL != "" && e.httpURL("a b/c") != tt.httpURL {
				t.Fatalf("http URL %q, want %q", e.httpURL("a b/c"), tt.httpURL)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	tests := []struct{ tmpl, ch, want string }{
		{"http://127.0.0.1/sub/{ch}", "chat", "http://127.0.0.1/sub/chat"},
		{"http://127.0.0.1/sub/{ch}", "bench-1", "http://127.0.0.1/sub/bench-1"},
		{"http://127.0.0.1/sub?id={ch}&x={ch}", "a", "http://127.0.0.1/sub?id=a&x=a"},
		{"http://127.0.0.1/sub/{ch}", "a?b#c", "http://127.0.0.1/sub/a%3Fb%23c"},
	}
	for _, tt := range tests {
		if got := expand(tt.tmpl, tt.ch); got != tt.want {
			t.Errorf("expand(%q, %q) = %q, want %q", tt.tmpl, tt.ch, got, tt.want)
		}
	}
}

func TestConfigValidateRefusesRemote(t *testing.T) {
	cfg, err := DefaultConfig(ScenarioFanout)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Pub = "http://203.0.113.7/pub/{ch}"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--pub") || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("got %v, want a loopback error naming --pub", err)
	}
	if _, err := DefaultConfig("nope"); err == nil {
		t.Fatal("unknown scenario accepted")
	}
	cfg, _ = DefaultConfig(ScenarioIdle)
	cfg.Transport = TransportChunked
	if err := cfg.Validate(); err == nil {
		t.Fatal("idle over chunked accepted")
	}
}

// TestConfigPushStream: --pushstream keeps the template's envelope
// before a body, and only with transports that deliver whole messages.
func TestConfigPushStream(t *testing.T) {
	for _, tt := range []struct {
		transport string
		ok        bool
	}{
		{TransportEventSource, true},
		{TransportWebSocket, true},
		{TransportLongPoll, false},
	} {
		cfg, _ := DefaultConfig(ScenarioIdle)
		cfg.Transport, cfg.PushStream = tt.transport, true
		if err := cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("--pushstream --transport %s: %v", tt.transport, err)
		}
		if cfg.keep() != bodyPrefix+pushStreamEnvelope {
			t.Errorf("keep %d", cfg.keep())
		}
	}
	cfg, _ := DefaultConfig(ScenarioIdle)
	if cfg.keep() != bodyPrefix {
		t.Errorf("keep without --pushstream %d, want %d", cfg.keep(), bodyPrefix)
	}
}

func TestPlanSources(t *testing.T) {
	v4 := net.IPv4(127, 0, 0, 1)
	v6 := net.ParseIP("::1")
	tests := []struct {
		name   string
		ip     net.IP
		conns  int
		ports  int
		force  int
		used   map[string]int
		want   []string
		errHas string
	}{
		{name: "fits one address", ip: v4, conns: 10000, ports: 28232},
		{name: "just fits", ip: v4, conns: 14116, ports: 28232},
		{name: "needs two", ip: v4, conns: 14117, ports: 28232, want: []string{"127.0.0.1", "127.0.0.2"}},
		{name: "needs eight", ip: v4, conns: 100000, ports: 28232,
			want: []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7", "127.0.0.8"}},
		{name: "small port range", ip: v4, conns: 1200, ports: 1000, want: []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}},
		{name: "forced", ip: v4, conns: 10, ports: 28232, force: 3, want: []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}},
		{name: "forced ignores use", ip: v4, conns: 10, ports: 28232, force: 2, used: map[string]int{"127.0.0.1": 28000},
			want: []string{"127.0.0.1", "127.0.0.2"}},
		{name: "ipv6 fits", ip: v6, conns: 100, ports: 28232},
		{name: "ipv6 too many", ip: v6, conns: 60000, ports: 28232, errHas: "IPv4 loopback"},
		{name: "ipv6 forced", ip: v6, conns: 10, ports: 28232, force: 2, errHas: "IPv4 loopback"},
		{name: "too many", ip: v4, conns: 10_000_000, ports: 28232, errHas: "more than 253"},
		{name: "ports taken on the first", ip: v4, conns: 20000, ports: 28232, used: map[string]int{"127.0.0.1": 20000},
			want: []string{"127.0.0.2", "127.0.0.3"}},
		{name: "ports taken on two", ip: v4, conns: 40000, ports: 28232, used: map[string]int{"127.0.0.1": 20000, "127.0.0.2": 10000},
			want: []string{"127.0.0.3", "127.0.0.4", "127.0.0.5"}},
		{name: "ports taken, still fits", ip: v4, conns: 5000, ports: 28232, used: map[string]int{"127.0.0.1": 7000}},
		{name: "first address full", ip: v4, conns: 10, ports: 28232, used: map[string]int{"127.0.0.1": 28232}, want: []string{"127.0.0.2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := planSources(tt.ip, tt.conns, tt.ports, tt.force, func(ip net.IP) int { return tt.used[ip.String()] })
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("got %v, want error with %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(ipStrings(got), ",") != strings.Join(tt.want, ",") {
				t.Fatalf("got %v, want %v", ipStrings(got), tt.want)
			}
		})
	}
}
