package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/heraldpush/herald/internal/location"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

// ServeHTTP routes a request to its location and role.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i, caps, ok := h.matcher.Match(r.URL.Path)
	if !ok {
		plainError(w, http.StatusNotFound, "No location matches this path.")
		return
	}
	l := h.locs[i]
	if origin := r.Header.Get("Origin"); origin != "" && !l.originAllowed(origin) {
		plainError(w, http.StatusForbidden, "Origin not allowed.")
		return
	}
	vars := location.Request{HTTP: r, Captures: caps}
	if l.StubStatus {
		h.stubStatus(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet:
		if l.Subscriber != 0 {
			if t := selectTransport(r, l.Subscriber); t != 0 {
				ids, herr := channelIDs(vars, l, l.subscriberIDs())
				if herr != nil {
					herr.write(w)
					return
				}
				h.subscribe(w, r, l, caps, ids, t)
				return
			}
		}
		if l.Publisher.WebSocket && isWebSocketUpgrade(r) {
			h.websocket(w, r, l, nil, caps)
			return
		}
		if l.Publisher.HTTP && !isWebSocketUpgrade(r) {
			h.withPublisherIDs(w, vars, l, h.info)
			return
		}
		plainError(w, http.StatusForbidden, "This location does not allow that kind of subscriber.")
	case http.MethodPost, http.MethodPut, http.MethodDelete:
		if !l.Publisher.HTTP {
			plainError(w, http.StatusForbidden, "Publishing is not allowed here.")
			return
		}
		switch r.Method {
		case http.MethodDelete:
			h.withPublisherIDs(w, vars, l, h.delete)
		default:
			h.withPublisherIDs(w, vars, l, h.publish)
		}
	case http.MethodOptions:
		h.options(w, r, l)
	default:
		w.Header().Set("Allow", l.allow)
		plainError(w, http.StatusMethodNotAllowed, "Method not allowed: use "+l.allow+".")
	}
}

func isWebSocketUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

type idHandler func(w http.ResponseWriter, r *http.Request, l *loc, ids []store.ChannelKey)

func (h *handler) withPublisherIDs(w http.ResponseWriter, vars location.Request, l *loc, next idHandler) {
	ids, herr := channelIDs(vars, l, l.publisherIDs())
	if herr != nil {
		herr.write(w)
		return
	}
	next(w, vars.HTTP, l, ids)
}

func (h *handler) options(w http.ResponseWriter, r *http.Request, l *loc) {
	hd := w.Header()
	hd.Set("Allow", l.allow)
	if r.Header.Get("Origin") != "" {
		h.setCORS(hd, r, l)
		hd.Del("Access-Control-Expose-Headers")
		switch {
		case l.Publisher.HTTP && l.Subscriber != 0:
			hd.Set("Access-Control-Allow-Headers", "If-None-Match, If-Modified-Since, Content-Type, Cache-Control, X-EventSource-Event, Etag, Last-Event-ID")
			hd.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
		case l.Publisher.HTTP:
			hd.Set("Access-Control-Allow-Headers", "Content-Type")
			hd.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
		default:
			hd.Set("Access-Control-Allow-Headers", "If-None-Match, If-Modified-Since, Content-Type, Cache-Control, X-EventSource-Event, Etag, Last-Event-ID")
			hd.Set("Access-Control-Allow-Methods", "GET")
		}
	}
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// originAllowed reports whether a cross-origin request from origin may use
// the location (access_control_allow_origin; empty allows any).
func (l *loc) originAllowed(origin string) bool {
	if len(l.AllowOrigin) == 0 {
		return true
	}
	for _, o := range l.AllowOrigin {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}

// setCORS adds the CORS response headers for a request with an Origin.
func (h *handler) setCORS(hd http.Header, r *http.Request, l *loc) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	if len(l.AllowOrigin) == 1 && l.AllowOrigin[0] == "*" {
		hd.Set("Access-Control-Allow-Origin", "*")
	} else {
		hd.Set("Access-Control-Allow-Origin", origin)
	}
	if l.AllowCredentials {
		hd.Set("Access-Control-Allow-Credentials", "true")
	}
	hd.Set("Access-Control-Expose-Headers", "Last-Modified, "+l.etagHeader()+", Content-Type")
}

// httpError is a response for a request that cannot proceed.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) write(w http.ResponseWriter) { plainError(w, e.status, e.msg) }

// plainError writes a short text/plain error body; an empty msg writes none.
func plainError(w http.ResponseWriter, status int, msg string) {
	hd := w.Header()
	if msg == "" {
		hd.Set("Content-Length", "0")
		w.WriteHeader(status)
		return
	}
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(len(msg)+1))
	w.WriteHeader(status)
	w.Write([]byte(msg + "\n"))
}

// storeError maps a store error to a response.
func storeError(err error) *httpError {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &httpError{http.StatusNotFound, ""}
	case errors.Is(err, store.ErrGone):
		return &httpError{http.StatusGone, ""}
	case errors.Is(err, store.ErrNotCreated):
		return &httpError{http.StatusForbidden, "Channel does not exist: subscribers may only subscribe to channels a publisher created."}
	case errors.Is(err, store.ErrTooManySubscribers):
		return &httpError{http.StatusForbidden, "Channel subscriber limit reached."}
	case errors.Is(err, store.ErrConflict):
		return &httpError{http.StatusConflict, ""}
	case errors.Is(err, store.ErrOutOfMemory):
		return &httpError{http.StatusInsufficientStorage, "Message store is full (max_reserved_memory)."}
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrClosed):
		return &httpError{http.StatusServiceUnavailable, "Message store unavailable."}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &httpError{http.StatusServiceUnavailable, "Request cancelled."}
	}
	return &httpError{http.StatusInternalServerError, "Internal error."}
}

func (l *loc) subscriberIDs() []location.Expr {
	if len(l.SubscriberChannelID) > 0 {
		return l.SubscriberChannelID
	}
	return l.ChannelID
}

func (l *loc) publisherIDs() []location.Expr {
	if len(l.PublisherChannelID) > 0 {
		return l.PublisherChannelID
	}
	return l.ChannelID
}

// channelIDs evaluates the location's channel id expressions into store
// keys (group and id), splitting on the delimiter and enforcing the limits.
func channelIDs(vars location.Request, l *loc, exprs []location.Expr) ([]store.ChannelKey, *httpError) {
	group := l.ChannelGroup.Eval(vars)
	if group == "m" || strings.Contains(group, "/") {
		return nil, &httpError{http.StatusForbidden, "Invalid channel group."}
	}
	var ids []string
	for _, e := range exprs {
		v := e.Eval(vars)
		if len(v) > l.MaxChannelIDLength {
			return nil, &httpError{http.StatusForbidden, "Channel id is too long (max_channel_id_length)."}
		}
		if l.SplitDelimiter == "" {
			ids = append(ids, v)
			continue
		}
		for part := range strings.SplitSeq(v, l.SplitDelimiter) {
			ids = append(ids, part)
			if len(ids) > msgid.MaxChannels {
				return nil, &httpError{http.StatusForbidden, "Too many channels (at most 255)."}
			}
		}
	}
	if len(ids) > msgid.MaxChannels {
		return nil, &httpError{http.StatusForbidden, "Too many channels (at most 255)."}
	}
	if len(ids) == 0 {
		return nil, &httpError{http.StatusNotFound, "No channel id provided."}
	}
	keys := make([]store.ChannelKey, len(ids))
	for i, id := range ids {
		if id == "" {
			return nil, &httpError{http.StatusNotFound, "No channel id provided."}
		}
		keys[i] = store.ChannelKey{Group: group, ID: id}
	}
	return keys, nil
}
