package route

import (
	"context"
	"net/http"
	"strings"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

// Named is a channel a frame of a multiplexed WebSocket (websocket_multiplex,
// docs/multiplex.md) names: its id as an HTTP request on the location
// would name it after its channel id expressions (one channel: never
// split), the signed token the frame carries ("" for the handshake's), and
// for a subscription where it starts.
type Named struct {
	ID    string
	Token string
	// Cursor and Given: the subscriber's position, a message id of this
	// channel; without one, Start (or, when StartSet is false, the
	// location's subscriber_first_message).
	Cursor   msgid.ID
	Given    bool
	Start    store.Start
	StartSet bool
}

// PrepareNamed runs one channel named by a frame of a multiplexed
// WebSocket through the route's stages, as if an HTTP request had named
// it: a subscriber (role Subscribe, over WebSocket) or a WebSocket
// publisher (role PublishSocket). Every stage runs, in order, against the
// handshake request hs (its headers, cookies, arguments and captures are
// what the location's variables and hooks read): the origin check, the
// per-client limits (limit_req counts each frame; limit_conn holds a slot
// per subscription, released with Done or Detach), the channel in the
// location's group with its limits, the token (the frame's, or else the
// handshake's), authorize_request, and group limits. The caller calls
// Done on the request (or Detach) when it ends.
func (rt *Route) PrepareNamed(ctx context.Context, hs *http.Request, captures []string, role Role, n Named) (*Request, *Refusal) {
	q := &Request{HTTP: hs, Route: rt, Captures: captures, Role: role, Token: n.Token}
	if role == Subscribe {
		q.Transport = config.WebSocket
	}
	for _, st := range rt.stages {
		if _, ok := st.(resolveStage); ok {
			if rf := q.resolveNamed(n); rf != nil {
				return q, rf
			}
			continue
		}
		if rf := st.Run(ctx, q); rf != nil {
			return q, rf
		}
	}
	return q, nil
}

// resolveNamed is the channel resolution stage for a named channel: the
// channel in the location's group, and a subscriber's position.
func (q *Request) resolveNamed(n Named) *Refusal {
	c := &q.Route.Channels
	group := c.Group.Eval(q.Vars())
	if group == "m" || strings.Contains(group, "/") {
		return refuse(http.StatusForbidden, "channel group", "Invalid channel group.")
	}
	if n.ID == "" {
		return refuse(http.StatusNotFound, "channel id", "No channel id provided.")
	}
	one := &q.one
	one.value[0] = n.ID
	q.values = one.value[:]
	spec := ChannelSpec{Key: store.ChannelKey{Group: group, ID: n.ID}, Start: c.First}
	if n.StartSet {
		spec.Start = n.Start
	}
	one.id[0] = msgid.ID{}
	q.Cursor = Cursor{IDs: one.id[:], Active: -1}
	if n.Given {
		spec.Cursor, spec.Given = n.Cursor, true
		one.id[0] = n.Cursor
		q.Cursor = Cursor{IDs: one.id[:], Active: 0, Given: true}
	}
	one.spec[0] = spec
	q.Channels = one.spec[:]
	return nil
}
