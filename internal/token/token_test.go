package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const secret = "0123456789abcdef0123456789abcdef" // 32 bytes

// writePEM writes a key's PEM encoding (the public half when public) to a
// file in dir and returns its path.
func writePEM(t *testing.T, dir, name string, key crypto.Signer, public bool) string {
	t.Helper()
	var block *pem.Block
	if public {
		der, err := x509.MarshalPKIXPublicKey(key.Public())
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "PUBLIC KEY", Bytes: der}
	} else {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func grants(sub, pub []string) *Claims {
	return &Claims{
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))},
		Herald:           Grants{Subscribe: sub, Publish: pub},
	}
}

func mint(t *testing.T, alg string, key any, kid string, c *Claims) string {
	t.Helper()
	s, err := Mint(alg, key, kid, c)
	if err != nil {
		t.Fatalf("mint %s: %v", alg, err)
	}
	return s
}

// unsigned builds a token with the given header and claims and signature
// part, bypassing the library (for alg none and forged headers).
func unsigned(header, claims map[string]any, sig string) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(c) + "." + sig
}

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	rsaPub := writePEM(t, dir, "rsa.pub", rsaKey, true)
	rsaPubBytes, _ := os.ReadFile(rsaPub)
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte(secret+"\n"), 0o600)

	jwks := func(keys ...map[string]any) string {
		b, _ := json.Marshal(map[string]any{"keys": keys})
		p := filepath.Join(dir, "jwks"+strings.Repeat("x", len(keys))+".json")
		os.WriteFile(p, b, 0o600)
		return p
	}
	enc := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	rsaJWK := func(k *rsa.PrivateKey, kid string) map[string]any {
		return map[string]any{"kty": "RSA", "kid": kid, "n": enc(k.N.Bytes()), "e": enc(big.NewInt(int64(k.E)).Bytes())}
	}
	ecBytes, _ := ecKey.PublicKey.Bytes()
	jwksFile := jwks(rsaJWK(otherRSA, "old"), rsaJWK(rsaKey, "new"),
		map[string]any{"kty": "EC", "crv": "P-256", "x": enc(ecBytes[1:33]), "y": enc(ecBytes[33:])},
		map[string]any{"kty": "OKP", "crv": "Ed25519", "x": enc(edKey.Public().(ed25519.PublicKey))},
		map[string]any{"kty": "oct", "k": enc([]byte(secret))})

	src := []Source{{Kind: Bearer}}
	hs := Settings{Alg: "HS256", Secret: secret, Sources: src, Leeway: 5 * time.Second}
	rs := Settings{Alg: "RS256", Key: rsaPub, Sources: src}
	now := time.Now()
	expired := grants([]string{"a"}, nil)
	expired.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute))
	withinLeeway := grants([]string{"a"}, nil)
	withinLeeway.ExpiresAt = jwt.NewNumericDate(now.Add(-2 * time.Second))
	early := grants([]string{"a"}, nil)
	early.NotBefore = jwt.NewNumericDate(now.Add(time.Minute))
	issued := grants([]string{"a"}, nil)
	issued.Issuer, issued.Audience = "app", jwt.ClaimStrings{"herald"}

	tests := []struct {
		name     string
		settings Settings
		token    string
		wantErr  string // a part of the description; "" for a valid token
	}{
		{"HS256 valid", hs, mint(t, "HS256", []byte(secret), "", grants([]string{"a"}, nil)), ""},
		{"HS256 secret file", Settings{Alg: "HS256", Key: secretFile, Sources: src}, mint(t, "HS256", []byte(secret), "", grants(nil, nil)), ""},
		{"HS256 wrong secret", hs, mint(t, "HS256", []byte(strings.ToUpper(secret)), "", grants(nil, nil)), "signature is invalid"},
		{"expired", hs, mint(t, "HS256", []byte(secret), "", expired), "has expired"},
		{"expired within leeway", hs, mint(t, "HS256", []byte(secret), "", withinLeeway), ""},
		{"not yet valid", hs, mint(t, "HS256", []byte(secret), "", early), "not valid yet"},
		{"alg none", hs, unsigned(map[string]any{"alg": "none", "typ": "JWT"}, map[string]any{"herald": map[string]any{"subscribe": []string{"*"}}}, ""), `algorithm "none" is not accepted`},
		{"alg missing", hs, unsigned(map[string]any{"typ": "JWT"}, map[string]any{}, "x"), `algorithm "" is not accepted`},
		{"HS512 on an HS256 location", hs, mint(t, "HS512", []byte(secret+secret), "", grants(nil, nil)), `algorithm "HS512" is not accepted`},
		{"malformed", hs, "not.a.token", "malformed"},
		{"garbage", hs, "garbage", "malformed"},
		{"RS256 valid", rs, mint(t, "RS256", rsaKey, "", grants(nil, nil)), ""},
		{"RS256 wrong key", rs, mint(t, "RS256", otherRSA, "", grants(nil, nil)), "signature is invalid"},
		{"algorithm confusion: HS256 signed with the RSA public key", rs,
			func() string {
				tk := jwt.NewWithClaims(jwt.SigningMethodHS256, grants([]string{"*"}, nil))
				s, err := tk.SignedString(rsaPubBytes)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}(), `algorithm "HS256" is not accepted here (tokens must be RS256)`},
		{"PS256 on an RS256 location", rs, mint(t, "PS256", rsaKey, "", grants(nil, nil)), `"PS256" is not accepted`},
		{"ES256 valid", Settings{Alg: "ES256", Key: writePEM(t, dir, "ec.pem", ecKey, false), Sources: src}, mint(t, "ES256", ecKey, "", grants(nil, nil)), ""},
		{"EdDSA valid", Settings{Alg: "EdDSA", Key: writePEM(t, dir, "ed.pub", edKey, true), Sources: src}, mint(t, "EdDSA", edKey, "", grants(nil, nil)), ""},
		{"EdDSA wrong key", Settings{Alg: "EdDSA", Key: writePEM(t, dir, "ed2.pub", edKey, true), Sources: src},
			func() string {
				_, k, _ := ed25519.GenerateKey(rand.Reader)
				return mint(t, "EdDSA", k, "", grants(nil, nil))
			}(), "signature is invalid"},
		{"JWKS RS256 by kid", Settings{Alg: "RS256", JWKS: jwksFile, Sources: src}, mint(t, "RS256", rsaKey, "new", grants(nil, nil)), ""},
		{"JWKS RS256 old kid", Settings{Alg: "RS256", JWKS: jwksFile, Sources: src}, mint(t, "RS256", otherRSA, "old", grants(nil, nil)), ""},
		{"JWKS RS256 kid of another key", Settings{Alg: "RS256", JWKS: jwksFile, Sources: src}, mint(t, "RS256", otherRSA, "new", grants(nil, nil)), "signature is invalid"},
		{"JWKS RS256 unknown kid", Settings{Alg: "RS256", JWKS: jwksFile, Sources: src}, mint(t, "RS256", rsaKey, "nope", grants(nil, nil)), "names no known key"},
		{"JWKS RS256 no kid", Settings{Alg: "RS256", JWKS: jwksFile, Sources: src}, mint(t, "RS256", rsaKey, "", grants(nil, nil)), ""},
		{"JWKS ES256", Settings{Alg: "ES256", JWKS: jwksFile, Sources: src}, mint(t, "ES256", ecKey, "", grants(nil, nil)), ""},
		{"JWKS EdDSA", Settings{Alg: "EdDSA", JWKS: jwksFile, Sources: src}, mint(t, "EdDSA", edKey, "", grants(nil, nil)), ""},
		{"JWKS HS256", Settings{Alg: "HS256", JWKS: jwksFile, Sources: src}, mint(t, "HS256", []byte(secret), "", grants(nil, nil)), ""},
		{"issuer and audience", Settings{Alg: "HS256", Secret: secret, Sources: src, Issuer: "app", Audience: "herald"}, mint(t, "HS256", []byte(secret), "", issued), ""},
		{"wrong issuer", Settings{Alg: "HS256", Secret: secret, Sources: src, Issuer: "other"}, mint(t, "HS256", []byte(secret), "", issued), "issuer"},
		{"wrong audience", Settings{Alg: "HS256", Secret: secret, Sources: src, Audience: "other"}, mint(t, "HS256", []byte(secret), "", issued), "audience"},
		{"ES384 key on ES256 location", Settings{Alg: "ES384", Key: writePEM(t, dir, "ec384.pub", ec384, true), Sources: src}, mint(t, "ES256", ecKey, "", grants(nil, nil)), `"ES256" is not accepted`},
		{"herald claim of the wrong type", hs, func() string {
			tk := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"herald": "everything"})
			s, _ := tk.SignedString([]byte(secret))
			return s
		}(), "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Compile(tc.settings)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			c, err := v.Verify(tc.token)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("verify: %v", err)
				}
				if c == nil {
					t.Fatal("no claims")
				}
				return
			}
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("verify: %v, want an *Error with %q", err, tc.wantErr)
			}
			if !strings.Contains(te.Description, tc.wantErr) {
				t.Fatalf("description %q, want it to contain %q", te.Description, tc.wantErr)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	dir := t.TempDir()
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	src := []Source{{Kind: Bearer}}
	tests := []struct {
		name string
		s    Settings
		want string
	}{
		{"unknown alg", Settings{Alg: "none", Secret: secret, Sources: src}, "want one of"},
		{"no key", Settings{Alg: "HS256", Sources: src}, "exactly one of"},
		{"two keys", Settings{Alg: "HS256", Secret: secret, JWKS: "x", Sources: src}, "exactly one of"},
		{"short secret", Settings{Alg: "HS256", Secret: "short", Sources: src}, "at least 32 bytes"},
		{"HS512 short secret", Settings{Alg: "HS512", Secret: secret, Sources: src}, "at least 64 bytes"},
		{"secret for RS256", Settings{Alg: "RS256", Secret: secret, Sources: src}, "token_secret is for"},
		{"missing file", Settings{Alg: "RS256", Key: filepath.Join(dir, "nope.pem"), Sources: src}, "token_key"},
		{"small RSA key", Settings{Alg: "RS256", Key: writePEM(t, dir, "small.pub", rsa1024, true), Sources: src}, "at least 2048"},
		{"EC key for RS256", Settings{Alg: "RS256", Key: writePEM(t, dir, "ec.pub", ecKey, true), Sources: src}, "cannot use an EC key"},
		{"not PEM", Settings{Alg: "ES256", Key: func() string { p := filepath.Join(dir, "x"); os.WriteFile(p, []byte("x"), 0o600); return p }(), Sources: src}, "no PEM block"},
		{"no sources", Settings{Alg: "HS256", Secret: secret}, "no source"},
		{"JWKS without a usable key", Settings{Alg: "ES256", JWKS: func() string {
			p := filepath.Join(dir, "j.json")
			os.WriteFile(p, []byte(`{"keys":[{"kty":"oct","k":"AAAA"}]}`), 0o600)
			return p
		}(), Sources: src}, "no key for ES256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("compile: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestAllows(t *testing.T) {
	c := &Claims{Herald: Grants{
		Subscribe: []string{"news", "user.42.*"},
		Publish:   []string{"chat"},
		Channels:  []string{"both"},
	}}
	all := &Claims{Herald: Grants{Subscribe: []string{"*"}, Group: "g"}}
	tests := []struct {
		c       *Claims
		publish bool
		group   string
		id      string
		want    bool
	}{
		{c, false, "", "news", true},
		{c, false, "", "news2", false},
		{c, false, "", "user.42.inbox", true},
		{c, false, "", "user.42.", true},
		{c, false, "", "user.43.inbox", false},
		{c, true, "", "news", false},
		{c, true, "", "chat", true},
		{c, false, "", "chat", false},
		{c, true, "", "both", true},
		{c, false, "", "both", true},
		{c, false, "other", "news", false},
		{all, false, "g", "anything", true},
		{all, false, "", "anything", false},
		{all, true, "g", "anything", false},
	}
	for _, tc := range tests {
		if got := tc.c.Allows(tc.publish, tc.group, tc.id); got != tc.want {
			t.Errorf("%+v Allows(publish %v, %q, %q) = %v, want %v", tc.c.Herald, tc.publish, tc.group, tc.id, got, tc.want)
		}
	}
}

func TestParseSource(t *testing.T) {
	tests := []struct {
		in   string
		want Source
		err  bool
	}{
		{"bearer", Source{Kind: Bearer}, false},
		{"Bearer", Source{Kind: Bearer}, false},
		{"cookie:tok", Source{Kind: Cookie, Name: "tok"}, false},
		{"arg:token", Source{Kind: Arg, Name: "token"}, false},
		{"header:X-Token", Source{Kind: Header, Name: "X-Token"}, false},
		{"cookie", Source{}, true},
		{"bearer:x", Source{}, true},
		{"query:x", Source{}, true},
		{"cookie:a b", Source{}, true},
	}
	for _, tc := range tests {
		got, err := ParseSource(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseSource(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.err)
		}
		if err == nil {
			if back, err := ParseSource(got.String()); err != nil || back != got {
				t.Errorf("%+v.String() = %q does not parse back", got, got.String())
			}
		}
	}
}

func TestExtract(t *testing.T) {
	all := []Source{{Kind: Bearer}, {Kind: Header, Name: "X-Token"}, {Kind: Cookie, Name: "tok"}, {Kind: Arg, Name: "token"}}
	tests := []struct {
		name    string
		headers []string
		query   string
		want    string
	}{
		{"none", nil, "", ""},
		{"bearer", []string{"Authorization", "Bearer abc"}, "", "abc"},
		{"bearer lower case", []string{"Authorization", "bearer  abc "}, "", "abc"},
		{"basic is not a token", []string{"Authorization", "Basic dXNlcjpwYXNz"}, "", ""},
		{"empty bearer", []string{"Authorization", "Bearer "}, "", ""},
		{"header", []string{"X-Token", "hdr"}, "", "hdr"},
		{"cookie", []string{"Cookie", "a=1; tok=ck; b=2"}, "", "ck"},
		{"arg", nil, "x=1&token=q.r.s", "q.r.s"},
		{"bearer wins over arg", []string{"Authorization", "Bearer abc"}, "token=q", "abc"},
		{"cookie wins over arg", []string{"Cookie", "tok=ck"}, "token=q", "ck"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{Header: http.Header{}, URL: &url.URL{RawQuery: tc.query}}
			for i := 0; i < len(tc.headers); i += 2 {
				r.Header.Add(tc.headers[i], tc.headers[i+1])
			}
			got, ok := Extract(r, all)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("Extract = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}

func FuzzExtract(f *testing.F) {
	f.Add("Bearer abc", "tok=x", "token=y", "X")
	f.Add("bearer\t", "tok=\"q\"; tok=r", "token=%zz&token=1", "")
	f.Add("", "", ";;;token", "   ")
	sources := []Source{{Kind: Bearer}, {Kind: Cookie, Name: "tok"}, {Kind: Header, Name: "X-Token"}, {Kind: Arg, Name: "token"}}
	f.Fuzz(func(t *testing.T, auth, cookie, query, hdr string) {
		r := &http.Request{Header: http.Header{"Authorization": {auth}, "Cookie": {cookie}, "X-Token": {hdr}}, URL: &url.URL{RawQuery: query}}
		got, ok := Extract(r, sources)
		if ok != (got != "") {
			t.Fatalf("ok %v with token %q", ok, got)
		}
		if ok && got != strings.TrimSpace(got) && !strings.Contains(query, got) && !strings.Contains(cookie, got) {
			t.Fatalf("token %q has surrounding space", got)
		}
	})
}

func FuzzVerify(f *testing.F) {
	v, err := Compile(Settings{Alg: "HS256", Secret: secret, Sources: []Source{{Kind: Bearer}}})
	if err != nil {
		f.Fatal(err)
	}
	good, _ := Mint("HS256", []byte(secret), "k", grants([]string{"a*"}, []string{"b"}))
	f.Add(good)
	f.Add(unsigned(map[string]any{"alg": "none"}, map[string]any{"exp": "x"}, ""))
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Verify(raw)
		if err == nil && raw != good {
			// A different string that verifies must still carry a valid
			// HMAC: only re-encodings of good's parts could.
			if c == nil {
				t.Fatal("nil claims without error")
			}
		}
		var te *Error
		if err != nil && !errors.As(err, &te) {
			t.Fatalf("error %v is not an *Error", err)
		}
		if te != nil && strings.ContainsAny(te.Description, "\"\\\r\n") && !strings.Contains(te.Description, "algorithm") {
			t.Fatalf("description %q cannot go in a header", te.Description)
		}
	})
}

func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`), "RS256")
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`), "ES256")
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`), "EdDSA")
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]}`), "HS256")
	f.Fuzz(func(t *testing.T, data []byte, alg string) {
		alg = canonicalAlg(alg)
		if alg == "" {
			return
		}
		keys, err := parseJWKS(data, alg)
		if err == nil {
			for _, k := range keys {
				if cerr := checkKey(alg, k.key); cerr != nil {
					t.Fatalf("key %T accepted for %s: %v", k.key, alg, cerr)
				}
			}
		}
	})
}
