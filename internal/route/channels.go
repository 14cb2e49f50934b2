package route

import (
	"context"
	"net/http"
	"strings"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/location"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

// ChannelSpec is one channel a request names.
type ChannelSpec struct {
	Key store.ChannelKey
	// Cursor is, for a subscriber that named a position (Given), the id of
	// the last message it has from this channel; the zero id means before
	// the oldest buffered message.
	Cursor msgid.ID
	Given  bool
	// Start is where a subscriber that named no position begins.
	Start store.Start
}

// Channels is how a location names its channels: id expressions for
// subscribers and for publishers, the split delimiter, the group, and the
// limits.
type Channels struct {
	Subscriber []location.Expr
	Publisher  []location.Expr
	Group      location.Expr
	Delimiter  string
	MaxIDLen   int
	First      store.Start
}

func newChannels(l *config.Location) Channels {
	c := Channels{
		Subscriber: l.ChannelID,
		Publisher:  l.ChannelID,
		Group:      l.ChannelGroup,
		Delimiter:  l.SplitDelimiter,
		MaxIDLen:   l.MaxChannelIDLength,
		First:      l.SubscriberFirstMessage,
	}
	if len(l.SubscriberChannelID) > 0 {
		c.Subscriber = l.SubscriberChannelID
	}
	if len(l.PublisherChannelID) > 0 {
		c.Publisher = l.PublisherChannelID
	}
	return c
}

// Resolve evaluates the subscriber's (or, with publisher set, the
// publisher's) channel ids for a request: the channels' keys and the
// values the expressions gave, before splitting, appended to keys and
// values.
func (c *Channels) Resolve(vars location.Request, publisher bool, keys []store.ChannelKey, values []string) ([]store.ChannelKey, []string, *Refusal) {
	exprs := c.Subscriber
	if publisher {
		exprs = c.Publisher
	}
	group := c.Group.Eval(vars)
	if group == "m" || strings.Contains(group, "/") {
		return nil, nil, refuse(http.StatusForbidden, "channel group", "Invalid channel group.")
	}
	for _, e := range exprs {
		v := e.Eval(vars)
		values = append(values, v)
		if c.Delimiter == "" {
			keys = append(keys, store.ChannelKey{Group: group, ID: v})
			continue
		}
		for {
			part, rest, more := strings.Cut(v, c.Delimiter)
			keys = append(keys, store.ChannelKey{Group: group, ID: part})
			if len(keys) > msgid.MaxChannels {
				return nil, values, tooManyChannels()
			}
			if !more {
				break
			}
			v = rest
		}
	}
	if len(keys) > msgid.MaxChannels {
		return nil, values, tooManyChannels()
	}
	for _, k := range keys {
		if k.ID == "" {
			return nil, values, refuse(http.StatusNotFound, "channel id", "No channel id provided.")
		}
	}
	if len(keys) == 0 {
		return nil, values, refuse(http.StatusNotFound, "channel id", "No channel id provided.")
	}
	return keys, values, nil
}

func tooManyChannels() *Refusal {
	return refuse(http.StatusForbidden, "limit", "Too many channels (at most 255).")
}

// resolveStage resolves the request's channels into specs and, for a
// subscriber, where it starts.
type resolveStage struct{}

func (resolveStage) Name() string { return "channels" }

func (resolveStage) Run(_ context.Context, q *Request) *Refusal {
	rt := q.Route
	vars := q.Vars()
	keys, values, rf := rt.Channels.Resolve(vars, q.Role.Publishes(), q.one.key[:0], q.one.value[:0])
	q.values = values
	if rf != nil {
		return rf
	}
	if len(keys) == 1 {
		q.Channels = q.one.spec[:]
	} else {
		q.Channels = make([]ChannelSpec, len(keys))
	}
	for i, k := range keys {
		q.Channels[i] = ChannelSpec{Key: k, Start: rt.Channels.First}
	}
	if q.Role != Subscribe {
		return nil
	}
	cur, rf := rt.IDs.parse(q.HTTP, vars, len(keys), q.Transport == config.EventSource, q.one.id[:0])
	if rf != nil {
		return rf
	}
	q.Cursor = cur
	if cur.Given {
		for i := range q.Channels {
			q.Channels[i].Cursor, q.Channels[i].Given = cur.IDs[i], true
		}
	}
	if q.Transport == config.WebSocket && rt.Publisher.WebSocket {
		// A WebSocket on a pubsub location also publishes what it sends,
		// to the publisher's channels; if they do not resolve, it only
		// subscribes.
		q.Publish, _, _ = rt.Channels.Resolve(vars, true, nil, nil)
	}
	return nil
}

// limitStage refuses channels the location's limits do not allow.
type limitStage struct{}

func (limitStage) Name() string { return "limits" }

func (limitStage) Run(_ context.Context, q *Request) *Refusal {
	for _, v := range q.values {
		if len(v) > q.Route.Channels.MaxIDLen {
			return refuse(http.StatusForbidden, "limit", "Channel id is too long (max_channel_id_length).")
		}
	}
	return nil
}
