package server

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/location"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/protocol/msgid"
)

// implemented are the subscriber transports this server speaks; selection
// skips the others as if the location did not allow them.
const implemented = config.WebSocket | config.EventSource | config.LongPoll | config.IntervalPoll |
	config.Chunked | config.Multipart | config.RawStream

// selectTransport picks the transport for a GET in Nchan's order: WebSocket
// upgrade, EventSource, chunked, multipart/mixed, interval-poll, raw stream,
// long-poll. A transport the location does not allow falls through; 0 means
// none is left.
func selectTransport(r *http.Request, allowed config.Transport) config.Transport {
	allowed &= implemented
	if isWebSocketUpgrade(r) {
		// A handshake is a WebSocket or nothing: it never falls through
		// to a polling transport.
		if allowed.Has(config.WebSocket) {
			return config.WebSocket
		}
		return 0
	}
	hd := r.Header
	candidates := []struct {
		t  config.Transport
		ok bool
	}{
		{config.WebSocket, isWebSocketUpgrade(r)},
		{config.EventSource, headerContains(hd, "Accept", "text/event-stream")},
		{config.Chunked, headerHasToken(hd, "TE", "chunked")},
		{config.Multipart, headerContains(hd, "Accept", "multipart/mixed")},
		{config.IntervalPoll, true},
		{config.RawStream, true},
		{config.LongPoll, true},
	}
	for _, c := range candidates {
		if c.ok && allowed.Has(c.t) {
			return c.t
		}
	}
	return 0
}

func headerContains(h http.Header, name, sub string) bool {
	for _, v := range h.Values(name) {
		if strings.Contains(strings.ToLower(v), sub) {
			return true
		}
	}
	return false
}

// headerHasToken reports whether a comma-separated header has token (with a
// non-zero q value, if any).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			tok, params, _ := strings.Cut(part, ";")
			if !strings.EqualFold(strings.TrimSpace(tok), token) {
				continue
			}
			if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
				if f, err := strconv.ParseFloat(q, 64); err == nil && f <= 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}

// etagHeader is the response header carrying the message id tag.
func (l *loc) etagHeader() string {
	if l.CustomEtagHeader != "" {
		return l.CustomEtagHeader
	}
	return "Etag"
}

// requestCursors finds the message id a subscriber request carries, in
// Nchan's order: If-Modified-Since with If-None-Match; a compound id in
// If-None-Match (or the Etag request header NchanSubscriber.js sends);
// subscriber_last_message_id (Last-Event-ID, ?last_event_id=). given is false
// when there is none.
func requestCursors(r *http.Request, l *loc, caps []string, n int) (cursors []msgid.ID, active int, herr *httpError) {
	bad := &httpError{http.StatusBadRequest, "Message ID invalid"}
	hd := r.Header
	inm := unquote(hd.Get("If-None-Match"))
	if l.CustomEtagHeader != "" {
		inm = unquote(hd.Get(l.CustomEtagHeader))
	}
	if inm == "" {
		inm = unquote(hd.Get("Etag"))
	}
	if ims := hd.Get("If-Modified-Since"); ims != "" && !l.CompoundEtagMessageID {
		if t, err := http.ParseTime(ims); err == nil && t.Unix() > 0 {
			if inm == "" {
				return nil, -1, bad
			}
			var m msgid.Multi
			if strings.Contains(inm, ":") {
				m, err = msgid.Parse(inm, n)
			} else {
				m, err = msgid.ParseTags(inm, n)
				m.Time = t.Unix()
			}
			if err != nil {
				return nil, -1, bad
			}
			return m.Cursors(), m.Active, nil
		}
	}
	if strings.Contains(inm, ":") {
		m, err := msgid.Parse(inm, n)
		if err != nil {
			return nil, -1, bad
		}
		return m.Cursors(), m.Active, nil
	}
	vars := location.Request{HTTP: r, Captures: caps}
	for _, e := range l.SubscriberLastMessageID {
		v := e.Eval(vars)
		if v == "" {
			continue
		}
		if dec, err := url.QueryUnescape(v); err == nil {
			v = dec
		}
		m, err := msgid.Parse(v, n)
		if err != nil {
			return nil, -1, bad
		}
		return m.Cursors(), m.Active, nil
	}
	return make([]msgid.ID, n), -1, nil
}

func unquote(s string) string {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "W/"))
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// session is one subscriber request's hold on its channels and its cursors.
type session struct {
	subs    []store.Subscription
	channel string // the channel id, when there is one channel
	cursors []msgid.ID
	active  int // channel of the last message delivered (or named by the request).
	buf     []*store.Message
	pending []*store.Message // read ahead on a single channel, not yet delivered.
	readOne bool             // a read has been made: later misses are the subscriber's lag.

	// Backing arrays for the single-channel case, so delivering a message
	// allocates nothing per subscriber.
	tag1  [1]int32
	wait1 [1]<-chan struct{}
}

func (ss *session) close() {
	for _, s := range ss.subs {
		s.Close()
	}
}

// next returns the earliest message after the cursors across the session's
// channels and the index of its channel; when there is none, the channels to
// wait on.
func (ss *session) next() (*store.Message, int, []<-chan struct{}, error) {
	var best *store.Message
	bestIdx := -1
	var waits []<-chan struct{}
	for i, sub := range ss.subs {
		b, err := sub.Read(ss.cursors[i], ss.buf[:0], 1)
		if err != nil {
			return nil, -1, nil, err
		}
		if len(b.Messages) == 0 {
			waits = append(waits, b.Wait)
			continue
		}
		if best == nil || b.Messages[0].Before(best) {
			best, bestIdx = b.Messages[0], i
		}
	}
	if best != nil {
		ss.cursors[bestIdx] = best.ID
		ss.active = bestIdx
		return best, bestIdx, nil, nil
	}
	return nil, -1, waits, nil
}

// nextStream is next for streaming subscribers: on one channel it reads
// ahead in batches. missed reports that messages after the subscriber's
// position left the buffer before it could read them (it is too slow); a
// subscriber resuming from an old id is not counted as missing anything.
func (ss *session) nextStream() (m *store.Message, idx int, waits []<-chan struct{}, missed bool, err error) {
	first := !ss.readOne
	ss.readOne = true
	if len(ss.subs) != 1 {
		m, idx, waits, err = ss.next()
		return m, idx, waits, false, err
	}
	if len(ss.pending) == 0 {
		b, err := ss.subs[0].Read(ss.cursors[0], ss.buf[:0], maxBatch)
		if err != nil {
			return nil, -1, nil, false, err
		}
		if b.Missed && !first {
			return nil, -1, nil, true, nil
		}
		if len(b.Messages) == 0 {
			ss.wait1[0] = b.Wait
			return nil, -1, ss.wait1[:], false, nil
		}
		ss.buf = b.Messages
		ss.pending = b.Messages
	}
	m = ss.pending[0]
	ss.pending[0] = nil
	ss.pending = ss.pending[1:]
	ss.cursors[0] = m.ID
	return m, 0, nil, false, nil
}

// subscribe registers the subscriber on its channels and serves it with the
// chosen transport.
func (h *handler) subscribe(w http.ResponseWriter, r *http.Request, l *loc, caps []string, ids []store.ChannelKey, t config.Transport) {
	cursors, active, herr := requestCursors(r, l, caps, len(ids))
	if herr != nil {
		herr.write(w)
		return
	}
	given := active >= 0
	ss := &session{cursors: cursors, active: max(active, 0), buf: make([]*store.Message, 0, 1)}
	opts := l.subOpts
	opts.Follow = t != config.LongPoll && t != config.IntervalPoll
	for _, id := range ids {
		sub, err := l.store.Subscribe(r.Context(), id, opts)
		if err != nil {
			ss.close()
			storeError(err).write(w)
			return
		}
		ss.subs = append(ss.subs, sub)
	}
	if len(ids) == 1 {
		ss.channel = ids[0].String()
	}
	if !given {
		for i, sub := range ss.subs {
			c, err := sub.Start(l.SubscriberFirstMessage)
			if err != nil {
				ss.close()
				storeError(err).write(w)
				return
			}
			ss.cursors[i] = c
		}
	}
	switch t {
	case config.LongPoll, config.IntervalPoll:
		h.poll(w, r, l, ss, t == config.IntervalPoll)
	case config.WebSocket:
		h.websocket(w, r, l, ss, caps)
	default:
		h.streamHTTP(w, r, l, ss, t)
	}
}

// waitResult says why a wait ended.
type waitResult int

const (
	woken waitResult = iota
	clientGone
	timedOut
	shuttingDown
)

// wait blocks until one of the channels changes, the client leaves, the
// subscriber timeout passes or the server shuts down.
func (h *handler) wait(r *http.Request, waits []<-chan struct{}, timeout <-chan time.Time) waitResult {
	var stop chan struct{}
	if len(waits) > 1 {
		stop = make(chan struct{})
		defer close(stop)
	}
	select {
	case <-anyOf(waits, stop):
		return woken
	case <-r.Context().Done():
		return clientGone
	case <-timeout:
		return timedOut
	case <-h.s.quit:
		return shuttingDown
	}
}

// poll serves a long-poll (or interval-poll) subscriber: one message, or a
// status when there is none to give.
func (h *handler) poll(w http.ResponseWriter, r *http.Request, l *loc, ss *session, interval bool) {
	defer ss.close()
	var timeout <-chan time.Time
	if l.SubscriberTimeout > 0 {
		t := time.NewTimer(l.SubscriberTimeout)
		defer t.Stop()
		timeout = t.C
	}
	for {
		m, idx, waits, err := ss.next()
		if err != nil {
			ss.close()
			h.setCORS(w.Header(), r, l)
			storeError(err).write(w)
			return
		}
		if m != nil {
			if l.LongpollMultipart != "off" {
				h.writeMessages(w, r, l, ss, m, idx)
				return
			}
			ss.close()
			h.writeMessage(w, r, l, ss, m, idx)
			return
		}
		if interval {
			ss.close()
			h.writeStatus(w, r, l, ss, http.StatusNotModified)
			return
		}
		switch h.wait(r, waits, timeout) {
		case clientGone:
			return
		case timedOut:
			ss.close()
			h.writeStatus(w, r, l, ss, http.StatusRequestTimeout)
			return
		case shuttingDown:
			ss.close()
			w.Header().Set("Retry-After", "1")
			h.setCORS(w.Header(), r, l)
			plainError(w, http.StatusServiceUnavailable, "Server shutting down.")
			return
		}
	}
}

// setIDHeaders writes the id the subscriber sends back for the next message:
// Last-Modified (the second) and Etag (the tags), or the whole id in the
// Etag in compound mode.
func (h *handler) setIDHeaders(w http.ResponseWriter, l *loc, m msgid.Multi) {
	hd := w.Header()
	if l.CompoundEtagMessageID {
		hd.Set(l.etagHeader(), m.String())
	} else {
		hd.Set("Last-Modified", time.Unix(m.Time, 0).UTC().Format(http.TimeFormat))
		hd.Set(l.etagHeader(), m.TagString())
	}
	hd.Set("Vary", "If-None-Match, If-Modified-Since")
}

// multiID is the id of the message just delivered from channel idx.
func (ss *session) multiID(idx int) msgid.Multi {
	if len(ss.cursors) == 1 {
		c := ss.cursors[0]
		ss.tag1[0] = c.Tag
		return msgid.Multi{Time: c.Time, Tags: ss.tag1[:], Active: 0}
	}
	return msgid.FromCursors(ss.cursors, idx)
}

// cursorID is the id describing where the subscriber stands now: the id it
// asked with, or of the last message it was given.
func (ss *session) cursorID() msgid.Multi {
	newest := ss.active
	for i, c := range ss.cursors {
		if c.Compare(ss.cursors[newest]) > 0 {
			newest = i
		}
	}
	return ss.multiID(newest)
}

func (h *handler) writeMessage(w http.ResponseWriter, r *http.Request, l *loc, ss *session, m *store.Message, idx int) {
	hd := w.Header()
	ct := m.ContentType
	if ct == "" {
		ct = l.DefaultType
	}
	hd.Set("Content-Type", ct)
	hd.Set("Content-Length", strconv.Itoa(len(m.Body)))
	h.setIDHeaders(w, l, ss.multiID(idx))
	h.setCORS(w.Header(), r, l)
	w.WriteHeader(http.StatusOK)
	w.Write(m.Body)
}

// maxMultipartMessages bounds one longpoll_multipart_response answer.
const maxMultipartMessages = 255

// writeMessages answers a long-poll with every available message at once
// (longpoll_multipart_response): multipart/mixed parts, or with "raw" the
// bodies each followed by the raw-stream separator. A single message is
// answered plainly. The id headers are the last message's.
func (h *handler) writeMessages(w http.ResponseWriter, r *http.Request, l *loc, ss *session, first *store.Message, firstIdx int) {
	msgs := []*store.Message{first}
	lastIdx := firstIdx
	for len(msgs) < maxMultipartMessages {
		m, idx, _, err := ss.next()
		if err != nil || m == nil {
			break
		}
		msgs = append(msgs, m)
		lastIdx = idx
	}
	ss.close()
	if len(msgs) == 1 {
		h.writeMessage(w, r, l, ss, first, firstIdx)
		return
	}
	var body []byte
	var ct string
	if l.LongpollMultipart == "raw" {
		ct = l.DefaultType
		for _, m := range msgs {
			body = append(append(body, m.Body...), l.RawStreamSeparator...)
		}
	} else {
		var rnd [32]byte
		rand.Read(rnd[:])
		boundary := protocol.Boundary(rnd)
		ct = "multipart/mixed; boundary=" + boundary
		body = append(body, "--"...)
		body = append(body, boundary...)
		for _, m := range msgs {
			if m.ContentType != "" {
				body = append(body, "\r\nContent-Type: "...)
				body = append(body, m.ContentType...)
			}
			body = append(body, "\r\n\r\n"...)
			body = append(body, m.Body...)
			body = append(body, "\r\n--"...)
			body = append(body, boundary...)
		}
		body = append(body, protocol.MultipartEnd...)
	}
	hd := w.Header()
	hd.Set("Content-Type", ct)
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	h.setIDHeaders(w, l, ss.multiID(lastIdx))
	h.setCORS(hd, r, l)
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func (h *handler) writeStatus(w http.ResponseWriter, r *http.Request, l *loc, ss *session, status int) {
	h.setIDHeaders(w, l, ss.cursorID())
	h.setCORS(w.Header(), r, l)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}
