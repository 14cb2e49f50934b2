package server

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/httpdate"
	"github.com/heraldpush/herald/internal/location"
	"github.com/heraldpush/herald/internal/pushstream"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

// Push-stream subscribers (push_stream_subscriber): the module's channels
// path grammar, its refusals, and where each channel's subscriber starts.
// Streaming, EventSource and WebSocket subscribers are served by the
// fan-out writers (pushstream_stream.go); polling and long-polling ones
// answer from here (pushstream_poll.go).

// psChannel is one channel a push-stream subscriber asked for.
type psChannel struct {
	key  store.ChannelKey
	back int // .bN
}

// psLast is where the client says it stands: If-Modified-Since and
// If-None-Match (or the configured arguments), and Last-Event-Id.
type psLast struct {
	since   int64 // Unix seconds; -1 for none
	tag     int64 // the module's tag; -1 for none
	eventID string
}

// psSubscriber serves a push-stream subscriber location
// (push_stream_subscriber).
func (s *Server) psSubscriber(w http.ResponseWriter, q *route.Request) {
	r, rt := q.HTTP, q.Route
	ps := rt.PushStream
	hd := w.Header()
	vars := q.Vars()
	// The module's WebSocket subscribers answer without CORS headers.
	if origin := ps.AllowedOrigins.Eval(vars); origin != "" && ps.Subscriber != config.PSWebSocket {
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Set("Access-Control-Allow-Methods", pushstream.AllowMethodsGet)
		hd.Set("Access-Control-Allow-Headers", pushstream.AllowHeadersValue)
	}
	if r.Method == http.MethodOptions {
		hd.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	}
	psNoCache(hd)
	if r.Method != http.MethodGet {
		hd.Set("Allow", pushstream.AllowMethodsGet)
		psRefuse(w, http.StatusMethodNotAllowed, "")
		return
	}
	chans, status, explain := s.psChannels(r.Context(), rt, psUnescape(ps.ChannelsPath.Eval(vars)))
	if status != 0 {
		psRefuse(w, status, explain)
		return
	}
	last := psLastReceived(r, ps, vars)
	mode := ps.Subscriber
	if mode != config.PSWebSocket {
		switch h := r.Header.Get(pushstream.ModeHeader); {
		case strings.EqualFold(h, pushstream.ModePolling):
			mode = config.PSPolling
		case strings.EqualFold(h, pushstream.ModeLongPolling):
			mode = config.PSLongPolling
		}
	}
	switch mode {
	case config.PSPolling, config.PSLongPolling:
		s.psPoll(w, q, chans, last, mode == config.PSLongPolling)
	default:
		s.psStream(w, q, chans, last, mode)
	}
}

// psNoCache sets the module's headers that keep every answer out of
// caches.
func psNoCache(hd http.Header) {
	hd.Set("Expires", "Thu, 01 Jan 1970 00:00:01 GMT")
	hd.Set("Cache-Control", "no-cache, no-store, must-revalidate")
}

// psRefuse answers with a status and no body, the reason in
// X-Nginx-PushStream-Explain, as the module refuses.
func psRefuse(w http.ResponseWriter, status int, explain string) {
	hd := w.Header()
	if explain != "" {
		hd[pushstream.ExplainHeader] = []string{explain} // spelled as the module spells it
	}
	if status != http.StatusNotModified {
		hd["Content-Type"] = nil
	}
	hd.Set("Content-Length", "0")
	w.WriteHeader(status)
}

// psUnescape decodes %XX escapes in a channels path, as the module does;
// a malformed escape is kept as written.
func psUnescape(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// psChannels parses and checks the channels a subscriber asked for, in
// the module's order: ids reserved for statistics, the id length, channels
// without stored messages under authorized_channels_only, the events
// channel, then the number of wildcard channels. A refusal returns its
// status and explanation.
func (s *Server) psChannels(ctx context.Context, rt *route.Route, path string) ([]psChannel, int, string) {
	ps := rt.PushStream
	parsed := pushstream.ParseChannels(path)
	if len(parsed) == 0 {
		return nil, http.StatusBadRequest, pushstream.ExplainNoChannel
	}
	if len(parsed) > msgid.MaxChannels {
		return nil, http.StatusForbidden, pushstream.ExplainTooManyChannels
	}
	chans := make([]psChannel, 0, len(parsed))
	wildcards := 0
	for _, c := range parsed {
		if pushstream.Forbidden(c.ID) {
			return nil, http.StatusForbidden, pushstream.ExplainNotAuthorized
		}
		if ps.MaxIDLen > 0 && len(c.ID) > ps.MaxIDLen {
			return nil, http.StatusBadRequest, pushstream.ExplainTooLarge
		}
		wild := ps.IsWildcard(c.ID)
		if wild {
			wildcards++
		}
		key := store.ChannelKey{ID: c.ID}
		if ps.Subscribe.ExistingOnly && !wild {
			info, err := rt.Store.Info(ctx, key)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, http.StatusInternalServerError, ""
			}
			if err != nil || info.Messages == 0 {
				return nil, http.StatusForbidden, pushstream.ExplainCannotCreate
			}
		}
		if ps.EventsChannelID != "" && c.ID == ps.EventsChannelID && !ps.AllowConnectionsToEventsChannel {
			return nil, http.StatusForbidden, pushstream.ExplainEventsChannel
		}
		chans = append(chans, psChannel{key: key, back: c.Backtrack})
	}
	if max := ps.WildcardChannelMaxQtd; max > 0 && wildcards > 0 && (wildcards > max || wildcards == len(chans)) {
		return nil, http.StatusForbidden, pushstream.ExplainTooManyWildcards
	}
	// A subscriber makes the channels it names, within
	// push_stream_max_number_of_channels (and ..._wildcard_channels).
	for _, c := range chans {
		ok, err := s.psRoomFor(ctx, rt, c.key.ID)
		if err != nil {
			return nil, http.StatusInternalServerError, ""
		}
		if !ok {
			return nil, http.StatusForbidden, pushstream.ExplainTooManyChannels
		}
	}
	return chans, 0, ""
}

// psLastReceived reads where the client stands: the configured
// expressions (push_stream_last_received_message_time, ..._tag,
// push_stream_last_event_id) when set, the If-Modified-Since,
// If-None-Match and Last-Event-Id headers otherwise.
func psLastReceived(r *http.Request, ps *route.PushStream, vars location.Request) psLast {
	var since, tag string
	l := psLast{since: -1, tag: -1}
	if !ps.LastReceivedMessageTime.IsEmpty() {
		since = psUnescape(ps.LastReceivedMessageTime.Eval(vars))
	} else {
		since = r.Header.Get("If-Modified-Since")
	}
	if !ps.LastReceivedMessageTag.IsEmpty() {
		tag = psUnescape(ps.LastReceivedMessageTag.Eval(vars))
	} else {
		tag = r.Header.Get("If-None-Match")
	}
	if !ps.LastEventID.IsEmpty() {
		l.eventID = psUnescape(ps.LastEventID.Eval(vars))
	} else {
		l.eventID = r.Header.Get("Last-Event-Id")
	}
	if since != "" {
		if sec, ok := httpdate.Parse(since); ok {
			l.since = sec
		}
	}
	l.tag = pushstream.ParseTag(tag)
	return l
}

// psCursor places a subscriber in one channel, as the module picks the
// old messages it sends: the last N stored with a backtrack; else those
// after the message with the client's Last-Event-Id, or newer than its
// If-Modified-Since (ties in that second broken by its tag); else none.
// has reports whether messages are due now; when none are, the cursor is
// the channel's newest message, so the subscriber gets what comes next.
func psCursor(sub store.Subscription, back int, last psLast) (cursor msgid.ID, has bool, err error) {
	var buf [1]*store.Message
	due := func(c msgid.ID) (bool, error) {
		b, err := sub.Read(c, buf[:0], 1)
		clear(buf[:])
		return len(b.Messages) > 0, err
	}
	if back > 0 {
		c, err := sub.Start(store.Start{Kind: store.StartNth, N: -back})
		if err != nil {
			return c, false, err
		}
		if has, err = due(c); err != nil || has {
			return c, has, err
		}
	} else if last.eventID != "" || last.since >= 0 {
		found := false
		var best msgid.ID
		if last.eventID != "" {
			if best, found, err = psFindEvent(sub, last.eventID); err != nil {
				return best, false, err
			}
		}
		if last.since >= 0 {
			c, err := psSinceCursor(sub, last.since, last.tag)
			if err != nil {
				return c, false, err
			}
			if !found || c.Compare(best) < 0 {
				best, found = c, true
			}
		}
		if found {
			if has, err = due(best); err != nil || has {
				return best, has, err
			}
		}
	}
	c, err := sub.Start(store.Start{Kind: store.StartNewest})
	return c, false, err
}

// psSinceCursor is the cursor after which a channel's messages are newer
// than If-Modified-Since since and, in that very second, tagged at least
// tag (the tagged message itself excluded), as the module compares them.
func psSinceCursor(sub store.Subscription, since, tag int64) (msgid.ID, error) {
	if tag < 0 {
		return msgid.ID{Time: since, Tag: math.MaxInt32}, nil
	}
	prev := msgid.ID{Time: since, Tag: -1}
	buf := make([]*store.Message, 0, maxBatch)
	for range 1 << 16 { // bounded: a second holds fewer batches
		b, err := sub.Read(prev, buf[:0], maxBatch)
		if err != nil || len(b.Messages) == 0 {
			return prev, err
		}
		for _, m := range b.Messages {
			switch t := psTag(m); {
			case m.ID.Time > since || t > tag:
				return prev, nil
			case t == tag:
				return m.ID, nil
			}
			prev = m.ID
		}
		clear(b.Messages)
	}
	return prev, nil
}

// psFindEvent finds the stored message whose Event-Id is id.
func psFindEvent(sub store.Subscription, id string) (msgid.ID, bool, error) {
	var cursor msgid.ID
	buf := make([]*store.Message, 0, maxBatch)
	for range 1 << 16 { // bounded: a buffer holds fewer batches
		b, err := sub.Read(cursor, buf[:0], maxBatch)
		if err != nil || len(b.Messages) == 0 {
			return msgid.ID{}, false, err
		}
		for _, m := range b.Messages {
			if m.EventID == id {
				return m.ID, true, nil
			}
			cursor = m.ID
		}
		clear(b.Messages)
	}
	return msgid.ID{}, false, nil
}

// psSubscribe subscribes to every channel; on failure nothing is held and
// the refusal is the module's.
func (s *Server) psSubscribe(ctx context.Context, rt *route.Route, chans []psChannel) ([]store.Subscription, int, string) {
	opts := rt.PushStream.Subscribe
	opts.ExistingOnly = false // checked as the module does (psChannels)
	subs := make([]store.Subscription, 0, len(chans))
	for _, c := range chans {
		start := s.opStart()
		sub, err := rt.Store.Subscribe(ctx, c.key, opts)
		s.storeOp("subscribe", rt, start, err, 0)
		if err != nil {
			for _, sub := range subs {
				sub.Close()
			}
			switch {
			case errors.Is(err, store.ErrTooManySubscribers):
				return nil, http.StatusForbidden, pushstream.ExplainTooManySubscribers
			case errors.Is(err, store.ErrOutOfMemory):
				return nil, http.StatusInternalServerError, ""
			}
			return nil, storeError(err).status, ""
		}
		subs = append(subs, sub)
	}
	return subs, 0, ""
}

// psNotify tells the events channel (push_stream_events_channel_id) that a
// subscriber joined or left its channels.
func (s *Server) psNotify(rt *route.Route, chans []psChannel, subscribed bool) {
	for _, c := range chans {
		s.psClientEvent(rt, c.key.ID, subscribed)
	}
}

// psFields are a stored message's template fields.
func psFields(m *store.Message, channel string) pushstream.Fields {
	return pushstream.Fields{ID: int64(m.Number), Text: m.Body, Channel: channel, Time: m.ID.Time,
		Tag: psTag(m), EventID: m.EventID, EventType: m.EventName}
}

// psTag is a message's tag as the module numbers them (~tag~, Etag): its
// place among every message published in its second, from 1. Engines that
// do not count that (SecondTag 0) give its place in its channel's second.
func psTag(m *store.Message) int64 {
	if m.SecondTag != 0 {
		return int64(m.SecondTag)
	}
	return int64(m.ID.Tag) + 1
}

// psPingText is the text of ping messages.
func psPingText(ps *route.PushStream) string {
	if ps.PingMessageText != "" {
		return ps.PingMessageText
	}
	return pushstream.DefaultPingText
}

// psTimeout is a timer channel firing after d, or nil (and a no-op stop)
// when d is 0.
func psTimeout(d time.Duration) (<-chan time.Time, func() bool) {
	if d <= 0 {
		return nil, func() bool { return false }
	}
	t := time.NewTimer(d)
	return t.C, t.Stop
}
