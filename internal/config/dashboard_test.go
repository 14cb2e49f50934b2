package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/heraldpush/herald/internal/clientaddr"
)

// TestDashboardKeys: dashboard and dashboard_allow, with the loopback and
// Unix socket default.
func TestDashboardKeys(t *testing.T) {
	c, err := Parse([]byte(`servers:
  - listen: 127.0.0.1:8080
    locations:
      - location: /d1
        dashboard: on
      - location: /d2
        dashboard: on
        dashboard_allow: any
      - location: /d3
        dashboard: on
        dashboard_allow: [10.0.0.0/8, "2001:db8::1"]
      - location: /d4
        dashboard: on
        dashboard_allow: "192.168.1.7 unix:"
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := func(unix bool, prefixes ...string) clientaddr.Trusted {
		t := clientaddr.Trusted{Unix: unix}
		for _, p := range prefixes {
			t.Prefixes = append(t.Prefixes, netip.MustParsePrefix(p))
		}
		return t
	}
	locs := c.Servers[0].Locations
	for i, w := range []clientaddr.Trusted{
		want(true, "127.0.0.0/8", "::1/128"),
		want(true, "0.0.0.0/0", "::/0"),
		want(false, "10.0.0.0/8", "2001:db8::1/128"),
		want(true, "192.168.1.7/32"),
	} {
		l := locs[i]
		if !l.Dashboard || l.DashboardAllow.Unix != w.Unix || !slices.Equal(l.DashboardAllow.Prefixes, w.Prefixes) {
			t.Errorf("%s: dashboard %v, allow %+v; want on, %+v", l.Pattern, l.Dashboard, l.DashboardAllow, w)
		}
	}
}

// TestDashboardErrors: a dashboard has no other role; dashboard_allow
// names the line of a bad entry.
func TestDashboardErrors(t *testing.T) {
	for _, tt := range []struct {
		name, loc string
		want      []string
	}{
		{"pubsub too", "location: /d\n        dashboard: on\n        pubsub: true\n        channel_id: x", []string{"test.yaml:4:", "dashboard goes in a location of its own"}},
		{"channel_list too", "location: /d\n        dashboard: on\n        channel_list: on", []string{"dashboard goes in a location of its own"}},
		{"proxy_pass too", "location: /d\n        dashboard: on\n        proxy_pass: http://127.0.0.1:9/", []string{"dashboard goes in a location of its own"}},
		{"bad prefix", "location: /d\n        dashboard: on\n        dashboard_allow: 10.0.0.0/33", []string{"test.yaml:6:", "dashboard_allow", "10.0.0.0/33"}},
		{"bad word", "location: /d\n        dashboard: on\n        dashboard_allow: [127.0.0.1, everyone]", []string{"dashboard_allow", "everyone"}},
	} {
		_, err := Parse([]byte("servers:\n  - listen: 127.0.0.1:8080\n    locations:\n      - "+tt.loc+"\n"), "test.yaml")
		if err == nil {
			t.Errorf("%s: accepted", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tt.name, err, w)
			}
		}
	}
}

// FuzzParseAllow: any list of entries parses or fails without panicking,
// and what parses contains the addresses it names.
func FuzzParseAllow(f *testing.F) {
	for _, s := range []string{"any", "127.0.0.1", "10.0.0.0/8", "::1", "2001:db8::/32", "unix:", "ALL", "10.0.0.0/33", "::ffff:10.1.2.3/104", "fe80::1%eth0", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseAllow(strings.Fields(s))
		if err != nil {
			return
		}
		for _, e := range strings.Fields(s) {
			if a, err := netip.ParseAddr(e); err == nil && a.Zone() == "" && !got.Contains(a, false) {
				t.Errorf("ParseAllow(%q) does not contain %s", s, a)
			}
		}
	})
}
