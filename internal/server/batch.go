package server

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/heraldpush/herald/internal/chanevents"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol"
)

// Batch publish limits (publish_batch, docs/batch.md).
const (
	maxBatchMessages = 10000
	maxBatchBody     = 16 << 20
)

// batchContentType is the media type a batch publish may name; a POST
// with a JSON or no content type is read as a batch too.
const batchContentType = "application/json"

// isBatch reports whether a request on a publish_batch location is a batch
// publish: a POST (other methods go to the location's roles).
func isBatch(r *http.Request) bool { return r.Method == http.MethodPost }

// publishBatch serves a batch publish: every message of the body goes,
// in order, through the route's stages as an HTTP publish naming its
// channel, then through the one publish path. A message that is refused
// or fails does not stop the others; the answer (200, JSON) gives each
// message's id or status. A body that is not a valid batch publishes
// nothing (400).
func (s *Server) publishBatch(w http.ResponseWriter, q *route.Request) {
	r, rt := q.HTTP, q.Route
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), batchContentType) {
		plainError(w, http.StatusUnsupportedMediaType, "A batch publish is a JSON array (Content-Type: application/json).")
		return
	}
	body, err := s.readBodyUpTo(w, r, rt, maxBatchBody)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			plainError(w, http.StatusRequestEntityTooLarge, "A batch is at most "+strconv.Itoa(maxBatchBody)+" bytes.")
			return
		}
		s.bodyError(w, r, rt, err)
		return
	}
	msgs, err := protocol.ParseBatch(body, maxBatchMessages)
	if err != nil {
		plainError(w, http.StatusBadRequest, err.Error())
		return
	}
	results := make([]protocol.BatchResult, len(msgs))
	for i := range msgs {
		results[i] = s.publishBatched(q, &msgs[i])
	}
	out := protocol.AppendBatchResults(make([]byte, 0, 64*len(results)+16), results)
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// publishBatched publishes one message of a batch and says how it went.
func (s *Server) publishBatched(bq *route.Request, m *protocol.BatchMessage) protocol.BatchResult {
	r, rt := bq.HTTP, bq.Route
	ctx := r.Context()
	res := protocol.BatchResult{Channel: m.Channel}
	fail := func(status int, reason string) protocol.BatchResult {
		res.Status, res.Reason = status, reason
		if reason == "" {
			res.Reason = http.StatusText(status)
		}
		return res
	}
	if l := rt.Publisher.MaxBodySize; l > 0 && int64(len(m.Data)) > l {
		return fail(http.StatusRequestEntityTooLarge, "Message is larger than client_max_body_size ("+strconv.FormatInt(l, 10)+" bytes).")
	}
	q, rf := rt.PrepareNamed(ctx, r, bq.Captures, route.Publish, route.Named{ID: m.Channel, Token: m.Token})
	defer q.Done()
	if rf == nil {
		rf = q.AuthorizeBody(ctx, m.Data)
	}
	if rf != nil {
		return fail(rf.Status, rf.Message)
	}
	p := store.Publication{Body: m.Data, ContentType: m.ContentType, EventName: m.Event}
	if rt.Hooks.Upstream != nil {
		switch status := s.upstreamed(ctx, rt, q.NchanVars(), &p, "http"); status {
		case 0:
		case http.StatusNoContent: // the application dropped it
			res.Status = http.StatusNoContent
			return res
		default:
			return fail(status, "")
		}
	}
	pub, err := s.publish(ctx, rt, q.Keys(), p, "http", r.RemoteAddr)
	if err != nil {
		herr := storeError(err)
		return fail(herr.status, herr.msg)
	}
	if rt.Events != nil {
		s.requestEvent(q, chanevents.ChannelPublish, q.Keys())
	}
	res.ID, res.Status = pub.id.String(), pub.status
	return res
}
