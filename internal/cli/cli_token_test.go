package cli_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// testTokenCommands runs herald channel-id and herald token end to end:
// fresh channel ids, and tokens minted by the command that a herald
// process (started from a configuration with token keys) accepts or
// refuses.
func testTokenCommands(t *testing.T, bin string) {
	t.Run("channel-id", func(t *testing.T) {
		code, out, errOut := run(t, bin, "channel-id", "-n", "200")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		ids := strings.Fields(out)
		if len(ids) != 200 {
			t.Fatalf("%d ids, want 200", len(ids))
		}
		valid := regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`) // 128 bits, base64url
		seen := map[string]bool{}
		for _, id := range ids {
			if !valid.MatchString(id) || seen[id] {
				t.Fatalf("id %q: not 22 base64url characters, or repeated", id)
			}
			seen[id] = true
		}
		if code, _, _ := run(t, bin, "channel-id", "-n", "0"); code != 2 {
			t.Errorf("-n 0: exit %d, want 2", code)
		}
	})

	dir := t.TempDir()
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(edKey)
	privFile := filepath.Join(dir, "ed.pem")
	os.WriteFile(privFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	pubDER, _ := x509.MarshalPKIXPublicKey(edKey.Public())
	pubFile := filepath.Join(dir, "ed.pub")
	os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600)
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte(strings.Repeat("s", 48)+"\n"), 0o600)

	cfg := writeFile(t, "tokens.yaml", `servers:
  - listen: 127.0.0.1:0
    locations:
      - location: ~ ^/sub/([\w-]+)$
        subscriber: [longpoll, eventsource]
        channel_id: $1
        token_alg: EdDSA
        token_key: `+pubFile+`
      - location: ~ ^/pub/([\w-]+)$
        publisher: true
        channel_id: $1
        token_alg: HS384
        token_key: `+secretFile+`
`)
	if code, out, errOut := run(t, bin, "config", "check", "-c", cfg); code != 0 {
		t.Fatalf("config check: %d %s %s", code, out, errOut)
	}
	badCfg := writeFile(t, "bad-tokens.yaml", strings.Replace(string(must(os.ReadFile(cfg))), "token_alg: HS384", "token_alg: RS256", 1))
	if code, _, errOut := run(t, bin, "config", "check", "-c", badCfg); code != 2 || !strings.Contains(errOut, "no PEM block") {
		t.Errorf("config check with a secret for RS256: exit %d, %q", code, errOut)
	}

	mint := func(args ...string) string {
		t.Helper()
		code, out, errOut := run(t, bin, append([]string{"token"}, args...)...)
		if code != 0 {
			t.Fatalf("herald token %v: exit %d: %s", args, code, errOut)
		}
		return strings.TrimSpace(out)
	}
	_, idOut, _ := run(t, bin, "channel-id")
	ch := strings.TrimSpace(idOut)
	subTok := mint("--alg", "EdDSA", "--key", privFile, "--sub", ch, "--subject", "user1", "--ttl", "10m")
	pubTok := mint("--alg", "HS384", "--secret-file", secretFile, "--pub", ch[:4]+"*")
	otherTok := mint("--alg", "EdDSA", "--key", privFile, "--sub", "someone-else")
	expiredTok := mint("--alg", "EdDSA", "--key", privFile, "--sub", ch, "--ttl", "-1h")

	p, addr := startHerald(t, bin, "-c", cfg)
	base := "http://" + addr
	if r := httpDo(t, "POST", base+"/pub/"+ch, "hello"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("publish without a token: %d, want 401", r.StatusCode)
	}
	if r := httpDo(t, "POST", base+"/pub/"+ch, "hello", "Authorization", "Bearer "+pubTok); r.StatusCode != http.StatusAccepted {
		t.Fatalf("publish with a minted token: %d %q", r.StatusCode, r.body)
	}
	if r := httpDo(t, "GET", base+"/sub/"+ch+"?token="+subTok, ""); r.StatusCode != 200 || r.body != "hello" {
		t.Errorf("subscribe with a minted token: %d %q", r.StatusCode, r.body)
	}
	if r := httpDo(t, "GET", base+"/sub/"+ch, "", "Cookie", "herald_token="+otherTok); r.StatusCode != http.StatusForbidden {
		t.Errorf("subscribe with a token for another channel: %d %q, want 403", r.StatusCode, r.body)
	}
	if r := httpDo(t, "GET", base+"/sub/"+ch, "", "Authorization", "Bearer "+expiredTok); r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.body, "expired") {
		t.Errorf("subscribe with an expired token: %d %q, want 401", r.StatusCode, r.body)
	}
	if r := httpDo(t, "GET", base+"/sub/"+ch, "", "Authorization", "Bearer "+pubTok); r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.body, `"HS384" is not accepted`) {
		t.Errorf("subscribe with an HS384 token on the EdDSA location: %d %q, want 401", r.StatusCode, r.body)
	}
	stopHerald(t, p)

	for _, tc := range []struct {
		name string
		args []string
		err  string
	}{
		{"no key", []string{"--sub", "x"}, "exactly one of"},
		{"short secret", []string{"--secret", "short"}, "at least 32 bytes"},
		{"unknown alg", []string{"--alg", "none", "--secret", strings.Repeat("s", 32)}, "want one of"},
		{"public key cannot sign", []string{"--alg", "EdDSA", "--key", pubFile}, "not a key"},
	} {
		if code, _, errOut := run(t, bin, append([]string{"token"}, tc.args...)...); code != 2 || !strings.Contains(errOut, tc.err) {
			t.Errorf("token %s: exit %d, %q; want 2 with %q", tc.name, code, errOut, tc.err)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
