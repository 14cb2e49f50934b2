package server_test

// Publisher-side tests: POST/PUT/GET/DELETE on publisher locations,
// channel info formats, URL styles, methods, and the limits set by
// configuration (body size, memory, id length, channel count, groups,
// buffer length, message and channel timeouts).

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldpush/herald/internal/store"
)

func TestPublishPost(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	tests := []struct {
		name       string
		body       string
		headers    []string
		subscriber bool // a long-poll subscriber waits before the publish
		wantStatus int
		wantCT     string // Content-Type the subscriber sees; "": none
	}{
		{name: "no subscriber", body: "hello", wantStatus: http.StatusAccepted},
		{name: "waiting subscriber", body: "hello", subscriber: true, wantStatus: http.StatusCreated},
		{name: "empty body, no subscriber", body: "", wantStatus: http.StatusAccepted},
		{name: "empty body, waiting subscriber", body: "", subscriber: true, wantStatus: http.StatusCreated},
		{name: "content type kept", body: `{"a":1}`, headers: []string{"Content-Type", "application/json"}, wantStatus: http.StatusAccepted, wantCT: "application/json"},
		{name: "content type kept, waiting subscriber", body: `{"a":1}`, headers: []string{"Content-Type", "application/json", "X-EventSource-Event", "ping"}, subscriber: true, wantStatus: http.StatusCreated, wantCT: "application/json"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("post%d", i)
			var got <-chan response
			if tc.subscriber {
				got = async(t, 6*time.Second, "GET", s.URL+"/sub/"+id, "")
				waitSubscribers(t, s, id, 1)
			}
			pub := do(t, "POST", s.URL+"/pub/"+id, tc.body, tc.headers...)
			expectStatus(t, pub, tc.wantStatus, "publish")
			info := parseInfo(t, pub.Body)
			if info.Messages != 1 {
				t.Errorf("publish response: %d queued messages, want 1", info.Messages)
			}
			if tc.subscriber && info.Subscribers != 1 {
				t.Errorf("publish response: %d subscribers, want 1", info.Subscribers)
			}
			if !tc.subscriber {
				if info.Subscribers != 0 || info.Requested != -1 {
					t.Errorf("publish response: subscribers %d requested %d, want 0 and -1", info.Subscribers, info.Requested)
				}
				got = async(t, 6*time.Second, "GET", s.URL+"/sub/"+id, "")
			}
			r := recv(t, got)
			expectStatus(t, r, http.StatusOK, "subscriber")
			if r.Body != tc.body {
				t.Errorf("subscriber body %q, want %q", r.Body, tc.body)
			}
			if cl := r.Header.Get("Content-Length"); cl != strconv.Itoa(len(tc.body)) {
				t.Errorf("subscriber Content-Length %q, want %d", cl, len(tc.body))
			}
			if ct, ok := r.Header["Content-Type"]; tc.wantCT == "" && ok || r.Header.Get("Content-Type") != tc.wantCT {
				t.Errorf("subscriber Content-Type %q, want %q", ct, tc.wantCT)
			}
			if sid := responseID(t, r); sid != info.ID.String() {
				t.Errorf("subscriber got id %s, publisher was told %s", sid, info.ID)
			}
		})
	}

	// The stored message keeps its content type and EventSource event name.
	t.Run("event name stored", func(t *testing.T) {
		pub := do(t, "POST", s.URL+"/pub/evt", "data", "Content-Type", "text/x-foo", "X-EventSource-Event", "update")
		expectStatus(t, pub, http.StatusAccepted, "publish")
		ctx := context.Background()
		sub, err := s.Store.Subscribe(ctx, storeKey(t, "/evt"), store.SubscribeOptions{})
		if err != nil {
			t.Fatalf("store subscribe: %v", err)
		}
		defer sub.Close()
		cur, err := sub.Start(store.Start{Kind: store.StartOldest})
		if err != nil {
			t.Fatalf("start: %v", err)
		}
		batch, err := sub.Read(cur, nil, 10)
		msgs := batch.Messages
		if err != nil || len(msgs) != 1 {
			t.Fatalf("read: %d messages, err %v; want 1", len(msgs), err)
		}
		m := msgs[0]
		if string(m.Body) != "data" || m.ContentType != "text/x-foo" || m.EventName != "update" {
			t.Fatalf("stored message body %q type %q event %q, want data, text/x-foo, update", m.Body, m.ContentType, m.EventName)
		}
		if m.ID.String() != parseInfo(t, pub.Body).ID.String() {
			t.Fatalf("stored id %s, publisher told %s", m.ID, parseInfo(t, pub.Body).ID)
		}
	})
}

func TestPublishPut(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")

	t.Run("empty body creates without publishing", func(t *testing.T) {
		r := do(t, "PUT", s.URL+"/pub/p1", "")
		expectStatus(t, r, http.StatusOK, "PUT")
		info := parseInfo(t, r.Body)
		if info.Messages != 0 || info.Subscribers != 0 || info.Requested != -1 {
			t.Fatalf("PUT info %+v, want 0 messages, 0 subscribers, requested -1", info)
		}
		if got := getInfo(t, s.URL+"/pub/p1"); got.Messages != 0 {
			t.Fatalf("GET after PUT: %d messages, want 0", got.Messages)
		}
		// A long-poll with no id must wait: there is no (empty) message.
		sub := async(t, 6*time.Second, "GET", s.URL+"/sub/p1", "")
		waitSubscribers(t, s, "p1", 1)
		expectPending(t, sub, 200*time.Millisecond)
		pub := do(t, "POST", s.URL+"/pub/p1", "real")
		expectStatus(t, pub, http.StatusCreated, "POST")
		got := recv(t, sub)
		if got.Status != http.StatusOK || got.Body != "real" {
			t.Fatalf("subscriber got %d %q, want 200 \"real\"", got.Status, got.Body)
		}
	})

	t.Run("empty body on an existing channel publishes nothing", func(t *testing.T) {
		pub := do(t, "POST", s.URL+"/pub/p2", "one")
		expectStatus(t, pub, http.StatusAccepted, "POST")
		before := parseInfo(t, pub.Body)
		r := do(t, "PUT", s.URL+"/pub/p2", "")
		expectStatus(t, r, http.StatusOK, "PUT")
		after := parseInfo(t, r.Body)
		if after.Messages != 1 || after.ID != before.ID {
			t.Fatalf("PUT on existing channel: %+v, want 1 message and last id %s", after, before.ID)
		}
	})

	t.Run("body publishes, no subscriber", func(t *testing.T) {
		r := do(t, "PUT", s.URL+"/pub/p3", "put-body", "Content-Type", "text/x-put")
		expectStatus(t, r, http.StatusAccepted, "PUT")
		if info := parseInfo(t, r.Body); info.Messages != 1 {
			t.Fatalf("PUT info: %d messages, want 1", info.Messages)
		}
		got := do(t, "GET", s.URL+"/sub/p3", "")
		if got.Status != http.StatusOK || got.Body != "put-body" || got.Header.Get("Content-Type") != "text/x-put" {
			t.Fatalf("subscriber got %d %q %q", got.Status, got.Body, got.Header.Get("Content-Type"))
		}
	})

	t.Run("body publishes, waiting subscriber", func(t *testing.T) {
		sub := async(t, 6*time.Second, "GET", s.URL+"/sub/p4", "")
		waitSubscribers(t, s, "p4", 1)
		r := do(t, "PUT", s.URL+"/pub/p4", "put-body")
		expectStatus(t, r, http.StatusCreated, "PUT")
		got := recv(t, sub)
		if got.Status != http.StatusOK || got.Body != "put-body" {
			t.Fatalf("subscriber got %d %q", got.Status, got.Body)
		}
	})
}

func TestChannelInfoAndDelete(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")

	t.Run("GET unknown channel", func(t *testing.T) {
		expect404(t, s.URL+"/pub/nothing")
		expect404(t, s.URL+"/pub?id=nothing")
	})

	t.Run("GET existing channel", func(t *testing.T) {
		for i := range 3 {
			expectStatus(t, do(t, "POST", s.URL+"/pub/info", fmt.Sprint("m", i)), http.StatusAccepted, "POST")
		}
		info := getInfo(t, s.URL+"/pub/info")
		if info.Messages != 3 || info.Subscribers != 0 || info.Requested != -1 {
			t.Fatalf("info %+v, want 3 messages, 0 subscribers, requested -1", info)
		}
	})

	t.Run("DELETE unknown channel", func(t *testing.T) {
		r := do(t, "DELETE", s.URL+"/pub/nothing", "")
		if r.Status != http.StatusNotFound || r.Body != "" {
			t.Fatalf("DELETE unknown: %d %q, want 404 with empty body", r.Status, r.Body)
		}
	})

	t.Run("DELETE answers pre-delete info and 410s subscribers", func(t *testing.T) {
		var last channelInfo
		for i := range 2 {
			r := do(t, "POST", s.URL+"/pub/del", fmt.Sprint("m", i))
			expectStatus(t, r, http.StatusAccepted, "POST")
			last = parseInfo(t, r.Body)
		}
		// Two subscribers positioned after the newest message wait.
		sub1 := async(t, 6*time.Second, "GET", s.URL+"/sub/del", "", "Last-Event-ID", last.ID.String())
		sub2 := async(t, 6*time.Second, "GET", s.URL+"/sub?id=del", "", "Last-Event-ID", last.ID.String())
		waitSubscribers(t, s, "del", 2)
		r := do(t, "DELETE", s.URL+"/pub/del", "")
		expectStatus(t, r, http.StatusOK, "DELETE")
		info := parseInfo(t, r.Body)
		if info.Messages != 2 || info.Subscribers != 2 || info.ID != last.ID {
			t.Fatalf("DELETE info %+v, want 2 messages, 2 subscribers, last id %s", info, last.ID)
		}
		if info.Requested < 0 || info.Requested > 1 {
			t.Fatalf("DELETE info requested %d, want 0 (subscribers just came)", info.Requested)
		}
		for i, sub := range []<-chan response{sub1, sub2} {
			got := recv(t, sub)
			if got.Status != http.StatusGone {
				t.Fatalf("subscriber %d got %d %q, want 410", i+1, got.Status, got.Body)
			}
		}
		expect404(t, s.URL+"/pub/del")
		if r := do(t, "DELETE", s.URL+"/pub/del", ""); r.Status != http.StatusNotFound {
			t.Fatalf("second DELETE: %d, want 404", r.Status)
		}
	})

	t.Run("DELETE then publish starts a fresh channel", func(t *testing.T) {
		expectStatus(t, do(t, "POST", s.URL+"/pub/again", "old"), http.StatusAccepted, "POST")
		expectStatus(t, do(t, "DELETE", s.URL+"/pub/again", ""), http.StatusOK, "DELETE")
		expectStatus(t, do(t, "POST", s.URL+"/pub/again", "new"), http.StatusAccepted, "POST")
		if info := getInfo(t, s.URL+"/pub/again"); info.Messages != 1 {
			t.Fatalf("after re-publish: %d messages, want 1", info.Messages)
		}
		if r := do(t, "GET", s.URL+"/sub/again", ""); r.Body != "new" {
			t.Fatalf("subscriber got %q, want \"new\"", r.Body)
		}
	})
}

func TestChannelInfoFormats(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	var id string
	for i := range 5 {
		r := do(t, "POST", s.URL+"/pub/fmt", fmt.Sprint("m", i))
		expectStatus(t, r, http.StatusAccepted, "POST")
		id = parseInfo(t, r.Body).ID.String()
	}
	plain := "queued messages: 5\r\nlast requested: -1 sec. ago\r\nactive subscribers: 0\r\nlast message id: " + id
	json := `{"messages": 5, "requested": -1, "subscribers": 0, "last_message_id": "` + id + `" }`
	xml := "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\r\n<channel>\r\n  <messages>5</messages>\r\n  <requested>-1</requested>\r\n  <subscribers>0</subscribers>\r\n  <last_message_id>" + id + "</last_message_id>\r\n</channel>"
	yaml := "---\r\nmessages: 5\r\nrequested: -1\r\nsubscribers: 0\r\nlast_message_id: \"" + id + "\"\r\n\r\n"
	tests := []struct {
		accept, wantCT, want string
	}{
		{"", "text/plain", plain},
		{"*/*", "text/plain", plain},
		{"text/plain", "text/plain", plain},
		{"text/html", "text/plain", plain},
		{"application/json", "text/json", json},
		{"text/json", "text/json", json},
		{"application/x-json", "text/json", json},
		{"text/html, application/json;q=0.9, text/xml", "text/json", json},
		{"text/xml", "text/xml", xml},
		{"application/xml", "text/xml", xml},
		{"text/yaml", "text/yaml", yaml},
		{"application/x-yaml", "text/yaml", yaml},
	}
	for _, tc := range tests {
		t.Run("accept "+tc.accept, func(t *testing.T) {
			var hd []string
			if tc.accept != "" {
				hd = []string{"Accept", tc.accept}
			}
			r := do(t, "GET", s.URL+"/pub/fmt", "", hd...)
			expectStatus(t, r, http.StatusOK, "GET")
			if ct := r.Header.Get("Content-Type"); ct != tc.wantCT {
				t.Errorf("Content-Type %q, want %q", ct, tc.wantCT)
			}
			if r.Body != tc.want {
				t.Errorf("body\n%q\nwant\n%q", r.Body, tc.want)
			}
			if cl := r.Header.Get("Content-Length"); cl != strconv.Itoa(len(tc.want)) {
				t.Errorf("Content-Length %q, want %d", cl, len(tc.want))
			}
		})
	}

	t.Run("publish response negotiates too", func(t *testing.T) {
		r := do(t, "POST", s.URL+"/pub/fmt2", "x", "Accept", "application/json")
		expectStatus(t, r, http.StatusAccepted, "POST")
		re := regexp.MustCompile(`^\{"messages": 1, "requested": -1, "subscribers": 0, "last_message_id": "\d+:0" \}$`)
		if r.Header.Get("Content-Type") != "text/json" || !re.MatchString(r.Body) {
			t.Fatalf("POST with Accept json: %q %q", r.Header.Get("Content-Type"), r.Body)
		}
	})

	t.Run("requested after a subscriber", func(t *testing.T) {
		if r := do(t, "GET", s.URL+"/sub/fmt", ""); r.Status != http.StatusOK || r.Body != "m0" {
			t.Fatalf("subscriber got %d %q, want the oldest message m0", r.Status, r.Body)
		}
		r := do(t, "GET", s.URL+"/pub/fmt", "", "Accept", "text/json")
		re := regexp.MustCompile(`^\{"messages": 5, "requested": ([01]), "subscribers": 0, "last_message_id": "` + regexp.QuoteMeta(id) + `" \}$`)
		if !re.MatchString(r.Body) {
			t.Fatalf("info after a subscriber read: %q, want requested 0", r.Body)
		}
	})
}

func TestChannelInfoIDMatchesSubscriber(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	// Published with nobody waiting, read back in order via the id headers.
	var ids []string
	for i := range 3 {
		r := do(t, "POST", s.URL+"/pub/ids", fmt.Sprint("m", i))
		expectStatus(t, r, http.StatusAccepted, "POST")
		ids = append(ids, parseInfo(t, r.Body).ID.String())
	}
	if info := getInfo(t, s.URL+"/pub/ids"); info.ID.String() != ids[2] {
		t.Fatalf("GET info last id %s, want %s", info.ID, ids[2])
	}
	var hd []string
	for i := range 3 {
		r := do(t, "GET", s.URL+"/sub/ids", "", hd...)
		expectStatus(t, r, http.StatusOK, "subscriber")
		if r.Body != fmt.Sprint("m", i) {
			t.Fatalf("subscriber message %d: %q", i, r.Body)
		}
		if got := responseID(t, r); got != ids[i] {
			t.Fatalf("message %d: subscriber id %s, publisher said %s", i, got, ids[i])
		}
		hd = []string{"If-Modified-Since", r.Header.Get("Last-Modified"), "If-None-Match", r.Header.Get("Etag")}
	}
	// Published to a waiting subscriber.
	sub := async(t, 6*time.Second, "GET", s.URL+"/sub/ids", "", hd...)
	waitSubscribers(t, s, "ids", 1)
	r := do(t, "POST", s.URL+"/pub/ids", "live")
	expectStatus(t, r, http.StatusCreated, "POST")
	want := parseInfo(t, r.Body).ID.String()
	got := recv(t, sub)
	if got.Body != "live" || responseID(t, got) != want {
		t.Fatalf("live subscriber got %q id %s, publisher said %s", got.Body, responseID(t, got), want)
	}
}

func TestPublishURLStyles(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	tests := []struct{ pub, info, sub string }{
		{"/pub/%s", "/pub?id=%s", "/sub/%s"},
		{"/pub?id=%s", "/pub/%s", "/sub/%s"},
		{"/pub/%s", "/pub?id=%s", "/sub?id=%s"},
		{"/pub?id=%s", "/pub/%s", "/sub?id=%s"},
		{"/pubsub/%s", "/pub?id=%s", "/sub?id=%s"},
		{"/pub?id=%s", "/pub/%s", "/pubsub/%s"},
	}
	for i, tc := range tests {
		t.Run(tc.pub+" "+tc.sub, func(t *testing.T) {
			id := fmt.Sprintf("style%d", i)
			url := func(f string) string { return s.URL + fmt.Sprintf(f, id) }
			expectStatus(t, do(t, "POST", url(tc.pub), "hello"), http.StatusAccepted, "POST")
			if info := getInfo(t, url(tc.info)); info.Messages != 1 {
				t.Fatalf("info via other style: %d messages, want 1", info.Messages)
			}
			r := do(t, "GET", url(tc.sub), "")
			if r.Status != http.StatusOK || r.Body != "hello" {
				t.Fatalf("subscriber got %d %q", r.Status, r.Body)
			}
			if _, err := s.Store.Info(context.Background(), storeKey(t, "/"+id)); err != nil {
				t.Fatalf("store has no channel %q: %v", "/"+id, err)
			}
		})
	}
}

// TestRubyChannelManagement is the Push Module channel-management flow of
// the Ruby article: open (PUT), exist? (GET), push (POST), close (DELETE).
func TestRubyChannelManagement(t *testing.T) {
	t.Parallel()
	s := startServer(t, defaultConfig("subscribe_existing_channels_only: on"))
	id := "user-4f2a9c"
	pubURL := s.URL + "/pub?id=" + id
	subURL := s.URL + "/sub?id=" + id

	if r := do(t, "GET", subURL, ""); r.Status != http.StatusForbidden {
		t.Fatalf("subscribe before open: %d, want 403 (authorized channels only)", r.Status)
	}
	expect404(t, pubURL)

	open := do(t, "PUT", pubURL, "")
	expectStatus(t, open, http.StatusOK, "open (PUT)")
	if info := parseInfo(t, open.Body); info.Messages != 0 {
		t.Fatalf("open: %d messages, want 0", info.Messages)
	}
	expectStatus(t, do(t, "GET", pubURL, ""), http.StatusOK, "exist? (GET)")

	data := `{"created_at":"2013-01-01T00:00:00Z","text":"hi"}`
	push := do(t, "POST", pubURL, data, "Content-Type", "application/json")
	expectStatus(t, push, http.StatusAccepted, "push (POST)")

	r := do(t, "GET", subURL, "")
	if r.Status != http.StatusOK || r.Body != data || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("subscriber got %d %q %q", r.Status, r.Body, r.Header.Get("Content-Type"))
	}

	closeRes := do(t, "DELETE", pubURL, "")
	expectStatus(t, closeRes, http.StatusOK, "close (DELETE)")
	if info := parseInfo(t, closeRes.Body); info.Messages != 1 {
		t.Fatalf("close: %d messages, want 1", info.Messages)
	}
	expect404(t, pubURL)
	if r := do(t, "GET", subURL, ""); r.Status != http.StatusForbidden {
		t.Fatalf("subscribe after close: %d, want 403", r.Status)
	}
}

func TestPublishMultiChannel(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")

	t.Run("waiting subscribers on both", func(t *testing.T) {
		subA := async(t, 6*time.Second, "GET", s.URL+"/sub/ma", "")
		subB := async(t, 6*time.Second, "GET", s.URL+"/sub?id=mb", "")
		waitSubscribers(t, s, "ma", 1)
		waitSubscribers(t, s, "mb", 1)
		expectStatus(t, do(t, "POST", s.URL+"/pub/ma,mb", "both"), http.StatusCreated, "POST")
		for _, sub := range []<-chan response{subA, subB} {
			if r := recv(t, sub); r.Status != http.StatusOK || r.Body != "both" {
				t.Fatalf("subscriber got %d %q", r.Status, r.Body)
			}
		}
	})

	t.Run("subscriber on one only", func(t *testing.T) {
		sub := async(t, 6*time.Second, "GET", s.URL+"/sub/mc", "")
		waitSubscribers(t, s, "mc", 1)
		expectStatus(t, do(t, "POST", s.URL+"/pub?id=mc,md", "x"), http.StatusCreated, "POST")
		recv(t, sub)
	})

	t.Run("stored in both", func(t *testing.T) {
		expectStatus(t, do(t, "POST", s.URL+"/pub/me,mf", "stored"), http.StatusAccepted, "POST")
		for _, id := range []string{"me", "mf"} {
			if info := getInfo(t, s.URL+"/pub/"+id); info.Messages != 1 {
				t.Fatalf("channel %s: %d messages, want 1", id, info.Messages)
			}
			if r := do(t, "GET", s.URL+"/sub/"+id, ""); r.Body != "stored" {
				t.Fatalf("channel %s subscriber got %q", id, r.Body)
			}
		}
	})
}

// TestMultiChannelInfo: publisher requests on several channels at once
// answer with what Nchan answers (measured on Nchan 1.3.6): a publish or a
// delete sums the channels' info (the most messages, the subscribers
// added up, the latest request) with "0" as the last message id; a delete
// answers 200 whatever it found, with 0 messages; a GET is 404.
func TestMultiChannelInfo(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	sum := func(messages int, requested string, subscribers int) *regexp.Regexp {
		return regexp.MustCompile(fmt.Sprintf(`^queued messages: %d\r\nlast requested: %s sec\. ago\r\nactive subscribers: %d\r\nlast message id: 0$`,
			messages, requested, subscribers))
	}
	expectSum := func(t *testing.T, r response, status int, want *regexp.Regexp) {
		t.Helper()
		expectStatus(t, r, status, "multi-channel request")
		if !want.MatchString(r.Body) || r.Header.Get("Content-Type") != "text/plain" {
			t.Fatalf("answer %q (%s), want %s", r.Body, r.Header.Get("Content-Type"), want)
		}
	}
	expect404(t, s.URL+"/pub/m1,m2")
	r := do(t, "POST", s.URL+"/pub/m1,m2", "one", "Accept", "text/json")
	expectStatus(t, r, http.StatusAccepted, "POST /pub/m1,m2")
	if want := `{"messages": 1, "requested": -1, "subscribers": 0, "last_message_id": "0" }`; r.Body != want {
		t.Fatalf("JSON answer %q, want %q", r.Body, want)
	}
	publish(t, s, "m1", "two")
	expect404(t, s.URL+"/pub/m1,m2") // both exist: still no info for the pair

	// Two waiting subscribers on new channels: 201, the most messages (m1's
	// 3), both subscribers.
	subs := []<-chan response{async(t, 5*time.Second, "GET", s.URL+"/sub/m3", ""), async(t, 5*time.Second, "GET", s.URL+"/sub/m4", "")}
	waitSubscribers(t, s, "m3", 1)
	waitSubscribers(t, s, "m4", 1)
	expectSum(t, do(t, "POST", s.URL+"/pub/m1,m3,m4", "three"), http.StatusCreated, sum(3, `[01]`, 2))
	for _, sub := range subs {
		if r := recv(t, sub); r.Body != "three" {
			t.Fatalf("subscriber got %d %q", r.Status, r.Body)
		}
	}

	expectSum(t, do(t, "DELETE", s.URL+"/pub/m1,m2", ""), http.StatusOK, sum(0, "-1", 0))
	expect404(t, s.URL+"/pub/m1")
	expect404(t, s.URL+"/pub/m2")
	expectSum(t, do(t, "DELETE", s.URL+"/pub/nx1,nx2", ""), http.StatusOK, sum(0, "-1", 0))

	// Subscribers waiting on the channels a DELETE removes are counted, and
	// get 410.
	subs = []<-chan response{async(t, 5*time.Second, "GET", s.URL+"/sub/d1", ""), async(t, 5*time.Second, "GET", s.URL+"/sub/d2", "")}
	waitSubscribers(t, s, "d1", 1)
	waitSubscribers(t, s, "d2", 1)
	expectSum(t, do(t, "DELETE", s.URL+"/pub/d1,d2,nx3", ""), http.StatusOK, sum(0, `[01]`, 2))
	for _, sub := range subs {
		expectStatus(t, recv(t, sub), http.StatusGone, "subscriber of a deleted channel")
	}

	// A PUT creating several channels, and a WebSocket publisher on
	// several channels, answer the sum too.
	expectSum(t, do(t, "PUT", s.URL+"/pub/p1,p2", ""), http.StatusOK, sum(0, "-1", 0))
	c := openWebSocket(t, s, "/pub/w1,w2")
	c.send(t, ws.OpText, []byte("hi"), true, false)
	h, p := c.frame(t, 3*time.Second)
	if h.OpCode != ws.OpText || !sum(1, "-1", 0).Match(p) {
		t.Fatalf("WebSocket publisher's answer: op %d %q", h.OpCode, p)
	}
}

func TestPublisherMethods(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	const pubAllow = "GET, POST, PUT, DELETE, OPTIONS"
	const subAllow = "GET, OPTIONS"
	tests := []struct {
		method, path string
		headers      []string
		wantStatus   int
		wantAllow    string
		wantHeaders  map[string]string
	}{
		{method: "POST", path: "/sub/m1", wantStatus: http.StatusForbidden},
		{method: "PUT", path: "/sub/m1", wantStatus: http.StatusForbidden},
		{method: "DELETE", path: "/sub/m1", wantStatus: http.StatusForbidden},
		{method: "POST", path: "/sub?id=m1", wantStatus: http.StatusForbidden},
		{method: "HEAD", path: "/pub/m1", wantStatus: http.StatusMethodNotAllowed, wantAllow: pubAllow},
		{method: "PATCH", path: "/pub/m1", wantStatus: http.StatusMethodNotAllowed, wantAllow: pubAllow},
		{method: "HEAD", path: "/sub/m1", wantStatus: http.StatusMethodNotAllowed, wantAllow: subAllow},
		{method: "PATCH", path: "/sub/m1", wantStatus: http.StatusMethodNotAllowed, wantAllow: subAllow},
		{method: "OPTIONS", path: "/pub/m1", wantStatus: http.StatusOK, wantAllow: pubAllow,
			wantHeaders: map[string]string{"Access-Control-Allow-Origin": ""}},
		{method: "OPTIONS", path: "/sub/m1", wantStatus: http.StatusOK, wantAllow: subAllow,
			wantHeaders: map[string]string{"Access-Control-Allow-Origin": ""}},
		{method: "OPTIONS", path: "/pub/m1", headers: []string{"Origin", "http://example.com"}, wantStatus: http.StatusOK, wantAllow: pubAllow,
			wantHeaders: map[string]string{
				"Access-Control-Allow-Origin":      "http://example.com",
				"Access-Control-Allow-Methods":     "GET, POST, PUT, DELETE",
				"Access-Control-Allow-Headers":     "Content-Type",
				"Access-Control-Allow-Credentials": "true",
			}},
		{method: "OPTIONS", path: "/sub/m1", headers: []string{"Origin", "http://example.com"}, wantStatus: http.StatusOK, wantAllow: subAllow,
			wantHeaders: map[string]string{
				"Access-Control-Allow-Origin":  "http://example.com",
				"Access-Control-Allow-Methods": "GET",
			}},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			body := ""
			if tc.method == "POST" || tc.method == "PUT" || tc.method == "PATCH" {
				body = "body"
			}
			r := do(t, tc.method, s.URL+tc.path, body, tc.headers...)
			if r.Status != tc.wantStatus {
				t.Fatalf("got %d %q, want %d", r.Status, r.Body, tc.wantStatus)
			}
			if got := r.Header.Get("Allow"); got != tc.wantAllow {
				t.Errorf("Allow %q, want %q", got, tc.wantAllow)
			}
			for k, v := range tc.wantHeaders {
				if got := r.Header.Get(k); got != v {
					t.Errorf("%s %q, want %q", k, got, v)
				}
			}
			if tc.method == "OPTIONS" && r.Body != "" {
				t.Errorf("OPTIONS body %q, want empty", r.Body)
			}
			if tc.method == "OPTIONS" && len(tc.headers) > 0 {
				if h := r.Header.Get("Access-Control-Allow-Headers"); tc.path == "/sub/m1" && !strings.Contains(h, "If-None-Match") {
					t.Errorf("subscriber Access-Control-Allow-Headers %q lacks If-None-Match", h)
				}
			}
			// None of these may have created or published to the channel.
			expect404(t, s.URL+"/pub/m1")
		})
	}

	t.Run("GET info with Origin gets CORS", func(t *testing.T) {
		expectStatus(t, do(t, "POST", s.URL+"/pub/cors", "x"), http.StatusAccepted, "POST")
		r := do(t, "GET", s.URL+"/pub/cors", "", "Origin", "http://example.com")
		if r.Status != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != "http://example.com" {
			t.Fatalf("GET with Origin: %d, Access-Control-Allow-Origin %q", r.Status, r.Header.Get("Access-Control-Allow-Origin"))
		}
	})
}

func TestPublishBodySizeLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t, defaultConfig("client_max_body_size: 1k"))
	tests := []struct {
		name       string
		method     string
		size       int
		chunked    bool
		wantStatus int
	}{
		{"POST over the limit", "POST", 2048, false, http.StatusRequestEntityTooLarge},
		{"POST one byte over", "POST", 1025, false, http.StatusRequestEntityTooLarge},
		{"POST exactly at the limit", "POST", 1024, false, http.StatusAccepted},
		{"PUT over the limit", "PUT", 2048, false, http.StatusRequestEntityTooLarge},
		{"chunked over the limit", "POST", 2048, true, http.StatusRequestEntityTooLarge},
		{"chunked one byte over", "POST", 1025, true, http.StatusRequestEntityTooLarge},
		{"chunked exactly at the limit", "POST", 1024, true, http.StatusAccepted},
		{"chunked small", "POST", 10, true, http.StatusAccepted},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.Repeat("x", tc.size)
			for _, existing := range []bool{false, true} {
				id := fmt.Sprintf("size%d-%v", i, existing)
				url := s.URL + "/pub/" + id
				var before channelInfo
				if existing {
					r := do(t, "POST", url, "first")
					expectStatus(t, r, http.StatusAccepted, "first POST")
					before = parseInfo(t, r.Body)
				}
				var r response
				if tc.chunked {
					r = doChunked(t, tc.method, url, body)
				} else {
					r = do(t, tc.method, url, body)
				}
				expectStatus(t, r, tc.wantStatus, fmt.Sprintf("%s %d bytes (existing channel %v)", tc.method, tc.size, existing))
				switch {
				case tc.wantStatus == http.StatusAccepted:
					info := getInfo(t, url)
					if info.Messages != before.Messages+1 {
						t.Fatalf("after accepted publish: %d messages, want %d", info.Messages, before.Messages+1)
					}
					lastID := "" // none: the header is sent empty
					if existing {
						lastID = before.ID.String()
					}
					sub := do(t, "GET", s.URL+"/sub/"+id, "", "Last-Event-ID", lastID)
					if existing && len(sub.Body) != tc.size {
						t.Fatalf("subscriber got %d bytes, want %d", len(sub.Body), tc.size)
					}
				case existing:
					info := getInfo(t, url)
					if info.Messages != 1 || info.ID != before.ID {
						t.Fatalf("after 413: %+v, want the channel unchanged (1 message, id %s)", info, before.ID)
					}
				default:
					expect404(t, url)
				}
			}
		})
	}
}

// TestPublishBodySizeZeroIsUnlimited: client_max_body_size is nginx's directive,
// and nginx (so every Nchan configuration) reads 0 as "no limit".
func TestPublishBodySizeZeroIsUnlimited(t *testing.T) {
	t.Parallel()
	s := startServer(t, defaultConfig("client_max_body_size: 0"))
	expectStatus(t, do(t, "POST", s.URL+"/pub/nolimit", "hello"), http.StatusAccepted, "POST 5 bytes with client_max_body_size 0")
	big := strings.Repeat("x", 3<<19) // 1.5M, past the 1M default
	expectStatus(t, doChunked(t, "POST", s.URL+"/pub/nolimit", big), http.StatusAccepted, "chunked POST 1.5M with client_max_body_size 0")
	if info := getInfo(t, s.URL+"/pub/nolimit"); info.Messages != 2 {
		t.Fatalf("%d messages, want 2", info.Messages)
	}
}

func TestMaxReservedMemory(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	s := startServer(t, testConfig([]string{"max_reserved_memory: 1M", "message_buffer_length: 10"},
		prefixLocation("pub", "publisher: true"),
		prefixLocation("existing", "subscriber: longpoll", "subscribe_existing_channels_only: on")))
	body := strings.Repeat("m", 100_000)
	checkMem := func(when string) {
		t.Helper()
		if used := s.Store.Stats().MemoryUsed; used > limit {
			t.Fatalf("%s: memory used %d is past max_reserved_memory %d", when, used, limit)
		}
	}

	// One channel: the buffer of 10 turns over without running out.
	for i := range 15 {
		expectStatus(t, do(t, "POST", s.URL+"/pub/one", body), http.StatusAccepted, fmt.Sprintf("publish %d to one channel", i))
		checkMem("one channel")
	}
	if info := getInfo(t, s.URL+"/pub/one"); info.Messages != 10 {
		t.Fatalf("one channel: %d messages, want 10", info.Messages)
	}
	expectStatus(t, do(t, "DELETE", s.URL+"/pub/one", ""), http.StatusOK, "DELETE one")

	// Many channels: the store fills and answers 507.
	const channels = 25
	accepted, full := 0, 0
	for i := range channels {
		r := do(t, "POST", s.URL+fmt.Sprintf("/pub/mem%d", i), body)
		switch r.Status {
		case http.StatusAccepted:
			if full > 0 {
				t.Fatalf("channel %d accepted after the store was full", i)
			}
			accepted++
		case http.StatusInsufficientStorage:
			full++
		default:
			t.Fatalf("publish to channel %d: %d %q", i, r.Status, r.Body)
		}
		checkMem(fmt.Sprintf("after channel %d", i))
	}
	if accepted == 0 || full == 0 {
		t.Fatalf("%d accepted, %d refused with 507; want both", accepted, full)
	}
	if accepted > limit/100_000 {
		t.Fatalf("%d 100k messages accepted within 1M", accepted)
	}
	// A 507 leaves no trace: no channel (GET is 404, a subscriber of
	// existing channels only is refused).
	for i := accepted; i < channels; i++ {
		expect404(t, s.URL+fmt.Sprintf("/pub/mem%d", i))
	}
	if r := do(t, "GET", s.URL+fmt.Sprintf("/existing/mem%d", channels-1), ""); r.Status != http.StatusForbidden {
		t.Fatalf("subscriber of existing channels only, to a channel whose publish got 507: %d %q, want 403", r.Status, r.Body)
	}
	usedFull := s.Store.Stats().MemoryUsed

	// Deleting channels frees memory; publishing works again.
	for i := range channels {
		r := do(t, "DELETE", s.URL+fmt.Sprintf("/pub/mem%d", i), "")
		if i < accepted && r.Status != http.StatusOK {
			t.Fatalf("DELETE mem%d: %d", i, r.Status)
		}
	}
	if used := s.Store.Stats().MemoryUsed; used >= usedFull || used > limit/10 {
		t.Fatalf("memory used %d after deleting every channel (was %d when full)", used, usedFull)
	}
	for i := range 3 {
		expectStatus(t, do(t, "POST", s.URL+fmt.Sprintf("/pub/after%d", i), body), http.StatusAccepted, "publish after delete")
	}
	checkMem("after delete")
}

func TestMaxChannelIDLength(t *testing.T) {
	t.Parallel()
	s := startServer(t, defaultConfig("max_channel_id_length: 10"))
	tests := []struct {
		method, path string
		want         int
	}{
		{"POST", "/pub/aaaaaaaaaa", http.StatusAccepted},
		{"POST", "/pub/bbbbbbbbbbb", http.StatusForbidden},
		{"POST", "/pub?id=bbbbbbbbbbb", http.StatusForbidden},
		{"PUT", "/pub/bbbbbbbbbbb", http.StatusForbidden},
		{"GET", "/pub/bbbbbbbbbbb", http.StatusForbidden},
		{"DELETE", "/pub/bbbbbbbbbbb", http.StatusForbidden},
		{"GET", "/sub/bbbbbbbbbbb", http.StatusForbidden},
		{"POST", "/pub/ab12,cd345", http.StatusAccepted},   // 10 including the delimiter
		{"POST", "/pub/xy12,cd3456", http.StatusForbidden}, // checked before splitting
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			body := ""
			if tc.method == "POST" {
				body = "x"
			}
			expectStatus(t, do(t, tc.method, s.URL+tc.path, body), tc.want, tc.method+" "+tc.path)
		})
	}
	if info := getInfo(t, s.URL+"/pub/aaaaaaaaaa"); info.Messages != 1 {
		t.Fatalf("10-character id: %d messages, want 1", info.Messages)
	}
	for _, key := range []string{"/bbbbbbbbbbb", "/xy12", "/cd3456"} {
		if _, err := s.Store.Info(context.Background(), storeKey(t, key)); err == nil {
			t.Fatalf("refused channel %q exists", key)
		}
	}
}

func TestTooManyChannels(t *testing.T) {
	t.Parallel()
	s := startServer(t, defaultConfig("max_channel_id_length: 8192"))
	ids := func(prefix string, n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf("%s%d", prefix, i)
		}
		return strings.Join(parts, ",")
	}
	expectStatus(t, do(t, "POST", s.URL+"/pub/"+ids("c", 255), "x"), http.StatusAccepted, "255 channels")
	for _, id := range []string{"c0", "c254"} {
		if info := getInfo(t, s.URL+"/pub/"+id); info.Messages != 1 {
			t.Fatalf("channel %s: %d messages, want 1", id, info.Messages)
		}
	}
	expectStatus(t, do(t, "POST", s.URL+"/pub/"+ids("d", 256), "x"), http.StatusForbidden, "256 channels")
	expectStatus(t, do(t, "POST", s.URL+"/pub?id="+ids("e", 300), "x"), http.StatusForbidden, "300 channels")
	for _, id := range []string{"d0", "d255", "e0"} {
		expect404(t, s.URL+"/pub/"+id)
	}
	if n := s.Store.Stats().Channels; n != 255 {
		t.Fatalf("%d channels in the store, want 255", n)
	}
}

func TestChannelGroup(t *testing.T) {
	t.Parallel()
	// The group's locations: /<prefix>/pub/<id> and /<prefix>/sub/<id>.
	group := func(prefix, group string, sub bool) []string {
		locs := []string{prefixLocation(prefix+"/pub", "publisher: true", "channel_group: "+group)}
		if sub {
			locs = append(locs, prefixLocation(prefix+"/sub", "subscriber: true", "channel_group: "+group))
		}
		return locs
	}
	var locs []string
	for _, g := range []struct {
		prefix, group string
		sub           bool
	}{{"g1", "g1", true}, {"g2", "g2", true}, {"m", "m", false}, {"slash", "a/b", false}, {"var", "$arg_group", true}} {
		locs = append(locs, group(g.prefix, g.group, g.sub)...)
	}
	s := startServer(t, testConfig(nil, append(locs, prefixLocation("pub", "publisher: true"))...))
	expectStatus(t, do(t, "POST", s.URL+"/g1/pub/x", "one"), http.StatusAccepted, "POST g1")
	expectStatus(t, do(t, "POST", s.URL+"/g2/pub/x", "two"), http.StatusAccepted, "POST g2")
	expectStatus(t, do(t, "POST", s.URL+"/g2/pub/x", "three"), http.StatusAccepted, "POST g2")

	if info := getInfo(t, s.URL+"/g1/pub/x"); info.Messages != 1 {
		t.Fatalf("g1/x: %d messages, want 1", info.Messages)
	}
	if info := getInfo(t, s.URL+"/g2/pub/x"); info.Messages != 2 {
		t.Fatalf("g2/x: %d messages, want 2", info.Messages)
	}
	expect404(t, s.URL+"/pub/x") // no group: another channel again
	if r := do(t, "GET", s.URL+"/g1/sub/x", ""); r.Body != "one" {
		t.Fatalf("g1 subscriber got %q, want \"one\"", r.Body)
	}
	if r := do(t, "GET", s.URL+"/g2/sub/x", ""); r.Body != "two" {
		t.Fatalf("g2 subscriber got %q, want \"two\"", r.Body)
	}
	for _, key := range []string{"g1/x", "g2/x"} {
		if _, err := s.Store.Info(context.Background(), storeKey(t, key)); err != nil {
			t.Fatalf("store key %q: %v", key, err)
		}
	}

	// The group from a variable.
	expectStatus(t, do(t, "POST", s.URL+"/var/pub/x?group=g1", "four"), http.StatusAccepted, "POST group from $arg_group")
	if info := getInfo(t, s.URL+"/g1/pub/x"); info.Messages != 2 {
		t.Fatalf("g1/x after $arg_group publish: %d messages, want 2", info.Messages)
	}
	if info := getInfo(t, s.URL+"/var/pub/x?group=g2"); info.Messages != 2 {
		t.Fatalf("g2/x via $arg_group: %d messages, want 2", info.Messages)
	}

	// Reserved and invalid groups.
	tests := []struct{ method, path string }{
		{"POST", "/m/pub/x"},
		{"GET", "/m/pub/x"},
		{"POST", "/slash/pub/x"},
		{"POST", "/var/pub/y?group=m"},
		{"POST", "/var/pub/y?group=a/b"},
		{"PUT", "/var/pub/y?group=m"},
		{"DELETE", "/var/pub/x?group=m"},
		{"GET", "/var/sub/y?group=m"},
		{"GET", "/var/sub/y?group=a/b"},
	}
	for _, tc := range tests {
		t.Run("forbidden "+tc.method+" "+tc.path, func(t *testing.T) {
			expectStatus(t, do(t, tc.method, s.URL+tc.path, ""), http.StatusForbidden, tc.method+" "+tc.path)
		})
	}
	for _, key := range []string{"m/x", "m/y", "a/b/x", "a/b/y"} {
		if _, err := s.Store.Info(context.Background(), storeKey(t, key)); err == nil {
			t.Fatalf("channel %q exists after a forbidden group", key)
		}
	}
}

func TestMessageBufferLength(t *testing.T) {
	t.Parallel()
	s := startServer(t, defaultConfig("message_buffer_length: 3"))
	var ids []string
	for i := range 5 {
		r := do(t, "POST", s.URL+"/pub/buf", fmt.Sprint("m", i))
		expectStatus(t, r, http.StatusAccepted, "POST")
		info := parseInfo(t, r.Body)
		if want := min(i+1, 3); info.Messages != want {
			t.Fatalf("after publish %d: %d messages, want %d", i, info.Messages, want)
		}
		ids = append(ids, info.ID.String())
	}
	if info := getInfo(t, s.URL+"/pub/buf"); info.Messages != 3 || info.ID.String() != ids[4] {
		t.Fatalf("info %+v, want 3 messages, last id %s", info, ids[4])
	}
	// An oldest-start subscriber gets the 3rd-newest message, then the rest.
	var hd []string
	for _, want := range []int{2, 3, 4} {
		r := do(t, "GET", s.URL+"/sub/buf", "", hd...)
		if r.Status != http.StatusOK || r.Body != fmt.Sprint("m", want) {
			t.Fatalf("subscriber got %d %q, want m%d", r.Status, r.Body, want)
		}
		if got := responseID(t, r); got != ids[want] {
			t.Fatalf("subscriber id %s, want %s", got, ids[want])
		}
		hd = []string{"If-Modified-Since", r.Header.Get("Last-Modified"), "If-None-Match", r.Header.Get("Etag")}
	}
}

func TestMessageTimeout(t *testing.T) {
	t.Parallel()
	s := startServer(t, defaultConfig("message_timeout: 1s"))
	for i := range 2 {
		expectStatus(t, do(t, "POST", s.URL+"/pub/ttl", fmt.Sprint("m", i)), http.StatusAccepted, "POST")
	}
	start := time.Now()
	if info := getInfo(t, s.URL+"/pub/ttl"); info.Messages != 2 {
		t.Fatalf("right after publishing: %d messages, want 2", info.Messages)
	}
	waitFor(t, 4*time.Second, "messages expire", func() bool {
		return getInfo(t, s.URL+"/pub/ttl").Messages == 0
	})
	if d := time.Since(start); d < 800*time.Millisecond {
		t.Fatalf("messages expired after %v, before message_timeout 1s", d)
	}
	// The expired messages are not delivered: a new subscriber waits.
	sub := async(t, 6*time.Second, "GET", s.URL+"/sub/ttl", "")
	waitSubscribers(t, s, "ttl", 1)
	parkedGetsNext(t, s, sub, "ttl", "fresh", 100*time.Millisecond)
}

func TestStoreMessagesOff(t *testing.T) {
	t.Parallel()
	s := startServer(t, defaultConfig("store_messages: off"))
	for i := range 3 {
		r := do(t, "POST", s.URL+"/pub/nostore", fmt.Sprint("m", i))
		expectStatus(t, r, http.StatusAccepted, "POST")
		if info := parseInfo(t, r.Body); info.Messages != 0 {
			t.Fatalf("publish response: %d messages, want 0", info.Messages)
		}
	}
	if info := getInfo(t, s.URL+"/pub/nostore"); info.Messages != 0 {
		t.Fatalf("info: %d messages, want 0", info.Messages)
	}
	// A waiting subscriber still gets live messages.
	sub := async(t, 6*time.Second, "GET", s.URL+"/sub/nostore2", "")
	waitSubscribers(t, s, "nostore2", 1)
	parkedGetsNext(t, s, sub, "nostore2", "live", 0)
}

func TestChannelTimeout(t *testing.T) {
	t.Parallel()
	s := startServer(t, defaultConfig("channel_timeout: 1s"))
	expectStatus(t, do(t, "PUT", s.URL+"/pub/idle", ""), http.StatusOK, "PUT idle")
	expectStatus(t, do(t, "PUT", s.URL+"/pub/busy", ""), http.StatusOK, "PUT busy")
	created := time.Now()
	sub := async(t, 8*time.Second, "GET", s.URL+"/sub/busy", "")
	waitSubscribers(t, s, "busy", 1)
	getInfo(t, s.URL+"/pub/idle") // still there right away

	waitFor(t, 4*time.Second, "idle channel expires", func() bool {
		return do(t, "GET", s.URL+"/pub/idle", "").Status == http.StatusNotFound
	})
	if d := time.Since(created); d < 800*time.Millisecond {
		t.Fatalf("idle channel expired after %v, before channel_timeout 1s", d)
	}
	expect404(t, s.URL+"/pub/idle")

	// The channel with a waiting subscriber outlives the timeout.
	if wait := 1500*time.Millisecond - time.Since(created); wait > 0 {
		time.Sleep(wait)
	}
	if info := getInfo(t, s.URL+"/pub/busy"); info.Subscribers != 1 {
		t.Fatalf("busy channel: %d subscribers, want 1", info.Subscribers)
	}
	expectStatus(t, do(t, "POST", s.URL+"/pub/busy", "still here"), http.StatusCreated, "POST busy")
	if r := recv(t, sub); r.Status != http.StatusOK || r.Body != "still here" {
		t.Fatalf("subscriber got %d %q", r.Status, r.Body)
	}
}

func TestPublishMonotonicIDs(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	const n = 200
	var prev channelInfo
	sameSecond := 0
	for i := range n {
		r := do(t, "POST", s.URL+"/pub/mono", "x")
		expectStatus(t, r, http.StatusAccepted, "POST")
		info := parseInfo(t, r.Body)
		if i > 0 {
			switch {
			case info.ID.T == prev.ID.T:
				sameSecond++
				if info.ID.Tag != prev.ID.Tag+1 {
					t.Fatalf("publish %d: id %s after %s, want tag %d", i, info.ID, prev.ID, prev.ID.Tag+1)
				}
			case info.ID.T > prev.ID.T:
				if info.ID.Tag != 0 {
					t.Fatalf("publish %d: id %s starts a new second with tag %d, want 0", i, info.ID, info.ID.Tag)
				}
			default:
				t.Fatalf("publish %d: id %s went back from %s", i, info.ID, prev.ID)
			}
		} else if info.ID.Tag != 0 {
			t.Fatalf("first id %s, want tag 0", info.ID)
		}
		prev = info
	}
	if sameSecond == 0 {
		t.Fatalf("no two of %d rapid publishes shared a second", n)
	}
	if info := getInfo(t, s.URL+"/pub/mono"); info.ID != prev.ID || info.Messages != 10 {
		t.Fatalf("info %+v, want last id %s and 10 messages (default buffer)", info, prev.ID)
	}
}

func TestPublishConcurrentIDsDistinct(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	const workers, each = 10, 20
	results := make(chan string, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			// No t.Fatal off the test goroutine: async and tryParseInfo.
			for range each {
				r := <-async(t, 5*time.Second, "POST", s.URL+"/pub/conc", "x")
				info, err := tryParseInfo(infoRE, r.Body)
				if r.Status != http.StatusAccepted || err != nil {
					t.Errorf("POST: %d %q", r.Status, r.Body)
					return
				}
				results <- info.ID.String()
			}
		})
	}
	wg.Wait()
	close(results)
	seen := map[string]bool{}
	for id := range results {
		if seen[id] {
			t.Fatalf("two concurrent publishes got the same id %s", id)
		}
		seen[id] = true
	}
	if len(seen) != workers*each {
		t.Fatalf("%d distinct ids, want %d", len(seen), workers*each)
	}
}
