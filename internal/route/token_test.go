package route

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldpush/herald/internal/token"
)

const tokenSecret = "route-test-secret-0123456789abcdef"

// TestTokenStage: the token stage runs after channel resolution, checks
// the resolved channels (split, in their group) for the request's role,
// and leaves a pubsub WebSocket without publish channels when the token
// only subscribes.
func TestTokenStage(t *testing.T) {
	prepare := routes(t, `
channel_id_split_delimiter: ","
token_alg: HS256
token_secret: `+tokenSecret+`
servers:
  - listen: 127.0.0.1:0
    locations:
      - location: ~ ^/ps/(.+)$
        pubsub: true
        channel_id: $1
        channel_group: $arg_g
      - location: ~ ^/open/(.+)$
        pubsub: true
        channel_id: $1
        token_alg: off
`)
	mint := func(g token.Grants) string {
		s, err := token.Mint("HS256", []byte(tokenSecret), "", &token.Claims{
			RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute))},
			Herald:           g,
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	sub := mint(token.Grants{Subscribe: []string{"a", "b*"}})
	both := mint(token.Grants{Channels: []string{"a"}})
	grouped := mint(token.Grants{Subscribe: []string{"a"}, Group: "g1"})
	ws := []string{"Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}

	tests := []struct {
		name    string
		method  string
		target  string
		headers []string
		status  int // 0: prepared
		publish int // channels a subscriber publishes to
	}{
		{"no token", "GET", "/ps/a", nil, 401, 0},
		{"subscribe", "GET", "/ps/a?token=" + sub, nil, 0, 0},
		{"split channels, all granted", "GET", "/ps/a,b1,b2?token=" + sub, nil, 0, 0},
		{"split channels, one not granted", "GET", "/ps/a,c?token=" + sub, nil, 403, 0},
		{"publish with a subscribe token", "POST", "/ps/a?token=" + sub, nil, 403, 0},
		{"publish with a channels token", "POST", "/ps/a?token=" + both, nil, 0, 0},
		{"group granted", "GET", "/ps/a?g=g1&token=" + grouped, nil, 0, 0},
		{"other group", "GET", "/ps/a?g=g2&token=" + grouped, nil, 403, 0},
		{"default group with a grouped token", "GET", "/ps/a?token=" + grouped, nil, 403, 0},
		{"WebSocket with a subscribe token only subscribes", "GET", "/ps/a?token=" + sub, ws, 0, 0},
		{"WebSocket with a channels token publishes too", "GET", "/ps/a?token=" + both, ws, 0, 1},
		{"location with tokens off", "POST", "/open/a", nil, 0, 0},
		{"preflight needs none", "OPTIONS", "/ps/a", []string{"Origin", "http://x.example"}, 0, 0},
		{"unresolved channel is 404 before the token", "GET", "/ps/a,", nil, 404, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, rf := prepare(request(tc.method, tc.target, tc.headers...))
			if tc.status == 0 {
				if rf != nil {
					t.Fatalf("refused: %v", rf)
				}
				if len(q.Publish) != tc.publish {
					t.Fatalf("publishes to %d channels, want %d", len(q.Publish), tc.publish)
				}
				return
			}
			if rf == nil || rf.Status != tc.status {
				t.Fatalf("refusal %v, want %d", rf, tc.status)
			}
			if tc.status == 401 || tc.status == 403 {
				if rf.Reason != "token" || !strings.HasPrefix(rf.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("refusal %+v", rf)
				}
			}
		})
	}
}

func TestTokenStageOrder(t *testing.T) {
	cfg := `
servers:
  - listen: 127.0.0.1:0
    locations:
      - location: ~ ^/s/(.+)$
        subscriber: true
        channel_id: $1
        token_alg: HS256
        token_secret: ` + tokenSecret + `
`
	prepare := routes(t, cfg)
	q, _ := prepare(request("GET", "/s/x"))
	var names []string
	for _, st := range q.Route.Stages() {
		names = append(names, st.Name())
	}
	if got := strings.Join(names, " "); got != "access channels limits token" {
		t.Fatalf("stages %q", got)
	}
	hd := http.Header{}
	q.Route.Preflight(hd, request("OPTIONS", "/s/x", "Origin", "http://x.example"))
	if !strings.HasSuffix(hd.Get("Access-Control-Allow-Headers"), ", Authorization") {
		t.Fatalf("preflight Access-Control-Allow-Headers %q", hd.Get("Access-Control-Allow-Headers"))
	}
}
