package server_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldpush/herald/internal/token"
)

const tokenSecret = "test-secret-of-at-least-32-bytes!!"

// tokenServer is a Herald whose locations need tokens: /sub (every
// transport), /pub (publisher over HTTP), /pubsub, /wspub (publisher over
// WebSocket only), all HS256 with tokenSecret, /rs (subscriber, RS256 with
// the returned key) and /open (publisher without tokens).
func tokenServer(t *testing.T) (*testServer, *rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	pubFile := filepath.Join(t.TempDir(), "rs.pub")
	if err := os.WriteFile(pubFile, pubPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	hs := []string{"token_alg: HS256", "token_secret: " + tokenSecret}
	s := startServer(t, testConfig(nil,
		prefixLocation("sub", append([]string{"subscriber: true"}, hs...)...),
		prefixLocation("pub", append([]string{"publisher: true"}, hs...)...),
		prefixLocation("pubsub", append([]string{"pubsub: true"}, hs...)...),
		prefixLocation("wspub", append([]string{"publisher: websocket"}, hs...)...),
		prefixLocation("rs", "subscriber: true", "token_alg: RS256", "token_key: "+pubFile),
		prefixLocation("open", "publisher: true"),
	))
	return s, key, pubPEM
}

// hsToken mints an HS256 token with tokenSecret granting sub and pub; fix
// may change the claims first.
func hsToken(t testing.TB, sub, pub []string, fix func(*token.Claims)) string {
	t.Helper()
	c := &token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: "u1", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))},
		Herald:           token.Grants{Subscribe: sub, Publish: pub},
	}
	if fix != nil {
		fix(c)
	}
	s, err := token.Mint("HS256", []byte(tokenSecret), "", c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// expectRefusal checks a token refusal: status, a body naming why, and
// WWW-Authenticate.
func expectRefusal(t testing.TB, r response, status int, bodyPart, authPart string) {
	t.Helper()
	if r.Status != status || !strings.Contains(r.Body, bodyPart) {
		t.Fatalf("got %d %q, want %d with %q", r.Status, r.Body, status, bodyPart)
	}
	if h := r.Header.Get("Www-Authenticate"); !strings.HasPrefix(h, "Bearer") || !strings.Contains(h, authPart) {
		t.Fatalf("WWW-Authenticate %q, want Bearer with %q", h, authPart)
	}
}

// TestTokenLongPoll: a long-poll subscriber needs a valid token that
// grants its channels; every kind of bad token is refused with its reason.
func TestTokenLongPoll(t *testing.T) {
	t.Parallel()
	s, rsaKey, rsaPub := tokenServer(t)
	publishTo(t, s, "/open/news", "hello")
	publishTo(t, s, "/open/user.42.inbox", "mail")

	otherSecret := strings.Repeat("x", 40)
	wrongKey, _ := token.Mint("HS256", []byte(otherSecret), "", &token.Claims{Herald: token.Grants{Subscribe: []string{"*"}}})
	rsToken, _ := token.Mint("RS256", rsaKey, "", &token.Claims{Herald: token.Grants{Subscribe: []string{"news"}}})
	confused := func() string {
		tk := jwt.NewWithClaims(jwt.SigningMethodHS256, &token.Claims{Herald: token.Grants{Subscribe: []string{"*"}}})
		s, err := tk.SignedString(rsaPub) // the public key as HMAC secret
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	enc := base64.RawURLEncoding.EncodeToString
	algNone := enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc([]byte(`{"herald":{"subscribe":["*"]}}`)) + "."

	tests := []struct {
		name     string
		path     string
		headers  []string
		status   int
		body     string
		authPart string
	}{
		{"valid", "/sub/news", bearer(hsToken(t, []string{"news"}, nil, nil)), 200, "hello", ""},
		{"prefix grant", "/sub/user.42.inbox", bearer(hsToken(t, []string{"user.42.*"}, nil, nil)), 200, "mail", ""},
		{"channels grant", "/sub/news", bearer(hsToken(t, nil, nil, func(c *token.Claims) { c.Herald.Channels = []string{"news"} })), 200, "hello", ""},
		{"query argument", "/sub/news?token=" + hsToken(t, []string{"news"}, nil, nil), nil, 200, "hello", ""},
		{"cookie", "/sub/news", []string{"Cookie", "herald_token=" + hsToken(t, []string{"news"}, nil, nil)}, 200, "hello", ""},
		{"RS256 valid", "/rs/news", bearer(rsToken), 200, "hello", ""},
		{"no token", "/sub/news", nil, 401, "A token is required", `realm="herald"`},
		{"basic auth is no token", "/sub/news", []string{"Authorization", "Basic dXNlcjpwYXNz"}, 401, "A token is required", `realm="herald"`},
		{"expired", "/sub/news", bearer(hsToken(t, []string{"news"}, nil, func(c *token.Claims) {
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Minute))
		})), 401, "Invalid token: the token has expired.", `error="invalid_token", error_description="the token has expired"`},
		{"not yet valid", "/sub/news", bearer(hsToken(t, []string{"news"}, nil, func(c *token.Claims) {
			c.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Minute))
		})), 401, "not valid yet", `error="invalid_token"`},
		{"wrong key", "/sub/news", bearer(wrongKey), 401, "signature is invalid", `error="invalid_token"`},
		{"malformed", "/sub/news", bearer("abc.def"), 401, "malformed", `error="invalid_token"`},
		{"alg none", "/sub/news", bearer(algNone), 401, `algorithm "none" is not accepted here`, `error="invalid_token"`},
		{"algorithm confusion", "/rs/news", bearer(confused), 401, `algorithm "HS256" is not accepted here (tokens must be RS256)`, `error_description="algorithm 'HS256' is not accepted`},
		{"HS256 token on the RS256 location", "/rs/news", bearer(hsToken(t, []string{"news"}, nil, nil)), 401, `"HS256" is not accepted`, `error="invalid_token"`},
		{"wrong channel", "/sub/news", bearer(hsToken(t, []string{"sports"}, nil, nil)), 403, `The token does not allow subscribing to channel "news".`, `error="insufficient_scope"`},
		{"publish grant does not subscribe", "/sub/news", bearer(hsToken(t, nil, []string{"news"}, nil)), 403, "subscribing", `error="insufficient_scope"`},
		{"prefix does not match", "/sub/user.43.inbox", bearer(hsToken(t, []string{"user.42.*"}, nil, nil)), 403, "user.43.inbox", `error="insufficient_scope"`},
		{"every channel of a multiplexed subscriber", "/sub/news,sports", bearer(hsToken(t, []string{"news"}, nil, nil)), 403, `"sports"`, `error="insufficient_scope"`},
		{"wrong group", "/sub/news", bearer(hsToken(t, []string{"news"}, nil, func(c *token.Claims) { c.Herald.Group = "g" })), 403, "subscribing", `error="insufficient_scope"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "GET", s.URL+tc.path, "", tc.headers...)
			if tc.authPart == "" {
				if r.Status != tc.status || r.Body != tc.body {
					t.Fatalf("got %d %q, want %d %q", r.Status, r.Body, tc.status, tc.body)
				}
				return
			}
			expectRefusal(t, r, tc.status, tc.body, tc.authPart)
		})
	}

	t.Run("multiplexed with every channel granted", func(t *testing.T) {
		r := do(t, "GET", s.URL+"/sub/news,user.42.inbox", "", bearer(hsToken(t, []string{"news", "user.*"}, nil, nil))...)
		if r.Status != 200 {
			t.Fatalf("got %d %q", r.Status, r.Body)
		}
	})
	t.Run("parked long-poll gets the next message", func(t *testing.T) {
		tok := hsToken(t, []string{"later"}, nil, nil)
		got := async(t, 5*time.Second, "GET", s.URL+"/sub/later", "", bearer(tok)...)
		waitSubscribers(t, s, "later", 1)
		publishTo(t, s, "/open/later", "next")
		if r := recv(t, got); r.Status != 200 || r.Body != "next" {
			t.Fatalf("got %d %q", r.Status, r.Body)
		}
	})
}

// TestTokenEventSource: browsers' EventSource cannot send headers, so the
// token comes in a query argument or a cookie.
func TestTokenEventSource(t *testing.T) {
	t.Parallel()
	s, _, _ := tokenServer(t)
	tok := hsToken(t, []string{"es.*"}, nil, nil)
	for _, tc := range []struct {
		name, ch string
		target   string
		headers  []string
	}{
		{"query argument", "es.arg", "/sub/es.arg?token=" + tok, nil},
		{"cookie", "es.cookie", "/sub/es.cookie", []string{"Cookie", "other=1; herald_token=" + tok}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := openEventSource(t, s, tc.target, tc.headers...)
			waitSubscribers(t, s, tc.ch, 1)
			id, _ := publishTo(t, s, "/open/"+tc.ch, "pushed")
			c.expect(t, sseEvent("", id.String(), "pushed"))
		})
	}
	t.Run("without a token", func(t *testing.T) {
		r := do(t, "GET", s.URL+"/sub/es.none", "", "Accept", "text/event-stream")
		expectRefusal(t, r, 401, "A token is required: send it in an Authorization: Bearer header, or the herald_token cookie, or the token query argument.", "Bearer")
	})
	t.Run("token for another channel", func(t *testing.T) {
		r := do(t, "GET", s.URL+"/sub/other?token="+tok, "", "Accept", "text/event-stream")
		expectRefusal(t, r, 403, "other", "insufficient_scope")
	})
}

// TestTokenWebSocket: WebSocket subscribers present their token in the
// handshake; a refused one gets the HTTP answer, not 101. On a pubsub
// location a token that grants only subscribing makes the socket a
// subscriber that publishes nothing.
func TestTokenWebSocket(t *testing.T) {
	t.Parallel()
	s, _, _ := tokenServer(t)
	t.Run("bearer", func(t *testing.T) {
		c := openWebSocket(t, s, "/sub/ws.a", bearer(hsToken(t, []string{"ws.a"}, nil, nil))...)
		waitSubscribers(t, s, "ws.a", 1)
		publishTo(t, s, "/open/ws.a", "frame")
		c.expectFrame(t, ws.OpText, "frame")
	})
	t.Run("query argument", func(t *testing.T) {
		c := openWebSocket(t, s, "/sub/ws.b?token="+hsToken(t, []string{"ws.b"}, nil, nil))
		waitSubscribers(t, s, "ws.b", 1)
		publishTo(t, s, "/open/ws.b", "frame")
		c.expectFrame(t, ws.OpText, "frame")
	})
	t.Run("refused handshakes", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			target string
			hdr    []string
			status int
		}{
			{"no token", "/sub/ws.c", nil, 401},
			{"expired", "/sub/ws.c", bearer(hsToken(t, []string{"ws.c"}, nil, func(c *token.Claims) {
				c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
			})), 401},
			{"wrong channel", "/sub/ws.c", bearer(hsToken(t, []string{"ws.d"}, nil, nil)), 403},
		} {
			c := openRaw(t, s, "GET", tc.target, wsHeaders(tc.hdr...)...)
			if c.Status != tc.status || !strings.HasPrefix(c.Header.Get("Www-Authenticate"), "Bearer") {
				t.Errorf("%s: status %d, WWW-Authenticate %q; want %d", tc.name, c.Status, c.Header.Get("Www-Authenticate"), tc.status)
			}
		}
	})
	t.Run("pubsub with both grants publishes", func(t *testing.T) {
		c := openWebSocket(t, s, "/pubsub/ws.e", bearer(hsToken(t, []string{"ws.e"}, []string{"ws.e"}, nil))...)
		waitSubscribers(t, s, "ws.e", 1)
		c.send(t, ws.OpText, []byte("echo"), true, false)
		c.expectFrame(t, ws.OpText, "echo")
	})
	t.Run("pubsub with a subscribe grant only subscribes", func(t *testing.T) {
		c := openWebSocket(t, s, "/pubsub/ws.f", bearer(hsToken(t, []string{"ws.f"}, nil, nil))...)
		waitSubscribers(t, s, "ws.f", 1)
		publishTo(t, s, "/open/ws.f", "from the app")
		c.expectFrame(t, ws.OpText, "from the app")
		c.send(t, ws.OpText, []byte("not published"), true, false)
		c.expectClose(t, ws.StatusPolicyViolation, "Publishing not allowed.")
		if n := openQueued(t, s, "ws.f"); n != 1 {
			t.Errorf("queued %d messages, want 1 (the socket's was not published)", n)
		}
	})
	t.Run("pubsub with a publish grant only is refused", func(t *testing.T) {
		c := openRaw(t, s, "GET", "/pubsub/ws.g", wsHeaders(bearer(hsToken(t, nil, []string{"ws.g"}, nil))...)...)
		if c.Status != http.StatusForbidden {
			t.Errorf("status %d, want 403", c.Status)
		}
	})
	t.Run("WebSocket publisher", func(t *testing.T) {
		c := openWebSocket(t, s, "/wspub/ws.h", bearer(hsToken(t, nil, []string{"ws.h"}, nil))...)
		c.send(t, ws.OpText, []byte("published"), true, false)
		c.frame(t, 3*time.Second) // the channel info answer
		if n := openQueued(t, s, "ws.h"); n != 1 {
			t.Errorf("queued %d messages, want 1", n)
		}
		r := openRaw(t, s, "GET", "/wspub/ws.h", wsHeaders(bearer(hsToken(t, []string{"ws.h"}, nil, nil))...)...)
		if r.Status != http.StatusForbidden {
			t.Errorf("WebSocket publisher with a subscribe grant: status %d, want 403", r.Status)
		}
	})
}

// TestTokenPublisher: publishing, channel info and deleting need a token
// that grants publishing.
func TestTokenPublisher(t *testing.T) {
	t.Parallel()
	s, _, _ := tokenServer(t)
	pub := bearer(hsToken(t, nil, []string{"p.*"}, nil))
	subOnly := bearer(hsToken(t, []string{"p.*"}, nil, nil))

	r := do(t, "POST", s.URL+"/pub/p.one", "msg", pub...)
	expectStatus(t, r, http.StatusAccepted, "publish with a publish grant")
	expectRefusal(t, do(t, "POST", s.URL+"/pub/p.one", "msg"), 401, "A token is required", "Bearer")
	expectRefusal(t, do(t, "POST", s.URL+"/pub/p.one", "msg", subOnly...), 403, `The token does not allow publishing to channel "p.one".`, "insufficient_scope")
	expectRefusal(t, do(t, "POST", s.URL+"/pub/q.one", "msg", pub...), 403, `"q.one"`, "insufficient_scope")
	expectRefusal(t, do(t, "POST", s.URL+"/pub/p.one", "msg", bearer(hsToken(t, nil, []string{"p.*"}, func(c *token.Claims) {
		c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
	}))...), 401, "expired", "invalid_token")
	if n := openQueued(t, s, "p.one"); n != 1 {
		t.Fatalf("queued %d, want 1: a refused publish stored something", n)
	}

	r = do(t, "GET", s.URL+"/pub/p.one", "", pub...)
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "queued messages: 1") {
		t.Fatalf("channel info: %d %q", r.Status, r.Body)
	}
	expectRefusal(t, do(t, "GET", s.URL+"/pub/p.one", "", subOnly...), 403, "publishing", "insufficient_scope")
	expectRefusal(t, do(t, "DELETE", s.URL+"/pub/p.one", "", subOnly...), 403, "publishing", "insufficient_scope")
	expectStatus(t, do(t, "DELETE", s.URL+"/pub/p.one", "", pub...), http.StatusOK, "delete with a publish grant")

	// A token in a query argument and in a cookie work for publishers too.
	expectStatus(t, do(t, "POST", s.URL+"/pub/p.two?token="+hsToken(t, nil, []string{"p.two"}, nil), "m"), http.StatusAccepted, "publish, token in an argument")
	expectStatus(t, do(t, "POST", s.URL+"/pub/p.two", "m", "Cookie", "herald_token="+hsToken(t, nil, []string{"p.two"}, nil)), http.StatusAccepted, "publish, token in a cookie")
}

// openQueued is the "queued messages" of a channel, read through the
// /open location (which needs no token); 0 when it does not exist.
func openQueued(t testing.TB, s *testServer, ch string) int {
	t.Helper()
	r := do(t, "GET", s.URL+"/open/"+ch, "")
	if r.Status == http.StatusNotFound {
		return 0
	}
	expectStatus(t, r, http.StatusOK, "channel info "+ch)
	return parseInfo(t, r.Body).Messages
}

// TestTokenCORS: a browser's preflight needs no token and is told it may
// send Authorization; a refusal still carries the CORS headers, so the
// page can read why.
func TestTokenCORS(t *testing.T) {
	t.Parallel()
	s, _, _ := tokenServer(t)
	for _, path := range []string{"/sub/c", "/pub/c"} {
		r := do(t, "OPTIONS", s.URL+path, "", "Origin", "http://app.example", "Access-Control-Request-Headers", "authorization")
		expectStatus(t, r, http.StatusOK, "preflight "+path)
		if h := r.Header.Get("Access-Control-Allow-Headers"); !strings.HasSuffix(h, ", Authorization") {
			t.Errorf("preflight %s: Access-Control-Allow-Headers %q lacks Authorization", path, h)
		}
	}
	r := do(t, "OPTIONS", s.URL+"/open/c", "", "Origin", "http://app.example")
	if h := r.Header.Get("Access-Control-Allow-Headers"); strings.Contains(h, "Authorization") {
		t.Errorf("preflight of a location without tokens: Access-Control-Allow-Headers %q", h)
	}
	r = do(t, "GET", s.URL+"/sub/c", "", "Origin", "http://app.example")
	expectRefusal(t, r, http.StatusUnauthorized, "A token is required", "Bearer")
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "http://app.example" {
		t.Errorf("401 Access-Control-Allow-Origin %q", got)
	}
}

// TestTokenStreams: chunked and multipart/mixed subscribers need a token
// as every other transport does.
func TestTokenStreams(t *testing.T) {
	t.Parallel()
	s, _, _ := tokenServer(t)
	tok := hsToken(t, []string{"st.*"}, nil, nil)
	for _, tc := range []struct {
		name string
		hdr  []string
	}{
		{"chunked", []string{"TE", "chunked"}},
		{"multipart/mixed", []string{"Accept", "multipart/mixed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c := openRaw(t, s, "GET", "/sub/st.x", tc.hdr...); c.Status != http.StatusUnauthorized {
				t.Fatalf("without a token: %d, want 401", c.Status)
			}
			if c := openRaw(t, s, "GET", "/sub/other", append(tc.hdr, bearer(tok)...)...); c.Status != http.StatusForbidden {
				t.Fatalf("token for other channels: %d, want 403", c.Status)
			}
			c := openRaw(t, s, "GET", "/sub/st.x", append(tc.hdr, bearer(tok)...)...)
			if c.Status != http.StatusOK {
				t.Fatalf("with a token: %d, want 200", c.Status)
			}
			waitSubscribers(t, s, "st.x", 1)
			publishTo(t, s, "/open/st.x", "streamed-"+tc.name)
			c.readUntil(t, "streamed-"+tc.name)
			c.conn.Close()
			waitSubscribers(t, s, "st.x", 0)
		})
	}
}
