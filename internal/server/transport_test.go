package server_test

// Transport selection: which transport a request gets and how a request
// asking for one the location does not allow falls through.

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// classify makes a request and names the transport that answered it:
// "longpoll" when the server holds the request as a subscriber of the
// target's channel and sends nothing (for 400ms), else the kind of the
// response.
func classify(t testing.TB, s *testServer, target string, headers []string) string {
	t.Helper()
	c := sendRaw(t, s, "GET", target, headers...)
	defer c.conn.Close()
	ch := target[strings.LastIndex(target, "/")+1:]
	answered := func(d time.Duration) bool { // a response is coming (not consumed)
		c.conn.SetReadDeadline(time.Now().Add(d))
		_, err := c.br.Peek(1)
		if err != nil && !isTimeoutErr(err) {
			t.Fatalf("GET %s: %v", target, err)
		}
		return err == nil
	}
	// Wait (bounded: 5s) for an answer or for the request to be held.
	for i := 0; i < 50 && !answered(100*time.Millisecond); i++ {
		if storeSubscribers(s, ch) == 1 {
			if !answered(400 * time.Millisecond) {
				return "longpoll" // parked, waiting for a message
			}
			break
		}
	}
	if err := c.readHead(3 * time.Second); err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	ct := c.Header.Get("Content-Type")
	switch {
	case c.Status == http.StatusSwitchingProtocols:
		return "websocket"
	case c.Status == http.StatusOK && strings.HasPrefix(ct, "text/event-stream"):
		return "eventsource"
	case c.Status == http.StatusOK && strings.EqualFold(c.Header.Get("Transfer-Encoding"), "chunked"):
		return "chunked"
	case c.Status == http.StatusOK && strings.HasPrefix(ct, "multipart/mixed"):
		return "multipart"
	case c.Status == http.StatusNotModified:
		return "intervalpoll"
	case c.Status == http.StatusOK && c.Header.Get("Content-Length") == "":
		return "raw"
	}
	return strconv.Itoa(c.Status)
}

func TestTransportSelection(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	es := []string{"Accept", "text/event-stream"}
	te := []string{"TE", "chunked"}
	mp := []string{"Accept", "multipart/mixed"}
	cat := func(hs ...[]string) []string {
		var out []string
		for _, h := range hs {
			out = append(out, h...)
		}
		return out
	}
	cases := []struct {
		name, loc string
		headers   []string
		want      string
	}{
		{"websocket beats everything", "all", cat(wsHeaders(), []string{"Accept", "text/event-stream, multipart/mixed"}, te), "websocket"},
		{"eventsource beats chunked and multipart", "all", cat([]string{"Accept", "multipart/mixed, text/event-stream"}, te), "eventsource"},
		{"chunked beats multipart", "all", cat(te, mp), "chunked"},
		{"chunked among TE values", "all", []string{"TE", "trailers, chunked"}, "chunked"},
		{"multipart", "all", mp, "multipart"},
		{"intervalpoll replaces longpoll", "all", nil, "intervalpoll"},
		{"raw stream before longpoll", "rawlp", nil, "raw"},
		{"eventsource falls through to raw stream", "rawlp", es, "raw"},
		{"longpoll", "lp", nil, "longpoll"},
		{"eventsource falls through to longpoll", "lp", es, "longpoll"},
		{"chunked falls through to longpoll", "lp", te, "longpoll"},
		// Nchan checks for a WebSocket handshake before anything else: on a
		// location without WebSocket subscribers it is a WebSocket publisher
		// or 403, never a poll (nchan_pubsub_handler; test_interval_poll).
		{"websocket on longpoll-only is 403", "lp", wsHeaders(), "403"},
		{"websocket on intervalpoll-only is 403", "ipoll", wsHeaders(), "403"},
		{"websocket on longpoll + websocket publisher is the publisher", "lpwspub", wsHeaders(), "websocket"},
		{"intervalpoll-only", "ipoll", nil, "intervalpoll"},
		{"longpoll + websocket publisher: plain GET", "lpwspub", nil, "longpoll"},
		{"TE chunkedfoo is not chunked", "sub", []string{"TE", "chunkedfoo"}, "longpoll"},
		{"TE chunked;q=0 is not chunked", "sub", []string{"TE", "chunked;q=0"}, "longpoll"},
		{"default subscriber: eventsource", "sub", es, "eventsource"},
		{"default subscriber: chunked", "sub", te, "chunked"},
		{"default subscriber: multipart", "sub", mp, "multipart"},
		{"default subscriber: websocket", "sub", wsHeaders(), "websocket"},
		{"default subscriber: longpoll", "sub", nil, "longpoll"},
		{"eventsource-only: plain GET is 403", "es", nil, "403"},
		{"eventsource-only: websocket is 403", "es", wsHeaders(), "403"},
		{"eventsource-only: chunked is 403", "es", te, "403"},
		{"eventsource-only: eventsource", "es", es, "eventsource"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target := fmt.Sprintf("/%s/sel%d", tc.loc, i)
			if got := classify(t, s, target, tc.headers); got != tc.want {
				t.Errorf("GET %s %q: answered as %s, want %s", target, tc.headers, got, tc.want)
			}
		})
	}
}

// TestTransportFallThroughLongPoll: an EventSource request on a long-poll-only
// location is a plain long-poll, answered with the message and its ids.
func TestTransportFallThroughLongPoll(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	c := sendRaw(t, s, "GET", "/lp/ft", "Accept", "text/event-stream")
	waitSubscribers(t, s, "ft", 1)
	c.expectSilence(t, 100*time.Millisecond)
	id, _ := publish(t, s, "ft", "long-polled")
	if err := c.readHead(3 * time.Second); err != nil {
		t.Fatalf("read head: %v", err)
	}
	if c.Status != http.StatusOK || c.Header.Get("Content-Type") == "text/event-stream; charset=utf-8" {
		t.Fatalf("got %d %q, want a 200 long-poll answer", c.Status, c.Header.Get("Content-Type"))
	}
	if got := c.body(t); got != "long-polled" {
		t.Errorf("body %q, want %q", got, "long-polled")
	}
	if tag := strconv.Itoa(id.Tag); c.Header.Get("Etag") != tag {
		t.Errorf("Etag %q, want %q (id %s)", c.Header.Get("Etag"), tag, id)
	}
}

// TestTransportLongPollOnlyLocation: requests asking for another HTTP
// transport fall through to long-poll when the location allows only
// long-poll; a WebSocket handshake never does (403, as in Nchan).
func TestTransportLongPollOnlyLocation(t *testing.T) {
	t.Parallel()
	t.Run("websocket upgrade", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, pollConfig("", ""))
		r := do(t, "GET", s.URL+"/lp/only", "", wsHeaders()...)
		if r.Status != http.StatusForbidden {
			t.Fatalf("handshake on a long-poll-only location: %d, want 403", r.Status)
		}
	})
	cases := []struct {
		name    string
		headers []string
	}{
		{"plain GET", nil},
		{"eventsource", []string{"Accept", "text/event-stream"}},
		{"chunked", []string{"TE", "chunked"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, pollConfig("", ""))
			longPollGetsNext(t, s, "/lp/only", "only", "hi", 50*time.Millisecond, tc.headers...)
		})
	}
}

// TestUnparseableLastEventID: what a subscriber_last_message_id value
// (Last-Event-ID, ?last_event_id=) that is not a message id gets, per
// transport, as measured on Nchan 1.3.6: a value without a ':' is no id,
// and every transport starts where the location starts (the oldest
// message here); a value with a ':' that does not parse is 400, except
// for EventSource, which Herald starts where the location starts too (a
// browser keeps the id of whatever server it last talked to, and never
// reconnects after a 400).
func TestUnparseableLastEventID(t *testing.T) {
	t.Parallel()
	s := startServer(t, streamConfig)
	publishN(t, s, "lei", "<msg-", 2) // bodies no multipart boundary holds
	transports := []struct {
		name, path string
		headers    []string
		status     int
	}{
		{"long-poll", "/lp/lei", nil, http.StatusOK},
		{"interval-poll", "/ipoll/lei", nil, http.StatusOK},
		{"eventsource", "/sub/lei", []string{"Accept", "text/event-stream"}, http.StatusOK},
		{"websocket", "/sub/lei", wsHeaders(), http.StatusSwitchingProtocols},
		{"chunked", "/sub/lei", []string{"TE", "chunked"}, http.StatusOK},
		{"multipart", "/sub/lei", []string{"Accept", "multipart/mixed"}, http.StatusOK},
		{"raw", "/raw/lei", nil, http.StatusOK},
	}
	ids := []struct {
		name, query string
		header      []string
		colon       bool
	}{
		{"Last-Event-ID without a colon", "", []string{"Last-Event-ID", "garbage"}, false},
		{"last_event_id without a colon", "?last_event_id=nope", nil, false},
		{"a uuid", "", []string{"Last-Event-ID", "123e4567-e89b-12d3-a456-426614174000"}, false},
		{"Last-Event-ID x:y", "", []string{"Last-Event-ID", "x:y"}, true},
		{"Last-Event-ID 1:2:3", "", []string{"Last-Event-ID", "1:2:3"}, true},
		{"last_event_id with a bad tag", "?last_event_id=1%3Ax", nil, true},
	}
	for _, tr := range transports {
		for _, id := range ids {
			t.Run(tr.name+"/"+id.name, func(t *testing.T) {
				c := openRaw(t, s, "GET", tr.path+id.query, append(append([]string{}, tr.headers...), id.header...)...)
				if id.colon && tr.name != "eventsource" {
					if c.Status != http.StatusBadRequest || strings.TrimSpace(c.body(t)) != "Message ID invalid" {
						t.Fatalf("status %d, want 400 Message ID invalid", c.Status)
					}
					return
				}
				if c.Status != tr.status {
					t.Fatalf("status %d, want %d", c.Status, tr.status)
				}
				if c.Header.Get("Content-Length") != "" {
					if b := c.body(t); b != "<msg-1" {
						t.Fatalf("body %q, want the oldest message m1", b)
					}
					return
				}
				if got := c.readUntil(t, "<msg-1"); strings.Contains(got[:strings.Index(got, "<msg-1")], "<msg-2") {
					t.Fatalf("stream %q does not start at m1", got)
				}
			})
		}
	}
}
