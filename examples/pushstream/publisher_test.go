// Package pushstream_test runs the push-stream example's Ruby publisher
// (ruby/faraday_adapter.rb and ruby/pushstream_publisher.rb, driven by
// ruby/publish.rb) against Herald running the push-stream preset, and
// checks the bytes a subscriber receives. The browser half of the example
// is tested in browser/ (TestBrowserPushStream).
package pushstream_test

import (
	"context"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/servertest"
	"github.com/heraldpush/herald/internal/testenv"
)

var (
	dateRe = regexp.MustCompile(`"time":"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT"`)
	tagRe  = regexp.MustCompile(`"tag":"\d+"`)
)

// normalize writes a message's time as DATE and its tag (a counter within
// that second) as TAG.
func normalize(s string) string {
	return tagRe.ReplaceAllString(dateRe.ReplaceAllString(s, `"time":"DATE"`), `"tag":"TAG"`)
}

// TestRubyPublisher: Pushstream::Publisher.publish, as the example's irb
// session runs it, reaches an EventSource subscriber of /ev/my-channel
// with the text it sent: a String as it is, a Hash form-encoded by
// Faraday.
func TestRubyPublisher(t *testing.T) {
	ruby := testenv.Ruby(t)
	cfg, err := config.Preset("pushstream")
	if err != nil {
		t.Fatal(err)
	}
	s := servertest.Start(t, servertest.Options{Config: cfg})
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}

	sub := subscribe(t, s.URL+"/ev/my-channel")
	if got := waitFor(sub, func(s string) bool { return len(s) >= 3 }); got != ": \n" {
		t.Fatalf("EventSource start %q, want %q", got, ": \n")
	}
	want := ": \n"
	for i, tc := range []struct {
		args []string // publish.rb's arguments after the channel
		text string   // the message's text as the subscriber gets it
	}{
		{[]string{"Hello World!"}, "Hello World!"},
		// {username: 'rando', text: 'hello world!'}: Faraday's
		// url_encoded middleware sorts the keys.
		{[]string{"username=rando", "text=hello world!"}, "text=hello+world%21&username=rando"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, ruby, append([]string{"ruby/publish.rb", "my-channel"}, tc.args...)...)
		cmd.Env = append(cmd.Environ(), "NGINX_IP="+u.Hostname(), "NGINX_PORT="+u.Port())
		out, err := cmd.CombinedOutput()
		cancel()
		n := string(rune('1' + i))
		wantOut := "200\n" + `{"channel": "my-channel", "published_messages": ` + n + `, "stored_messages": ` + n + `, "subscribers": 1}` + "\r\n"
		if err != nil || string(out) != wantOut {
			t.Fatalf("ruby publish.rb %q: %v, printed %q; want %q", tc.args, err, out, wantOut)
		}
		want += `data: {"id":` + n + `,"channel":"my-channel","text":"` + tc.text + `", "tag":"TAG", "time":"DATE", "eventid":""}` + "\n\n"
		got := normalize(waitFor(sub, func(s string) bool { return len(normalize(s)) >= len(want) }))
		if got != want {
			t.Fatalf("subscriber received:\n got %q\nwant %q", got, want)
		}
	}
}

// subscribe opens a streaming subscriber of url, which must answer 200.
func subscribe(t *testing.T, url string) *servertest.Stream {
	t.Helper()
	s := servertest.OpenStream(t, url)
	if s.Res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, want 200", url, s.Res.StatusCode)
	}
	return s
}

// waitFor waits (up to 5 s) until what the subscriber received is enough,
// and returns it.
func waitFor(s *servertest.Stream, enough func(string) bool) string {
	return s.Wait(5*time.Second, enough)
}
