package route

import (
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/httpdate"
	"github.com/heraldpush/herald/internal/location"
	"github.com/heraldpush/herald/protocol/msgid"
)

// IDs is how a location tells subscribers the id of a message and reads it
// back from their next request: Nchan's Last-Modified and Etag pair, the
// whole id in the Etag (subscriber_compound_etag_message_id), a custom
// header in place of Etag, and subscriber_last_message_id (Last-Event-ID,
// ?last_event_id=).
type IDs struct {
	// Header carries the id's tags (or the whole id in compound mode):
	// "Etag" unless subscriber_message_id_custom_etag_header says otherwise.
	Header   string
	custom   bool
	Compound bool
	// LastID are where else a request may carry an id.
	LastID []location.Expr
	// lastMod keeps the Last-Modified value last formatted: the
	// subscribers of a message all get the same one.
	lastMod *atomic.Pointer[lastModified]
}

// lastModified is a Last-Modified field value and the time it stands for.
type lastModified struct {
	sec   int64
	value string
}

func newIDs(l *config.Location) IDs {
	ids := IDs{Header: "Etag", Compound: l.CompoundEtagMessageID, LastID: l.SubscriberLastMessageID,
		lastMod: new(atomic.Pointer[lastModified])}
	if l.CustomEtagHeader != "" {
		ids.Header, ids.custom = l.CustomEtagHeader, true
	}
	return ids
}

// Cursor is the message id a subscriber request carries: one cursor per
// channel and the channel of the last message it got (Active, -1 if the id
// did not say). Given is false when the request carries no id.
type Cursor struct {
	IDs    []msgid.ID
	Active int
	Given  bool
}

// badMessageID is parse's refusal of an id that does not parse.
func badMessageID() *Refusal {
	return refuse(http.StatusBadRequest, "message id", "Message ID invalid")
}

// parse finds the message id a subscriber request carries, in Nchan's
// order: If-Modified-Since with If-None-Match; a compound id in
// If-None-Match (or the Etag request header NchanSubscriber.js sends,
// when If-None-Match holds none); subscriber_last_message_id. As in
// Nchan, a subscriber_last_message_id value without a ':' is no id (the
// next value is tried, then the location's start), and one with a ':'
// that does not parse is refused (400), unless lenient: an EventSource
// request, whose Last-Event-ID comes from whatever server the browser
// last talked to and which would never reconnect after a 400, ignores it
// as well. The cursor's IDs go into dst when it has room for n.
func (ids *IDs) parse(r *http.Request, vars location.Request, n int, lenient bool, dst []msgid.ID) (Cursor, *Refusal) {
	if cap(dst) < n {
		dst = make([]msgid.ID, 0, n)
	}
	given := func(m msgid.Multi) (Cursor, *Refusal) {
		return Cursor{IDs: m.AppendCursors(dst[:0]), Active: m.Active, Given: true}, nil
	}
	hd := r.Header
	inm := unquote(hd.Get("If-None-Match"))
	if ids.custom {
		inm = unquote(hd.Get(ids.Header))
	}
	if inm == "" {
		inm = unquote(hd.Get("Etag"))
	}
	if ims := hd.Get("If-Modified-Since"); ims != "" && !ids.Compound {
		if sec, ok := httpdate.Parse(ims); ok && sec > 0 {
			if inm == "" {
				return Cursor{}, badMessageID()
			}
			var m msgid.Multi
			var err error
			if strings.Contains(inm, ":") {
				m, err = msgid.Parse(inm, n)
			} else {
				m, err = msgid.ParseTags(inm, n)
				m.Time = sec
			}
			if err != nil {
				return Cursor{}, badMessageID()
			}
			return given(m)
		}
	}
	if !strings.Contains(inm, ":") {
		// A tag alone, without If-Modified-Since, names no message; the
		// id NchanSubscriber.js sent in its Etag request header does.
		// Such a tag is what a browser's HTTP cache adds to that request
		// (the Etag of a cached poll answer, without its Last-Modified
		// when the answer's Vary does not match): it must not hide the
		// client's own id.
		if e := unquote(hd.Get("Etag")); strings.Contains(e, ":") {
			inm = e
		}
	}
	if strings.Contains(inm, ":") {
		m, err := msgid.Parse(inm, n)
		if err != nil {
			return Cursor{}, badMessageID()
		}
		return given(m)
	}
	for _, e := range ids.LastID {
		v := e.Eval(vars)
		if v == "" {
			continue
		}
		if dec, err := url.QueryUnescape(v); err == nil {
			v = dec
		}
		if !strings.Contains(v, ":") {
			continue
		}
		m, err := msgid.Parse(v, n)
		if err != nil {
			if lenient {
				continue
			}
			return Cursor{}, badMessageID()
		}
		return given(m)
	}
	dst = dst[:n]
	clear(dst)
	return Cursor{IDs: dst, Active: -1}, nil
}

func unquote(s string) string {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "W/"))
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// SetHeaders writes, on a poll answer with status, the id a subscriber
// sends back for the next message, as Nchan does: Last-Modified (the
// second) and the tags, or the whole id in compound mode. Last-Modified
// goes only on 200 and 304, the answers nginx sends it on; an id of time
// 0 (a request that named none, answered without a message) writes
// neither. Vary is always written. The fields' values are kept in vals
// (hd.Set would allocate one slice each), which must outlive the answer's
// head.
func (ids *IDs) SetHeaders(hd http.Header, m msgid.Multi, status int, vals *[3]string) {
	switch {
	case m.Time <= 0:
	case ids.Compound:
		vals[0] = m.String()
		hd[http.CanonicalHeaderKey(ids.Header)] = vals[0:1:1]
	default:
		if status == http.StatusOK || status == http.StatusNotModified {
			vals[1] = ids.lastModified(m.Time)
			hd["Last-Modified"] = vals[1:2:2]
		}
		vals[0] = m.TagString()
		hd[http.CanonicalHeaderKey(ids.Header)] = vals[0:1:1]
	}
	vals[2] = "If-None-Match, If-Modified-Since"
	hd["Vary"] = vals[2:3:3]
}

// lastModified formats the Last-Modified value of a message published at
// sec, once for all of its subscribers.
func (ids *IDs) lastModified(sec int64) string {
	if ids.lastMod == nil {
		return time.Unix(sec, 0).UTC().Format(http.TimeFormat)
	}
	if lm := ids.lastMod.Load(); lm != nil && lm.sec == sec {
		return lm.value
	}
	lm := &lastModified{sec: sec, value: time.Unix(sec, 0).UTC().Format(http.TimeFormat)}
	ids.lastMod.Store(lm)
	return lm.value
}

// Cacheable reports whether a message's id can be written as Nchan's
// default Etag/Last-Modified pair, so encodings that carry it may be
// shared by every subscriber of the location kind.
func (ids *IDs) Cacheable() bool { return !ids.Compound && !ids.custom }
