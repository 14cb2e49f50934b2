package server_test

// Batch publishes (publish_batch): many messages for many channels in one
// request, each through the location's checks and the one publish path.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldpush/herald/protocol"
)

// batchConfig has a batch publisher at /batch (with extra lines), the
// usual /pub/<id> and a subscriber at /sub/<id>.
func batchConfig(top []string, lines ...string) string {
	return testConfig(top,
		location("= /batch", append([]string{"publisher: true", "publish_batch: on"}, lines...)...),
		prefixLocation("pub", "publisher: true"),
		prefixLocation("sub", "subscriber: true"),
	)
}

// postBatch publishes msgs to /batch and returns the results.
func postBatch(t *testing.T, s *testServer, msgs []protocol.BatchMessage) []protocol.BatchResult {
	t.Helper()
	r := do(t, "POST", s.URL+"/batch", string(protocol.AppendBatchMessages(nil, msgs)), "Content-Type", "application/json")
	expectStatus(t, r, http.StatusOK, "batch publish")
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	res, err := protocol.ParseBatchResults([]byte(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(msgs) {
		t.Fatalf("%d results for %d messages: %s", len(res), len(msgs), r.Body)
	}
	return res
}

// TestBatchPublish: every message of a batch reaches its channel's
// subscribers once, in order, with the id the answer gave it.
func TestBatchPublish(t *testing.T) {
	t.Parallel()
	s := startServer(t, batchConfig(nil))
	chans := []string{"ba", "bb", "bc"}
	streams := make([]*rawConn, len(chans))
	for i, ch := range chans {
		streams[i] = openEventSource(t, s, "/sub/"+ch)
		waitSubscribers(t, s, ch, 1)
	}
	var msgs []protocol.BatchMessage
	for i := range 30 {
		msgs = append(msgs, protocol.BatchMessage{Channel: chans[i%3], Data: []byte(fmt.Sprintf("m%d", i))})
	}
	msgs = append(msgs, protocol.BatchMessage{Channel: "nobody", Data: []byte{0xff, 0xfe}, ContentType: "application/octet-stream"})
	res := postBatch(t, s, msgs)
	for i, r := range res {
		want := http.StatusCreated // a subscriber was waiting
		if msgs[i].Channel == "nobody" {
			want = http.StatusAccepted
		}
		if r.Status != want || r.ID == "" || r.Channel != msgs[i].Channel {
			t.Errorf("result %d = %+v, want status %d with an id", i, r, want)
		}
	}
	for i := range 30 {
		streams[i%3].expect(t, sseEvent("", res[i].ID, string(msgs[i].Data)))
	}
	r := do(t, "GET", s.URL+"/sub/nobody", "")
	if r.Status != http.StatusOK || r.Body != "\xff\xfe" || r.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("long-poll of the binary message: %d %q %q", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
}

// TestBatchPublishPartial: a message refused (too long an id, too large,
// not authorized) gets its status; the others are published.
func TestBatchPublishPartial(t *testing.T) {
	t.Parallel()
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Channel-Id") == "secret" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer auth.Close()
	s := startServer(t, batchConfig([]string{"max_channel_id_length: 10"},
		"client_max_body_size: 8",
		`authorize_request: {url: "`+auth.URL+`/auth", headers: {X-Channel-Id: $nchan_channel_id}}`))
	msgs := []protocol.BatchMessage{
		{Channel: "ok1", Data: []byte("one")},
		{Channel: "much-too-long-an-id", Data: []byte("x")},
		{Channel: "ok1", Data: []byte("too large a body")},
		{Channel: "secret", Data: []byte("x")},
		{Channel: "ok1", Data: []byte("two")},
	}
	res := postBatch(t, s, msgs)
	wantStatus := []int{http.StatusAccepted, http.StatusForbidden, http.StatusRequestEntityTooLarge, http.StatusForbidden, http.StatusAccepted}
	for i, r := range res {
		if r.Status != wantStatus[i] {
			t.Errorf("message %d (%s): status %d (%s), want %d", i, msgs[i].Channel, r.Status, r.Reason, wantStatus[i])
		}
		if (r.ID != "") != (wantStatus[i] == http.StatusAccepted) {
			t.Errorf("message %d: id %q with status %d", i, r.ID, r.Status)
		}
		if r.ID == "" && r.Reason == "" {
			t.Errorf("message %d: refused without a reason", i)
		}
	}
	if n := queued(t, s, "ok1"); n != 2 {
		t.Errorf("ok1 holds %d messages, want 2", n)
	}
	expect404(t, s.URL+"/pub/secret")
}

// TestBatchPublishBadRequests: what is not a valid batch publishes nothing.
func TestBatchPublishBadRequests(t *testing.T) {
	t.Parallel()
	s := startServer(t, batchConfig(nil))
	many := make([]protocol.BatchMessage, 10001)
	for i := range many {
		many[i] = protocol.BatchMessage{Channel: "bad", Data: []byte("x")}
	}
	tests := []struct {
		name, body, ct string
		status         int
		says           string
	}{
		{"not JSON", `hello`, "application/json", http.StatusBadRequest, "not a JSON array"},
		{"one bad message", `[{"channel":"bad","data":"x"},{"channel":"bad"}]`, "application/json", http.StatusBadRequest, "batch message 1: no data"},
		{"truncated", `[{"channel":"bad","data":"x"}`, "", http.StatusBadRequest, "batch"},
		{"another media type", `[{"channel":"bad","data":"x"}]`, "text/plain", http.StatusUnsupportedMediaType, "application/json"},
		{"too many messages", string(protocol.AppendBatchMessages(nil, many)), "application/json", http.StatusBadRequest, "more than 10000 messages"},
		{"too large", `[{"channel":"bad","data":"` + strings.Repeat("x", 17<<20) + `"}]`, "application/json", http.StatusRequestEntityTooLarge, "at most"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hd []string
			if tc.ct != "" {
				hd = []string{"Content-Type", tc.ct}
			}
			r := do(t, "POST", s.URL+"/batch", tc.body, hd...)
			if r.Status != tc.status || !strings.Contains(r.Body, tc.says) {
				t.Errorf("%d %q, want %d saying %q", r.Status, r.Body, tc.status, tc.says)
			}
		})
	}
	expect404(t, s.URL+"/pub/bad")
}
