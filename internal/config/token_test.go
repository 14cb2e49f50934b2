package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/token"
)

// TestTokenKeys: the token_* keys, inherited like every location key,
// compile into a verifier at load; mistakes name the location's line.
func TestTokenKeys(t *testing.T) {
	secret := strings.Repeat("k", 32)
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := func(top, loc string) string {
		return top + `servers:
  - listen: 127.0.0.1:0
    locations:
      - location: ~ ^/sub/(.+)$
        subscriber: true
        channel_id: $1
` + loc + `      - location: ~ ^/open/(.+)$
        subscriber: true
        channel_id: $1
        token_alg: off
      - location: /status
        stub_status: on
`
	}
	c, err := Parse([]byte(cfg("token_alg: HS256\ntoken_key: "+secretFile+"\n", "        token_from: [arg:t, bearer]\n        token_leeway: 1s\n        token_issuer: app\n        token_audience: herald\n")), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	locs := c.Servers[0].Locations
	l := locs[0]
	if l.TokenVerifier == nil || l.TokenVerifier.Alg() != "HS256" {
		t.Fatalf("verifier %v, want HS256", l.TokenVerifier)
	}
	want := []token.Source{{Kind: token.Arg, Name: "t"}, {Kind: token.Bearer}}
	if got := l.TokenVerifier.Sources(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("sources %v, want %v", got, want)
	}
	if l.Token.Leeway != time.Second || l.Token.Issuer != "app" || l.Token.Audience != "herald" {
		t.Errorf("settings %+v", l.Token)
	}
	if locs[1].TokenVerifier != nil || locs[2].TokenVerifier != nil {
		t.Errorf("token_alg off and stub_status locations got a verifier")
	}
	def := Default().Servers[0].Locations[0]
	if def.TokenVerifier != nil || def.Token.Leeway != 5*time.Second || len(def.Token.Sources) != 3 {
		t.Errorf("default token settings %+v", def.Token)
	}

	for _, tc := range []struct {
		name, top, loc, want string
	}{
		{"unknown algorithm", "", "        token_alg: HS999\n        token_secret: " + secret + "\n", `t.yaml:4:9: location "~ ^/sub/(.+)$": token_alg "HS999": want one of`},
		{"no key", "", "        token_alg: RS256\n", "exactly one of token_key, token_secret and token_jwks"},
		{"missing key file", "", "        token_alg: ES256\n        token_key: /nonexistent/key.pem\n", "token_key: open /nonexistent/key.pem"},
		{"short secret", "token_secret: short\n", "        token_alg: HS256\n", "at least 32 bytes"},
		{"bad source", "", "        token_from: query:x\n", "want bearer, header:NAME, cookie:NAME or arg:NAME"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(cfg(tc.top, tc.loc)), "t.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
