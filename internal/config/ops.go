package config

import (
	"fmt"
	"net/netip"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/heraldpush/herald/internal/accesslog"
)

// Health roles of a location (the health key).
const (
	HealthLive  = "live"
	HealthReady = "ready"
)

// ServesChannels reports whether the location keeps channels (a publisher
// or subscriber location), rather than being a status, metrics, health or
// dashboard endpoint, which needs no store.
func (l *Location) ServesChannels() bool {
	return !l.StubStatus && !l.Metrics && l.Health == "" && !l.Dashboard
}

// Loopback are the addresses a metrics location answers by default.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

func setMetricsAllow(l *Location, n *yaml.Node) error {
	vals, err := scalars(n, true)
	if err != nil {
		return err
	}
	var out []netip.Prefix
	for _, v := range vals {
		switch strings.ToLower(v) {
		case "all", "any":
			out = append(out, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"))
			continue
		case "loopback", "localhost":
			out = append(out, loopback...)
			continue
		}
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nodeErr(n, "metrics_allow %q: want an address, a network (10.0.0.0/8), loopback or all", v)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	l.MetricsAllow = out
	return nil
}

func setHealth(l *Location, n *yaml.Node) error {
	s, err := scalar(n)
	if err != nil {
		return err
	}
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case "off", "false", "no", "":
		l.Health = ""
	case HealthLive, HealthReady:
		l.Health = v
	default:
		return nodeErr(n, "health %q: want live, ready or off", s)
	}
	return nil
}

func setAccessLog(c *Config, n *yaml.Node) error {
	s, err := scalar(n)
	if err != nil {
		return err
	}
	s = strings.TrimSpace(s)
	if b, err := ParseBool(s); err == nil && !b || s == "" {
		c.AccessLog = ""
		return nil
	}
	c.AccessLog = s
	return nil
}

func formatKey(get func(*Config) *string) func(*Config, *yaml.Node) error {
	return func(c *Config, n *yaml.Node) error {
		s, err := scalar(n)
		if err != nil {
			return err
		}
		if _, err := accesslog.Compile(s); err != nil {
			return nodeErr(n, "%v", err)
		}
		*get(c) = s
		return nil
	}
}

// accessLogDoc lists the access log's variables.
func accessLogDoc() string {
	return fmt.Sprintf("Variables: %s (`$http_NAME` is any request header, dashes written as underscores; an empty value is logged as `-`).",
		"`"+strings.Join(accesslog.Variables(), "`, `")+"`")
}
