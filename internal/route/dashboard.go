package route

import (
	"context"
	"net/http"

	"github.com/heraldpush/herald/internal/clientaddr"
)

// dashboardStage refuses a dashboard request from a client the location
// does not allow (dashboard_allow; loopback and Unix socket clients by
// default) with 403. It runs first on a dashboard location: the page
// shows what every channel carries, so who may see it is decided before
// anything else.
type dashboardStage struct {
	allow clientaddr.Trusted
}

func (dashboardStage) Name() string { return "dashboard access" }

func (st dashboardStage) Run(_ context.Context, q *Request) *Refusal {
	if DashboardAllows(st.allow, q.HTTP.RemoteAddr) {
		return nil
	}
	return refuse(http.StatusForbidden, "dashboard access", "The dashboard does not answer this client.")
}

// DashboardAllows reports whether a client (an http.Request's RemoteAddr)
// is in allow.
func DashboardAllows(allow clientaddr.Trusted, remote string) bool {
	a, unix, ok := clientaddr.ParseRemote(remote)
	return ok && allow.Contains(a.Addr(), unix)
}
