package app_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldpush/herald/internal/app"
	"github.com/heraldpush/herald/internal/token"
)

// TestReloadRotatesTokenKeys: a reload reads token key files again, so a
// rotated key is in force for new requests: tokens signed with the old
// key are refused, those signed with the new one accepted.
func TestReloadRotatesTokenKeys(t *testing.T) {
	oldSecret, newSecret := strings.Repeat("o", 32), strings.Repeat("n", 32)
	keyFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(keyFile, []byte(oldSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := reloadConfig("token_alg: HS256\ntoken_key: "+keyFile+"\n", "other")
	a := start(t, parse(t, cfg), app.Options{NoMemoryTrim: true})
	base := "http://" + a.Addrs()[0].String()
	mint := func(secret string) string {
		s, err := token.Mint("HS256", []byte(secret), "", &token.Claims{
			RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute))},
			Herald:           token.Grants{Publish: []string{"*"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	oldTok, newTok := mint(oldSecret), mint(newSecret)
	if code, _, _ := get(t, "POST", base+"/pub/rot?token="+oldTok, "x"); code != http.StatusAccepted {
		t.Fatalf("old key before the reload: %d, want 202", code)
	}
	if err := os.WriteFile(keyFile, []byte(newSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(context.Background(), parse(t, cfg)); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if code, body, _ := get(t, "POST", base+"/pub/rot?token="+oldTok, "x"); code != http.StatusUnauthorized || !strings.Contains(body, "signature is invalid") {
		t.Errorf("old key after the reload: %d %q, want 401", code, body)
	}
	if code, _, _ := get(t, "POST", base+"/pub/rot?token="+newTok, "x"); code != http.StatusAccepted {
		t.Errorf("new key after the reload: %d, want 202", code)
	}
}
