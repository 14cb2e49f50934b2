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
	"strings"
	"sync"
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
	if got := sub.wait(func(s string) bool { return len(s) >= 3 }); got != ": \n" {
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
		got := normalize(sub.wait(func(s string) bool { return len(normalize(s)) >= len(want) }))
		if got != want {
			t.Fatalf("subscriber received:\n got %q\nwant %q", got, want)
		}
	}
}

// stream is a streaming response read as it comes.
type stream struct {
	mu   sync.Mutex
	got  strings.Builder
	done bool
	kick chan struct{}
}

func subscribe(t *testing.T, url string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		t.Fatalf("GET %s: status %d, want 200", url, res.StatusCode)
	}
	s := &stream{kick: make(chan struct{}, 1)}
	go func() {
		defer res.Body.Close()
		buf := make([]byte, 4096)
		for {
			n, err := res.Body.Read(buf)
			s.mu.Lock()
			s.got.Write(buf[:n])
			s.done = err != nil
			s.mu.Unlock()
			select {
			case s.kick <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return s
}

// wait waits (up to 5 s) until what arrived is enough, and returns it.
func (s *stream) wait(enough func(string) bool) string {
	deadline := time.After(5 * time.Second)
	for {
		s.mu.Lock()
		got, done := s.got.String(), s.done
		s.mu.Unlock()
		if enough(got) || done {
			return got
		}
		select {
		case <-s.kick:
		case <-deadline:
			return got
		}
	}
}
