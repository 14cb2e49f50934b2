package route

import (
	"context"
	"net"
	"net/http"
	"net/netip"
)

// List is what a channel_list location allows.
type List struct {
	// Allow are the client addresses the listing answers
	// (channel_list_allow); loopback only by default.
	Allow []netip.Prefix
}

// Allows reports whether a client at remote (host:port, as
// http.Request.RemoteAddr) may read the listing.
func (l *List) Allows(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range l.Allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// listAccessStage refuses a channel listing to clients channel_list_allow
// does not name.
type listAccessStage struct{}

func (listAccessStage) Name() string { return "list access" }

func (listAccessStage) Run(_ context.Context, q *Request) *Refusal {
	if q.Route.List.Allows(q.HTTP.RemoteAddr) {
		return nil
	}
	return refuse(http.StatusForbidden, "list access", "Channel listing is not allowed from this address.")
}
