package route

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/heraldpush/herald/internal/token"
)

// tokenStage requires a signed token that grants each channel the request
// names, for the request's role: subscribing for a subscriber, publishing
// for a publisher (publish, channel info, delete, a publishing WebSocket).
// It runs after channel resolution, so it checks the channels as resolved
// (split, in their group). A missing, malformed, forged, expired or
// wrongly signed token is 401; a valid one that does not grant a channel
// is 403. A WebSocket subscriber on a pubsub location whose token grants
// subscribing but not publishing is served as a subscriber only.
type tokenStage struct {
	v *token.Verifier
	// missing is the body of the 401 for a request without a token.
	missing string
}

func newTokenStage(v *token.Verifier) tokenStage {
	var where []string
	for _, s := range v.Sources() {
		switch s.Kind {
		case token.Bearer:
			where = append(where, "an Authorization: Bearer header")
		case token.Header:
			where = append(where, "the "+s.Name+" header")
		case token.Cookie:
			where = append(where, "the "+s.Name+" cookie")
		case token.Arg:
			where = append(where, "the "+s.Name+" query argument")
		}
	}
	return tokenStage{v: v, missing: "A token is required: send it in " + strings.Join(where, ", or ") + "."}
}

// tokenHeaders lists the request headers the verifier reads tokens from,
// for a preflight's Access-Control-Allow-Headers.
func tokenHeaders(v *token.Verifier) string {
	var hs []string
	for _, s := range v.Sources() {
		switch s.Kind {
		case token.Bearer:
			hs = append(hs, "Authorization")
		case token.Header:
			hs = append(hs, s.Name)
		}
	}
	return strings.Join(hs, ", ")
}

func (tokenStage) Name() string { return "token" }

func (s tokenStage) Run(_ context.Context, q *Request) *Refusal {
	raw, ok := q.Token, q.Token != ""
	if !ok {
		raw, ok = s.v.Extract(q.HTTP)
	}
	if !ok {
		return &Refusal{Status: http.StatusUnauthorized, Reason: "token", Message: s.missing,
			Header: http.Header{"Www-Authenticate": {`Bearer realm="herald"`}}}
	}
	claims, err := s.v.Verify(raw)
	if err != nil {
		desc := "the token is invalid"
		if te, ok := err.(*token.Error); ok {
			desc = te.Description
		}
		return &Refusal{Status: http.StatusUnauthorized, Reason: "token", Message: "Invalid token: " + desc + ".",
			Header: http.Header{"Www-Authenticate": {`Bearer realm="herald", error="invalid_token", error_description="` + headerSafe(desc) + `"`}}}
	}
	publish := q.Role.Publishes()
	for _, c := range q.Channels {
		if !claims.Allows(publish, c.Key.Group, c.Key.ID) {
			verb := "subscribing to"
			if publish {
				verb = "publishing to"
			}
			return &Refusal{Status: http.StatusForbidden, Reason: "token", Message: fmt.Sprintf("The token does not allow %s channel %q.", verb, c.Key.ID),
				Header: http.Header{"Www-Authenticate": {`Bearer realm="herald", error="insufficient_scope", error_description="the token does not allow ` + verb + ` this channel"`}}}
		}
	}
	for _, k := range q.Publish {
		if !claims.Allows(true, k.Group, k.ID) {
			q.Publish = nil // subscribes only
			break
		}
	}
	return nil
}

// headerSafe replaces what cannot go in a quoted string of a header.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r >= 0x7f || r == '"' || r == '\\' {
			return '\''
		}
		return r
	}, s)
}
