package config

import (
	"errors"
	"net/netip"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/heraldpush/herald/internal/clientaddr"
)

// dashboardDirectives are the keys of the dashboard (docs/dashboard.md).
func dashboardDirectives() []Directive {
	return []Directive{
		{
			Name: "dashboard", Default: "off",
			Doc:    "Makes the location Herald's dashboard: a web page (under the location's path) with live channels, subscribers per transport, publish and delivery rates, delivery lag, memory, Redis state and recent slow-subscriber disconnects, updated every second over EventSource, and a form to publish to a channel and watch it arrive. See docs/dashboard.md.",
			setLoc: boolKey(func(l *Location) *bool { return &l.Dashboard }),
		},
		{
			Name: "dashboard_allow", Default: "127.0.0.0/8 ::1/128 unix:",
			Doc: "Clients a `dashboard` location answers: addresses, CIDR prefixes and `unix:` (every client on a Unix socket listener), space-separated or a list; `any` (or `all`) for every client. Others get 403. By default loopback and Unix socket clients only. The address is the client's as Herald finds it (docs/client-addresses.md): behind a proxy, the proxy's, unless `set_real_ip_from` trusts it.",
			setLoc: func(l *Location, n *yaml.Node) error {
				vals, err := scalars(n, true)
				if err != nil {
					return err
				}
				t, err := ParseAllow(vals)
				if err != nil {
					return nodeErr(n, "dashboard_allow %v", err)
				}
				l.DashboardAllow = t
				return nil
			},
		},
	}
}

// ParseAllow reads a list of allowed clients: addresses, CIDR prefixes,
// "unix:", and "any" or "all" for every client.
func ParseAllow(vals []string) (clientaddr.Trusted, error) {
	var out clientaddr.Trusted
	for _, v := range vals {
		if strings.EqualFold(v, "any") || strings.EqualFold(v, "all") {
			out.Prefixes = append(out.Prefixes, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"))
			out.Unix = true
			continue
		}
		t, err := clientaddr.ParseTrusted([]string{v})
		if err != nil {
			return clientaddr.Trusted{}, errors.New(strings.Replace(err.Error(), "set_real_ip_from ", "", 1) + ", or any")
		}
		out.Prefixes = append(out.Prefixes, t.Prefixes...)
		out.Unix = out.Unix || t.Unix
	}
	return out, nil
}

// validateDashboard checks a dashboard location: it has no other role.
func (l *Location) validateDashboard() error {
	if l.StubStatus || l.ChannelList || l.Publisher.Enabled() || l.Subscriber != 0 || l.GroupLocation != 0 || !l.ProxyPass.IsEmpty() ||
		l.Metrics || l.Health != "" {
		return errors.New("dashboard goes in a location of its own, without publisher, subscriber, pubsub, group_location, stub_status, channel_list, metrics, health or proxy_pass")
	}
	return nil
}
