package browser_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
)

// pushstreamJS is the module's client, pushstream.js, which the tests load
// from where it is kept beside the repository (never copied into it).
const pushstreamJS = "../../shared/vendor/pushstream/pushstream.js"

// TestBrowserPushStream runs pushstream.mjs: the push-stream chat page of
// examples/pushstream (jQuery, pushstream.js, jquery-deparam) in headless
// Chromium, and its Ruby Pushstream::Publisher, against `herald serve
// --preset pushstream` on a random port. See docs/browser-tests.md.
func TestBrowserPushStream(t *testing.T) {
	node := needBrowser(t, "jquery", "jquery-deparam")
	js, err := filepath.Abs(pushstreamJS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(js); err != nil {
		t.Fatalf("the push-stream browser test loads the module's client from %s (shared/vendor/pushstream/pushstream.js beside the repository), which is missing: %v", js, err)
	}
	// Without the ruby group the page's scenarios run alone.
	ruby := ""
	if !testenv.OptedOut("ruby") {
		ruby = testenv.Ruby(t)
	}

	bin := buildHerald(t)
	h := startHerald(t, bin, "serve", "--preset", "pushstream", "--listen", "127.0.0.1:0")
	defer func() {
		if code := h.stop(t); code != 0 {
			t.Errorf("herald exited %d after SIGTERM, want 0; log:\n%s", code, h.logText())
		}
	}()

	runNode(t, node, "pushstream.mjs", 2*time.Minute, h, "HERALD_URL=http://"+h.addr, "RUBY="+ruby, "PUSHSTREAM_JS="+js)
}
