package route

import (
	"context"
	"net/http"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/hook"
	"github.com/heraldpush/herald/internal/location"
	"github.com/heraldpush/herald/protocol/msgid"
)

// Hooks are the application hooks a location calls (see package hook);
// nil for those it does not configure.
type Hooks struct {
	// Authorize is asked before a subscriber or publisher is admitted
	// (authorize_request), by the authorization stage.
	Authorize *hook.Hook
	// Subscribe and Unsubscribe are told when a streaming subscriber
	// starts and ends (subscribe_request, unsubscribe_request).
	Subscribe, Unsubscribe *hook.Hook
	// Upstream is given each message before it is published
	// (publisher_upstream_request).
	Upstream *hook.Hook
}

func newHooks(l *config.Location) Hooks {
	return Hooks{Authorize: l.AuthorizeRequest, Subscribe: l.SubscribeRequest,
		Unsubscribe: l.UnsubscribeRequest, Upstream: l.PublisherUpstreamRequest}
}

// SubscriberType names a subscriber transport as Nchan does
// ($nchan_subscriber_type).
func SubscriberType(t config.Transport) string {
	switch t {
	case config.LongPoll:
		return "longpoll"
	case config.IntervalPoll:
		return "intervalpoll"
	case config.EventSource:
		return "eventsource"
	case config.WebSocket:
		return "websocket"
	case config.Chunked:
		return "http-chunked"
	case config.Multipart:
		return "http-multipart"
	}
	return "http-raw-stream"
}

// NchanVars returns what the location's variables are read from, with the
// request's channels and types for the Nchan variables ($nchan_channel_id,
// $nchan_subscriber_type, ...), as Nchan gives them to its hooks: the
// channel ids without their group; for a subscriber the id it asked for
// as $nchan_prev_message_id ("0:0" when it named none).
func (q *Request) NchanVars() location.Request {
	n := &location.Nchan{ChannelIDs: make([]string, 0, min(len(q.Channels), 4))}
	for _, c := range q.Channels {
		if len(n.ChannelIDs) == 4 {
			break
		}
		n.ChannelIDs = append(n.ChannelIDs, c.Key.ID)
	}
	switch q.Role {
	case Subscribe:
		n.SubscriberType = SubscriberType(q.Transport)
		n.PrevMessageID = "0:0"
		if q.Cursor.Given && len(q.Cursor.IDs) > 0 {
			n.PrevMessageID = msgid.FromCursors(q.Cursor.IDs, max(q.Cursor.Active, 0)).String()
		}
	case PublishSocket:
		n.PublisherType = "websocket"
	default:
		n.PublisherType = "http"
	}
	return location.Request{HTTP: q.HTTP, Captures: q.Captures, Nchan: n}
}

// authorizeStage asks the application (authorize_request) whether the
// request may proceed, once its channels are known. A subscriber refused
// gets the application's answer as it is; a publisher gets 403 with
// nothing of it. An application that cannot answer gives 502, or 504 when
// it is too slow.
type authorizeStage struct{}

func (authorizeStage) Name() string { return "authorize" }

func (authorizeStage) Run(ctx context.Context, q *Request) *Refusal {
	if q.Route.Hooks.Authorize.PassRequestBody && q.Role == Publish {
		// The application is to see the body: the publish handler asks it
		// once the body is read, under the body's limits (AuthorizeBody).
		return nil
	}
	return q.authorize(ctx, nil)
}

// AuthorizeBody asks authorize_request about a publish whose body the
// application is to see (pass_request_body), once the publish handler has
// read it; nil admits. It does nothing for other requests, which the
// authorization stage asked already.
func (q *Request) AuthorizeBody(ctx context.Context, body []byte) *Refusal {
	h := q.Route.Hooks.Authorize
	if h == nil || !h.PassRequestBody || q.Role != Publish {
		return nil
	}
	return q.authorize(ctx, body)
}

func (q *Request) authorize(ctx context.Context, body []byte) *Refusal {
	ok, ans, err := q.Route.Hooks.Authorize.Authorize(ctx, q.NchanVars(), body)
	if err != nil {
		rf := &Refusal{Status: hook.FailureStatus(err), Reason: "authorize", Err: err}
		if ctx.Err() != nil { // the client left: nothing to log
			rf.Err = nil
		}
		return rf
	}
	if ok {
		return nil
	}
	if q.Role != Subscribe {
		return refuse(http.StatusForbidden, "authorize", "")
	}
	if ans.Status < 200 {
		return &Refusal{Status: http.StatusBadGateway, Reason: "authorize"}
	}
	return &Refusal{Status: ans.Status, Reason: "authorize", Header: ans.RefusalHeader(), Body: ans.Body, Verbatim: true}
}
