package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func opsYAML(top, loc string) string {
	loc = strings.ReplaceAll(loc, "; ", "\n        ")
	return top + "\nservers:\n  - listen: 127.0.0.1:8080\n    locations:\n      - location: = /x\n        " + loc + "\n"
}

func TestOpsKeys(t *testing.T) {
	pfx := func(s ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, x := range s {
			out = append(out, netip.MustParsePrefix(x))
		}
		return out
	}
	tests := []struct {
		name, top, loc string
		check          func(*Config, *Location) bool
	}{
		{"metrics loopback by default", "", "metrics: on", func(c *Config, l *Location) bool {
			return l.Metrics && slices.Equal(l.MetricsAllow, pfx("127.0.0.0/8", "::1/128")) && !l.ServesChannels()
		}},
		{"prometheus alias", "", "prometheus: on", func(c *Config, l *Location) bool { return l.Metrics }},
		{"metrics_allow list", "", "metrics: on; metrics_allow: [10.1.2.3/8, 192.0.2.1, loopback]", nil},
		{"metrics_allow all", "", "metrics: on; metrics_allow: all", func(c *Config, l *Location) bool {
			return slices.Equal(l.MetricsAllow, pfx("0.0.0.0/0", "::/0"))
		}},
		{"health live", "", "health: live", func(c *Config, l *Location) bool { return l.Health == HealthLive && !l.ServesChannels() }},
		{"health ready", "", "health: READY", func(c *Config, l *Location) bool { return l.Health == HealthReady }},
		{"access log off by default", "", "health: live", func(c *Config, l *Location) bool {
			return c.AccessLog == "" && c.AccessLogFormat == "combined" && c.AccessLogStreamFormat == "combined $request_time $messages_sent"
		}},
		{"access log to a file", "access_log: /var/log/herald.log\naccess_log_format: '$status $uri'", "health: live", func(c *Config, l *Location) bool {
			return c.AccessLog == "/var/log/herald.log" && c.AccessLogFormat == "$status $uri"
		}},
		{"access log off", "access_log: off", "health: live", func(c *Config, l *Location) bool { return c.AccessLog == "" }},
		{"memory trim on by default", "", "health: live", func(c *Config, l *Location) bool { return c.MemoryTrim }},
		{"memory trim off", "memory_trim: off", "health: live", func(c *Config, l *Location) bool { return !c.MemoryTrim }},
		{"fast HTTP/1.1 on by default", "", "health: live", func(c *Config, l *Location) bool { return c.HTTP1Fast }},
		{"fast HTTP/1.1 off", "fast_http1: off", "health: live", func(c *Config, l *Location) bool { return !c.HTTP1Fast }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(opsYAML(tt.top, tt.loc)), "t.yaml")
			if err != nil {
				t.Fatal(err)
			}
			l := &c.Servers[0].Locations[0]
			if tt.name == "metrics_allow list" {
				if !slices.Equal(l.MetricsAllow, pfx("10.0.0.0/8", "192.0.2.1/32", "127.0.0.0/8", "::1/128")) {
					t.Errorf("metrics_allow = %v", l.MetricsAllow)
				}
				return
			}
			if !tt.check(c, l) {
				t.Errorf("got %+v / access_log %q format %q", l, c.AccessLog, c.AccessLogFormat)
			}
		})
	}
}

func TestOpsKeyErrors(t *testing.T) {
	tests := []struct{ top, loc, want string }{
		{"", "metrics: on; metrics_allow: [nowhere]", "metrics_allow"},
		{"", "health: maybe", "health"},
		{"access_log_format: '$nope'", "health: live", "unknown variable $nope"},
		{"access_log_stream_format: '${'", "health: live", "unterminated"},
		{"", "health: live; access_log: stderr", "top level"},
		{"memory_trim: sometimes", "health: live", "memory_trim"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(opsYAML(tt.top, tt.loc)), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q / %q: error %v, want one about %q", tt.top, tt.loc, err, tt.want)
		}
	}
}
