package route

import (
	"context"
	"net/http"

	"github.com/heraldpush/herald/internal/clientaddr"
)

// List is what a channel_list location allows.
type List struct {
	// Allow are the clients the listing answers (channel_list_allow):
	// loopback and Unix socket clients by default.
	Allow clientaddr.Trusted
}

// Allows reports whether a client at remote (http.Request.RemoteAddr:
// "ip:port", or "unix:" for a Unix socket client) may read the listing.
func (l *List) Allows(remote string) bool {
	ap, unix, ok := clientaddr.ParseRemote(remote)
	return ok && l.Allow.Contains(ap.Addr(), unix)
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
