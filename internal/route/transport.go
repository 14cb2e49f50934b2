package route

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/heraldpush/herald/internal/config"
)

// implemented are the subscriber transports Herald speaks; a location's
// other transports are ignored as if it did not allow them.
const implemented = config.WebSocket | config.EventSource | config.LongPoll | config.IntervalPoll |
	config.Chunked | config.Multipart | config.RawStream

// SelectTransport picks the transport for a GET in Nchan's order: WebSocket
// upgrade, EventSource, chunked, multipart/mixed, interval-poll, raw stream,
// long-poll. A transport the location does not allow falls through; 0 means
// none is left. A WebSocket handshake gets a WebSocket or nothing: it never
// falls through to a polling transport.
func SelectTransport(r *http.Request, allowed config.Transport) config.Transport {
	if IsWebSocketUpgrade(r) {
		if allowed.Has(config.WebSocket) {
			return config.WebSocket
		}
		return 0
	}
	hd := r.Header
	candidates := [...]struct {
		t  config.Transport
		ok bool
	}{
		{config.EventSource, headerContains(hd, "Accept", "text/event-stream")},
		{config.Chunked, HeaderHasToken(hd, "TE", "chunked")},
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

// IsWebSocketUpgrade reports whether r is a WebSocket handshake.
func IsWebSocketUpgrade(r *http.Request) bool {
	return HeaderHasToken(r.Header, "Connection", "upgrade") && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// HeaderHasToken reports whether a comma-separated header has token (with
// a non-zero q value, if any).
func HeaderHasToken(h http.Header, name, token string) bool {
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
