package server_test

// Long-poll and interval-poll subscribers: responses, message id traversal
// in every form a client may send the id, subscriber_first_message, Push
// Module concurrency rules, access limits and multiplexed long-polls.
// Expected values follow the Nchan behaviour in nchan-behaviour.md.

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLongPollResponse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, subOpts, body string
		pubHeaders          []string
		wantType            string
		origin              string
	}{
		{"publisher content type", "", `{"a":1}`, []string{"Content-Type", "application/json"}, "application/json", ""},
		{"none when none", "", "hello", nil, "", ""},
		{"location default_type", "default_type: text/x-herald", "hello", nil, "text/x-herald", ""},
		{"empty message", "", "", nil, "", ""},
		{"CORS", "", "hi", []string{"Content-Type", "text/x-cors"}, "text/x-cors", "http://app.example"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, pollConfig("", tc.subOpts))
			var hdrs []string
			if tc.origin != "" {
				hdrs = []string{"Origin", tc.origin}
			}
			got := async(t, 5*time.Second, "GET", s.URL+"/sub/lp", "", hdrs...)
			waitSubscribers(t, s, "lp", 1)
			r, id := parkedGetsNext(t, s, got, "lp", tc.body, 100*time.Millisecond, tc.pubHeaders...)
			if id.Tag != 0 {
				t.Errorf("first message of a channel has id %v, want tag 0", id)
			}
			if ct, ok := r.Header["Content-Type"]; tc.wantType == "" && ok || r.Header.Get("Content-Type") != tc.wantType {
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

func TestLongPollTraversal(t *testing.T) {
	t.Parallel()
	for _, mode := range resumeModes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			s := startServer(t, pollConfig("message_buffer_length: 10", ""))
			ids := publishN(t, s, "walk", "m", 5)
			var prev *response
			for i := range 5 {
				u, h := resumeRequest(t, s.URL+"/sub/walk", mode, prev)
				r := doTimeout(t, 2*time.Second, "GET", u, "", h...)
				checkMessage(t, r, fmt.Sprintf("m%d", i+1), ids[i])
				prev = &r
			}
			// At the newest message the next request waits for message 6.
			u, h := resumeRequest(t, s.URL+"/sub/walk", mode, prev)
			got := async(t, 5*time.Second, "GET", u, "", h...)
			waitSubscribers(t, s, "walk", 1)
			parkedGetsNext(t, s, got, "walk", "m6", 50*time.Millisecond)
		})
	}
}

func TestLongPollIDOlderThanBuffer(t *testing.T) {
	t.Parallel()
	s := startServer(t, pollConfig("message_buffer_length: 3", ""))
	ids := publishN(t, s, "old", "m", 6)
	first := response{Header: http.Header{}}
	first.Header.Set("Last-Modified", ids[0].httpDate())
	first.Header.Set("Etag", strconv.Itoa(ids[0].Tag))
	for _, mode := range resumeModes {
		t.Run("after message 1 via "+mode.String(), func(t *testing.T) {
			u, h := resumeRequest(t, s.URL+"/sub/old", mode, &first)
			r := doTimeout(t, 2*time.Second, "GET", u, "", h...)
			checkMessage(t, r, "m4", ids[3])
			// and the walk goes on without gaps from there
			u, h = resumeRequest(t, s.URL+"/sub/old", mode, &r)
			checkMessage(t, doTimeout(t, 2*time.Second, "GET", u, "", h...), "m5", ids[4])
		})
	}
	t.Run("ancient id", func(t *testing.T) {
		r := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/old?last_event_id=1%3A0", "")
		checkMessage(t, r, "m4", ids[3])
	})
	t.Run("no id", func(t *testing.T) {
		checkMessage(t, doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/old", ""), "m4", ids[3])
	})
}

func TestLongPollMalformedID(t *testing.T) {
	t.Parallel()
	s := startServer(t, pollConfig("", ""))
	ids := publishN(t, s, "bad", "m", 2)
	date := ids[0].httpDate()
	cases := []struct {
		name, query string
		headers     []string
	}{
		{"last_event_id bad tag", "?last_event_id=" + url.QueryEscape(strconv.FormatInt(ids[0].T, 10)+":x"), nil},
		{"Last-Event-ID bad time", "", []string{"Last-Event-ID", "x:0"}},
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
		checkMessage(t, r, "m1", ids[0])
	})
	// So is a last id without a ':' (see TestUnparseableLastEventID).
	t.Run("Last-Event-ID without a colon is ignored", func(t *testing.T) {
		r := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/bad?last_event_id=garbage", "", "Last-Event-ID", "nonsense")
		checkMessage(t, r, "m1", ids[0])
	})
}

// TestLongPollEtagRequestHeaderUnderCachedTag: NchanSubscriber.js resumes
// a long-poll (reconnect: 'session', after a page reload) with its last id
// in an Etag request header. Chrome's HTTP cache, holding an earlier poll
// answer of the URL whose Vary does not match, adds that answer's Etag as
// If-None-Match, without If-Modified-Since. That tag alone names no
// message; the id in the Etag header does, and the subscriber resumes
// after it instead of starting over at the oldest message.
func TestLongPollEtagRequestHeaderUnderCachedTag(t *testing.T) {
	t.Parallel()
	s := startServer(t, pollConfig("", ""))
	ids := publishN(t, s, "reload", "m", 4)
	cases := []struct {
		name    string
		headers []string
		want    int // message number answered
	}{
		// What Chrome sent in the browser test (browser/run.mjs,
		// nchan-longpoll-reload-session): If-None-Match holds the tag of
		// the cached answer.
		{"cached tag of an earlier message", []string{"Etag", ids[1].String(), "If-None-Match", strconv.Itoa(ids[0].Tag)}, 3},
		{"cached tag of the same message", []string{"Etag", ids[1].String(), "If-None-Match", strconv.Itoa(ids[1].Tag)}, 3},
		{"quoted cached tag", []string{"Etag", ids[2].String(), "If-None-Match", `"` + strconv.Itoa(ids[0].Tag) + `"`}, 4},
		// A whole id in If-None-Match still comes first, and
		// If-Modified-Since with If-None-Match before either.
		{"whole id in If-None-Match wins", []string{"Etag", ids[2].String(), "If-None-Match", ids[0].String()}, 2},
		{"If-Modified-Since and If-None-Match win", []string{"Etag", ids[2].String(),
			"If-Modified-Since", ids[0].httpDate(), "If-None-Match", strconv.Itoa(ids[0].Tag)}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/reload", "", tc.headers...)
			checkMessage(t, r, fmt.Sprintf("m%d", tc.want), ids[tc.want-1])
		})
	}
}

func TestLongPollTimeoutAndDelete(t *testing.T) {
	t.Parallel()
	t.Run("subscriber_timeout gives 408", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, pollConfig("", "subscriber_timeout: 1s"))
		id, _ := publish(t, s, "to", "m1")
		first := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/to", "")
		checkMessage(t, first, "m1", id)
		u, h := resumeRequest(t, s.URL+"/sub/to", byHeaders, &first)
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
		// As Nchan answers (nginx sends Last-Modified only with 200 and
		// 304): the request's tag, no date.
		if et, lm := r.Header.Get("Etag"), r.Header.Get("Last-Modified"); et != "0" || lm != "" {
			t.Errorf("408 carries Etag %q Last-Modified %q, want the request's tag and no date: %q", et, lm, "0")
		}
		if n := subscribers(t, s, "to"); n != 0 {
			t.Errorf("after the 408: %d active subscribers, want 0", n)
		}
	})
	t.Run("DELETE while waiting gives 410", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, pollConfig("", ""))
		got := async(t, 5*time.Second, "GET", s.URL+"/sub/del", "")
		waitSubscribers(t, s, "del", 1)
		deleteChannel(t, s, "del")
		if r := recv(t, got); r.Status != http.StatusGone {
			t.Fatalf("waiting subscriber got %d %q, want 410", r.Status, r.Body)
		}
	})
	t.Run("DELETE of one multiplexed channel gives 410", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, "")
		got := async(t, 5*time.Second, "GET", s.URL+"/sub/a,b,c", "")
		waitMux(t, s, 1)
		deleteChannel(t, s, "b")
		if r := recv(t, got); r.Status != http.StatusGone {
			t.Fatalf("waiting subscriber got %d %q, want 410", r.Status, r.Body)
		}
	})
}

func TestIntervalPoll(t *testing.T) {
	t.Parallel()
	s := startServer(t, pollConfig("", ""))
	start := time.Now()
	r := doTimeout(t, 2*time.Second, "GET", s.URL+"/ipoll/ip", "")
	if r.Status != http.StatusNotModified || time.Since(start) > time.Second {
		t.Fatalf("empty channel: got %d after %v, want 304 at once", r.Status, time.Since(start))
	}
	id1, status := publish(t, s, "ip", "m1")
	if status != http.StatusAccepted {
		t.Errorf("publish with no waiting subscriber: got %d, want 202", status)
	}
	r1 := doTimeout(t, 2*time.Second, "GET", s.URL+"/ipoll/ip", "")
	checkMessage(t, r1, "m1", id1)

	u, h := resumeRequest(t, s.URL+"/ipoll/ip", byHeaders, &r1)
	start = time.Now()
	r = doTimeout(t, 2*time.Second, "GET", u, "", h...)
	if r.Status != http.StatusNotModified || time.Since(start) > time.Second {
		t.Fatalf("nothing new: got %d %q after %v, want 304 at once", r.Status, r.Body, time.Since(start))
	}
	if r.Header.Get("Etag") != r1.Header.Get("Etag") || r.Header.Get("Last-Modified") != r1.Header.Get("Last-Modified") {
		t.Errorf("304 carries Etag %q Last-Modified %q, want the request's %q %q",
			r.Header.Get("Etag"), r.Header.Get("Last-Modified"), r1.Header.Get("Etag"), r1.Header.Get("Last-Modified"))
	}
	id2, _ := publish(t, s, "ip", "m2")
	checkMessage(t, doTimeout(t, 2*time.Second, "GET", u, "", h...), "m2", id2)
}

// TestPollIDHeaders: a poll answered without a message carries the id the
// request named, as Nchan answers: Etag, with Last-Modified only on 304
// (nginx sends it only with 200 and 304); a request that named no id
// (an empty channel, or a location that starts at the newest message)
// gets neither, only Vary.
func TestPollIDHeaders(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig(nil,
		prefixLocation("pub", "publisher: true"),
		prefixLocation("ip", "subscriber: intervalpoll"),
		prefixLocation("ipnew", "subscriber: intervalpoll", "subscriber_first_message: newest"),
		prefixLocation("lp", "subscriber: longpoll", "subscriber_timeout: 300ms"),
		prefixLocation("lpnew", "subscriber: longpoll", "subscriber_timeout: 300ms", "subscriber_first_message: newest")))
	id, _ := publish(t, s, "full", "m")
	named := []string{"If-Modified-Since", id.httpDate(), "If-None-Match", strconv.Itoa(id.Tag)}
	tests := []struct {
		name, target   string
		headers        []string
		status         int
		etag, modified string
	}{
		{"interval-poll, empty channel", "/ip/empty", nil, http.StatusNotModified, "", ""},
		{"interval-poll, caught up", "/ip/full", named, http.StatusNotModified, strconv.Itoa(id.Tag), id.httpDate()},
		{"interval-poll from the newest, no id", "/ipnew/full", nil, http.StatusNotModified, "", ""},
		{"long-poll timeout, empty channel", "/lp/empty", nil, http.StatusRequestTimeout, "", ""},
		{"long-poll timeout, caught up", "/lp/full", named, http.StatusRequestTimeout, strconv.Itoa(id.Tag), ""},
		{"long-poll timeout from the newest, no id", "/lpnew/full", nil, http.StatusRequestTimeout, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := doTimeout(t, 3*time.Second, "GET", s.URL+tt.target, "", tt.headers...)
			expectStatus(t, r, tt.status, "GET "+tt.target)
			if et, lm := r.Header.Get("Etag"), r.Header.Get("Last-Modified"); et != tt.etag || lm != tt.modified {
				t.Errorf("Etag %q Last-Modified %q, want %q %q", et, lm, tt.etag, tt.modified)
			}
			if v := r.Header.Get("Vary"); v != "If-None-Match, If-Modified-Since" {
				t.Errorf("Vary %q", v)
			}
		})
	}
}

func TestLongPollFirstMessage(t *testing.T) {
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
			s := startServer(t, pollConfig("", opts))
			ids := publishN(t, s, "fm", "m", tc.msgs)
			if tc.want > 0 {
				r := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/fm", "")
				checkMessage(t, r, fmt.Sprintf("m%d", tc.want), ids[tc.want-1])
				return
			}
			longPollGetsNext(t, s, "/sub/fm", "fm", "next", 50*time.Millisecond)
		})
	}
}

func TestLongPollConcurrency(t *testing.T) {
	t.Parallel()
	t.Run("broadcast", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, pollConfig("", "subscriber_concurrency: broadcast"))
		var subs []<-chan response
		for i := range 3 {
			subs = append(subs, async(t, 5*time.Second, "GET", s.URL+"/sub/bc", ""))
			waitSubscribers(t, s, "bc", i+1)
		}
		id, status := publish(t, s, "bc", "all")
		if status != http.StatusCreated {
			t.Errorf("publish: got %d, want 201", status)
		}
		for _, ch := range subs {
			checkMessage(t, recv(t, ch), "all", id)
		}
	})
	t.Run("first", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, pollConfig("", "subscriber_concurrency: first"))
		first := async(t, 5*time.Second, "GET", s.URL+"/sub/fi", "")
		waitSubscribers(t, s, "fi", 1)
		start := time.Now()
		second := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/fi", "")
		if second.Status != http.StatusConflict || time.Since(start) > time.Second {
			t.Fatalf("second subscriber: got %d after %v, want 409 at once", second.Status, time.Since(start))
		}
		if n := subscribers(t, s, "fi"); n != 1 {
			t.Errorf("%d active subscribers after the refused one, want 1", n)
		}
		parkedGetsNext(t, s, first, "fi", "to-first", 50*time.Millisecond)
	})
	t.Run("last", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, pollConfig("", "subscriber_concurrency: last"))
		first := async(t, 5*time.Second, "GET", s.URL+"/sub/la", "")
		waitSubscribers(t, s, "la", 1)
		second := async(t, 5*time.Second, "GET", s.URL+"/sub/la", "")
		if r := recv(t, first); r.Status != http.StatusConflict {
			t.Fatalf("evicted first subscriber: got %d %q, want 409", r.Status, r.Body)
		}
		waitSubscribers(t, s, "la", 1)
		parkedGetsNext(t, s, second, "la", "to-last", 50*time.Millisecond)
	})
}

func TestLongPollExistingChannelsOnly(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"subscribe_existing_channels_only", "authorized_channels_only", "nchan_subscribe_existing_channels_only", "push_authorized_channels_only"} {
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, pollConfig("", key+": on"))
			if r := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/never", ""); r.Status != http.StatusForbidden {
				t.Fatalf("never-published channel: got %d %q, want 403", r.Status, r.Body)
			}
			// A channel a subscriber elsewhere brought into being is still
			// not one a publisher created.
			lp := async(t, 5*time.Second, "GET", s.URL+"/lp/bysub", "")
			waitSubscribers(t, s, "bysub", 1)
			if r := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/bysub", ""); r.Status != http.StatusForbidden {
				t.Errorf("channel created by a subscriber: got %d %q, want 403", r.Status, r.Body)
			}
			publish(t, s, "bysub", "x")
			recv(t, lp)

			if r := do(t, "PUT", s.URL+"/pub/made", ""); r.Status != http.StatusOK {
				t.Fatalf("PUT with empty body: got %d %q, want 200", r.Status, r.Body)
			}
			longPollGetsNext(t, s, "/sub/made", "made", "m1", 30*time.Millisecond)

			id2, _ := publish(t, s, "pubbed", "p1")
			checkMessage(t, doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/pubbed", ""), "p1", id2)
		})
	}
}

func TestLongPollMaxChannelSubscribers(t *testing.T) {
	t.Parallel()
	s := startServer(t, pollConfig("", "max_channel_subscribers: 2"))
	a := async(t, 5*time.Second, "GET", s.URL+"/sub/max", "")
	waitSubscribers(t, s, "max", 1)
	b := async(t, 5*time.Second, "GET", s.URL+"/sub/max", "")
	waitSubscribers(t, s, "max", 2)
	if r := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/max", ""); r.Status != http.StatusForbidden {
		t.Fatalf("third subscriber: got %d %q, want 403", r.Status, r.Body)
	}
	if n := subscribers(t, s, "max"); n != 2 {
		t.Errorf("%d active subscribers after the refusal, want 2", n)
	}
	id, _ := publish(t, s, "max", "m1")
	checkMessage(t, recv(t, a), "m1", id)
	checkMessage(t, recv(t, b), "m1", id)
	// Room again once they are answered.
	u, h := resumeRequest(t, s.URL+"/sub/max", byHeaders, &response{Header: http.Header{
		"Last-Modified": {id.httpDate()}, "Etag": {strconv.Itoa(id.Tag)}}})
	c := async(t, 5*time.Second, "GET", u, "", h...)
	waitSubscribers(t, s, "max", 1)
	id2, _ := publish(t, s, "max", "m2")
	checkMessage(t, recv(t, c), "m2", id2)
}

func TestLongPollMonotonicIDs(t *testing.T) {
	t.Parallel()
	const n = 50
	check := func(t *testing.T, s *testServer, ch string, ids []msgID, bodies []string) {
		t.Helper()
		var prev *response
		for i := range ids {
			u, h := resumeRequest(t, s.URL+"/sub/"+ch, byHeaders, prev)
			r := doTimeout(t, 2*time.Second, "GET", u, "", h...)
			checkMessage(t, r, bodies[i], ids[i])
			prev = &r
		}
		u, h := resumeRequest(t, s.URL+"/sub/"+ch, byHeaders, prev)
		got := async(t, 5*time.Second, "GET", u, "", h...)
		waitSubscribers(t, s, ch, 1)
		expectPending(t, got, 30*time.Millisecond)
		id, _ := publish(t, s, ch, "after")
		if !ids[len(ids)-1].less(id) {
			t.Errorf("id %v after the burst is not after %v", id, ids[len(ids)-1])
		}
		checkMessage(t, recv(t, got), "after", id)
	}
	t.Run("sequential burst", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, pollConfig("message_buffer_length: 100", ""))
		ids := publishN(t, s, "mono", "m", n)
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
		s := startServer(t, pollConfig("message_buffer_length: 100", ""))
		type pub struct {
			id   msgID
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
				info, err := tryParseInfo(infoRE, res.Body) // no t.Fatal off the test goroutine
				if res.Status != http.StatusAccepted || err != nil {
					errs <- fmt.Sprintf("publish %s: %d %q", body, res.Status, res.Body)
					return
				}
				pubs[i] = pub{info.ID, body}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatal(e)
		}
		seen := map[msgID]string{}
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
		ids := make([]msgID, n)
		bodies := make([]string, n)
		for i, p := range pubs {
			ids[i], bodies[i] = p.id, p.body
		}
		check(t, s, "conc", ids, bodies)
	})
}

// TestLongPollResumeAfterRecreate: a client holding the id of a deleted
// channel's last message gets the messages of the channel re-created in the
// same second, not a wait.
func TestLongPollResumeAfterRecreate(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	oldID, _ := publish(t, s, "re", "old1")
	deleteChannel(t, s, "re")
	publish(t, s, "re", "new1")
	u, _ := resumeWithID(t, s.URL+"/sub/re", byQuery, oldID.String())
	r := doTimeout(t, 2*time.Second, "GET", u, "")
	if r.Status != 200 || r.Body != "new1" {
		t.Fatalf("resume with %s after re-create: got %d %q, want 200 \"new1\"", oldID, r.Status, r.Body)
	}
}

// muxChans are the channels of the multiplexed long-polls (/sub/a,b,c).
var muxChans = []string{"a", "b", "c"}

// muxSent is a message published to one of muxChans.
type muxSent struct {
	idx  int
	body string
	id   msgID
}

// publishMux publishes body to muxChans[idx].
func publishMux(t testing.TB, s *testServer, idx int, body string) muxSent {
	t.Helper()
	id, _ := publish(t, s, muxChans[idx], body)
	return muxSent{idx, body, id}
}

// walkMux long-polls /sub/a,b,c once for each of msgs, resuming by mode,
// and checks each answer; it returns the last id delivered per channel and
// the last response.
func walkMux(t testing.TB, s *testServer, mode resumeMode, msgs []muxSent) ([]*msgID, *response) {
	t.Helper()
	last := make([]*msgID, len(muxChans))
	var prev *response
	for _, m := range msgs {
		u, h := resumeRequest(t, s.URL+"/sub/a,b,c", mode, prev)
		r := doTimeout(t, 2*time.Second, "GET", u, "", h...)
		last[m.idx] = &m.id
		checkMuxMessage(t, r, m.body, m.id, last, m.idx)
		prev = &r
	}
	return last, prev
}

// waitMux waits until each of muxChans has n subscribers.
func waitMux(t testing.TB, s *testServer, n int) {
	t.Helper()
	for _, c := range muxChans {
		waitSubscribers(t, s, c, n)
	}
}

// TestLongPollMultiplexStatusEchoesID: a 304 (interval-poll, nothing new)
// and a 408 (subscriber_timeout) carry the id the request carried
// (reference 2.6), the active bracket included, for multiplexed requests too.
func TestLongPollMultiplexStatusEchoesID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, prefix, status string }{
		{"interval-poll 304", "ipoll", "304"},
		{"long-poll 408", "sub", "408"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, pollConfig("", "subscriber_timeout: 1s"))
			ida, _ := publish(t, s, "a", "a1")
			idb, _ := publish(t, s, "b", "b1")
			last := []*msgID{&ida, nil, nil}
			r1 := doTimeout(t, 2*time.Second, "GET", s.URL+"/"+tc.prefix+"/a,b,c", "")
			checkMuxMessage(t, r1, "a1", ida, last, 0)
			u, h := resumeRequest(t, s.URL+"/"+tc.prefix+"/a,b,c", byHeaders, &r1)
			r2 := doTimeout(t, 2*time.Second, "GET", u, "", h...)
			last[1] = &idb
			checkMuxMessage(t, r2, "b1", idb, last, 1)
			u, h = resumeRequest(t, s.URL+"/"+tc.prefix+"/a,b,c", byHeaders, &r2)
			r := doTimeout(t, 3*time.Second, "GET", u, "", h...)
			if strconv.Itoa(r.Status) != tc.status {
				t.Fatalf("nothing new: got %d %q, want %s", r.Status, r.Body, tc.status)
			}
			wantLM := r2.Header.Get("Last-Modified")
			if tc.status == "408" {
				wantLM = "" // nginx sends Last-Modified only with 200 and 304
			}
			if r.Header.Get("Etag") != r2.Header.Get("Etag") || r.Header.Get("Last-Modified") != wantLM {
				t.Errorf("%s carries Etag %q Last-Modified %q, want the request's %q %q", tc.status,
					r.Header.Get("Etag"), r.Header.Get("Last-Modified"), r2.Header.Get("Etag"), wantLM)
			}
		})
	}
}

func TestLongPollMultiplexLive(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	last := make([]*msgID, len(muxChans))
	var prev *response
	for _, step := range []struct {
		idx  int
		body string
	}{{1, "b1"}, {0, "a1"}, {2, "c1"}, {1, "b2"}} {
		u, h := resumeRequest(t, s.URL+"/sub/a,b,c", byHeaders, prev)
		got := async(t, 5*time.Second, "GET", u, "", h...)
		waitMux(t, s, 1)
		expectPending(t, got, 30*time.Millisecond)
		id, status := publish(t, s, muxChans[step.idx], step.body)
		if status != http.StatusCreated {
			t.Errorf("publish %s: got %d, want 201", step.body, status)
		}
		r := recv(t, got)
		last[step.idx] = &id
		checkMuxMessage(t, r, step.body, id, last, step.idx)
		prev = &r
	}
}

func TestLongPollMultiplexTraversal(t *testing.T) {
	t.Parallel()
	for _, mode := range resumeModes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			s := startServer(t, "")
			var msgs []muxSent
			for _, p := range []struct {
				idx  int
				body string
			}{{1, "b1"}, {0, "a1"}, {2, "c1"}, {1, "b2"}, {0, "a2"}} {
				msgs = append(msgs, publishMux(t, s, p.idx, p.body))
			}
			// Herald serves a multiplexed backlog in publish order (Nchan
			// serves same-second ties in channel order instead), so msgs
			// is already the expected order.
			last, prev := walkMux(t, s, mode, msgs)
			u, h := resumeRequest(t, s.URL+"/sub/a,b,c", mode, prev)
			got := async(t, 5*time.Second, "GET", u, "", h...)
			waitMux(t, s, 1)
			expectPending(t, got, 30*time.Millisecond)
			id, _ := publish(t, s, "c", "c2")
			last[2] = &id
			checkMuxMessage(t, recv(t, got), "c2", id, last, 2)
		})
	}
}

// TestLongPollMultiplexAcrossSeconds walks a multiplexed subscription
// whose messages span two seconds: a newer second resets the other tags to
// "-" and nothing is skipped or repeated.
func TestLongPollMultiplexAcrossSeconds(t *testing.T) {
	t.Parallel()
	s := startServer(t, pollConfig("", ""))
	var msgs []muxSent
	pub := func(idx int, body string) { msgs = append(msgs, publishMux(t, s, idx, body)) }
	pub(1, "b1")
	pub(0, "a1")
	pub(0, "a2")
	// Wait for the clock to pass into the next second (bounded).
	waitFor(t, 2*time.Second, "the next wall-clock second", func() bool { return time.Now().Unix() > msgs[2].id.T })
	pub(2, "c1")
	pub(0, "a3")
	pub(1, "b2")
	if msgs[2].id.T == msgs[3].id.T {
		t.Fatalf("messages did not span two seconds: %v", msgs)
	}
	// Expected order: publish order (see TestLongPollMultiplexTraversal).
	for _, mode := range []resumeMode{byHeaders, byQuery} {
		t.Run(mode.String(), func(t *testing.T) {
			_, prev := walkMux(t, s, mode, msgs)
			u, h := resumeRequest(t, s.URL+"/ipoll/a,b,c", mode, prev)
			if r := doTimeout(t, 2*time.Second, "GET", u, "", h...); r.Status != http.StatusNotModified {
				t.Fatalf("after the last message: got %d %q, want 304", r.Status, r.Body)
			}
		})
	}
}

func TestLongPollMultiplexBadID(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	id, _ := publish(t, s, "a", "a1")
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
		idb, _ := publish(t, s, "b", "b1")
		r := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/a,b,c?last_event_id="+url.QueryEscape(ts+":[0]"), "")
		last := []*msgID{&id, &idb, nil}
		if idb.T != id.T {
			last[0] = nil
		}
		checkMuxMessage(t, r, "b1", idb, last, 1)
	})
}

func TestLongPollMultiplexWaitsOnEveryChannel(t *testing.T) {
	t.Parallel()
	for i, c := range muxChans {
		t.Run("publish on "+c, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, "")
			got := async(t, 5*time.Second, "GET", s.URL+"/sub/a,b,c", "")
			waitMux(t, s, 1)
			expectPending(t, got, 30*time.Millisecond)
			id, status := publish(t, s, c, "on-"+c)
			if status != http.StatusCreated {
				t.Errorf("publish: got %d, want 201", status)
			}
			last := make([]*msgID, len(muxChans))
			last[i] = &id
			checkMuxMessage(t, recv(t, got), "on-"+c, id, last, i)
			for _, other := range muxChans {
				if n := subscribers(t, s, other); n != 0 {
					t.Errorf("channel %s keeps %d subscribers after the answer, want 0", other, n)
				}
			}
		})
	}
}

// TestLongPollMultipartResponse: with longpoll_multipart_response a
// long-poll gets every available message at once, as multipart/mixed parts
// ("on") or as the bodies each followed by the raw-stream separator
// ("raw"), with the ids of the last message; a single message is answered
// plainly.
func TestLongPollMultipartResponse(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"on", "raw"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, pollConfig("", "longpoll_multipart_response: "+mode))
			publish(t, s, "mp", "one", "Content-Type", "text/x-one")
			publish(t, s, "mp", "two")
			last, _ := publish(t, s, "mp", "three", "Content-Type", "application/json")
			r := doTimeout(t, 2*time.Second, "GET", s.URL+"/sub/mp", "")
			if r.Status != http.StatusOK {
				t.Fatalf("got %d %q, want 200", r.Status, r.Body)
			}
			var wantCT, want string
			switch ct := r.Header.Get("Content-Type"); mode {
			case "on":
				m := multipartBoundaryRE.FindStringSubmatch(ct)
				if m == nil {
					t.Fatalf("Content-Type %q, want multipart/mixed with a 32-character boundary", ct)
				}
				bnd := m[1]
				wantCT = ct
				want = "--" + bnd +
					"\r\nContent-Type: text/x-one\r\n\r\none\r\n--" + bnd +
					"\r\n\r\ntwo\r\n--" + bnd +
					"\r\nContent-Type: application/json\r\n\r\nthree\r\n--" + bnd + "--\r\n"
			case "raw":
				wantCT, want = "", "one\ntwo\nthree\n" // as Nchan: no Content-Type
			}
			if ct := r.Header.Get("Content-Type"); ct != wantCT || r.Body != want {
				t.Errorf("got %q %q, want %q %q", ct, r.Body, wantCT, want)
			}
			if cl := r.Header.Get("Content-Length"); cl != strconv.Itoa(len(want)) {
				t.Errorf("Content-Length %q, want %d", cl, len(want))
			}
			if et, lm := r.Header.Get("Etag"), r.Header.Get("Last-Modified"); et != strconv.Itoa(last.Tag) || lm != last.httpDate() {
				t.Errorf("Etag %q Last-Modified %q, want the last message's %q %q", et, lm, strconv.Itoa(last.Tag), last.httpDate())
			}
			// Resumed after the last message: it waits, and one new
			// message is answered plainly.
			u, h := resumeRequest(t, s.URL+"/sub/mp", byHeaders, &r)
			got := async(t, 5*time.Second, "GET", u, "", h...)
			waitSubscribers(t, s, "mp", 1)
			r, _ = parkedGetsNext(t, s, got, "mp", "four", 30*time.Millisecond)
			if ct, ok := r.Header["Content-Type"]; ok {
				t.Errorf("a single message published without a Content-Type: Content-Type %q, want none", ct)
			}
		})
	}
}
