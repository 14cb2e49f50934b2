package browser_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldpush/herald/internal/token"
)

// TestBrowserClient runs client.mjs: herald.js and the chat example
// (examples/chat/herald.yaml, served by Herald from the repository's root
// as its README says) in headless Chromium. See docs/browser-tests.md.
func TestBrowserClient(t *testing.T) {
	node := needBrowser(t)

	bin := buildHerald(t)
	h := startHeraldIn(t, "..", bin, "serve", "-c", "examples/chat/herald.yaml", "--listen", "127.0.0.1:0")
	defer func() {
		if code := h.stop(t); code != 0 {
			t.Errorf("herald exited %d after SIGTERM, want 0; log:\n%s", code, h.logText())
		}
	}()

	// A second Herald whose locations need signed tokens, for herald.js's
	// token scenarios.
	const secret = "browser-test-secret-of-32-bytes-or-more"
	cfg := filepath.Join(t.TempDir(), "tokens.yaml")
	hs := "\n        token_alg: HS256\n        token_secret: " + secret
	yaml := "servers:\n  - listen: 127.0.0.1:0\n    locations:\n" +
		"      - location: = /herald.js\n        herald_js: on\n" +
		"      - location: = /mux\n        pubsub: true\n        websocket_multiplex: on" + hs + "\n" +
		"      - location: ~ ^/sub/(.+)$\n        subscriber: true\n        channel_id: $1" + hs + "\n" +
		"      - location: ~ ^/pub/(.+)$\n        publisher: true\n        channel_id: $1" + hs + "\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	th := startHerald(t, bin, "serve", "-c", cfg)
	defer th.stop(t)
	tok, err := token.Mint("HS256", []byte(secret), "", &token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: "browser", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))},
		Herald:           token.Grants{Subscribe: []string{"granted"}, Publish: []string{"granted"}},
	})
	if err != nil {
		t.Fatal(err)
	}

	runNode(t, node, "client.mjs", 2*time.Minute, h, "HERALD_URL=http://"+h.addr,
		"HERALD_TOKEN_URL=http://"+th.addr, "HERALD_TOKEN="+tok)
}
