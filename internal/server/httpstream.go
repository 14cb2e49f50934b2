package server

import (
	"net/http"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/protocol/msgid"
)

// Encoding slots of store.Message (see store.Message.Encoded).
const (
	slotEventSource = iota
	slotChunk
	slotMultipart
	slotRaw
	slotWSPlain
	slotWSMeta
	slotWSPlainDeflate
	slotWSMetaDeflate
)

// streamHTTP starts a streaming HTTP response (EventSource, chunked,
// multipart/mixed or raw stream) and hands the subscriber to a streamer. On
// HTTP/1.1 the connection is hijacked so an idle subscriber holds no
// net/http buffers and no handler goroutine.
func (h *handler) streamHTTP(w http.ResponseWriter, r *http.Request, l *loc, ss *session, t config.Transport) {
	hd := make(http.Header)
	h.setCORS(hd, r, l)
	h1 := r.ProtoMajor == 1
	var f format
	var kind string
	switch t {
	case config.EventSource:
		kind = "eventsource"
		hd.Set("Content-Type", "text/event-stream; charset=utf-8")
		hd.Set("Cache-Control", "no-cache")
		f = &esFormat{l: l}
	case config.Chunked:
		kind = "http-chunked"
		hd.Set("Content-Type", l.DefaultType)
		if h1 {
			hd.Set("Transfer-Encoding", "chunked")
		}
		f = &chunkFormat{framed: h1}
	case config.Multipart:
		kind = "http-multipart"
		hd.Set("Content-Type", "multipart/mixed; boundary="+h.s.boundary)
		f = &multipartFormat{l: l, boundary: h.s.boundary}
	default:
		kind = "http-raw-stream"
		hd.Set("Content-Type", l.DefaultType)
		f = &rawFormat{sep: l.RawStreamSeparator}
	}
	if h1 && t != config.Chunked {
		// The body ends when the connection does, as in Nchan.
		hd.Set("Connection", "close")
	}
	var preamble []byte
	switch t {
	case config.EventSource:
		preamble = []byte(protocol.EventSourcePreamble)
	case config.Multipart:
		preamble = []byte("--" + h.s.boundary)
	}
	st := &streamer{h: h, l: l, ss: ss, f: f, ping: pingInterval(l, t), kind: kind, remote: r.RemoteAddr}
	if !h.s.streams.add() {
		ss.close()
		w.Header().Set("Retry-After", "1")
		plainError(w, http.StatusServiceUnavailable, "Server shutting down.")
		return
	}
	if !h1 {
		for k, v := range hd {
			w.Header()[k] = v
		}
		w.WriteHeader(http.StatusOK)
		o := &h2Output{w: w, rc: http.NewResponseController(w), timeout: l.SendTimeout, done: r.Context().Done()}
		if preamble != nil {
			o.w.Write(preamble)
		}
		if err := o.rc.Flush(); err != nil {
			h.s.streams.done()
			ss.close()
			return
		}
		st.out = o
		st.run() // HTTP/2 streams keep the handler goroutine.
		return
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		h.s.streams.done()
		ss.close()
		plainError(w, http.StatusInternalServerError, "Cannot stream on this connection.")
		return
	}
	o := newConnOutput(conn, l.SendTimeout)
	head := appendHead(make([]byte, 0, 256), http.StatusOK, hd)
	head = append(head, preamble...)
	if err := o.write([][]byte{head}); err != nil {
		h.s.streams.done()
		ss.close()
		conn.Close()
		return
	}
	st.out = o
	go o.watchClose()
	h.s.startStream(st)
}

func pingInterval(l *loc, t config.Transport) time.Duration {
	if t == config.EventSource {
		return l.EventSourcePingInterval
	}
	return 0
}

// esFormat writes EventSource events.
type esFormat struct{ l *loc }

func (f *esFormat) message(m *store.Message, id msgid.Multi, single bool) []byte {
	if f.l.EventSourceEvent != "" || !single {
		event := m.EventName
		if f.l.EventSourceEvent != "" {
			event = f.l.EventSourceEvent
		}
		return protocol.AppendEvent(nil, event, id.String(), m.Body)
	}
	return m.Encoded(slotEventSource, func(m *store.Message) []byte {
		return protocol.AppendEvent(make([]byte, 0, len(m.Body)+40), m.EventName, m.ID.String(), m.Body)
	})
}

func (f *esFormat) ping() []byte {
	return protocol.AppendPing(nil, f.l.EventSourcePingComment, f.l.EventSourcePingEvent, f.l.EventSourcePingData)
}

func (f *esFormat) end(status int, reason string) []byte {
	if status == 0 {
		return nil
	}
	return protocol.AppendStatusComment(nil, status, reason)
}

// chunkFormat writes one HTTP chunk per message (framed on HTTP/1.1; on
// HTTP/2 each message is one write of its bytes). Empty messages are
// skipped: an empty chunk would end the body.
type chunkFormat struct{ framed bool }

func (f *chunkFormat) message(m *store.Message, _ msgid.Multi, _ bool) []byte {
	if !f.framed || len(m.Body) == 0 {
		return m.Body
	}
	return m.Encoded(slotChunk, func(m *store.Message) []byte {
		return protocol.AppendChunk(make([]byte, 0, len(m.Body)+12), m.Body)
	})
}

func (f *chunkFormat) ping() []byte { return nil }

func (f *chunkFormat) end(int, string) []byte {
	if f.framed {
		return []byte(protocol.ChunkedEnd)
	}
	return nil
}

// multipartFormat writes multipart/mixed parts with each message's
// Last-Modified, Etag and Content-Type.
type multipartFormat struct {
	l        *loc
	boundary string
}

func (f *multipartFormat) message(m *store.Message, id msgid.Multi, single bool) []byte {
	build := func(m *store.Message, id msgid.Multi) []byte {
		lm, etag := "", id.TagString()
		if f.l.CompoundEtagMessageID {
			etag = id.String()
		} else {
			lm = protocol.HTTPDate(id.Time)
		}
		return protocol.AppendMultipartPart(make([]byte, 0, len(m.Body)+120), f.boundary, lm, f.l.etagHeader(), etag, m.ContentType, m.Body)
	}
	if !single || f.l.CompoundEtagMessageID || f.l.CustomEtagHeader != "" {
		return build(m, id)
	}
	return m.Encoded(slotMultipart, func(m *store.Message) []byte {
		return build(m, msgid.Multi{Time: m.ID.Time, Tags: []int32{m.ID.Tag}})
	})
}

func (f *multipartFormat) ping() []byte { return nil }

func (f *multipartFormat) end(int, string) []byte { return []byte(protocol.MultipartEnd) }

// rawFormat writes each message followed by the separator.
type rawFormat struct{ sep string }

func (f *rawFormat) message(m *store.Message, _ msgid.Multi, _ bool) []byte {
	build := func(m *store.Message) []byte {
		b := make([]byte, 0, len(m.Body)+len(f.sep))
		return append(append(b, m.Body...), f.sep...)
	}
	if f.sep != "\n" {
		return build(m)
	}
	return m.Encoded(slotRaw, build)
}

func (f *rawFormat) ping() []byte { return nil }

func (f *rawFormat) end(int, string) []byte { return nil }
