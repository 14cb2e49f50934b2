package server

import (
	"net/http"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/protocol/msgid"
)

// Encoding slots of store.Message (see store.Message.Encoded). Raw
// streams need none: a body and its separator are written as they are.
const (
	slotEventSource = iota
	slotChunk
	slotMultipart
	slotWSPlain
	slotWSMeta
	slotWSPlainDeflate
	slotWSMetaDeflate
	slotMux // a herald.v1 message frame (mux.go)
)

// streamHTTP starts a streaming HTTP response (EventSource, chunked,
// multipart/mixed or raw stream) and hands the subscriber to a streamer. On
// HTTP/1.1 the connection is hijacked so an idle subscriber holds no
// net/http buffers and no handler goroutine.
func (s *Server) streamHTTP(w http.ResponseWriter, q *route.Request, ss *session, t config.Transport) {
	r, rt := q.HTTP, q.Route
	sub := &rt.Subscriber
	hd := make(http.Header)
	q.SetCORS(hd)
	carryRedirectHeaders(hd, w.Header())
	h1 := r.ProtoMajor == 1
	var f format
	var preamble []byte
	var ping = sub.EventSource.Ping
	switch t {
	case config.EventSource:
		hd.Set("Content-Type", "text/event-stream; charset=utf-8")
		hd.Set("Cache-Control", "no-cache")
		f = &esFormat{es: &sub.EventSource}
		preamble = []byte(protocol.EventSourcePreamble)
	case config.Chunked:
		setContentType(hd, sub.DefaultType)
		if h1 {
			hd.Set("Transfer-Encoding", "chunked")
		}
		f = &chunkFormat{framed: h1}
	case config.Multipart:
		hd.Set("Content-Type", "multipart/mixed; boundary="+s.boundary)
		f = &multipartFormat{ids: &rt.IDs, boundary: s.boundary, next: s.partEnd}
		preamble = []byte("--" + s.boundary)
	default:
		setContentType(hd, sub.DefaultType)
		f = &rawFormat{sep: []byte(sub.RawSeparator)}
	}
	if t != config.EventSource {
		ping = 0
	}
	if h1 && t != config.Chunked {
		// The body ends when the connection does, as in Nchan.
		hd.Set("Connection", "close")
	}
	if !s.streams.add() {
		ss.end(endShutdown)
		w.Header().Set("Retry-After", "1")
		plainError(w, http.StatusServiceUnavailable, "Server shutting down.")
		return
	}
	ss.stream = true
	st := &streamer{s: s, ss: ss, f: f, ping: ping}
	if !h1 {
		for k, v := range hd {
			w.Header()[k] = v
		}
		w.WriteHeader(http.StatusOK)
		o := &h2Output{w: w, rc: http.NewResponseController(w), timeout: sub.SendTimeout, done: r.Context().Done()}
		ss.out, st.out = o, o
		if preamble != nil {
			o.w.Write(preamble)
		}
		if err := o.rc.Flush(); err != nil {
			ss.end(endClientGone)
			return
		}
		st.run() // HTTP/2 streams keep the handler goroutine.
		return
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		ss.end(endClientGone)
		plainError(w, http.StatusInternalServerError, "Cannot stream on this connection.")
		return
	}
	o := newConnOutput(conn, sub.SendTimeout)
	ss.out, st.out = o, o
	head := appendHead(make([]byte, 0, 256), http.StatusOK, hd)
	head = append(head, preamble...)
	if err := o.write([][]byte{head}); err != nil {
		ss.end(endClientGone)
		return
	}
	go o.watchClose()
	s.startStream(st)
}

// chunkFormat writes one HTTP chunk per message (framed on HTTP/1.1; on
// HTTP/2 each message is one write of its bytes). Empty messages are
// skipped: an empty chunk would end the body.
type chunkFormat struct{ framed bool }

// chunkDataEnd follows every chunk's data.
var chunkDataEnd = []byte(protocol.ChunkDataEnd)

func (f *chunkFormat) message(bufs [][]byte, m *store.Message, _ msgid.Multi, _ bool) [][]byte {
	if len(m.Body) == 0 {
		return bufs
	}
	if !f.framed {
		return append(bufs, m.Body)
	}
	enc := m.Encoded(slotChunk, func(m *store.Message) store.Encoding {
		head := protocol.AppendChunkHead(make([]byte, 0, 18), len(m.Body))
		return inline(store.Encoding{Parts: [][]byte{head, m.Body, chunkDataEnd}, Own: cap(head)})
	})
	return append(bufs, enc.Parts...)
}

func (f *chunkFormat) ping() []byte { return nil }

func (f *chunkFormat) end(streamEnd) []byte {
	if f.framed {
		return []byte(protocol.ChunkedEnd)
	}
	return nil
}

// multipartFormat writes multipart/mixed parts with each message's
// Last-Modified, Etag and Content-Type.
type multipartFormat struct {
	ids      *route.IDs
	boundary string
	next     []byte // what follows each body: "\r\n--" and the boundary
}

func (f *multipartFormat) message(bufs [][]byte, m *store.Message, id msgid.Multi, single bool) [][]byte {
	build := func(m *store.Message, id msgid.Multi) store.Encoding {
		lm, etag := "", id.TagString()
		if f.ids.Compound {
			etag = id.String()
		} else {
			lm = protocol.HTTPDate(id.Time)
		}
		head := protocol.AppendMultipartHead(make([]byte, 0, 120), lm, f.ids.Header, etag, m.ContentType)
		return inline(store.Encoding{Parts: [][]byte{head, m.Body, f.next}, Own: cap(head)})
	}
	if !single || !f.ids.Cacheable() {
		return append(bufs, build(m, id).Parts...)
	}
	enc := m.Encoded(slotMultipart, func(m *store.Message) store.Encoding {
		return build(m, msgid.Multi{Time: m.ID.Time, Tags: []int32{m.ID.Tag}})
	})
	return append(bufs, enc.Parts...)
}

func (f *multipartFormat) ping() []byte { return nil }

func (f *multipartFormat) end(streamEnd) []byte { return []byte(protocol.MultipartEnd) }

// rawFormat writes each message followed by the separator.
type rawFormat struct{ sep []byte }

func (f *rawFormat) message(bufs [][]byte, m *store.Message, _ msgid.Multi, _ bool) [][]byte {
	return append(bufs, m.Body, f.sep)
}

func (f *rawFormat) ping() []byte { return nil }

func (f *rawFormat) end(streamEnd) []byte { return nil }
