package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldpush/herald/client"
	"github.com/heraldpush/herald/internal/token"
)

// listFlag is a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// tokenCmd mints a signed token: herald token.
func tokenCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("herald token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	alg := fs.String("alg", "HS256", "signing algorithm: "+token.Algorithms)
	secret := fs.String("secret", "", "HMAC secret (HS256, HS384, HS512)")
	secretFile := fs.String("secret-file", "", "file holding the HMAC secret (less a final newline)")
	keyFile := fs.String("key", "", "PEM private key (RS*, PS*, ES*, EdDSA)")
	var sub, pub, both listFlag
	fs.Var(&sub, "sub", "channel the token may subscribe to; \"prefix*\" for a prefix (repeatable)")
	fs.Var(&pub, "pub", "channel the token may publish to; \"prefix*\" for a prefix (repeatable)")
	fs.Var(&both, "channel", "channel the token may subscribe and publish to (repeatable)")
	group := fs.String("group", "", "channel group the channels are in (default: the default group)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime: exp is now plus this (0: no exp; negative: already expired, for tests)")
	notBefore := fs.Duration("not-before", 0, "nbf is now plus this (0: no nbf)")
	subject := fs.String("subject", "", "the token's sub claim (who it is for)")
	issuer := fs.String("issuer", "", "the token's iss claim")
	audience := fs.String("audience", "", "the token's aud claim")
	kid := fs.String("kid", "", "key id (kid) in the token's header, to pick a key of a JWKS")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "herald token: unexpected argument %q\n", fs.Arg(0))
		return ExitUsage
	}
	key, err := signingKey(*alg, *secret, *secretFile, *keyFile)
	if err != nil {
		fmt.Fprintf(stderr, "herald token: %v\n", err)
		return ExitUsage
	}
	now := time.Now()
	c := &token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: *subject, Issuer: *issuer, IssuedAt: jwt.NewNumericDate(now)},
		Herald:           token.Grants{Subscribe: sub, Publish: pub, Channels: both, Group: *group},
	}
	if *audience != "" {
		c.Audience = jwt.ClaimStrings{*audience}
	}
	if *ttl != 0 {
		c.ExpiresAt = jwt.NewNumericDate(now.Add(*ttl))
	}
	if *notBefore != 0 {
		c.NotBefore = jwt.NewNumericDate(now.Add(*notBefore))
	}
	s, err := token.Mint(*alg, key, *kid, c)
	if err != nil {
		fmt.Fprintf(stderr, "herald token: %v\n", err)
		return ExitUsage
	}
	fmt.Fprintln(stdout, s)
	return ExitOK
}

// signingKey reads the key a token is signed with: exactly one of an
// inline secret, a secret file, or a PEM private key file.
func signingKey(alg, secret, secretFile, keyFile string) (any, error) {
	n := 0
	for _, v := range []string{secret, secretFile, keyFile} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("give exactly one of --secret, --secret-file and --key")
	}
	switch {
	case secret != "":
		return []byte(secret), nil
	case secretFile != "":
		data, err := os.ReadFile(secretFile)
		if err != nil {
			return nil, fmt.Errorf("read secret: %w", err)
		}
		return []byte(strings.TrimRight(string(data), "\r\n")), nil
	}
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	if strings.HasPrefix(strings.ToUpper(alg), "HS") {
		return []byte(strings.TrimRight(string(data), "\r\n")), nil
	}
	k, err := token.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", keyFile, err)
	}
	return k, nil
}

// NewChannelID returns a fresh channel id: 128 random bits, base64url
// without padding (client.NewChannelID).
func NewChannelID() (string, error) {
	return client.NewChannelID()
}

// channelIDCmd prints fresh channel ids: herald channel-id.
func channelIDCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("herald channel-id", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 1, "how many ids to print, one a line")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() > 0 || *n < 1 || *n > 100000 {
		fmt.Fprintln(stderr, "usage: herald channel-id [-n COUNT]  (COUNT from 1 to 100000)")
		return ExitUsage
	}
	for range *n {
		id, err := NewChannelID()
		if err != nil {
			fmt.Fprintf(stderr, "herald channel-id: %v\n", err)
			return ExitFailure
		}
		fmt.Fprintln(stdout, id)
	}
	return ExitOK
}
