package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/pushstream"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
)

// A push-stream publisher location (push_stream_publisher) answers as the
// module does: POST and PUT publish to every channel of the channels path
// and answer the channels' statistics (push_stream_channel_info_on_publish);
// GET answers the statistics of the channels that exist (404 when none
// does); with admin, DELETE deletes the channels, their subscribers get
// the DELETE's body (or push_stream_channel_deleted_message_text) and the
// answer is 200 with X-Nginx-PushStream-Explain "Channel deleted." (404 when
// none existed). Refusals have an empty body and say why in
// X-Nginx-PushStream-Explain. Every answer carries the module's
// Expires and Cache-Control.

// psCORS sets the module's CORS headers when push_stream_allowed_origins
// gives a value for the request: the value as Access-Control-Allow-Origin,
// and the methods and headers the location accepts.
func psCORS(hd http.Header, q *route.Request, methods string) {
	ps := q.Route.PushStream
	if ps.AllowedOrigins.IsEmpty() {
		return
	}
	origin := ps.AllowedOrigins.Eval(q.Vars())
	if origin == "" {
		return
	}
	hd.Set("Access-Control-Allow-Origin", origin)
	hd.Set("Access-Control-Allow-Methods", methods)
	hd.Set("Access-Control-Allow-Headers", pushstream.AllowHeadersValue)
}

// psHeaderOnly answers with status and no body; explain, when set, is the
// X-Nginx-PushStream-Explain header.
func psHeaderOnly(w http.ResponseWriter, status int, explain string) {
	hd := w.Header()
	if explain != "" {
		hd[pushstream.ExplainHeader] = []string{explain} // spelled as the module spells it
	}
	hd.Set("Content-Length", "0")
	w.WriteHeader(status)
}

// psWrite answers 200 with body in format f.
func psWrite(w http.ResponseWriter, f *pushstream.Format, body []byte) {
	hd := w.Header()
	hd.Set("Content-Type", f.ContentType)
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// psChannels reads a request's channels from push_stream_channels_path.
func psChannels(q *route.Request) []pushstream.Channel {
	return pushstream.ParseChannels(q.Route.PushStream.ChannelsPath.Eval(q.Vars()))
}

// The methods a push-stream publisher location accepts.
const (
	psNormalMethods = "GET, POST, PUT"
	psAdminMethods  = "GET, POST, PUT, DELETE"
)

// psPublisher serves a push-stream publisher location
// (push_stream_publisher).
func (s *Server) psPublisher(w http.ResponseWriter, q *route.Request) {
	r, ps := q.HTTP, q.Route.PushStream
	hd := w.Header()
	psNoCache(hd)
	methods := psNormalMethods
	if ps.Publisher == config.PSAdmin {
		methods = psAdminMethods
	}
	psCORS(hd, q, methods)
	switch r.Method {
	case http.MethodOptions:
		psHeaderOnly(w, http.StatusOK, "")
		return
	case http.MethodGet, http.MethodPost, http.MethodPut:
	case http.MethodDelete:
		if ps.Publisher == config.PSAdmin {
			break
		}
		fallthrough
	default:
		hd.Set("Allow", methods)
		psHeaderOnly(w, http.StatusMethodNotAllowed, "")
		return
	}
	chans := psChannels(q)
	if len(chans) == 0 {
		psHeaderOnly(w, http.StatusBadRequest, pushstream.ExplainNoChannel)
		return
	}
	ctx := r.Context()
	creates := r.Method == http.MethodPost || r.Method == http.MethodPut
	for _, c := range chans {
		if pushstream.Forbidden(c.ID) {
			psHeaderOnly(w, http.StatusForbidden, pushstream.ExplainNotAuthorized)
			return
		}
		if len(c.ID) > ps.MaxIDLen {
			psHeaderOnly(w, http.StatusBadRequest, pushstream.ExplainTooLarge)
			return
		}
		if creates {
			ok, err := s.psRoomFor(ctx, q.Route, c.ID)
			if err != nil {
				psStoreError(w, err)
				return
			}
			if !ok {
				psHeaderOnly(w, http.StatusForbidden, pushstream.ExplainTooManyChannels)
				return
			}
		}
		if r.Method != http.MethodGet && ps.EventsChannelID != "" && c.ID == ps.EventsChannelID {
			psHeaderOnly(w, http.StatusForbidden, pushstream.ExplainEventsInternal)
			return
		}
	}
	switch r.Method {
	case http.MethodPost, http.MethodPut:
		s.psPublish(w, q, chans)
	case http.MethodDelete:
		s.psDelete(w, q, chans)
	default:
		s.psChannelStats(w, q, chans)
	}
}

// psPublish publishes the request's body to every channel.
func (s *Server) psPublish(w http.ResponseWriter, q *route.Request, chans []pushstream.Channel) {
	r, rt := q.HTTP, q.Route
	body, err := s.readBody(w, r, rt)
	if err != nil {
		s.psBodyError(w, r, rt, err)
		return
	}
	if len(body) == 0 {
		psHeaderOnly(w, http.StatusBadRequest, pushstream.ExplainEmptyPost)
		return
	}
	p := store.Publication{Body: body, EventName: r.Header.Get("Event-Type"), EventID: r.Header.Get("Event-Id")}
	stats := make([]pushstream.ChannelStats, 0, len(chans))
	for _, c := range chans {
		key := store.ChannelKey{ID: c.ID}
		res, err := s.publish(r.Context(), rt, []store.ChannelKey{key}, p, "http", r.RemoteAddr)
		if err != nil {
			psStoreError(w, err)
			return
		}
		stats = append(stats, psStats(c.ID, res.info.info))
	}
	if !rt.PushStream.ChannelInfoOnPublish {
		psHeaderOnly(w, http.StatusOK, "")
		return
	}
	s.psWriteStats(w, q, stats)
}

// psChannelStats answers the statistics of the channels that exist: one
// channel's alone, several under the group header, 404 when none exists.
func (s *Server) psChannelStats(w http.ResponseWriter, q *route.Request, chans []pushstream.Channel) {
	stats := make([]pushstream.ChannelStats, 0, len(chans))
	for _, c := range chans {
		info, err := q.Route.Store.Info(q.HTTP.Context(), store.ChannelKey{ID: c.ID})
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			psStoreError(w, err)
			return
		}
		stats = append(stats, psStats(c.ID, info))
	}
	if len(stats) == 0 {
		psHeaderOnly(w, http.StatusNotFound, "")
		return
	}
	s.psWriteStats(w, q, stats)
}

// psWriteStats answers channels' statistics in the format Accept asks for:
// one channel's alone, several under the group header.
func (s *Server) psWriteStats(w http.ResponseWriter, q *route.Request, stats []pushstream.ChannelStats) {
	f := pushstream.Negotiate(q.HTTP.Header.Get("Accept"))
	if len(stats) == 1 {
		psWrite(w, f, f.AppendChannel(make([]byte, 0, 128), stats[0]))
		return
	}
	h, err := s.psHeaderOf(q.HTTP.Context(), q.Route)
	if err != nil {
		psStoreError(w, err)
		return
	}
	psWrite(w, f, f.AppendGroup(make([]byte, 0, 256+96*len(stats)), h, stats))
}

// psDelete deletes the channels: 200 "Channel deleted." when one existed,
// 404 when none did.
func (s *Server) psDelete(w http.ResponseWriter, q *route.Request, chans []pushstream.Channel) {
	r, rt := q.HTTP, q.Route
	body, err := s.readBody(w, r, rt)
	if err != nil {
		s.psBodyError(w, r, rt, err)
		return
	}
	deleted := 0
	for _, c := range chans {
		key := store.ChannelKey{ID: c.ID}
		s.psPub.psSetDeleted(key, string(body), s.now())
		start := s.opStart()
		_, err := rt.Store.Delete(r.Context(), key)
		s.storeOp("delete", rt, start, err, 0)
		switch {
		case err == nil:
			deleted++
		case errors.Is(err, store.ErrNotFound):
		default:
			psStoreError(w, err)
			return
		}
	}
	if deleted == 0 {
		psHeaderOnly(w, http.StatusNotFound, "")
		return
	}
	psHeaderOnly(w, http.StatusOK, pushstream.ExplainChannelDeleted)
}

// psStats are a channel's statistics from its info.
func psStats(id string, i store.Info) pushstream.ChannelStats {
	return pushstream.ChannelStats{ID: id, Published: i.Published, Stored: uint64(max(i.Messages, 0)), Subscribers: uint64(max(i.Subscribers, 0))}
}

// psStoreError answers a store's failure: 500 with no body, as the module
// answers when it cannot make a channel or keep a message (its memory is
// full); 503 when the store cannot be reached or the request was
// cancelled.
func psStoreError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrClosed),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		psHeaderOnly(w, http.StatusServiceUnavailable, "")
	default:
		psHeaderOnly(w, http.StatusInternalServerError, "")
	}
}

// psDrainLimit and psDrainTime bound what is read of a refused body
// before the answer, so that a client still sending it gets the answer
// rather than a reset connection.
const (
	psDrainLimit = 1 << 20
	psDrainTime  = time.Second
)

// psBodyError answers a body that could not be read: a body over
// client_max_body_size gets nginx's 413 page without the module's headers
// (nginx refuses it before the module sees the request), after what is
// left of the body is read (up to psDrainLimit, for psDrainTime); the rest
// as Herald's publishers answer them.
func (s *Server) psBodyError(w http.ResponseWriter, r *http.Request, rt *route.Route, err error) {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		const page = "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>herald</center>\r\n</body>\r\n</html>\r\n"
		http.NewResponseController(w).SetReadDeadline(time.Now().Add(psDrainTime))
		io.CopyN(io.Discard, r.Body, psDrainLimit)
		hd := w.Header()
		for _, k := range [...]string{"Expires", "Cache-Control", "Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers"} {
			hd.Del(k)
		}
		hd.Set("Content-Type", "text/html")
		hd.Set("Content-Length", strconv.Itoa(len(page)))
		hd.Set("Connection", "close")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		w.Write([]byte(page))
		return
	}
	s.bodyError(w, r, rt, err)
}

// psRoomFor reports whether a publish may go to channel id: a channel that
// exists always may; a new one only while the store has fewer channels
// (of its kind: wildcard or not) than push_stream_max_number_of_channels
// (or ..._wildcard_channels) allows.
func (s *Server) psRoomFor(ctx context.Context, rt *route.Route, id string) (bool, error) {
	ps := rt.PushStream
	wildcard := ps.IsWildcard(id)
	limit := ps.MaxNumberOfChannels
	if wildcard {
		limit = ps.MaxNumberOfWildcardChannels
	}
	if limit == 0 {
		return true, nil
	}
	if _, err := rt.Store.Info(ctx, store.ChannelKey{ID: id}); err == nil {
		return true, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	channels, wildcards, err := s.psCounts(ctx, rt)
	if err != nil {
		return false, err
	}
	n := channels
	if wildcard {
		n = wildcards
	}
	return n < uint64(limit), nil
}

// psCounts counts the channels of a push-stream route's store (its
// default group, where push-stream channels are: from the group counts an
// engine keeps, else the engine's count) that are not wildcard channels
// (the events channel included), and the wildcard ones (a listing of
// their prefix).
func (s *Server) psCounts(ctx context.Context, rt *route.Route) (channels, wildcards uint64, err error) {
	var total uint64
	if ga, ok := rt.Store.(store.GroupAccounter); ok {
		gs, err := ga.GroupStats(ctx, "")
		if err != nil {
			return 0, 0, err
		}
		total = uint64(max(gs.Channels, 0))
	} else {
		total = uint64(max(rt.Store.Stats().Channels, 0))
	}
	if prefix := rt.PushStream.WildcardChannelPrefix; prefix != "" {
		all, err := psList(ctx, rt.Store, prefix)
		if err != nil {
			return 0, 0, err
		}
		wildcards = uint64(len(all))
	}
	if wildcards > total {
		total = wildcards
	}
	return total - wildcards, wildcards, nil
}

// psHostname is the statistics' hostname: the machine's name.
func psHostname() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return h
}
