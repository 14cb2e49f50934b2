package server

import (
	"fmt"
	"net/http"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/location"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
)

// router is one server block's locations, provisioned into routes: what a
// request is matched against. A server holds one per block and replaces it
// whole, so a request sees one configuration from start to end.
type router struct {
	matcher *location.Matcher
	routes  []*route.Route
}

// newRouter provisions the routes of a server block.
func newRouter(sc *config.Server, storeFor StoreFor) (*router, error) {
	rr := &router{}
	pats := make([]location.Pattern, len(sc.Locations))
	for i := range sc.Locations {
		l := &sc.Locations[i]
		pats[i] = l.Pattern
		var st store.Store
		if l.ServesChannels() { // a status, metrics or health page keeps none
			var err error
			if st, err = storeFor(l); err != nil {
				return nil, err
			}
			if l.ChannelGroupAccounting && !route.AccountsGroups(st) {
				return nil, fmt.Errorf("location %s (line %d): channel_group_accounting: its store keeps no group counts", l.Pattern, l.Line)
			}
		}
		rr.routes = append(rr.routes, route.Provision(l, st))
	}
	rr.matcher = location.NewMatcher(pats)
	return rr, nil
}

// handler serves one server block's listeners.
type handler struct {
	s     *Server
	block int
}

// ServeHTTP matches a request to its route, runs it through the route's
// stages and hands it to its role.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if l := h.s.alog.Load(); l != nil {
		lw := &logWriter{ResponseWriter: w, r: r, log: l, start: h.s.now()}
		h.serve(lw, r)
		lw.done(h.s.now())
		return
	}
	h.serve(w, r)
}

// serve is ServeHTTP without the access log.
func (h *handler) serve(w http.ResponseWriter, r *http.Request) {
	s := h.s
	if s.handover.started.Load() {
		// Another process accepts now: the client's next request goes there.
		w.Header().Set("Connection", "close")
	}
	rr := s.routers[h.block].Load()
	i, caps, ok := rr.matcher.Match(r.URL.Path)
	if !ok {
		plainError(w, http.StatusNotFound, "No location matches this path.")
		return
	}
	q, rf := rr.routes[i].Prepare(r.Context(), r, caps)
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
		route.Metrics:       s.serveMetrics,
		route.Health:        s.serveHealth,
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
		e := events.Event{Kind: events.SubscriberRefused, Transport: transportName(q.Transport), Location: q.Route.Name,
			Remote: q.HTTP.RemoteAddr, Status: rf.Status, Reason: rf.Reason, Channels: len(q.Channels)}
		if len(q.Channels) > 0 {
			e.Group, e.Channel = q.Channels[0].Key.Group, q.Channels[0].Key.ID
		}
		s.emit(e)
	} else {
		s.emit(events.Event{Kind: events.RequestRefused, Transport: q.Role.String(), Location: q.Route.Name,
			Remote: q.HTTP.RemoteAddr, Status: rf.Status, Reason: rf.Reason, Channels: len(q.Channels)})
	}
	if rf.Raw {
		nchanText(w, rf.Status, rf.Message)
		return
	}
	plainError(w, rf.Status, rf.Message)
}
