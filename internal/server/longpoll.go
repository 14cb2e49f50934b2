package server

import (
	"crypto/rand"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/protocol/msgid"
)

// poll serves a long-poll (or interval-poll) subscriber: one message (or,
// with longpoll_multipart_response, every message available), or a status
// when there is none to give. The delivery is reported and the session
// ends before the answer is written, so the subscriber no longer counts
// once it has it. Every answer carries the id headers (see pollHeaders).
func (s *Server) poll(w http.ResponseWriter, q *route.Request, ss *session, interval bool) {
	r, rt := q.HTTP, q.Route
	// The timer starts when the poll first waits: a poll answered at once
	// (a message there, an interval-poll) makes none.
	var timeout <-chan time.Time
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	quit := s.quit
	for {
		m, idx, waits, err := ss.next()
		if err != nil {
			ss.end(storeEnd(err))
			herr := storeError(err)
			pollHeaders(w.Header(), q, ss.cursorID(), herr.status)
			herr.write(w)
			return
		}
		if m != nil {
			if rt.Subscriber.Multipart != "off" {
				s.writeMessages(w, q, ss, m, idx)
				return
			}
			s.delivered(ss, 1, len(m.Body))
			ss.end(endAnswered)
			s.writeMessage(w, q, ss, m, idx)
			return
		}
		if interval {
			ss.end(endAnswered)
			s.writeStatus(w, q, ss, http.StatusNotModified)
			return
		}
		if timer == nil && timeout == nil && rt.Subscriber.Timeout > 0 {
			timer = time.NewTimer(rt.Subscriber.Timeout)
			timeout = timer.C
		}
		switch s.waitAnyQuit(waits, r.Context().Done(), timeout, nil, quit) {
		case clientGone:
			ss.end(endClientGone)
			return
		case timedOut:
			ss.end(endTimeout)
			s.writeStatus(w, q, ss, http.StatusRequestTimeout)
			return
		case shuttingDown:
			if d := s.handoverDelay(); d != nil {
				// Another process took over: answer as a timeout, at a
				// random moment, and the client polls again there.
				quit, timeout = nil, d
				continue
			}
			ss.end(endShutdown)
			w.Header().Set("Retry-After", "1")
			pollHeaders(w.Header(), q, ss.cursorID(), http.StatusServiceUnavailable)
			plainError(w, http.StatusServiceUnavailable, "Server shutting down.")
			return
		}
	}
}

// pollHeaders writes what Nchan's long-poll subscriber puts on every
// answer it gives, whatever the status: the message id (see
// route.IDs.SetHeaders), Vary and, to a cross-origin request,
// Access-Control-Expose-Headers.
func pollHeaders(hd http.Header, q *route.Request, id msgid.Multi, status int) {
	q.SetIDHeaders(hd, id, status)
	q.ExposeIDs(hd)
}

// writeMessage answers a poll with one message. The caller has reported
// the delivery and ended the session.
func (s *Server) writeMessage(w http.ResponseWriter, q *route.Request, ss *session, m *store.Message, idx int) {
	rt := ss.rt
	hd := w.Header()
	ct := m.ContentType
	if ct == "" {
		ct = rt.Subscriber.DefaultType
	}
	// The session's array for both values (hd.Set would allocate one
	// each); the answer is written before the session is let go.
	vals := ss.hdrVals[:]
	vals[0] = strconv.Itoa(len(m.Body))
	hd["Content-Length"] = vals[0:1:1]
	if ct == "" {
		hd["Content-Type"] = nil // see setContentType
	} else {
		vals[1] = ct
		hd["Content-Type"] = vals[1:2:2]
	}
	pollHeaders(hd, q, ss.multiID(idx), http.StatusOK)
	w.WriteHeader(http.StatusOK)
	w.Write(m.Body)
}

// setContentType sets the Content-Type of an answer, or, when ct is
// empty, keeps the answer without one (net/http would otherwise guess
// one from the body): a message published without a Content-Type is
// delivered without one, as Nchan delivers it.
func setContentType(hd http.Header, ct string) {
	if ct == "" {
		hd["Content-Type"] = nil
		return
	}
	hd.Set("Content-Type", ct)
}

// maxMultipartMessages bounds one longpoll_multipart_response answer.
const maxMultipartMessages = 255

// writeMessages answers a poll with every available message at once
// (longpoll_multipart_response): multipart/mixed parts, or with "raw" the
// bodies each followed by the raw-stream separator. A single message is
// answered plainly. The id headers are the last message's.
func (s *Server) writeMessages(w http.ResponseWriter, q *route.Request, ss *session, first *store.Message, firstIdx int) {
	rt := ss.rt
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
	size := 0
	for _, m := range msgs {
		size += len(m.Body)
	}
	s.delivered(ss, len(msgs), size)
	ss.end(endAnswered)
	if len(msgs) == 1 {
		s.writeMessage(w, q, ss, first, firstIdx)
		return
	}
	var body []byte
	var ct string
	if rt.Subscriber.Multipart == "raw" {
		ct = rt.Subscriber.DefaultType
		for _, m := range msgs {
			body = append(append(body, m.Body...), rt.Subscriber.RawSeparator...)
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
	setContentType(hd, ct)
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	pollHeaders(hd, q, ss.multiID(lastIdx), http.StatusOK)
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// writeStatus answers a poll without a message (304, 408), with the id it
// stands at.
func (s *Server) writeStatus(w http.ResponseWriter, q *route.Request, ss *session, status int) {
	pollHeaders(w.Header(), q, ss.cursorID(), status)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}
