package route

import (
	"context"
	"net/http"
	"strings"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/location"
)

// Access is a location's cross-origin policy
// (access_control_allow_origin, access_control_allow_credentials).
type Access struct {
	// Origins are the access_control_allow_origin values, evaluated for
	// each request and split at spaces; none configured: any origin may
	// use the location.
	Origins     []location.Expr
	Credentials bool
	// static holds the entries when no value has a variable, split once.
	static   []string
	variable bool
	// expose is the Access-Control-Expose-Headers value.
	expose string
	// tokenHeaders are the request headers a token may come in
	// (Authorization, a token_from header), added to a preflight's
	// Access-Control-Allow-Headers.
	tokenHeaders string
}

func newAccess(l *config.Location) Access {
	a := Access{Origins: l.AllowOrigin, Credentials: l.AllowCredentials}
	for _, e := range l.AllowOrigin {
		if !e.IsLiteral() {
			a.variable = true
		}
	}
	if !a.variable {
		a.static = originEntries(nil, a.Origins, location.Request{})
	}
	etag := "Etag"
	if l.CustomEtagHeader != "" {
		etag = l.CustomEtagHeader
	}
	a.expose = "Last-Modified, " + etag + ", Content-Type"
	return a
}

// originEntries appends to dst the allowed origins the values give for a
// request: each value split at spaces.
func originEntries(dst []string, values []location.Expr, vars location.Request) []string {
	for _, e := range values {
		dst = append(dst, strings.Fields(e.Eval(vars))...)
	}
	return dst
}

// Allow decides whether a request from origin may use the location, and
// what its answers send as Access-Control-Allow-Origin: "*" when the
// location's value is exactly "*", the request's origin otherwise (also
// when it is refused, as Nchan answers). An entry "*" allows any origin;
// an empty value (a variable that is empty for this request) allows none.
func (a *Access) Allow(vars location.Request, origin string) (ok bool, allowOrigin string) {
	if len(a.Origins) == 0 {
		return true, origin
	}
	entries := a.static
	if a.variable {
		entries = originEntries(make([]string, 0, 4), a.Origins, vars)
	}
	if len(entries) == 1 && entries[0] == "*" {
		return true, "*"
	}
	for _, o := range entries {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true, origin
		}
	}
	return false, origin
}

// SetCORS adds the headers every answer to a cross-origin request carries,
// errors included: Access-Control-Allow-Origin and, unless
// access_control_allow_credentials is off,
// Access-Control-Allow-Credentials. It does nothing for a request without
// an Origin, or one that did not get through the access stage (a path no
// location matches).
func (q *Request) SetCORS(hd http.Header) {
	if q.allowOrigin == "" {
		return
	}
	hd.Set("Access-Control-Allow-Origin", q.allowOrigin)
	if q.Route.Access.Credentials {
		hd.Set("Access-Control-Allow-Credentials", "true")
	}
}

// ExposeIDs adds Access-Control-Expose-Headers (Last-Modified, the id
// header, Content-Type) to a cross-origin answer that carries a message
// id in its headers: what Nchan's long-poll and interval-poll subscribers
// answer, whatever the status.
func (q *Request) ExposeIDs(hd http.Header) {
	if q.allowOrigin != "" {
		hd.Set("Access-Control-Expose-Headers", q.Route.Access.expose)
	}
}

// Preflight sets the headers of an answer to OPTIONS: the methods and
// request headers the location accepts from other origins (the CORS
// headers themselves are every answer's, see SetCORS).
func (rt *Route) Preflight(hd http.Header, r *http.Request) {
	hd.Set("Allow", rt.Allow)
	if r.Header.Get("Origin") == "" {
		return
	}
	const subscriberHeaders = "If-None-Match, If-Modified-Since, Content-Type, Cache-Control, X-EventSource-Event, Etag, Last-Event-ID"
	switch {
	case rt.GroupOps != 0:
		hd.Set("Access-Control-Allow-Headers", "Accept, Content-Type")
		hd.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
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
	if rt.Access.tokenHeaders != "" {
		hd.Set("Access-Control-Allow-Headers", hd.Get("Access-Control-Allow-Headers")+", "+rt.Access.tokenHeaders)
	}
}

// originStage decides a cross-origin request's access: it refuses origins
// the location does not allow (403, with an empty body) and records what
// every answer's Access-Control-Allow-Origin is.
type originStage struct{}

func (originStage) Name() string { return "access" }

func (originStage) Run(_ context.Context, q *Request) *Refusal {
	origin := q.HTTP.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	ok, allow := q.Route.Access.Allow(q.Vars(), origin)
	if !q.Route.Status { // a status page answers without CORS headers
		q.allowOrigin = allow
	}
	if !ok {
		return refuse(http.StatusForbidden, "origin", "")
	}
	return nil
}
