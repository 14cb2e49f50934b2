package server

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/pushstream"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

// psMaxPollMessages bounds the old messages one poll answer carries.
const psMaxPollMessages = 4096

// psPolled is one message of a poll answer and its channel.
type psPolled struct {
	m       *store.Message
	channel string
}

// psPoll serves a polling or long-polling push-stream subscriber. Old
// messages due (a backtrack, or those after the client's
// If-Modified-Since/If-None-Match or Last-Event-Id) are answered at once,
// channel after channel, with the newest one's Last-Modified and Etag; with
// none, a poll gets 304 with the client's own position, and a long-poll
// waits for the next message (one message per answer), its channel's
// deletion, or push_stream_longpolling_connection_ttl (304, or 200 with
// the timeout message under push_stream_timeout_with_body). With
// ?callback=fn the messages come as fn([m1,m2]); (JSONP).
func (s *Server) psPoll(w http.ResponseWriter, q *route.Request, chans []psChannel, last psLast, long bool) {
	r, rt := q.HTTP, q.Route
	ps := rt.PushStream
	callback := r.URL.Query().Get("callback")
	subs, status, explain := s.psSubscribe(r.Context(), rt, chans)
	if status != 0 {
		psRefuse(w, status, explain)
		return
	}
	release := q.Detach()
	defer func() {
		for _, sub := range subs {
			sub.Close()
		}
		release()
	}()
	cursors := make([]msgid.ID, len(subs))
	due := false
	for i, sub := range subs {
		c, has, err := psCursor(sub, chans[i].back, last)
		if err != nil {
			s.psPollFailed(w, q, chans[i], callback, err)
			return
		}
		cursors[i], due = c, due || has
	}
	if due {
		var msgs []psPolled
		for i, sub := range subs {
			for len(msgs) < psMaxPollMessages {
				b, err := sub.Read(cursors[i], nil, min(maxBatch, psMaxPollMessages-len(msgs)))
				if err != nil || len(b.Messages) == 0 {
					break
				}
				for _, m := range b.Messages {
					msgs = append(msgs, psPolled{m: m, channel: chans[i].key.ID})
				}
				cursors[i] = b.Messages[len(b.Messages)-1].ID
			}
		}
		s.psAnswer(w, q, callback, msgs, http.StatusOK)
		return
	}
	hd := w.Header()
	if !long {
		psPollHeaders(hd, rt, callback, last.since, last.tag)
		psRefuse(w, http.StatusNotModified, "")
		return
	}
	s.psNotify(rt, chans, true)
	defer s.psNotify(rt, chans, false)
	timeout, stop := psTimeout(ps.LongPollTTL())
	defer stop()
	quit := s.quit
	waits := make([]<-chan struct{}, 0, len(subs))
	buf := make([]*store.Message, 0, 1)
	for {
		waits = waits[:0]
		for i, sub := range subs {
			b, err := sub.Read(cursors[i], buf[:0], 1)
			if err != nil {
				s.psPollFailed(w, q, chans[i], callback, err)
				return
			}
			if len(b.Messages) > 0 {
				s.psAnswer(w, q, callback, []psPolled{{m: b.Messages[0], channel: chans[i].key.ID}}, http.StatusOK)
				return
			}
			waits = append(waits, b.Wait)
		}
		switch s.waitAnyQuit(waits, r.Context().Done(), timeout, nil, quit) {
		case clientGone:
			return
		case timedOut:
			s.psPollTimeout(w, q, callback)
			return
		case shuttingDown:
			if d := s.handoverDelay(); d != nil {
				// Another process took over: answer as a timeout at a
				// random moment; the client polls again there.
				quit, timeout = nil, d
				continue
			}
			s.psPollTimeout(w, q, callback)
			return
		}
	}
}

// psPollHeaders sets a poll answer's Content-Type, Last-Modified (when
// since > 0) and Etag (when tag >= 0).
func psPollHeaders(hd http.Header, rt *route.Route, callback string, since, tag int64) {
	if callback != "" {
		hd.Set("Content-Type", pushstream.JSONPContentType)
	} else {
		hd.Set("Content-Type", psDefaultType(rt))
	}
	if since > 0 {
		hd.Set("Last-Modified", string(pushstream.AppendTime(nil, since)))
	}
	if tag >= 0 {
		hd.Set("Etag", "W/"+strconv.FormatInt(tag, 10))
	}
}

// psDefaultType is the Content-Type of a push-stream subscriber's answer:
// default_type, or nginx's text/plain.
func psDefaultType(rt *route.Route) string {
	if rt.Subscriber.DefaultType != "" {
		return rt.Subscriber.DefaultType
	}
	return "text/plain"
}

// psAnswer answers a poll with messages: the header template, the
// messages rendered with the message template (wrapped in the JSONP
// callback), the footer template. Last-Modified and Etag are the newest
// message's.
func (s *Server) psAnswer(w http.ResponseWriter, q *route.Request, callback string, msgs []psPolled, status int) {
	rt := q.Route
	loc := s.psLocation(rt)
	var newest *store.Message
	kind := psPollKind(rt)
	size := len(loc.header[kind]) + len(loc.footer[kind]) + len(callback) + 8
	for _, p := range msgs {
		if newest == nil || newest.ID.Compare(p.m.ID) < 0 {
			newest = p.m
		}
		f := psFields(p.m, p.channel)
		size += loc.polledLen(kind, &f) + 1
	}
	body := make([]byte, 0, size)
	body = append(body, loc.header[kind]...)
	if callback != "" {
		body = append(append(body, callback...), pushstream.JSONPOpen...)
	}
	bytes := 0
	for i, p := range msgs {
		if i > 0 && callback != "" {
			body = append(body, pushstream.JSONPSeparator...)
		}
		f := psFields(p.m, p.channel)
		body = loc.appendPolled(body, kind, &f)
		bytes += len(p.m.Body)
	}
	if callback != "" {
		body = append(body, pushstream.JSONPClose...)
	}
	body = append(body, loc.footer[kind]...)
	hd := w.Header()
	if newest != nil {
		psPollHeaders(hd, rt, callback, newest.ID.Time, psTag(newest))
		k := fanKey{rt: rt, channel: store.ChannelKey{ID: msgs[len(msgs)-1].channel}}
		s.deliveredN(&k, len(msgs), bytes, newest.ID)
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// psControl answers a long-poll with a control message (channel deleted,
// timed out): the header template, the message, the footer template, with
// Last-Modified now and Etag 0.
func (s *Server) psControl(w http.ResponseWriter, q *route.Request, callback string, f *pushstream.Fields) {
	rt := q.Route
	loc := s.psLocation(rt)
	kind := psPollKind(rt)
	body := append([]byte(nil), loc.header[kind]...)
	if callback != "" {
		body = append(append(body, callback...), pushstream.JSONPOpen...)
	}
	body = loc.appendPolled(body, kind, f)
	if callback != "" {
		body = append(body, pushstream.JSONPClose...)
	}
	body = append(body, loc.footer[kind]...)
	hd := w.Header()
	psPollHeaders(hd, rt, callback, s.now().Unix(), 0)
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// psPollTimeout answers a long-poll that waited
// push_stream_longpolling_connection_ttl: 304 with Last-Modified now and
// Etag 0, or, with push_stream_timeout_with_body, 200 and the timeout
// message.
func (s *Server) psPollTimeout(w http.ResponseWriter, q *route.Request, callback string) {
	rt := q.Route
	if rt.PushStream.TimeoutWithBody {
		s.psControl(w, q, callback, &pushstream.Fields{ID: pushstream.TimeoutID, Text: []byte(pushstream.TimeoutText)})
		return
	}
	psPollHeaders(w.Header(), rt, callback, s.now().Unix(), 0)
	psRefuse(w, http.StatusNotModified, "")
}

// psPollFailed answers a poll whose channel failed under it: deleted, the
// channel-deleted message; otherwise the store's status.
func (s *Server) psPollFailed(w http.ResponseWriter, q *route.Request, c psChannel, callback string, err error) {
	if errors.Is(err, store.ErrGone) {
		text := s.psDeletedMessage(q.Route, c.key)
		s.psControl(w, q, callback, &pushstream.Fields{ID: pushstream.DeletedID, Text: []byte(text), Channel: c.key.ID})
		return
	}
	psRefuse(w, storeError(err).status, "")
}

// psPollKind is how a location shapes a poll's answer: an EventSource
// location's polls get its events and comments, as the module answers
// them; others get the templates as written.
func psPollKind(rt *route.Route) int {
	if rt.PushStream.Subscriber == config.PSEventSource {
		return psKindES
	}
	return psKindPoll
}

// appendPolled appends one message of a poll's answer.
func (l *psLoc) appendPolled(dst []byte, kind int, f *pushstream.Fields) []byte {
	if kind == psKindES {
		return pushstream.AppendEvent(dst, l.msg[kind], f)
	}
	return l.msg[kind].Append(dst, f)
}

// polledLen bounds appendPolled's length.
func (l *psLoc) polledLen(kind int, f *pushstream.Fields) int {
	if kind == psKindES {
		return pushstream.EventLen(l.msg[kind], f)
	}
	return l.msg[kind].Len(f)
}
