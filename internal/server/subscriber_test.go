package server_test

// Subscriber-side tests over real sockets: long-poll and interval-poll
// responses, message id traversal in every form a client may send the id,
// subscriber_first_message, Push Module concurrency rules, multiplexing,
// access limits, subscriber accounting, id monotonicity and graceful
// shutdown. Expected values are computed here, independently of Herald's
// msgid package, from the Nchan behaviour in nchan-behaviour.md.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/servertest"
	"github.com/heraldpush/herald/internal/store/memory"
)

// subConf builds a one-server configuration with four locations:
// /pub/<id> (publisher), /sub/<id> (subscriber: true), /lp/<id> (long-poll
// only) and /ipoll/<id> (interval-poll only). pubOpts and subOpts are
// "key: value" lines separated by ';' added to /pub and /sub.
func subConf(pubOpts, subOpts string) string {
	var b strings.Builder
	b.WriteString("channel_id_split_delimiter: \",\"\nservers:\n  - listen: 127.0.0.1:0\n    locations:\n")
	loc := func(prefix, role, opts string) {
		fmt.Fprintf(&b, "      - location: ~ ^/%s/(.+)$\n        %s\n        channel_id: $1\n", prefix, role)
		for line := range strings.SplitSeq(opts, ";") {
			if line = strings.TrimSpace(line); line != "" {
				fmt.Fprintf(&b, "        %s\n", line)
			}
		}
	}
	loc("pub", "publisher: true", pubOpts)
	loc("sub", "subscriber: true", subOpts)
	loc("lp", "subscriber: longpoll", "")
	loc("ipoll", "subscriber: intervalpoll", "")
	return b.String()
}

// subMID is a single-channel message id, parsed here independently of Herald.
type subMID struct {
	T   int64
	Tag int
}

func (m subMID) String() string { return fmt.Sprintf("%d:%d", m.T, m.Tag) }

func (m subMID) less(o subMID) bool { return m.T < o.T || (m.T == o.T && m.Tag < o.Tag) }

// httpDate is the Last-Modified value of id m.
func (m subMID) httpDate() string { return time.Unix(m.T, 0).UTC().Format(http.TimeFormat) }

func subParseMID(t testing.TB, s string) subMID {
	t.Helper()
	ts, tag, ok := strings.Cut(strings.TrimSpace(s), ":")
	sec, err1 := strconv.ParseInt(ts, 10, 64)
	n, err2 := strconv.Atoi(tag)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("bad message id %q", s)
	}
	return subMID{sec, n}
}

// subInfoField returns the value of a "name: value" line of a plain channel info.
func subInfoField(t testing.TB, body, name string) string {
	t.Helper()
	for line := range strings.SplitSeq(body, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+": "); ok {
			return v
		}
	}
	t.Fatalf("channel info has no %q line: %q", name, body)
	return ""
}

// subPublish POSTs body to /pub/<ch> and returns the new message's id (from
// the channel info's "last message id") and the status.
func subPublish(t testing.TB, s *testServer, ch, body string, headers ...string) (subMID, int) {
	t.Helper()
	r := do(t, "POST", s.URL+"/pub/"+ch, body, headers...)
	if r.Status != http.StatusCreated && r.Status != http.StatusAccepted {
		t.Fatalf("publish to %s: got %d %q", ch, r.Status, r.Body)
	}
	return subParseMID(t, subInfoField(t, r.Body, "last message id")), r.Status
}

// subPublishN publishes bodies prefix1..prefixN and returns their ids.
func subPublishN(t testing.TB, s *testServer, ch, prefix string, n int) []subMID {
	t.Helper()
	ids := make([]subMID, n)
	for i := range ids {
		ids[i], _ = subPublish(t, s, ch, fmt.Sprintf("%s%d", prefix, i+1))
	}
	return ids
}

// subActive reads "active subscribers" from the channel info.
func subActive(t testing.TB, s *testServer, ch string) int {
	t.Helper()
	r := do(t, "GET", s.URL+"/pub/"+ch, "")
	if r.Status != http.StatusOK {
		t.Fatalf("channel info %s: got %d %q", ch, r.Status, r.Body)
	}
	n, err := strconv.Atoi(subInfoField(t, r.Body, "active subscribers"))
	if err != nil {
		t.Fatalf("channel info %s: %v", ch, err)
	}
	return n
}

// subRecv waits (bounded) for an async response.
func subRecv(t testing.TB, ch <-chan response, d time.Duration) response {
	t.Helper()
	select {
	case r := <-ch:
		if r.Status == -1 {
			t.Fatalf("request failed: %s", r.Body)
		}
		return r
	case <-time.After(d):
		t.Fatalf("no response within %v", d)
	}
	return response{}
}

// subWaitsForNext checks that a long-poll of target parks (for at least
// pending) and then gets body, published to channel ch meanwhile.
func subWaitsForNext(t testing.TB, s *testServer, target, ch, body string, pending time.Duration, headers ...string) {
	t.Helper()
	got := async(t, 5*time.Second, "GET", s.URL+target, "", headers...)
	waitSubscribers(t, s, "/"+ch, 1)
	subPending(t, got, pending)
	id, _ := subPublish(t, s, ch, body)
	subCheckMsg(t, subRecv(t, got, 3*time.Second), body, id)
}

// subPending fails if the async request is answered within d: it is
// supposed to be a parked long-poll.
func subPending(t testing.TB, ch <-chan response, d time.Duration) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("request answered while it should wait: %d %q (Etag %q)", r.Status, r.Body, r.Header.Get("Etag"))
	case <-time.After(d):
	}
}

// subCancellable is async with a cancel function that drops the request.
func subCancellable(t testing.TB, rawURL string, headers ...string) (<-chan response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	req, err := http.NewRequestWithContext(ctx, "GET", rawURL, nil)
	if err != nil {
		cancel()
		t.Fatalf("request: %v", err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	ch := make(chan response, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			ch <- response{Status: -1, Body: err.Error()}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		ch <- response{Status: res.StatusCode, Header: res.Header, Body: string(b)}
	}()
	return ch, cancel
}

// subCheckMsg asserts a 200 long-poll answer carrying body with message id id.
func subCheckMsg(t testing.TB, r response, body string, id subMID) {
	t.Helper()
	if r.Status != http.StatusOK || r.Body != body {
		t.Fatalf("got %d %q (Etag %q), want 200 %q", r.Status, r.Body, r.Header.Get("Etag"), body)
	}
	if got, want := r.Header.Get("Etag"), strconv.Itoa(id.Tag); got != want {
		t.Errorf("%q: Etag %q, want %q", body, got, want)
	}
	if got, want := r.Header.Get("Last-Modified"), id.httpDate(); got != want {
		t.Errorf("%q: Last-Modified %q, want %q", body, got, want)
	}
}

// subResume is a way for a long-poll client to send back the id it last got.
type subResume int

const (
	subByHeaders     subResume = iota // If-Modified-Since + If-None-Match
	subByQuery                        // ?last_event_id=<url-encoded t:tags>
	subByLastEventID                  // Last-Event-ID: t:tags
	subByINMCompound                  // If-None-Match: t:tags alone
	subByEtagRequest                  // a request header named Etag: t:tags (NchanSubscriber.js)
)

var subResumes = []subResume{subByHeaders, subByQuery, subByLastEventID, subByINMCompound, subByEtagRequest}

func (m subResume) String() string {
	return [...]string{"IfModifiedSince+IfNoneMatch", "last_event_id", "Last-Event-ID", "IfNoneMatch-compound", "Etag-request-header"}[m]
}

// subCompoundID is the "<time>:<tags>" id a long-poll response describes.
func subCompoundID(t testing.TB, r response) string {
	t.Helper()
	lm, err := http.ParseTime(r.Header.Get("Last-Modified"))
	if err != nil {
		t.Fatalf("response has no valid Last-Modified (%q): %v", r.Header.Get("Last-Modified"), err)
	}
	return strconv.FormatInt(lm.Unix(), 10) + ":" + r.Header.Get("Etag")
}

// subResumeReq returns the URL and headers of the request following prev
// (nil: the first request, which carries no id).
func subResumeReq(t testing.TB, base string, mode subResume, prev *response) (string, []string) {
	t.Helper()
	if prev == nil {
		return base, nil
	}
	switch mode {
	case subByHeaders:
		return base, []string{"If-Modified-Since", prev.Header.Get("Last-Modified"), "If-None-Match", prev.Header.Get("Etag")}
	case subByQuery:
		return base + "?last_event_id=" + url.QueryEscape(subCompoundID(t, *prev)), nil
	case subByLastEventID:
		return base, []string{"Last-Event-ID", subCompoundID(t, *prev)}
	case subByINMCompound:
		return base, []string{"If-None-Match", subCompoundID(t, *prev)}
	case subByEtagRequest:
		return base, []string{"Etag", subCompoundID(t, *prev)}
	}
	t.Fatalf("unknown subResume mode %d", mode)
	return "", nil
}

func TestSubscriberLongPollResponse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, subOpts, body string
		pubHeaders          []string
		wantType            string
		origin              string
	}{
		{"publisher content type", "", `{"a":1}`, []string{"Content-Type", "application/json"}, "application/json", ""},
		{"default_type when none", "", "hello", nil, "text/plain", ""},
		{"location default_type", "default_type: text/x-herald", "hello", nil, "text/x-herald", ""},
		{"empty message", "", "", nil, "text/plain", ""},
		{"CORS", "", "hi", []string{"Content-Type", "text/x-cors"}, "text/x-cors", "http://app.example"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, subConf("", tc.subOpts))
			var hdrs []string
			if tc.origin != "" {
				hdrs = []string{"Origin", tc.origin}
			}
			got := async(t, 5*time.Second, "GET", s.URL+"/sub/lp", "", hdrs...)
			waitSubscribers(t, s, "/lp", 1)
			subPending(t, got, 100*time.Millisecond)
			id, status := subPublish(t, s, "lp", tc.body, tc.pubHeaders...)
			if status != http.StatusCreated {
				t.Errorf("publish with a waiting subscriber: got %d, want 201", status)
			}
			r := subRecv(t, got, 3*time.Second)
			subCheckMsg(t, r, tc.body, id)
			if id.Tag != 0 {
				t.Errorf("first message of a channel has id %v, want tag 0", id)
			}
			if ct := r.Header.Get("Content-Type"); ct != tc.wantType {
				t.Errorf("Content-Type %q, want %q", ct, tc.wantType)
			}
			if cl := r.Header.Get("Content-Length"); cl != strconv.Itoa(len(tc.body)) {
				t.Errorf("Content-Length %q, want %d", cl, len(tc.body))
			}
			if v := r.Header.Get("Vary"); v != "If-None-Match, If-Modified-Since" {
				t.Errorf("Vary %q, want %q", v, "If-None-Match, If-Modified-Since")
			}
			if et := r.Header.Get("Etag"); strings.ContainsAny(et, `"`) || strings.HasPrefix(et, "W/") {
				t.Errorf("Etag %q must be the bare tag", et)
			}
			wantCORS := map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Credentials": "", "Access-Control-Expose-Headers": ""}
			if tc.origin != "" {
				wantCORS = map[string]string{
					"Access-Control-Allow-Origin":      tc.origin,
					"Access-Control-Allow-Credentials": "true",
					"Access-Control-Expose-Headers":    "Last-Modified, Etag, Content-Type",
				}
			}
			for k, want := range wantCORS {
				if got := r.Header.Get(k); got != want {
					t.Errorf("%s %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestSubscriberTraversal(t *testing.T) {
	t.Parallel()
	for _, mode := range subResumes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			s := startServer(t, subConf("message_buffer_length: 10", ""))
			ids := subPublishN(t, s, "walk", "m", 5)
			var prev *response
			for i := range 5 {
				u, h := subResumeReq(t, s.URL+"/sub/walk", mode, prev)
				r := doTimeout(t, 2*time.Second, "GET", u, "", h...)
				subCheckMsg(t, r, fmt.Sprintf("m%d", i+1), ids[i])
				prev = &r
			}
			// At the newest message the next request waits for message 6.
			u, h := subResumeReq(t, s.URL+"/sub/walk", mode, prev)
			got := async(t, 5*time.Second, "GET", u, "", h...)
			waitSubscribers(t, s, "/walk", 1)
			subPending(t, got, 50*time.Millisecond)
			id6, status := subPublish(t, s, "walk", "m6")
			if status != http.StatusCreated {
				t.Errorf("publish with a waiting subscriber: got %d, want 201", status)
			}
			subCheckMsg(t, subRecv(t, got, 3*time.Second), "m6", id6)
		})
	}
}

func TestSubscriberIDOlderThanBuffer(t *testing.T) {
	t.Parallel()
	s := startServer(t, subConf("message_buffer_length: 3", ""))
	ids := subPublishN(t, s, "old", "m", 6)
	first := response{Header: http.Header{}}
	first.Header.Set("Last-Modified", ids[0].httpDate())
	first.Header.Set("Etag", strconv.Itoa(ids[0].Tag))
	for _, mode := range subResumes {
		t.Run("after message 1 via "+mode.String(), func(t *testing.T) {
			u, h := subResumeReq(t, s.URL+"/sub/old", mode, &first)
			r := doTimeout(t, 2*time.Second, "GET", u, "", h...)
			subCheckMsg(t, r, "m4", ids[3])
			// and the walk goes on without gaps from there
			u, h = subResumeReq(t, s.URL+"/sub/old", mode, &r)
			subCheckMsg(t, doTimeout(t, 2*time.Second, "GET", u, "", h...), "m5", ids[4])
		})
	}
	t.Run("ancient id", func(t *testing.T) {
		r := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/old?last_event_id=1%3A0", "")
		subCheckMsg(t, r, "m4", ids[3])
	})
	t.Run("no id", func(t *testing.T) {
		subCheckMsg(t, doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/old", ""), "m4", ids[3])
	})
}

func TestSubscriberMalformedID(t *testing.T) {
	t.Parallel()
	s := startServer(t, subConf("", ""))
	ids := subPublishN(t, s, "bad", "m", 2)
	date := ids[0].httpDate()
	cases := []struct {
		name, query string
		headers     []string
	}{
		{"last_event_id garbage", "?last_event_id=garbage", nil},
		{"last_event_id bad tag", "?last_event_id=" + url.QueryEscape(strconv.FormatInt(ids[0].T, 10)+":x"), nil},
		{"Last-Event-ID garbage", "", []string{"Last-Event-ID", "nonsense"}},
		{"If-None-Match 1:x with If-Modified-Since", "", []string{"If-Modified-Since", date, "If-None-Match", "1:x"}},
		{"If-None-Match x with If-Modified-Since", "", []string{"If-Modified-Since", date, "If-None-Match", "x"}},
		{"If-Modified-Since without If-None-Match", "", []string{"If-Modified-Since", date}},
		{"compound If-None-Match garbage", "", []string{"If-None-Match", "12:zz"}},
		{"two tags for one channel", "", []string{"If-Modified-Since", date, "If-None-Match", "[0],0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/bad"+tc.query, "", tc.headers...)
			if r.Status != http.StatusBadRequest {
				t.Fatalf("got %d %q, want 400", r.Status, r.Body)
			}
			if !strings.Contains(r.Body, "Message ID invalid") {
				t.Errorf("body %q, want it to say Message ID invalid", r.Body)
			}
		})
	}
	// If-None-Match holding only a tag, without If-Modified-Since, is
	// ignored (reference 2.2 step 2): the subscriber starts at the oldest.
	t.Run("tag-only If-None-Match is ignored", func(t *testing.T) {
		r := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/bad", "", "If-None-Match", "1")
		subCheckMsg(t, r, "m1", ids[0])
	})
}

func TestSubscriberTimeoutAndDelete(t *testing.T) {
	t.Parallel()
	t.Run("subscriber_timeout gives 408", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, subConf("", "subscriber_timeout: 1s"))
		id, _ := subPublish(t, s, "to", "m1")
		first := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/to", "")
		subCheckMsg(t, first, "m1", id)
		u, h := subResumeReq(t, s.URL+"/sub/to", subByHeaders, &first)
		start := time.Now()
		r := doTimeout(t, 4*time.Second, "GET", u, "", h...)
		elapsed := time.Since(start)
		if r.Status != http.StatusRequestTimeout {
			t.Fatalf("got %d %q, want 408", r.Status, r.Body)
		}
		if elapsed < 900*time.Millisecond || elapsed > 3*time.Second {
			t.Errorf("408 after %v, want about 1s", elapsed)
		}
		if r.Body != "" {
			t.Errorf("408 body %q, want empty", r.Body)
		}
		if et, lm := r.Header.Get("Etag"), r.Header.Get("Last-Modified"); et != "0" || lm != id.httpDate() {
			t.Errorf("408 carries Etag %q Last-Modified %q, want the request's id: %q %q", et, lm, "0", id.httpDate())
		}
		if n := subActive(t, s, "to"); n != 0 {
			t.Errorf("after the 408: %d active subscribers, want 0", n)
		}
	})
	t.Run("DELETE while waiting gives 410", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, subConf("", ""))
		got := async(t, 5*time.Second, "GET", s.URL+"/sub/del", "")
		waitSubscribers(t, s, "/del", 1)
		if d := do(t, "DELETE", s.URL+"/pub/del", ""); d.Status != http.StatusOK {
			t.Fatalf("DELETE: got %d %q, want 200", d.Status, d.Body)
		}
		if r := subRecv(t, got, 2*time.Second); r.Status != http.StatusGone {
			t.Fatalf("waiting subscriber got %d %q, want 410", r.Status, r.Body)
		}
	})
	t.Run("DELETE of one multiplexed channel gives 410", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, "")
		got := async(t, 5*time.Second, "GET", s.URL+"/sub/a,b,c", "")
		subWaitMux(t, s, 1)
		if d := do(t, "DELETE", s.URL+"/pub/b", ""); d.Status != http.StatusOK {
			t.Fatalf("DELETE: got %d %q, want 200", d.Status, d.Body)
		}
		if r := subRecv(t, got, 2*time.Second); r.Status != http.StatusGone {
			t.Fatalf("waiting subscriber got %d %q, want 410", r.Status, r.Body)
		}
	})
}

// TestSubscriberMultiplexStatusEchoesID: a 304 (interval-poll, nothing new)
// and a 408 (subscriber_timeout) carry the id the request carried
// (reference 2.6), the active bracket included, for multiplexed requests too.
func TestSubscriberMultiplexStatusEchoesID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, prefix, status string }{
		{"interval-poll 304", "ipoll", "304"},
		{"long-poll 408", "sub", "408"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, subConf("", "subscriber_timeout: 1s"))
			ida, _ := subPublish(t, s, "a", "a1")
			idb, _ := subPublish(t, s, "b", "b1")
			last := []*subMID{&ida, nil, nil}
			r1 := doTimeout(t, 2*time.Second, "GET", s.URL+"/"+tc.prefix+"/a,b,c", "")
			subCheckMux(t, r1, "a1", ida, last, 0)
			u, h := subResumeReq(t, s.URL+"/"+tc.prefix+"/a,b,c", subByHeaders, &r1)
			r2 := doTimeout(t, 2*time.Second, "GET", u, "", h...)
			last[1] = &idb
			subCheckMux(t, r2, "b1", idb, last, 1)
			u, h = subResumeReq(t, s.URL+"/"+tc.prefix+"/a,b,c", subByHeaders, &r2)
			r := doTimeout(t, 3*time.Second, "GET", u, "", h...)
			if strconv.Itoa(r.Status) != tc.status {
				t.Fatalf("nothing new: got %d %q, want %s", r.Status, r.Body, tc.status)
			}
			if r.Header.Get("Etag") != r2.Header.Get("Etag") || r.Header.Get("Last-Modified") != r2.Header.Get("Last-Modified") {
				t.Errorf("%s carries Etag %q Last-Modified %q, want the request's %q %q", tc.status,
					r.Header.Get("Etag"), r.Header.Get("Last-Modified"), r2.Header.Get("Etag"), r2.Header.Get("Last-Modified"))
			}
		})
	}
}

func TestSubscriberIntervalPoll(t *testing.T) {
	t.Parallel()
	s := startServer(t, subConf("", ""))
	start := time.Now()
	r := doTimeout(t, 2*time.Second, "GET", s.URL+"/ipoll/ip", "")
	if r.Status != http.StatusNotModified || time.Since(start) > time.Second {
		t.Fatalf("empty channel: got %d after %v, want 304 at once", r.Status, time.Since(start))
	}
	id1, status := subPublish(t, s, "ip", "m1")
	if status != http.StatusAccepted {
		t.Errorf("publish with no waiting subscriber: got %d, want 202", status)
	}
	r1 := doTimeout(t, 2*time.Second, "GET", s.URL+"/ipoll/ip", "")
	subCheckMsg(t, r1, "m1", id1)

	u, h := subResumeReq(t, s.URL+"/ipoll/ip", subByHeaders, &r1)
	start = time.Now()
	r = doTimeout(t, 2*time.Second, "GET", u, "", h...)
	if r.Status != http.StatusNotModified || time.Since(start) > time.Second {
		t.Fatalf("nothing new: got %d %q after %v, want 304 at once", r.Status, r.Body, time.Since(start))
	}
	if r.Header.Get("Etag") != r1.Header.Get("Etag") || r.Header.Get("Last-Modified") != r1.Header.Get("Last-Modified") {
		t.Errorf("304 carries Etag %q Last-Modified %q, want the request's %q %q",
			r.Header.Get("Etag"), r.Header.Get("Last-Modified"), r1.Header.Get("Etag"), r1.Header.Get("Last-Modified"))
	}
	id2, _ := subPublish(t, s, "ip", "m2")
	subCheckMsg(t, doTimeout(t, 2*time.Second, "GET", u, "", h...), "m2", id2)
}

// TestSubscriberLongPollOnlyLocation: requests asking for another HTTP
// transport fall through to long-poll when the location allows only
// long-poll; a WebSocket handshake never does (403, as in Nchan).
func TestSubscriberLongPollOnlyLocation(t *testing.T) {
	t.Parallel()
	t.Run("websocket upgrade", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, subConf("", ""))
		r := do(t, "GET", s.URL+"/lp/only", "", "Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
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
			s := startServer(t, subConf("", ""))
			subWaitsForNext(t, s, "/lp/only", "only", "hi", 50*time.Millisecond, tc.headers...)
		})
	}
}

func TestSubscriberFirstMessage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		first string
		msgs  int
		want  int // message number delivered at once; 0: waits for the next one
	}{
		{"", 5, 1}, // unset: oldest is the default
		{"oldest", 5, 1},
		{"1", 5, 1},
		{"newest", 5, 0},
		{"0", 5, 0},
		{"2", 5, 2},
		{"-1", 5, 5},
		{"-2", 5, 4},
		{"5", 2, 2},  // fewer than N: the newest
		{"-5", 2, 1}, // fewer than N from the end: the oldest
		{"oldest", 0, 0},
		{"2", 0, 0},
		{"-1", 0, 0},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s with %d messages", tc.first, tc.msgs), func(t *testing.T) {
			t.Parallel()
			opts := ""
			if tc.first != "" {
				opts = "subscriber_first_message: \"" + tc.first + "\""
			}
			s := startServer(t, subConf("", opts))
			ids := subPublishN(t, s, "fm", "m", tc.msgs)
			if tc.want > 0 {
				r := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/fm", "")
				subCheckMsg(t, r, fmt.Sprintf("m%d", tc.want), ids[tc.want-1])
				return
			}
			subWaitsForNext(t, s, "/sub/fm", "fm", "next", 50*time.Millisecond)
		})
	}
}

func TestSubscriberConcurrency(t *testing.T) {
	t.Parallel()
	t.Run("broadcast", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, subConf("", "subscriber_concurrency: broadcast"))
		var subs []<-chan response
		for i := range 3 {
			subs = append(subs, async(t, 5*time.Second, "GET", s.URL+"/sub/bc", ""))
			waitSubscribers(t, s, "/bc", i+1)
		}
		id, status := subPublish(t, s, "bc", "all")
		if status != http.StatusCreated {
			t.Errorf("publish: got %d, want 201", status)
		}
		for _, ch := range subs {
			subCheckMsg(t, subRecv(t, ch, 3*time.Second), "all", id)
		}
	})
	t.Run("first", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, subConf("", "subscriber_concurrency: first"))
		first := async(t, 5*time.Second, "GET", s.URL+"/sub/fi", "")
		waitSubscribers(t, s, "/fi", 1)
		start := time.Now()
		second := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/fi", "")
		if second.Status != http.StatusConflict || time.Since(start) > time.Second {
			t.Fatalf("second subscriber: got %d after %v, want 409 at once", second.Status, time.Since(start))
		}
		subPending(t, first, 50*time.Millisecond)
		if n := subActive(t, s, "fi"); n != 1 {
			t.Errorf("%d active subscribers after the refused one, want 1", n)
		}
		id, status := subPublish(t, s, "fi", "to-first")
		if status != http.StatusCreated {
			t.Errorf("publish: got %d, want 201", status)
		}
		subCheckMsg(t, subRecv(t, first, 3*time.Second), "to-first", id)
	})
	t.Run("last", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, subConf("", "subscriber_concurrency: last"))
		first := async(t, 5*time.Second, "GET", s.URL+"/sub/la", "")
		waitSubscribers(t, s, "/la", 1)
		second := async(t, 5*time.Second, "GET", s.URL+"/sub/la", "")
		if r := subRecv(t, first, 2*time.Second); r.Status != http.StatusConflict {
			t.Fatalf("evicted first subscriber: got %d %q, want 409", r.Status, r.Body)
		}
		waitSubscribers(t, s, "/la", 1)
		subPending(t, second, 50*time.Millisecond)
		id, status := subPublish(t, s, "la", "to-last")
		if status != http.StatusCreated {
			t.Errorf("publish: got %d, want 201", status)
		}
		subCheckMsg(t, subRecv(t, second, 3*time.Second), "to-last", id)
	})
}

// subMuxEtag is the Nchan multiplexed tag list for a message from channel
// active, given the id last delivered from each channel (nil: none): the
// time is the active message's; channels whose last message is of that
// second keep their tag, the others are "-"; the active tag is bracketed.
func subMuxEtag(last []*subMID, active int) string {
	t := last[active].T
	parts := make([]string, len(last))
	for i, m := range last {
		p := "-"
		if m != nil && m.T == t {
			p = strconv.Itoa(m.Tag)
		}
		if i == active {
			p = "[" + p + "]"
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}

func subCheckMux(t testing.TB, r response, body string, id subMID, last []*subMID, active int) {
	t.Helper()
	if r.Status != http.StatusOK || r.Body != body {
		t.Fatalf("got %d %q (Etag %q), want 200 %q", r.Status, r.Body, r.Header.Get("Etag"), body)
	}
	if got, want := r.Header.Get("Etag"), subMuxEtag(last, active); got != want {
		t.Errorf("%q: Etag %q, want %q", body, got, want)
	}
	if got, want := r.Header.Get("Last-Modified"), id.httpDate(); got != want {
		t.Errorf("%q: Last-Modified %q, want %q", body, got, want)
	}
}

var subMuxChans = []string{"a", "b", "c"}

func subWaitMux(t testing.TB, s *testServer, n int) {
	t.Helper()
	for _, c := range subMuxChans {
		waitSubscribers(t, s, "/"+c, n)
	}
}

func TestSubscriberMultiplexLive(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	last := make([]*subMID, len(subMuxChans))
	var prev *response
	for _, step := range []struct {
		idx  int
		body string
	}{{1, "b1"}, {0, "a1"}, {2, "c1"}, {1, "b2"}} {
		u, h := subResumeReq(t, s.URL+"/sub/a,b,c", subByHeaders, prev)
		got := async(t, 5*time.Second, "GET", u, "", h...)
		subWaitMux(t, s, 1)
		subPending(t, got, 30*time.Millisecond)
		id, status := subPublish(t, s, subMuxChans[step.idx], step.body)
		if status != http.StatusCreated {
			t.Errorf("publish %s: got %d, want 201", step.body, status)
		}
		r := subRecv(t, got, 3*time.Second)
		last[step.idx] = &id
		subCheckMux(t, r, step.body, id, last, step.idx)
		prev = &r
	}
}

func TestSubscriberMultiplexTraversal(t *testing.T) {
	t.Parallel()
	type sent struct {
		idx  int
		body string
		id   subMID
	}
	for _, mode := range subResumes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			s := startServer(t, "")
			var msgs []sent
			for _, p := range []struct {
				idx  int
				body string
			}{{1, "b1"}, {0, "a1"}, {2, "c1"}, {1, "b2"}, {0, "a2"}} {
				id, _ := subPublish(t, s, subMuxChans[p.idx], p.body)
				msgs = append(msgs, sent{p.idx, p.body, id})
			}
			// Herald serves a multiplexed backlog in publish order (Nchan
			// serves same-second ties in channel order instead), so msgs
			// is already the expected order.
			last := make([]*subMID, len(subMuxChans))
			var prev *response
			for _, m := range msgs {
				u, h := subResumeReq(t, s.URL+"/sub/a,b,c", mode, prev)
				r := doTimeout(t, 2*time.Second, "GET", u, "", h...)
				last[m.idx] = &m.id
				subCheckMux(t, r, m.body, m.id, last, m.idx)
				prev = &r
			}
			u, h := subResumeReq(t, s.URL+"/sub/a,b,c", mode, prev)
			got := async(t, 5*time.Second, "GET", u, "", h...)
			subWaitMux(t, s, 1)
			subPending(t, got, 30*time.Millisecond)
			id, _ := subPublish(t, s, "c", "c2")
			last[2] = &id
			subCheckMux(t, subRecv(t, got, 3*time.Second), "c2", id, last, 2)
		})
	}
}

// TestSubscriberMultiplexAcrossSeconds walks a multiplexed subscription
// whose messages span two seconds: a newer second resets the other tags to
// "-" and nothing is skipped or repeated.
func TestSubscriberMultiplexAcrossSeconds(t *testing.T) {
	t.Parallel()
	s := startServer(t, subConf("", ""))
	type sent struct {
		idx  int
		body string
		id   subMID
	}
	var msgs []sent
	pub := func(idx int, body string) {
		id, _ := subPublish(t, s, subMuxChans[idx], body)
		msgs = append(msgs, sent{idx, body, id})
	}
	pub(1, "b1")
	pub(0, "a1")
	pub(0, "a2")
	// Sleep into the next wall-clock second (bounded: at most 1s).
	sec := time.Now().Unix()
	time.Sleep(time.Until(time.Unix(sec+1, 0).Add(10 * time.Millisecond)))
	pub(2, "c1")
	pub(0, "a3")
	pub(1, "b2")
	if msgs[2].id.T == msgs[3].id.T {
		t.Fatalf("messages did not span two seconds: %v", msgs)
	}
	// Expected order: publish order (see TestSubscriberMultiplexTraversal).
	for _, mode := range []subResume{subByHeaders, subByQuery} {
		t.Run(mode.String(), func(t *testing.T) {
			last := make([]*subMID, len(subMuxChans))
			var prev *response
			for _, m := range msgs {
				u, h := subResumeReq(t, s.URL+"/sub/a,b,c", mode, prev)
				r := doTimeout(t, 2*time.Second, "GET", u, "", h...)
				last[m.idx] = &m.id
				subCheckMux(t, r, m.body, m.id, last, m.idx)
				prev = &r
			}
			u, h := subResumeReq(t, s.URL+"/ipoll/a,b,c", mode, prev)
			if r := doTimeout(t, 2*time.Second, "GET", u, "", h...); r.Status != http.StatusNotModified {
				t.Fatalf("after the last message: got %d %q, want 304", r.Status, r.Body)
			}
		})
	}
}

func TestSubscriberMultiplexBadID(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	id, _ := subPublish(t, s, "a", "a1")
	ts := strconv.FormatInt(id.T, 10)
	cases := []struct {
		name, query string
		headers     []string
	}{
		{"four tags via If-None-Match", "", []string{"If-Modified-Since", id.httpDate(), "If-None-Match", "0,[0],-,-"}},
		{"four tags via last_event_id", "?last_event_id=" + url.QueryEscape(ts+":0,[0],-,-"), nil},
		{"four tags via Last-Event-ID", "", []string{"Last-Event-ID", ts + ":[0],-,-,-"}},
		{"several tags none active", "", []string{"If-Modified-Since", id.httpDate(), "If-None-Match", "0,0,-"}},
		{"two active tags", "?last_event_id=" + url.QueryEscape(ts+":[0],[0],-"), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/a,b,c"+tc.query, "", tc.headers...)
			if r.Status != http.StatusBadRequest {
				t.Fatalf("got %d %q, want 400", r.Status, r.Body)
			}
		})
	}
	t.Run("fewer tags are filled with -", func(t *testing.T) {
		// "<t>:[0]" for three channels means "<t>:[0],-,-": a1 was seen,
		// nothing of b or c from that second on.
		idb, _ := subPublish(t, s, "b", "b1")
		r := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/a,b,c?last_event_id="+url.QueryEscape(ts+":[0]"), "")
		last := []*subMID{&id, &idb, nil}
		if idb.T != id.T {
			last[0] = nil
		}
		subCheckMux(t, r, "b1", idb, last, 1)
	})
}

func TestSubscriberMultiplexWaitsOnEveryChannel(t *testing.T) {
	t.Parallel()
	for i, c := range subMuxChans {
		t.Run("publish on "+c, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, "")
			got := async(t, 5*time.Second, "GET", s.URL+"/sub/a,b,c", "")
			subWaitMux(t, s, 1)
			subPending(t, got, 30*time.Millisecond)
			id, status := subPublish(t, s, c, "on-"+c)
			if status != http.StatusCreated {
				t.Errorf("publish: got %d, want 201", status)
			}
			last := make([]*subMID, len(subMuxChans))
			last[i] = &id
			subCheckMux(t, subRecv(t, got, 3*time.Second), "on-"+c, id, last, i)
			for _, other := range subMuxChans {
				if n := subActive(t, s, other); n != 0 {
					t.Errorf("channel %s keeps %d subscribers after the answer, want 0", other, n)
				}
			}
		})
	}
}

func TestSubscriberExistingChannelsOnly(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"subscribe_existing_channels_only", "authorized_channels_only", "nchan_subscribe_existing_channels_only", "push_authorized_channels_only"} {
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, subConf("", key+": on"))
			if r := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/never", ""); r.Status != http.StatusForbidden {
				t.Fatalf("never-published channel: got %d %q, want 403", r.Status, r.Body)
			}
			// A channel a subscriber elsewhere brought into being is still
			// not one a publisher created.
			lp := async(t, 5*time.Second, "GET", s.URL+"/lp/bysub", "")
			waitSubscribers(t, s, "/bysub", 1)
			if r := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/bysub", ""); r.Status != http.StatusForbidden {
				t.Errorf("channel created by a subscriber: got %d %q, want 403", r.Status, r.Body)
			}
			subPublish(t, s, "bysub", "x")
			subRecv(t, lp, 3*time.Second)

			if r := do(t, "PUT", s.URL+"/pub/made", ""); r.Status != http.StatusOK {
				t.Fatalf("PUT with empty body: got %d %q, want 200", r.Status, r.Body)
			}
			subWaitsForNext(t, s, "/sub/made", "made", "m1", 30*time.Millisecond)

			id2, _ := subPublish(t, s, "pubbed", "p1")
			subCheckMsg(t, doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/pubbed", ""), "p1", id2)
		})
	}
}

func TestSubscriberMaxChannelSubscribers(t *testing.T) {
	t.Parallel()
	s := startServer(t, subConf("", "max_channel_subscribers: 2"))
	a := async(t, 5*time.Second, "GET", s.URL+"/sub/max", "")
	waitSubscribers(t, s, "/max", 1)
	b := async(t, 5*time.Second, "GET", s.URL+"/sub/max", "")
	waitSubscribers(t, s, "/max", 2)
	if r := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/max", ""); r.Status != http.StatusForbidden {
		t.Fatalf("third subscriber: got %d %q, want 403", r.Status, r.Body)
	}
	if n := subActive(t, s, "max"); n != 2 {
		t.Errorf("%d active subscribers after the refusal, want 2", n)
	}
	id, _ := subPublish(t, s, "max", "m1")
	subCheckMsg(t, subRecv(t, a, 3*time.Second), "m1", id)
	subCheckMsg(t, subRecv(t, b, 3*time.Second), "m1", id)
	// Room again once they are answered.
	u, h := subResumeReq(t, s.URL+"/sub/max", subByHeaders, &response{Header: http.Header{
		"Last-Modified": {id.httpDate()}, "Etag": {strconv.Itoa(id.Tag)}}})
	c := async(t, 5*time.Second, "GET", u, "", h...)
	waitSubscribers(t, s, "/max", 1)
	id2, _ := subPublish(t, s, "max", "m2")
	subCheckMsg(t, subRecv(t, c, 3*time.Second), "m2", id2)
}

func TestSubscriberCounts(t *testing.T) {
	t.Parallel()
	s := startServer(t, subConf("", ""))
	if r := do(t, "GET", s.URL+"/pub/cnt", ""); r.Status != http.StatusNotFound {
		t.Fatalf("info before anything: got %d, want 404", r.Status)
	}
	a := async(t, 5*time.Second, "GET", s.URL+"/sub/cnt", "")
	waitSubscribers(t, s, "/cnt", 1)
	if n := subActive(t, s, "cnt"); n != 1 {
		t.Errorf("one parked long-poll: %d active subscribers", n)
	}
	b := async(t, 5*time.Second, "GET", s.URL+"/sub/cnt", "")
	waitSubscribers(t, s, "/cnt", 2)
	if n := subActive(t, s, "cnt"); n != 2 {
		t.Errorf("two parked long-polls: %d active subscribers", n)
	}
	pub := do(t, "POST", s.URL+"/pub/cnt", "m1")
	if pub.Status != http.StatusCreated || subInfoField(t, pub.Body, "active subscribers") != "2" {
		t.Errorf("publish: got %d %q, want 201 with 2 active subscribers", pub.Status, pub.Body)
	}
	subRecv(t, a, 3*time.Second)
	subRecv(t, b, 3*time.Second)
	if n := subActive(t, s, "cnt"); n != 0 {
		t.Errorf("after both were answered: %d active subscribers, want 0", n)
	}
	// A subscriber that goes away while parked stops counting.
	lastID := subParseMID(t, subInfoField(t, pub.Body, "last message id"))
	c, cancel := subCancellable(t, s.URL+"/sub/cnt?last_event_id="+url.QueryEscape(lastID.String()))
	defer cancel()
	waitSubscribers(t, s, "/cnt", 1)
	if n := subActive(t, s, "cnt"); n != 1 {
		t.Errorf("one parked long-poll again: %d active subscribers", n)
	}
	cancel()
	select {
	case r := <-c:
		if r.Status != -1 {
			t.Errorf("cancelled request got %d %q", r.Status, r.Body)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("cancelled request did not end")
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		n := subActive(t, s, "cnt")
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the client went away: still %d active subscribers", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := s.Store.Stats(); st.Subscribers != 0 {
		t.Errorf("store-wide subscribers %d, want 0", st.Subscribers)
	}
}

func TestSubscriberMonotonicIDs(t *testing.T) {
	t.Parallel()
	const n = 50
	check := func(t *testing.T, s *testServer, ch string, ids []subMID, bodies []string) {
		t.Helper()
		var prev *response
		for i := range ids {
			u, h := subResumeReq(t, s.URL+"/sub/"+ch, subByHeaders, prev)
			r := doTimeout(t, 2*time.Second, "GET", u, "", h...)
			subCheckMsg(t, r, bodies[i], ids[i])
			prev = &r
		}
		u, h := subResumeReq(t, s.URL+"/sub/"+ch, subByHeaders, prev)
		got := async(t, 5*time.Second, "GET", u, "", h...)
		waitSubscribers(t, s, "/"+ch, 1)
		subPending(t, got, 30*time.Millisecond)
		id, _ := subPublish(t, s, ch, "after")
		if !ids[len(ids)-1].less(id) {
			t.Errorf("id %v after the burst is not after %v", id, ids[len(ids)-1])
		}
		subCheckMsg(t, subRecv(t, got, 3*time.Second), "after", id)
	}
	t.Run("sequential burst", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, subConf("message_buffer_length: 100", ""))
		ids := subPublishN(t, s, "mono", "m", n)
		bodies := make([]string, n)
		for i := range ids {
			bodies[i] = fmt.Sprintf("m%d", i+1)
			if i > 0 && !ids[i-1].less(ids[i]) {
				t.Fatalf("id %d (%v) is not after id %d (%v)", i+1, ids[i], i, ids[i-1])
			}
		}
		check(t, s, "mono", ids, bodies)
	})
	t.Run("concurrent burst", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, subConf("message_buffer_length: 100", ""))
		type pub struct {
			id   subMID
			body string
		}
		pubs := make([]pub, n)
		var wg sync.WaitGroup
		errs := make(chan string, n)
		for i := range n {
			wg.Go(func() {
				body := fmt.Sprintf("c%d", i)
				r := async(t, 5*time.Second, "POST", s.URL+"/pub/conc", body)
				res := <-r
				if res.Status != http.StatusAccepted {
					errs <- fmt.Sprintf("publish %s: %d %q", body, res.Status, res.Body)
					return
				}
				for line := range strings.SplitSeq(res.Body, "\r\n") {
					if v, ok := strings.CutPrefix(line, "last message id: "); ok {
						ts, tag, _ := strings.Cut(v, ":")
						sec, _ := strconv.ParseInt(ts, 10, 64)
						tg, _ := strconv.Atoi(tag)
						pubs[i] = pub{subMID{sec, tg}, body}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatal(e)
		}
		seen := map[subMID]string{}
		for _, p := range pubs {
			if p.id.T == 0 {
				t.Fatalf("publish %q returned no id", p.body)
			}
			if other, dup := seen[p.id]; dup {
				t.Fatalf("%q and %q got the same id %v", other, p.body, p.id)
			}
			seen[p.id] = p.body
		}
		sort.Slice(pubs, func(i, j int) bool { return pubs[i].id.less(pubs[j].id) })
		ids := make([]subMID, n)
		bodies := make([]string, n)
		for i, p := range pubs {
			ids[i], bodies[i] = p.id, p.body
		}
		check(t, s, "conc", ids, bodies)
	})
}

// TestSubscriberGracefulShutdown builds the server by hand (as startServer
// does) to cancel it while a long-poll waits.
func TestSubscriberGracefulShutdown(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{})
	s := &testServer{URL: srv.URL, Store: srv.Store.(*memory.Store)}
	done := make(chan error, 1)
	cancel := func() { go func() { done <- srv.Stop() }() } // shutdown begins

	got := async(t, 5*time.Second, "GET", s.URL+"/sub/bye", "")
	waitSubscribers(t, s, "/bye", 1)
	subPending(t, got, 30*time.Millisecond)
	start := time.Now()
	cancel()
	r := subRecv(t, got, 2*time.Second)
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("parked long-poll at shutdown: got %d %q, want 503", r.Status, r.Body)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("503 took %v, want it at once", d)
	}
	if ra := r.Header.Get("Retry-After"); ra == "" {
		t.Errorf("503 without Retry-After")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v, want nil", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("Serve did not return after the context was cancelled")
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("shutdown took %v with only an answered long-poll open", d)
	}
}

// TestSubscriberResumeAfterRecreate: a client holding the id of a deleted
// channel's last message gets the messages of the channel re-created in the
// same second, not a wait.
func TestSubscriberResumeAfterRecreate(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	old := do(t, "POST", s.URL+"/pub/re", "old1")
	oldID := old.Body[strings.LastIndex(old.Body, ": ")+2:]
	if r := do(t, "DELETE", s.URL+"/pub/re", ""); r.Status != 200 {
		t.Fatalf("delete: %d", r.Status)
	}
	do(t, "POST", s.URL+"/pub/re", "new1")
	r := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/re?last_event_id="+url.QueryEscape(oldID), "")
	if r.Status != 200 || r.Body != "new1" {
		t.Fatalf("resume with %s after re-create: got %d %q, want 200 \"new1\"", oldID, r.Status, r.Body)
	}
}
