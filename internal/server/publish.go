package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldpush/herald/internal/chanevents"
	"github.com/heraldpush/herald/internal/chaninfo"
	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/location"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

// published is the outcome of a publish to a request's channels.
type published struct {
	// status is 201 when a subscriber was waiting on some channel, 202
	// when the message was only stored.
	status int
	// info is the channel info to answer with.
	info channelsInfo
	// id is the message's id in the last channel published to.
	id msgid.ID
}

// channelsInfo is the channel info a publisher request is answered with:
// its channel's, or for a request on several channels their sum, as Nchan
// answers (see chaninfo.AppendSum).
type channelsInfo struct {
	info  store.Info
	multi bool
}

// newChannelsInfo starts the info of a request on n channels.
func newChannelsInfo(n int) channelsInfo { return channelsInfo{multi: n > 1} }

// add adds the info of one of the request's channels.
func (c *channelsInfo) add(i store.Info) {
	if !c.multi {
		c.info = i
		return
	}
	chaninfo.Add(&c.info, i)
}

// append writes the info in format f.
func (c *channelsInfo) append(b []byte, f chaninfo.Format, now time.Time) []byte {
	if c.multi {
		return chaninfo.AppendSum(b, f, c.info, now)
	}
	return chaninfo.Append(b, f, c.info, now)
}

// storeCtx is the context of a publisher location's store calls (publish,
// create, info, delete): ctx's values without its end. A call, once begun,
// goes to its end even if the client leaves (the store bounds its own
// calls, the Redis engine with its operation timeout), so a publish to
// several channels reaches every one or stops at the first failure. It
// also keeps a store that waits on the context (the Redis engine) from
// starting the request's client-gone watch, a goroutine and a read, on
// every call.
func storeCtx(ctx context.Context) context.Context {
	return context.WithoutCancel(ctx)
}

// publish stores a message in every channel of keys, through the route's
// store and buffer rules, with what the publisher location adds to it
// (eventsource_event, deflate_message_for_websocket). It is the one
// publish path: HTTP publishers (POST, PUT) and WebSocket publishers both
// come here. It stops at the first channel that fails. Its info is the
// channel's, or for several channels their sum.
func (s *Server) publish(ctx context.Context, rt *route.Route, keys []store.ChannelKey, p store.Publication, transport, remote string) (published, error) {
	ctx = storeCtx(ctx)
	if rt.Publisher.EventName != "" {
		p.EventName = rt.Publisher.EventName
	}
	p.Deflate = rt.Publisher.Deflate
	out := published{status: http.StatusAccepted, info: newChannelsInfo(len(keys))}
	if rt.Group != nil {
		if err := rt.Group.CheckPublish(ctx, rt.Store, keys, p); err != nil {
			return out, err
		}
	}
	timed := s.events.Wants(events.MessagePublished) || s.events.Wants(events.StoreOp)
	for _, k := range keys {
		var start time.Time
		if timed {
			start = time.Now()
		}
		res, err := rt.Store.Publish(ctx, k, p, rt.Publisher.Channel)
		var took time.Duration
		if timed {
			took = time.Since(start)
			s.storeOp("publish", rt, s.opStart(), err, took)
		}
		if err != nil {
			s.log.Warn("publish failed", "channel", k.String(), "err", err)
			return out, err
		}
		if res.Info.Subscribers > 0 {
			out.status = http.StatusCreated
		}
		out.info.add(res.Info)
		if res.Message != nil {
			out.id = res.Message.ID
		}
		s.emit(events.Event{Kind: events.MessagePublished, Group: k.Group, Channel: k.ID, Transport: transport,
			Location: rt.Name, Remote: remote, MessageID: res.Message.ID, Bytes: len(p.Body), Duration: took})
	}
	return out, nil
}

// upstreamed runs a message through the location's
// publisher_upstream_request, if it has one, before it is published: the
// application may rewrite it (p changes), keep it, drop it or reject it.
// A status other than 0 means nothing is to be published and is the
// publisher's answer (204 dropped, 403 rejected, 500 application
// unreachable). It is part of the one publish path, for HTTP and WebSocket
// publishers alike.
func (s *Server) upstreamed(ctx context.Context, rt *route.Route, vars location.Request, p *store.Publication, publisherType string) int {
	h := rt.Hooks.Upstream
	if h == nil {
		return 0
	}
	up, err := h.Publish(ctx, vars, p.Body, p.ContentType, publisherType)
	if err != nil {
		s.log.Error("publisher_upstream_request failed", "location", rt.Name, "err", err)
	}
	if !up.Publish {
		return up.Status
	}
	p.Body, p.ContentType = up.Body, up.ContentType
	return 0
}

// publishHTTP handles POST, and PUT: a PUT with an empty body creates the
// channels (200) without publishing, as the Push Module protocol says.
func (s *Server) publishHTTP(w http.ResponseWriter, q *route.Request) {
	r, rt := q.HTTP, q.Route
	body, err := s.readBody(w, r, rt)
	if err != nil {
		s.bodyError(w, r, rt, err)
		return
	}
	ctx := r.Context()
	if rf := q.AuthorizeBody(ctx, body); rf != nil { // pass_request_body: asked now the body is read
		s.refuse(w, q, rf)
		return
	}
	if r.Method == http.MethodPut && len(body) == 0 {
		keys := q.Keys()
		info := newChannelsInfo(len(keys))
		sctx := storeCtx(ctx)
		for _, k := range keys {
			start := s.opStart()
			i, err := rt.Store.Create(sctx, k, rt.Publisher.Channel)
			s.storeOp("create", rt, start, err, 0)
			if err != nil {
				storeError(err).write(w)
				return
			}
			info.add(i)
		}
		if rt.Events != nil {
			s.requestEvent(q, chanevents.ChannelPublish, q.Keys())
		}
		s.writeInfo(w, r, http.StatusOK, &info)
		return
	}
	p := store.Publication{
		Body:        body,
		ContentType: r.Header.Get("Content-Type"),
		EventName:   r.Header.Get("X-EventSource-Event"),
	}
	if rt.Hooks.Upstream != nil {
		if status := s.upstreamed(ctx, rt, q.NchanVars(), &p, "http"); status != 0 {
			plainError(w, status, "")
			return
		}
	}
	res, err := s.publish(ctx, rt, q.Keys(), p, "http", r.RemoteAddr)
	if rf, ok := errors.AsType[*route.Refusal](err); ok {
		s.refuse(w, q, rf) // a group limit
		return
	}
	if err != nil {
		storeError(err).write(w)
		return
	}
	if rt.Events != nil {
		s.requestEvent(q, chanevents.ChannelPublish, q.Keys())
	}
	s.writeInfo(w, r, res.status, &res.info)
}

// info answers GET on a publisher location: 200 with the channel's info, or
// 404 with an empty body. A GET of several channels is 404, as in Nchan,
// which has no info for them.
func (s *Server) info(w http.ResponseWriter, q *route.Request) {
	keys := q.Keys()
	if len(keys) > 1 {
		storeError(store.ErrNotFound).write(w)
		return
	}
	start := s.opStart()
	i, err := q.Route.Store.Info(storeCtx(q.HTTP.Context()), keys[0])
	s.storeOp("info", q.Route, start, err, 0)
	if err != nil {
		storeError(err).write(w)
		return
	}
	info := channelsInfo{info: i}
	s.writeInfo(w, q.HTTP, http.StatusOK, &info)
}

// delete answers DELETE: 200 with the info from before the delete, or 404.
// A DELETE of several channels deletes those that exist and answers 200
// whatever it found, with their info summed (their messages count 0, as
// they are gone), as Nchan does.
func (s *Server) delete(w http.ResponseWriter, q *route.Request) {
	keys := q.Keys()
	if q.Route.Events != nil {
		// Nchan sends it for every DELETE, whether the channel was there
		// or not.
		defer s.requestEvent(q, chanevents.ChannelDelete, keys)
	}
	info := newChannelsInfo(len(keys))
	found := false
	sctx := storeCtx(q.HTTP.Context())
	for _, k := range keys {
		start := s.opStart()
		i, err := q.Route.Store.Delete(sctx, k)
		s.storeOp("delete", q.Route, start, err, 0)
		switch {
		case err == nil:
			info.add(i)
			found = true
			s.log.Debug("channel deleted", "channel", k.String())
		case errors.Is(err, store.ErrNotFound):
		default:
			storeError(err).write(w)
			return
		}
	}
	if info.multi {
		info.info.Messages = 0
	} else if !found {
		storeError(store.ErrNotFound).write(w)
		return
	}
	s.writeInfo(w, q.HTTP, http.StatusOK, &info)
}

// infoAnswer is the storage of a channel info answer: room for a typical
// body and the values of its two fields.
type infoAnswer struct {
	body [160]byte
	vals [2]string
}

// writeInfo answers with channel info in the format the request accepts.
func (s *Server) writeInfo(w http.ResponseWriter, r *http.Request, status int, info *channelsInfo) {
	f := chaninfo.Negotiate(r.Header.Get("Accept"))
	// One allocation holds the body and both field values (hd.Set would
	// allocate a slice for each).
	a := new(infoAnswer)
	body := info.append(a.body[:0], f, s.now())
	a.vals = [2]string{f.ContentType(), strconv.Itoa(len(body))}
	hd := w.Header()
	hd["Content-Type"] = a.vals[0:1:1]
	hd["Content-Length"] = a.vals[1:2:2]
	w.WriteHeader(status)
	w.Write(body)
}
