package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// family is the kind of key an algorithm needs.
type family uint8

const (
	familyHMAC family = iota + 1
	familyRSA
	familyEC
	familyEd25519
)

// algorithms are the accepted values of token_alg, with the key family
// each needs and, for HMAC, the shortest secret (the hash's size, RFC 7518
// section 3.2) and, for ECDSA, the curve.
var algorithms = map[string]struct {
	family    family
	minSecret int
	curve     string
}{
	"HS256": {familyHMAC, 32, ""},
	"HS384": {familyHMAC, 48, ""},
	"HS512": {familyHMAC, 64, ""},
	"RS256": {familyRSA, 0, ""},
	"RS384": {familyRSA, 0, ""},
	"RS512": {familyRSA, 0, ""},
	"PS256": {familyRSA, 0, ""},
	"PS384": {familyRSA, 0, ""},
	"PS512": {familyRSA, 0, ""},
	"ES256": {familyEC, 0, "P-256"},
	"ES384": {familyEC, 0, "P-384"},
	"ES512": {familyEC, 0, "P-521"},
	"EdDSA": {familyEd25519, 0, ""},
}

// Algorithms lists the accepted values of token_alg.
const Algorithms = "HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA"

// minRSABits is the smallest RSA modulus accepted.
const minRSABits = 2048

// canonicalAlg returns the algorithm's name as JWS spells it, or "" if
// it is not one Herald accepts ("none" never is).
func canonicalAlg(s string) string {
	for name := range algorithms {
		if strings.EqualFold(name, s) {
			return name
		}
	}
	return ""
}

// checkKey reports whether key (a public key, or an HMAC secret) suits
// alg.
func checkKey(alg string, key any) error {
	a := algorithms[alg]
	switch k := key.(type) {
	case []byte:
		if a.family != familyHMAC {
			return fmt.Errorf("%s needs a public key, not a secret", alg)
		}
		if len(k) < a.minSecret {
			return fmt.Errorf("%s needs a secret of at least %d bytes, got %d", alg, a.minSecret, len(k))
		}
	case *rsa.PublicKey:
		if a.family != familyRSA {
			return fmt.Errorf("%s cannot use an RSA key", alg)
		}
		if k.N.BitLen() < minRSABits {
			return fmt.Errorf("RSA key of %d bits: at least %d are needed", k.N.BitLen(), minRSABits)
		}
	case *ecdsa.PublicKey:
		if a.family != familyEC {
			return fmt.Errorf("%s cannot use an EC key", alg)
		}
		if k.Curve.Params().Name != a.curve {
			return fmt.Errorf("%s needs a %s key, got %s", alg, a.curve, k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		if a.family != familyEd25519 {
			return fmt.Errorf("%s cannot use an Ed25519 key", alg)
		}
	default:
		return fmt.Errorf("unsupported key type %T", key)
	}
	return nil
}

// ParsePublicKey reads a PEM public key: "PUBLIC KEY" (PKIX: RSA, EC or
// Ed25519), "RSA PUBLIC KEY" (PKCS #1) or a "CERTIFICATE" (its key). A
// private key is accepted too and its public half is used, so one file
// can serve `herald token --key` and the server in tests.
func ParsePublicKey(data []byte) (any, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse public key: %w", err)
		}
		return k, nil
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse RSA public key: %w", err)
		}
		return k, nil
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		return c.PublicKey, nil
	}
	priv, err := ParsePrivateKey(data)
	if err != nil {
		return nil, err
	}
	return priv.Public(), nil
}

// ParsePrivateKey reads a PEM private key: "PRIVATE KEY" (PKCS #8: RSA,
// EC or Ed25519), "RSA PRIVATE KEY" (PKCS #1) or "EC PRIVATE KEY" (SEC 1).
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var k any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", strings.ToLower(block.Type), err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	return s, nil
}

// jwk is one JSON Web Key (RFC 7517) as a JWKS file holds it.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	// RSA
	N string `json:"n"`
	E string `json:"e"`
	// EC and OKP
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	// oct
	K string `json:"k"`
}

// keyEntry is a verification key with its key id ("" for none).
type keyEntry struct {
	kid string
	key any
}

// parseJWKS reads a JWK Set (RFC 7517 section 5) and returns the keys
// usable with alg: those of alg's key type whose "alg" (when given) is
// alg and whose "use" (when given) is "sig". Keys of other types are
// skipped, so one file can serve locations with different algorithms; a
// key of the right type that does not parse is an error.
func parseJWKS(data []byte, alg string) ([]keyEntry, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	fam := algorithms[alg].family
	var out []keyEntry
	for i, raw := range set.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, fmt.Errorf("JWKS key %d: %w", i, err)
		}
		if k.Alg != "" && k.Alg != alg || k.Use != "" && k.Use != "sig" {
			continue
		}
		var key any
		var err error
		switch {
		case k.Kty == "oct" && fam == familyHMAC:
			key, err = b64(k.K, "k")
		case k.Kty == "RSA" && fam == familyRSA:
			key, err = k.rsa()
		case k.Kty == "EC" && fam == familyEC:
			key, err = k.ec()
		case k.Kty == "OKP" && fam == familyEd25519:
			key, err = k.okp()
		default:
			continue
		}
		if err == nil {
			err = checkKey(alg, key)
		}
		if err != nil {
			return nil, fmt.Errorf("JWKS key %d (kid %q): %w", i, k.Kid, err)
		}
		out = append(out, keyEntry{kid: k.Kid, key: key})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("JWKS has no key for %s", alg)
	}
	return out, nil
}

func b64(s, field string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("%q is missing", field)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("%q: %w", field, err)
	}
	return b, nil
}

func (k *jwk) rsa() (*rsa.PublicKey, error) {
	n, err := b64(k.N, "n")
	if err != nil {
		return nil, err
	}
	e, err := b64(k.E, "e")
	if err != nil {
		return nil, err
	}
	if len(e) > 4 {
		return nil, errors.New(`"e" is too large`)
	}
	var exp int
	for _, b := range e {
		exp = exp<<8 | int(b)
	}
	if exp < 3 || exp%2 == 0 {
		return nil, fmt.Errorf(`"e" = %d is not a valid RSA exponent`, exp)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}, nil
}

func (k *jwk) ec() (*ecdsa.PublicKey, error) {
	var c elliptic.Curve
	switch k.Crv {
	case "P-256":
		c = elliptic.P256()
	case "P-384":
		c = elliptic.P384()
	case "P-521":
		c = elliptic.P521()
	default:
		return nil, fmt.Errorf("unsupported curve %q", k.Crv)
	}
	size := (c.Params().BitSize + 7) / 8
	x, err := b64(k.X, "x")
	if err != nil {
		return nil, err
	}
	y, err := b64(k.Y, "y")
	if err != nil {
		return nil, err
	}
	if len(x) != size || len(y) != size {
		return nil, fmt.Errorf("coordinates of %d and %d bytes, want %d", len(x), len(y), size)
	}
	point := append(append([]byte{4}, x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(c, point)
	if err != nil {
		return nil, fmt.Errorf("EC point: %w", err)
	}
	return pub, nil
}

func (k *jwk) okp() (ed25519.PublicKey, error) {
	if k.Crv != "Ed25519" {
		return nil, fmt.Errorf("unsupported OKP curve %q", k.Crv)
	}
	x, err := b64(k.X, "x")
	if err != nil {
		return nil, err
	}
	if len(x) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("Ed25519 key of %d bytes, want %d", len(x), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(x), nil
}
