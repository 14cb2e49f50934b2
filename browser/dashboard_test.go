package browser_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dashboardConfig is the configuration TestDashboardBrowser runs: the
// dashboard at /dashboard next to publishers and subscribers at /pub/<id>
// and /sub/<id>.
const dashboardConfig = `servers:
  - listen: 127.0.0.1:0
    locations:
      - location: /dashboard
        dashboard: on
      - location: ~ ^/pub/(.+)$
        publisher: true
        channel_id: $1
      - location: ~ ^/sub/(.+)$
        subscriber: true
        channel_id: $1
`

// TestDashboardBrowser opens the dashboard in headless Chromium
// (dashboard.mjs): it loads, lists a channel a test publish made, its form
// delivers a message to a subscriber and to the page's own subscription,
// and a screenshot is saved in the test's temporary directory (and copied
// to HERALD_SCREENSHOT_DIR when that is set).
func TestDashboardBrowser(t *testing.T) {
	node := needBrowser(t)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "herald.yaml")
	if err := os.WriteFile(cfg, []byte(dashboardConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := buildHerald(t)
	h := startHerald(t, bin, "-c", cfg)
	defer func() {
		if code := h.stop(t); code != 0 {
			t.Errorf("herald exited %d after SIGTERM, want 0; log:\n%s", code, h.logText())
		}
	}()

	shot := filepath.Join(dir, "dashboard.png")
	runNode(t, node, "dashboard.mjs", 90*time.Second, h, "HERALD_URL=http://"+h.addr, "DASHBOARD_PATH=/dashboard", "SCREENSHOT="+shot)
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !strings.HasPrefix(string(png), "\x89PNG\r\n\x1a\n") {
		t.Errorf("screenshot %s is not a PNG", shot)
	}
	t.Logf("screenshot: %s", shot)
	if d := os.Getenv("HERALD_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(d, "dashboard.png")
		if err := os.WriteFile(dst, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot copied to %s", dst)
	}
}
