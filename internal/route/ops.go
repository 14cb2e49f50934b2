package route

import (
	"context"
	"net"
	"net/http"
	"net/netip"
)

// metricsAllowStage refuses a metrics request from a client metrics_allow
// does not list.
type metricsAllowStage struct{}

func (metricsAllowStage) Name() string { return "metrics_allow" }

func (metricsAllowStage) Run(_ context.Context, q *Request) *Refusal {
	if AllowedClient(q.Route.MetricsAllow, q.HTTP.RemoteAddr) {
		return nil
	}
	return refuse(http.StatusForbidden, "metrics_allow", "")
}

// AllowedClient reports whether the client at remote (host:port) is in
// one of allow.
func AllowedClient(allow []netip.Prefix, remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
