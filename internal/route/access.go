package route

import (
	"context"
	"net/http"
	"strings"

	"github.com/heraldpush/herald/internal/config"
)

// Access is a location's cross-origin policy
// (access_control_allow_origin, access_control_allow_credentials).
type Access struct {
	// Origins may use the location; empty allows any, "*" too.
	Origins     []string
	Credentials bool
	// anyOrigin answers Access-Control-Allow-Origin: * rather than the
	// request's origin.
	anyOrigin bool
	// expose is the Access-Control-Expose-Headers value.
	expose string
}

func newAccess(l *config.Location) Access {
	a := Access{Credentials: l.AllowCredentials, anyOrigin: len(l.AllowOrigin) == 1 && l.AllowOrigin[0] == "*"}
	for _, o := range l.AllowOrigin {
		a.Origins = append(a.Origins, strings.TrimSuffix(o, "/"))
	}
	etag := "Etag"
	if l.CustomEtagHeader != "" {
		etag = l.CustomEtagHeader
	}
	a.expose = "Last-Modified, " + etag + ", Content-Type"
	return a
}

// restricted reports whether some origins are refused.
func (a *Access) restricted() bool {
	if len(a.Origins) == 0 {
		return false
	}
	for _, o := range a.Origins {
		if o == "*" {
			return false
		}
	}
	return true
}

// Allowed reports whether a cross-origin request from origin may use the
// location.
func (a *Access) Allowed(origin string) bool {
	if !a.restricted() {
		return true
	}
	for _, o := range a.Origins {
		if strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// SetCORS adds the CORS response headers for a request with an Origin.
func (a *Access) SetCORS(hd http.Header, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	if a.anyOrigin {
		hd.Set("Access-Control-Allow-Origin", "*")
	} else {
		hd.Set("Access-Control-Allow-Origin", origin)
	}
	if a.Credentials {
		hd.Set("Access-Control-Allow-Credentials", "true")
	}
	hd.Set("Access-Control-Expose-Headers", a.expose)
}

// Preflight sets the headers of an answer to OPTIONS: the methods and
// request headers the location accepts from other origins.
func (rt *Route) Preflight(hd http.Header, r *http.Request) {
	hd.Set("Allow", rt.Allow)
	if r.Header.Get("Origin") == "" {
		return
	}
	rt.Access.SetCORS(hd, r)
	hd.Del("Access-Control-Expose-Headers")
	const subscriberHeaders = "If-None-Match, If-Modified-Since, Content-Type, Cache-Control, X-EventSource-Event, Etag, Last-Event-ID"
	switch {
	case rt.Publisher.HTTP && rt.Subscriber.Transports != 0:
		hd.Set("Access-Control-Allow-Headers", subscriberHeaders)
		hd.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
	case rt.Publisher.HTTP:
		hd.Set("Access-Control-Allow-Headers", "Content-Type")
		hd.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
	default:
		hd.Set("Access-Control-Allow-Headers", subscriberHeaders)
		hd.Set("Access-Control-Allow-Methods", "GET")
	}
}

// originStage refuses requests from origins the location does not allow.
type originStage struct{}

func (originStage) Name() string { return "access" }

func (originStage) Run(_ context.Context, q *Request) *Refusal {
	if origin := q.HTTP.Header.Get("Origin"); origin != "" && !q.Route.Access.Allowed(origin) {
		return refuse(http.StatusForbidden, "origin", "Origin not allowed.")
	}
	return nil
}
