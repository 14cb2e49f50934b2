package server

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/heraldpush/herald/internal/clientaddr"
	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/hook"
	"github.com/heraldpush/herald/internal/location"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

// router is one server block's locations, provisioned into routes: what a
// request is matched against. A server holds one per block and replaces it
// whole, so a request sees one configuration from start to end.
type router struct {
	matcher *location.Matcher
	routes  []*route.Route
	// proxies holds the HTTP client of each proxy_pass route.
	proxies map[*route.Route]*http.Transport
	// realIP finds the client behind the block's trusted proxies.
	realIP clientaddr.Resolver
}

// newRouter provisions the routes of a server block.
func newRouter(sc *config.Server, storeFor StoreFor) (*router, error) {
	rr := &router{realIP: sc.RealIP}
	pats := make([]location.Pattern, len(sc.Locations))
	for i := range sc.Locations {
		l := &sc.Locations[i]
		pats[i] = l.Pattern
		var st store.Store
		if l.ServesChannels() && l.ProxyPass.IsEmpty() { // a status, metrics, health page or a proxy keeps none
			var err error
			if st, err = storeFor(l); err != nil {
				return nil, err
			}
			if l.ChannelGroupAccounting && !route.AccountsGroups(st) {
				return nil, fmt.Errorf("location %s (line %d): channel_group_accounting: its store keeps no group counts", l.Pattern, l.Line)
			}
		}
		rt := route.Provision(l, st)
		rr.routes = append(rr.routes, rt)
		if rt.Proxy != nil {
			if rr.proxies == nil {
				rr.proxies = map[*route.Route]*http.Transport{}
			}
			rr.proxies[rt] = newProxyTransport(rt.Proxy)
		}
	}
	rr.matcher = location.NewMatcher(pats)
	return rr, nil
}

// ServeHTTP matches a request to its route, runs it through the route's
// stages and hands it to its role.
func (ep *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ep.s.events.Wants(events.HookCalled) {
		r = r.WithContext(hook.WithObserver(r.Context(), ep.s.hookCalled))
	}
	if l := ep.s.alog.Load(); l != nil {
		lw := &logWriter{ResponseWriter: w, r: r, log: l, start: ep.s.now()}
		ep.serve(lw, r)
		lw.done(ep.s.now())
		return
	}
	ep.serve(w, r)
}

// serve is ServeHTTP without the access log.
func (ep *endpoint) serve(w http.ResponseWriter, r *http.Request) {
	s := ep.s
	if s.handover.started.Load() {
		// Another process accepts now: the client's next request goes there.
		w.Header().Set("Connection", "close")
	}
	rr := ep.block.Load().router
	r.RemoteAddr = rr.clientAddr(r)
	s.dispatch(w, r, rr, 0)
}

// dispatch serves a request with a router; redirects counts the internal
// redirects (X-Accel-Redirect, see proxy.go) that led the request here,
// and an internal location serves only those.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, rr *router, redirects int) {
	i, caps, ok := rr.matcher.Match(r.URL.Path)
	if !ok || rr.routes[i].Internal && redirects == 0 {
		plainError(w, http.StatusNotFound, "No location matches this path.")
		return
	}
	if rt := rr.routes[i]; rt.HeraldJS || rt.Root != "" || rt.Multiplex && wantsMux(r) || rt.Batch && isBatch(r) {
		// Served before any role: the browser client, a directory's
		// files, a herald.v1 WebSocket, a batch publish (mux.go,
		// files.go, batch.go).
		s.serveExtra(w, r, rt, caps)
		return
	}
	if rr.routes[i].Proxy != nil {
		// The origin check and per-client limits guard a proxy_pass
		// location too; the application decides the rest.
		q, rf := rr.routes[i].Guard(r.Context(), r, caps)
		defer q.Done()
		if rf != nil {
			q.SetCORS(w.Header())
			s.refuse(w, q, rf)
			return
		}
		s.proxy(w, r, rr, rr.routes[i], caps, redirects)
		return
	}
	q, rf := rr.routes[i].Prepare(r.Context(), r, caps)
	defer q.Done()        // what the stages hold, unless a session took it over
	q.SetCORS(w.Header()) // on every answer, errors included
	if rf != nil {
		s.refuse(w, q, rf)
		return
	}
	s.roles[q.Role](w, q)
}

// roleHandler serves a request its route prepared for a role.
type roleHandler func(w http.ResponseWriter, q *route.Request)

// roleHandlers returns the server's handler of each role.
func (s *Server) roleHandlers() [route.NumRoles]roleHandler {
	return [route.NumRoles]roleHandler{
		route.Refused:       func(w http.ResponseWriter, _ *route.Request) { plainError(w, http.StatusForbidden, "") },
		route.Subscribe:     s.subscribe,
		route.Publish:       s.publishHTTP,
		route.Info:          s.info,
		route.Delete:        s.delete,
		route.PublishSocket: func(w http.ResponseWriter, q *route.Request) { s.websocket(w, q, nil) },
		route.Options:       s.options,
		route.Status:        func(w http.ResponseWriter, q *route.Request) { s.stubStatus(w, q.HTTP) },
		route.GroupLocation: s.group,
		route.ChannelList:   s.channelList,
		route.Metrics:       s.serveMetrics,
		route.Health:        s.serveHealth,
		route.Dashboard:     s.dashboard,
		route.PSPublisher:   s.psPublisher,
		route.PSSubscriber:  s.psSubscriber,
		route.PSStatistics:  s.psStatistics,
	}
}

// options answers OPTIONS (a CORS preflight) with what the location
// accepts.
func (s *Server) options(w http.ResponseWriter, q *route.Request) {
	q.Route.Preflight(w.Header(), q.HTTP)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// copyCORS copies the CORS headers the router set on a request's answer
// (route.Request.SetCORS) into the head of an answer written by hand, on
// a hijacked connection.
func copyCORS(dst, src http.Header) {
	for _, k := range [...]string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials"} {
		if v, ok := src[k]; ok {
			dst[k] = v
		}
	}
}

// refuse answers a request a route's stages refused.
func (s *Server) refuse(w http.ResponseWriter, q *route.Request, rf *route.Refusal) {
	for k, v := range rf.Header {
		w.Header()[k] = v
	}
	if q.Role == route.Subscribe {
		e := events.Event{Kind: events.SubscriberRefused, Transport: route.SubscriberType(q.Transport), Location: q.Route.Name,
			Remote: q.HTTP.RemoteAddr, Status: rf.Status, Reason: rf.Reason, Channels: len(q.Channels)}
		if len(q.Channels) > 0 {
			e.Group, e.Channel = q.Channels[0].Key.Group, q.Channels[0].Key.ID
		}
		s.emit(e)
	} else {
		s.emit(events.Event{Kind: events.RequestRefused, Transport: q.Role.String(), Location: q.Route.Name,
			Remote: q.HTTP.RemoteAddr, Status: rf.Status, Reason: rf.Reason, Channels: len(q.Channels)})
	}
	if rf.Reason == "authorize" && (q.Transport == config.LongPoll || q.Transport == config.IntervalPoll) && q.Role == route.Subscribe {
		// Nchan's poll subscriber answers the refusal itself, with the id
		// headers of the request (Etag, Vary).
		var id msgid.Multi
		if q.Cursor.Given {
			id = msgid.FromCursors(q.Cursor.IDs, max(q.Cursor.Active, 0))
		}
		pollHeaders(w.Header(), q, id, rf.Status)
	}
	if rf.Err != nil {
		s.log.Warn("request refused", "location", q.Route.Name, "reason", rf.Reason, "status", rf.Status, "err", rf.Err)
	}
	if rf.Verbatim {
		w.Header().Set("Content-Length", strconv.Itoa(len(rf.Body)))
		w.WriteHeader(rf.Status)
		w.Write(rf.Body)
		return
	}
	if rf.Raw {
		nchanText(w, rf.Status, rf.Message)
		return
	}
	plainError(w, rf.Status, rf.Message)
}
