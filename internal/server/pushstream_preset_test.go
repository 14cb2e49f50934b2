package server_test

// The push-stream preset (`herald serve --preset pushstream`, the module's
// sample misc/nginx.conf): every location answers as the module does with
// that file. The expected bytes are the module's, with the message time
// (an HTTP date) and tag (a counter within that second) written as DATE
// and TAG, since the test does not control the clock.

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/servertest"
)

// The module's answers' common headers.
var (
	presetNoCache = map[string]string{
		"Expires":       "Thu, 01 Jan 1970 00:00:01 GMT",
		"Cache-Control": "no-cache, no-store, must-revalidate",
	}
	presetCORSHeaders = "If-Modified-Since,If-None-Match,Etag,Event-Id,Event-Type,Last-Event-Id"
)

// presetHeader is the preset's /sub/ header template, as the module
// sends it.
const presetHeader = "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n" +
	"<meta http-equiv=\"Cache-Control\" content=\"no-store\">\r\n" +
	"<meta http-equiv=\"Cache-Control\" content=\"no-cache\">\r\n" +
	"<meta http-equiv=\"Pragma\" content=\"no-cache\">\r\n" +
	"<meta http-equiv=\"Expires\" content=\"Thu, 1 Jan 1970 00:00:00 GMT\">\r\n" +
	"<script type=\"text/javascript\">\r\n" +
	"window.onError = null;\r\n" +
	`try{ document.domain = (window.location.hostname.match(/^(\d{1,3}\.){3}\d{1,3}$/)) ? window.location.hostname : window.location.hostname.split('.').slice(-1 * Math.max(window.location.hostname.split('.').length - 1, (window.location.hostname.match(/(\w{4,}\.\w{2}|\.\w{3,})$/) ? 2 : 3))).join('.');}catch(e){}` + "\r\n" +
	"parent.PushStream.register(this);\r\n" +
	"</script>\r\n" +
	"</head>\r\n" +
	"<body>"

var (
	presetDateRe = regexp.MustCompile(`[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT`)
	presetTagRe  = regexp.MustCompile(`"tag":"\d+"|, '\d+'\);</script>|^W/\d+$`)
)

// presetNormalize writes a message's time as DATE and its tag as TAG.
func presetNormalize(s string) string {
	s = presetDateRe.ReplaceAllString(s, "DATE")
	return presetTagRe.ReplaceAllStringFunc(s, func(m string) string {
		switch {
		case strings.HasPrefix(m, `"tag"`):
			return `"tag":"TAG"`
		case strings.HasPrefix(m, "W/"):
			return "W/TAG"
		}
		return ", 'TAG');</script>"
	})
}

// presetJSON is the preset's http-level message template for a message.
func presetJSON(id, channel, text string) string {
	return `{"id":` + id + `,"channel":"` + channel + `","text":"` + text + `", "tag":"TAG", "time":"DATE", "eventid":""}`
}

func startPreset(t *testing.T) *testServer {
	t.Helper()
	y, err := config.PresetYAML("pushstream")
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, string(y))
}

// presetStream is a streaming response of the preset read as it comes.
type presetStream struct{ *servertest.Stream }

func openPresetStream(t *testing.T, url string) presetStream {
	t.Helper()
	return presetStream{servertest.OpenStream(t, url)}
}

// waitLen waits (up to 3 s) until n bytes arrived and returns what did.
func (s presetStream) waitLen(n int) string {
	return s.wait(func(got string) bool { return len(got) >= n })
}

// waitNormalized waits (up to 3 s) until what arrived, normalized, is as
// long as want, and returns it normalized.
func (s presetStream) waitNormalized(want string) string {
	return presetNormalize(s.wait(func(got string) bool { return len(presetNormalize(got)) >= len(want) }))
}

func (s presetStream) wait(enough func(string) bool) string {
	return s.Wait(3*time.Second, enough)
}

// checkPresetHeaders compares the headers the module sends with want.
func checkPresetHeaders(t *testing.T, what string, h http.Header, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got := h.Get(k)
		if strings.Contains(v, "DATE") || strings.Contains(v, "TAG") {
			got = presetNormalize(got)
		}
		if got != v {
			t.Errorf("%s: %s %q, want %q", what, k, got, v)
		}
	}
}

func presetWithNoCache(m map[string]string) map[string]string {
	for k, v := range presetNoCache {
		m[k] = v
	}
	return m
}

// waitPresetSubscribers waits until the channel statistics count n subscribers.
func waitPresetSubscribers(t *testing.T, s *testServer, ch string, n int) {
	t.Helper()
	want := `"subscribers": ` + string(rune('0'+n)) + "}"
	waitFor(t, 3*time.Second, "the statistics to count the subscriber", func() bool {
		r := do(t, "GET", s.URL+"/channels-stats?id="+ch, "")
		return r.Status == 200 && strings.Contains(r.Body, want)
	})
}

func TestPushStreamPreset(t *testing.T) {
	s := startPreset(t)
	// Channels of this run alone.
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	p1, s1, e1, l1, j1, w1, c1 := "p1"+run, "s1"+run, "e1"+run, "l1"+run, "j1"+run, "w1"+run, "c1"+run
	pubHeaders := presetWithNoCache(map[string]string{
		"Content-Type":                 "application/json",
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "GET, POST, PUT, DELETE",
		"Access-Control-Allow-Headers": presetCORSHeaders,
	})
	subHeaders := func(ct string) map[string]string {
		return presetWithNoCache(map[string]string{
			"Content-Type":                 ct,
			"Access-Control-Allow-Origin":  "*",
			"Access-Control-Allow-Methods": "GET",
			"Access-Control-Allow-Headers": presetCORSHeaders,
		})
	}

	t.Run("pub", func(t *testing.T) {
		r := do(t, "POST", s.URL+"/pub?id="+p1, "Hello World!")
		if want := `{"channel": "` + p1 + `", "published_messages": 1, "stored_messages": 1, "subscribers": 0}` + "\r\n"; r.Status != 200 || r.Body != want {
			t.Errorf("publish: %d %q, want 200 %q", r.Status, r.Body, want)
		}
		checkPresetHeaders(t, "publish", r.Header, pubHeaders)
		r = do(t, "GET", s.URL+"/pub?id="+p1, "")
		if want := `{"channel": "` + p1 + `", "published_messages": 1, "stored_messages": 1, "subscribers": 0}` + "\r\n"; r.Status != 200 || r.Body != want {
			t.Errorf("GET /pub: %d %q, want 200 %q", r.Status, r.Body, want)
		}
		// 32k body limit.
		if r := do(t, "POST", s.URL+"/pub?id="+p1, strings.Repeat("x", 32<<10+1)); r.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("publish of 32k+1 bytes: %d, want 413", r.Status)
		}
		// admin: DELETE deletes.
		if r := do(t, "DELETE", s.URL+"/pub?id="+p1, ""); r.Status != 200 {
			t.Errorf("DELETE: %d %q, want 200", r.Status, r.Body)
		}
	})

	t.Run("sub streaming", func(t *testing.T) {
		st := openPresetStream(t, s.URL+"/sub/"+s1)
		if st.Res.StatusCode != 200 {
			t.Fatalf("status %d", st.Res.StatusCode)
		}
		checkPresetHeaders(t, "/sub/", st.Res.Header, subHeaders("text/html; charset=utf-8"))
		if got := st.waitLen(len(presetHeader)); got != presetHeader {
			t.Fatalf("header template:\n got %q\nwant %q", got, presetHeader)
		}
		do(t, "POST", s.URL+"/pub?id="+s1, "sixth")
		want := presetHeader + `<script>p(1,'` + s1 + `','sixth','', 'DATE', 'TAG');</script>`
		if got := st.waitNormalized(want); got != want {
			t.Errorf("stream:\n got %q\nwant %q", got, want)
		}
	})

	t.Run("ev", func(t *testing.T) {
		st := openPresetStream(t, s.URL+"/ev/"+e1)
		if st.Res.StatusCode != 200 {
			t.Fatalf("status %d", st.Res.StatusCode)
		}
		checkPresetHeaders(t, "/ev/", st.Res.Header, subHeaders("text/event-stream; charset=utf-8"))
		if got := st.waitLen(3); got != ": \n" {
			t.Fatalf("stream start %q, want %q", got, ": \n")
		}
		do(t, "POST", s.URL+"/pub?id="+e1, "second")
		want := ": \ndata: " + presetJSON("1", e1, "second") + "\n\n"
		if got := st.waitNormalized(want); got != want {
			t.Errorf("stream:\n got %q\nwant %q", got, want)
		}
	})

	t.Run("lp", func(t *testing.T) {
		got := async(t, 5*time.Second, "GET", s.URL+"/lp/"+l1, "")
		waitPresetSubscribers(t, s, l1, 1)
		do(t, "POST", s.URL+"/pub?id="+l1, "third")
		r := recv(t, got)
		if want := presetJSON("1", l1, "third"); r.Status != 200 || presetNormalize(r.Body) != want {
			t.Errorf("long-poll: %d %q, want 200 %q", r.Status, presetNormalize(r.Body), want)
		}
		checkPresetHeaders(t, "/lp/", r.Header, presetWithNoCache(map[string]string{
			"Content-Type": "text/plain", "Etag": "W/TAG", "Last-Modified": "DATE", "Access-Control-Allow-Origin": "*",
		}))
	})

	t.Run("jsonp", func(t *testing.T) {
		got := async(t, 5*time.Second, "GET", s.URL+"/jsonp/"+j1+"?callback=f", "")
		waitPresetSubscribers(t, s, j1, 1)
		do(t, "POST", s.URL+"/pub?id="+j1, "fourth")
		r := recv(t, got)
		if want := "f([" + presetJSON("1", j1, "fourth") + "]);"; r.Status != 200 || presetNormalize(r.Body) != want {
			t.Errorf("JSONP: %d %q, want 200 %q", r.Status, presetNormalize(r.Body), want)
		}
		checkPresetHeaders(t, "/jsonp/", r.Header, presetWithNoCache(map[string]string{"Content-Type": "application/javascript"}))
	})

	t.Run("ws", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		wsURL := "ws://" + s.addr() + "/ws/" + w1
		conn, br, _, err := ws.Dial(ctx, wsURL)
		if err != nil {
			t.Fatalf("dial %s: %v", wsURL, err)
		}
		defer conn.Close()
		if br != nil {
			ws.PutReader(br)
		}
		read := func() string {
			conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			p, err := wsutil.ReadServerText(conn)
			if err != nil {
				t.Fatalf("read frame: %v", err)
			}
			return string(p)
		}
		do(t, "POST", s.URL+"/pub?id="+w1, "fifth")
		if got, want := presetNormalize(read()), presetJSON("1", w1, "fifth"); got != want {
			t.Errorf("frame %q, want %q", got, want)
		}
		// websocket_allow_publish: what the client sends is published
		// (and reaches the sender, a subscriber of the channel).
		conn.SetWriteDeadline(time.Now().Add(3 * time.Second))
		if err := wsutil.WriteClientText(conn, []byte("from ws")); err != nil {
			t.Fatal(err)
		}
		if got, want := presetNormalize(read()), presetJSON("2", w1, "from ws"); got != want {
			t.Errorf("frame %q, want %q", got, want)
		}
	})

	t.Run("channels-stats", func(t *testing.T) {
		do(t, "POST", s.URL+"/pub?id="+c1, "a")
		do(t, "POST", s.URL+"/pub?id="+c1, "b")
		r := do(t, "GET", s.URL+"/channels-stats?id="+c1, "")
		if want := `{"channel": "` + c1 + `", "published_messages": 2, "stored_messages": 2, "subscribers": 0}` + "\r\n"; r.Status != 200 || r.Body != want {
			t.Errorf("stats: %d %q, want 200 %q", r.Status, r.Body, want)
		}
		checkPresetHeaders(t, "stats", r.Header, presetWithNoCache(map[string]string{"Content-Type": "application/json"}))
		r = do(t, "GET", s.URL+"/channels-stats", "")
		if r.Status != 200 || !strings.HasPrefix(r.Body, `{"hostname": "`) || !strings.Contains(r.Body, `"published_messages": `) {
			t.Errorf("summary: %d %q", r.Status, r.Body)
		}
	})
}

// TestPushStreamPresetMaxStored: the preset stores at most 20 messages a
// channel (push_stream_max_messages_stored_per_channel 20).
func TestPushStreamPresetMaxStored(t *testing.T) {
	s := startPreset(t)
	m1 := "m1" + strconv.FormatInt(time.Now().UnixNano(), 36)
	for i := range 25 {
		do(t, "POST", s.URL+"/pub?id="+m1, "m"+string(rune('a'+i)))
	}
	r := do(t, "GET", s.URL+"/channels-stats?id="+m1, "")
	if want := `{"channel": "` + m1 + `", "published_messages": 25, "stored_messages": 20, "subscribers": 0}` + "\r\n"; r.Body != want {
		t.Errorf("stats %q, want %q", r.Body, want)
	}
}
