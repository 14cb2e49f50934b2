// Package token checks the signed tokens (JWT, RFC 7519) that let a
// request use a location's channels: a location's token settings are
// compiled once into a Verifier (algorithm pinned, keys loaded from a PEM
// file, an inline secret or a JWKS file); each request's token is read
// from its sources (Authorization: Bearer, a cookie, a query argument),
// verified (signature, exp, nbf with leeway, issuer, audience) and its
// claims say which channels it may subscribe and publish to.
//
// The claims Herald reads (see docs/tokens.md):
//
//	{"exp": 1767225600, "sub": "user42",
//	 "herald": {"subscribe": ["news", "user42.*"], "publish": ["chat.room1"],
//	            "channels": ["both.ways"], "group": ""}}
//
// Each list holds channel ids, exact or, ending in "*", prefixes ("*"
// alone is every channel); "channels" grants both roles. "group" is the
// channel group the grants apply to ("" or absent: the default group).
package token

import (
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Settings are a location's token settings as configured.
type Settings struct {
	// Alg is the one algorithm tokens must be signed with; "" checks no
	// tokens.
	Alg string
	// Key is a PEM file: a public key (or certificate, or private key) for
	// RS*, PS*, ES* and EdDSA; for HS* the file's content is the secret.
	Key string
	// Secret is an HMAC secret written inline.
	Secret string
	// JWKS is a JWK Set file.
	JWKS string
	// Sources are where a request's token is read from, first found wins.
	Sources []Source
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// Issuer and Audience, when set, must be the token's iss and among
	// its aud.
	Issuer   string
	Audience string
}

// Enabled reports whether the settings check tokens.
func (s *Settings) Enabled() bool { return s.Alg != "" }

// Verifier checks tokens for one location. It is safe for concurrent use.
type Verifier struct {
	alg     string
	parser  *jwt.Parser
	keys    []keyEntry
	sources []Source
	keyfunc jwt.Keyfunc
}

// Compile checks the settings and loads their keys.
func Compile(s Settings) (*Verifier, error) {
	alg := canonicalAlg(s.Alg)
	if alg == "" {
		return nil, fmt.Errorf("token_alg %q: want one of %s", s.Alg, Algorithms)
	}
	n := 0
	for _, set := range []string{s.Key, s.Secret, s.JWKS} {
		if set != "" {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("token_alg needs exactly one of token_key, token_secret and token_jwks")
	}
	if len(s.Sources) == 0 {
		return nil, errors.New("token_from lists no source")
	}
	v := &Verifier{alg: alg, sources: s.Sources}
	fam := algorithms[alg].family
	switch {
	case s.Secret != "":
		if fam != familyHMAC {
			return nil, fmt.Errorf("token_secret is for HS256, HS384 and HS512; %s needs token_key or token_jwks", alg)
		}
		v.keys = []keyEntry{{key: []byte(s.Secret)}}
	case s.Key != "":
		data, err := os.ReadFile(s.Key)
		if err != nil {
			return nil, fmt.Errorf("token_key: %w", err)
		}
		var key any
		if fam == familyHMAC {
			key = []byte(strings.TrimRight(string(data), "\r\n"))
		} else if key, err = ParsePublicKey(data); err != nil {
			return nil, fmt.Errorf("token_key %s: %w", s.Key, err)
		}
		v.keys = []keyEntry{{key: key}}
	default:
		data, err := os.ReadFile(s.JWKS)
		if err != nil {
			return nil, fmt.Errorf("token_jwks: %w", err)
		}
		if v.keys, err = parseJWKS(data, alg); err != nil {
			return nil, fmt.Errorf("token_jwks %s: %w", s.JWKS, err)
		}
	}
	for _, k := range v.keys {
		if err := checkKey(alg, k.key); err != nil {
			return nil, fmt.Errorf("token key: %w", err)
		}
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{alg}), jwt.WithLeeway(s.Leeway), jwt.WithIssuedAt()}
	if s.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(s.Issuer))
	}
	if s.Audience != "" {
		opts = append(opts, jwt.WithAudience(s.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	v.keyfunc = v.key
	return v, nil
}

// Alg is the algorithm the verifier accepts.
func (v *Verifier) Alg() string { return v.alg }

// Sources are where the verifier reads tokens from.
func (v *Verifier) Sources() []Source { return v.sources }

// errUnknownKey is a token whose key id names no configured key.
var errUnknownKey = errors.New("unknown key id")

// key picks the keys a token may be verified with: those with the
// token's kid (or, when none has it, those without a kid); every key for
// a token without kid.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	var match, anon []jwt.VerificationKey
	for _, k := range v.keys {
		switch {
		case kid != "" && k.kid == kid:
			match = append(match, k.key)
		case kid == "" || k.kid == "":
			anon = append(anon, k.key)
		}
	}
	if len(match) == 0 {
		match = anon
	}
	switch len(match) {
	case 0:
		return nil, errUnknownKey
	case 1:
		return match[0], nil
	}
	return jwt.VerificationKeySet{Keys: match}, nil
}

// Error is a token that does not verify; Description says why, in words
// fit for an answer's body and a WWW-Authenticate error_description.
type Error struct {
	Description string
	Err         error
}

// Error implements error.
func (e *Error) Error() string { return "invalid token: " + e.Description }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Verify checks a token's signature, algorithm and times and returns its
// claims; a failure is an *Error.
func (v *Verifier) Verify(raw string) (*Claims, error) {
	c := &Claims{}
	t, err := v.parser.ParseWithClaims(raw, c, v.keyfunc)
	if err == nil {
		return c, nil
	}
	if t != nil && t.Header != nil {
		if alg, _ := t.Header["alg"].(string); alg != v.alg {
			return nil, &Error{Description: fmt.Sprintf("algorithm %q is not accepted here (tokens must be %s)", printable(alg), v.alg), Err: err}
		}
	}
	return nil, &Error{Description: describe(err), Err: err}
}

// describe names why a token failed, most specific reason first.
func describe(err error) string {
	switch {
	case errors.Is(err, errUnknownKey):
		return "the token's key id (kid) names no known key"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the token is malformed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "the token's signature is invalid"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "the token is not valid yet (nbf)"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "the token is issued in the future (iat)"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "the token's issuer (iss) is not accepted"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "the token's audience (aud) is not accepted"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "the token cannot be verified"
	}
	return "the token's claims are invalid"
}

// printable keeps what can go in a header's quoted string: printable
// ASCII other than '"' and '\', at most 32 bytes.
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 32; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			b.WriteByte(c)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}

// Claims are a token's claims: the registered ones and Herald's grants.
type Claims struct {
	jwt.RegisteredClaims
	Herald Grants `json:"herald"`
}

// Grants are the channels a token opens.
type Grants struct {
	// Channels may be subscribed and published to.
	Channels []string `json:"channels,omitempty"`
	// Subscribe may be subscribed to.
	Subscribe []string `json:"subscribe,omitempty"`
	// Publish may be published to (and their info read, and deleted).
	Publish []string `json:"publish,omitempty"`
	// Group is the channel group the lists apply to; "" the default group.
	Group string `json:"group,omitempty"`
}

// Allows reports whether the claims open channel id in group to a
// publisher (publish) or a subscriber.
func (c *Claims) Allows(publish bool, group, id string) bool {
	if group != c.Herald.Group {
		return false
	}
	list := c.Herald.Subscribe
	if publish {
		list = c.Herald.Publish
	}
	return Match(list, id) || Match(c.Herald.Channels, id)
}

// Match reports whether id is one of patterns: equal to one, or starting
// with one that ends in "*" (less the "*").
func Match(patterns []string, id string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(id, prefix) {
				return true
			}
		} else if p == id {
			return true
		}
	}
	return false
}

// Source is one place a request's token is read from.
type Source struct {
	Kind SourceKind
	Name string // the header, cookie or argument name
}

// SourceKind is what kind of place a Source is.
type SourceKind uint8

// The sources.
const (
	// Bearer: the Authorization header, scheme Bearer (RFC 6750).
	Bearer SourceKind = iota + 1
	// Header: a request header holding the token alone.
	Header
	// Cookie: a cookie.
	Cookie
	// Arg: a query argument.
	Arg
)

// ParseSource reads a token_from entry: "bearer", "header:NAME",
// "cookie:NAME" or "arg:NAME".
func ParseSource(s string) (Source, error) {
	kind, name, _ := strings.Cut(strings.TrimSpace(s), ":")
	var k SourceKind
	switch strings.ToLower(kind) {
	case "bearer":
		if name != "" {
			return Source{}, fmt.Errorf("token source %q: bearer takes no name", s)
		}
		return Source{Kind: Bearer}, nil
	case "header":
		k = Header
	case "cookie":
		k = Cookie
	case "arg":
		k = Arg
	default:
		return Source{}, fmt.Errorf("token source %q: want bearer, header:NAME, cookie:NAME or arg:NAME", s)
	}
	if name == "" || strings.ContainsAny(name, " \t\r\n;=,\"") {
		return Source{}, fmt.Errorf("token source %q: needs a name", s)
	}
	return Source{Kind: k, Name: name}, nil
}

// String writes the source as token_from spells it.
func (s Source) String() string {
	switch s.Kind {
	case Bearer:
		return "bearer"
	case Header:
		return "header:" + s.Name
	case Cookie:
		return "cookie:" + s.Name
	case Arg:
		return "arg:" + s.Name
	}
	return "?"
}

// Extract returns the request's token from the first of sources that
// holds one; ok is false when none does.
func Extract(r *http.Request, sources []Source) (raw string, ok bool) {
	for _, s := range sources {
		switch s.Kind {
		case Bearer:
			for _, h := range r.Header.Values("Authorization") {
				scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
				if strings.EqualFold(scheme, "Bearer") {
					if t := strings.TrimSpace(rest); t != "" {
						return t, true
					}
				}
			}
		case Header:
			if t := strings.TrimSpace(r.Header.Get(s.Name)); t != "" {
				return t, true
			}
		case Cookie:
			if c, err := r.Cookie(s.Name); err == nil && c.Value != "" {
				return c.Value, true
			}
		case Arg:
			if r.URL != nil {
				if t := r.URL.Query().Get(s.Name); t != "" {
					return t, true
				}
			}
		}
	}
	return "", false
}

// Extract returns the request's token from the verifier's sources.
func (v *Verifier) Extract(r *http.Request) (string, bool) { return Extract(r, v.sources) }

// Mint signs claims with alg and key (an HMAC secret as []byte, or a
// private key), naming kid in the header when it is not "".
func Mint(alg string, key any, kid string, c *Claims) (string, error) {
	name := canonicalAlg(alg)
	if name == "" {
		return "", fmt.Errorf("algorithm %q: want one of %s", alg, Algorithms)
	}
	pub := key
	if s, ok := key.(crypto.Signer); ok {
		pub = s.Public()
	}
	if err := checkKey(name, pub); err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(jwt.GetSigningMethod(name), c)
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}
