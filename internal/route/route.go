// Package route turns each configured location into a route: what the
// location does, provisioned once from its configuration, and the ordered
// stages every request on it goes through before its role handler runs:
//
//	access (origin check) → client limits → channel resolution → limits → token → authorization → group limits → role
//
// Access refuses what the location never serves (a forbidden origin).
// Channel resolution evaluates the location's channel id expressions into
// channel specs: the channel's key (group and id) and, for a subscriber,
// where it starts (the message id the request carries, or the location's
// first-message rule). Limits refuse what resolved but is not allowed (an id
// too long). The token stage (only on locations with token_alg) refuses a
// request without a valid signed token granting each of its channels for
// its role. Client limits (limits.go) are nginx's limit_req and limit_conn
// per client address. Authorization (authorize_request, only where
// configured) asks the application, see hooks.go. Group limits (only with
// channel_group_accounting) refuse what a channel group may not take. The
// role handler (in package server) publishes, answers channel info,
// deletes, or serves a subscriber with the transport chosen here.
//
// A stage that authorizes (an application hook, a token) or rate-limits
// goes in this list: rate limits after access, authorization after channel
// resolution, since an authorization request names the channels
// ($nchan_channel_id). Each stage is built once, at provisioning, only when
// the location configures it, so a request pays only for what its location
// uses.
//
// A channel_list location (list.go) names no channels: its access stage
// refuses clients outside channel_list_allow before the origin check, and
// its requests go to their role from there.
//
// A multiplexed WebSocket (websocket_multiplex, mux.go) names its channels
// in frames while it is open: PrepareNamed runs each one through the same
// stages, as if an HTTP request had named it.
package route

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/heraldpush/herald/internal/chanevents"
	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/location"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

// Role is what a request asks of its location.
type Role uint8

// The roles, decided from the method and the request's headers.
const (
	// Refused: the location does not serve this request (see Classify).
	Refused Role = iota
	// Subscribe: a subscriber, served by Request.Transport.
	Subscribe
	// Publish: POST or PUT to a publisher location.
	Publish
	// Info: GET of a channel's info on a publisher location.
	Info
	// Delete: DELETE on a publisher location.
	Delete
	// PublishSocket: a WebSocket that only publishes (a publisher location
	// that accepts WebSocket publishers but no subscribers).
	PublishSocket
	// Options: a CORS preflight or OPTIONS request.
	Options
	// Status: a stub_status location.
	Status
	// GroupLocation: a request to a group location (group_location).
	GroupLocation
	// ChannelList: a channel_list location.
	ChannelList
	// Metrics: a metrics location (Prometheus).
	Metrics
	// Health: a health location (live or ready).
	Health
	// Dashboard: a request to the dashboard (dashboard.go).
	Dashboard
	// PSPublisher: any request to a push-stream publisher location
	// (pushstream.go); the handler answers each method.
	PSPublisher
	// PSSubscriber: any request to a push-stream subscriber location.
	PSSubscriber
	// PSStatistics: any request to a push-stream channel statistics
	// location.
	PSStatistics

	// NumRoles is the number of roles.
	NumRoles
)

var roleNames = [...]string{"refused", "subscribe", "publish", "info", "delete", "publish-socket", "options", "status", "group", "channel-list", "metrics", "health", "dashboard", "ps-publisher", "ps-subscriber", "ps-statistics"}

// String names the role.
func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return "unknown"
}

// Publishes reports whether the role acts as a publisher (and so resolves
// the publisher's channel ids).
func (r Role) Publishes() bool {
	return r == Publish || r == Info || r == Delete || r == PublishSocket
}

// Route is one location, provisioned once from its configuration.
type Route struct {
	// Name is the location's pattern as written, for logs and events.
	Name string
	// Line is the location's line in the configuration file (0 for the
	// built-in one).
	Line int
	// Store keeps the location's channels.
	Store store.Store

	// Status marks a stub_status location.
	Status bool
	// Metrics marks a metrics location, answering the clients of
	// MetricsAllow only.
	Metrics      bool
	MetricsAllow []netip.Prefix
	// Health is the check a health location answers: "live" or "ready";
	// "" for other locations.
	Health string
	// Allow is the Allow header: the methods the location answers.
	Allow string

	// Events is the location's channel events (channel_events_channel_id);
	// nil when it sends none.
	Events *chanevents.Events
	// List is the channel_list settings; nil for other locations.
	List *List

	Access     Access
	Channels   Channels
	IDs        IDs
	Publisher  Publisher
	Subscriber Subscriber
	Hooks      Hooks
	// Limits are the per-client limits (limits.go).
	Limits Limits

	// Group is the location's channel group accounting
	// (channel_group_accounting); nil when off.
	Group *GroupAccounting
	// GroupOps are what a group location allows (group_location); 0 for
	// other locations.
	GroupOps config.GroupOps
	// Internal: the location answers 404 unless reached by an internal
	// redirect (internal).
	Internal bool
	// Proxy, when set, forwards every request to an application instead
	// of any role (proxy_pass); see proxy.go.
	Proxy *Proxy
	// Dashboard marks a dashboard location (dashboard.go).
	Dashboard bool
	// Multiplex accepts the herald.v1 WebSocket subprotocol
	// (websocket_multiplex); see mux.go.
	Multiplex bool
	// Batch accepts batch publishes (publish_batch, docs/batch.md): a
	// POST naming its channels in its body.
	Batch bool
	// HeraldJS serves the browser client (herald_js); Root, when set,
	// serves a directory's files (root).
	HeraldJS bool
	Root     string
	// PushStream, when set, makes this a push-stream location (the
	// nginx-push-stream-module's protocol, pushstream.go); nil for Nchan
	// locations.
	PushStream *PushStream

	// stages is the pipeline: stages[:channelStages] run for every
	// request, the rest for requests that name channels.
	stages        []Stage
	channelStages int
}

// Publisher is what a location does for publishers.
type Publisher struct {
	HTTP      bool // POST/PUT/GET/DELETE over HTTP
	WebSocket bool // messages sent over a WebSocket
	// Channel is the buffer a publish through this location gives the
	// channel.
	Channel store.ChannelOptions
	// MaxBodySize caps a message (client_max_body_size); 0 is no limit.
	MaxBodySize int64
	// BodyTimeout is the longest wait between two reads of a body, or of
	// a WebSocket message once it has begun (client_body_timeout); 0
	// never times out.
	BodyTimeout time.Duration
	// EventName, when set, replaces every message's EventSource event name
	// (eventsource_event).
	EventName string
	// Deflate is the zlib level at which messages published here go out
	// to WebSocket subscribers that negotiated permessage-deflate
	// (deflate_message_for_websocket, permessage_deflate_compression_level);
	// 0: uncompressed.
	Deflate uint8
}

// Subscriber is what a location does for subscribers.
type Subscriber struct {
	Transports config.Transport
	Options    store.SubscribeOptions
	// Timeout ends a subscriber that received nothing for this long
	// (subscriber_timeout); 0 never.
	Timeout time.Duration
	// SendTimeout disconnects a streaming subscriber that accepts nothing
	// for this long.
	SendTimeout time.Duration
	// DefaultType is the Content-Type of messages published without one,
	// and of chunked and raw streams; "" (the default) sends none, as
	// Nchan does.
	DefaultType string
	// Multipart is longpoll_multipart_response: "off", "on" or "raw".
	Multipart string
	// RawSeparator follows each message of a raw stream.
	RawSeparator string

	EventSource EventSource
	WebSocket   WebSocket
}

// EventSource is a location's EventSource settings.
type EventSource struct {
	// Event, when set, names every event (eventsource_event).
	Event string
	// Ping is the keep-alive interval; 0 sends none.
	Ping time.Duration
	// PingComment, PingEvent and PingData make up the keep-alive.
	PingComment, PingEvent, PingData string
}

// WebSocket is a location's WebSocket settings.
type WebSocket struct {
	// Ping is the interval of server pings; 0 sends none.
	Ping time.Duration
	// HeartbeatIn is a client message answered with HeartbeatOut instead of
	// being published (websocket_client_heartbeat).
	HeartbeatIn, HeartbeatOut string
}

// Provision builds the route of a location whose channels live in st.
func Provision(l *config.Location, st store.Store) *Route {
	rt := &Route{
		Name:   l.Pattern.String(),
		Line:   l.Line,
		Store:  st,
		Status: l.StubStatus,
		Access: newAccess(l),
		IDs:    newIDs(l),
	}
	rt.Channels = newChannels(l)
	rt.Internal = l.Internal
	rt.Proxy = newProxy(l)
	rt.Multiplex, rt.HeraldJS, rt.Root = l.WebSocketMultiplex, l.HeraldJS, l.Root
	rt.Batch = l.PublishBatch
	rt.Hooks = newHooks(l)
	rt.Events = chanevents.New(l.ChannelEventsChannelID, l.ChannelEventString, l.ChannelEventsReceive)
	if l.ChannelList {
		rt.List = &List{Allow: l.ChannelListAllow}
		rt.Allow = "GET, OPTIONS"
	}
	rt.Publisher = Publisher{
		HTTP:      l.Publisher.HTTP,
		WebSocket: l.Publisher.WebSocket,
		Channel: store.ChannelOptions{
			BufferLength:    l.BufferLength(),
			MinBufferLength: l.MinMessageBufferLength,
			MessageTimeout:  l.MessageTimeout,
			ChannelTimeout:  l.ChannelTimeout,
		},
		MaxBodySize: l.ClientMaxBodySize,
		BodyTimeout: l.ClientBodyTimeout,
		EventName:   l.EventSourceEvent,
	}
	if l.DeflateWebSocket {
		rt.Publisher.Deflate = uint8(l.DeflateLevel)
	}
	rt.Subscriber = Subscriber{
		Transports: l.Subscriber & implemented,
		Options: store.SubscribeOptions{
			ExistingOnly:   l.SubscribeExistingChannelsOnly,
			MaxSubscribers: l.MaxChannelSubscribers,
			Concurrency:    l.SubscriberConcurrency,
			ChannelTimeout: l.ChannelTimeout,
		},
		Timeout:      l.SubscriberTimeout,
		SendTimeout:  l.SendTimeout,
		DefaultType:  l.DefaultType,
		Multipart:    l.LongpollMultipart,
		RawSeparator: l.RawStreamSeparator,
		EventSource: EventSource{
			Event:       l.EventSourceEvent,
			Ping:        l.EventSourcePingInterval,
			PingComment: l.EventSourcePingComment,
			PingEvent:   l.EventSourcePingEvent,
			PingData:    l.EventSourcePingData,
		},
		WebSocket: WebSocket{
			Ping:         l.WebSocketPingInterval,
			HeartbeatIn:  l.WebSocketHeartbeatIn,
			HeartbeatOut: l.WebSocketHeartbeatOut,
		},
	}
	if l.Publisher.HTTP && rt.List == nil {
		rt.Allow = "GET, POST, PUT, DELETE, OPTIONS"
	} else {
		rt.Allow = "GET, OPTIONS"
	}
	rt.Group = newGroupAccounting(l, st)
	rt.GroupOps = l.GroupLocation
	if rt.GroupOps != 0 {
		rt.Allow = "GET, POST, DELETE"
	}
	if rt.List != nil {
		rt.stages = append(rt.stages, listAccessStage{})
	}
	if l.Dashboard {
		rt.Dashboard = true
		rt.stages = append(rt.stages, dashboardStage{allow: l.DashboardAllow})
	}
	// A status page or a dashboard answers other origins only where
	// access_control_allow_origin names them: a web page the operator
	// visits must not read it through the operator's browser.
	if !rt.Status && !rt.Dashboard || len(rt.Access.Origins) > 0 {
		rt.stages = append(rt.stages, originStage{})
	}
	rt.Metrics, rt.MetricsAllow, rt.Health = l.Metrics, l.MetricsAllow, l.Health
	if rt.Metrics {
		rt.stages = append(rt.stages, metricsAllowStage{})
	}
	if rt.PushStream = newPushStream(l); rt.PushStream != nil {
		// The module's CORS (push_stream_allowed_origins) refuses no
		// origin: its handlers set the headers. Channels resolve in the
		// handlers, with the module's grammar.
		rt.stages = rt.stages[:0]
		limits, limitStages := newLimits(l)
		rt.Limits = limits
		rt.stages = append(rt.stages, limitStages...)
		rt.channelStages = len(rt.stages)
		rt.Allow = "GET, POST, PUT, DELETE, OPTIONS"
		// The one publish path (server.publish) publishes with these.
		rt.Publisher.Channel = rt.PushStream.Channel
		return rt
	}
	limits, limitStages := newLimits(l)
	rt.Limits = limits
	rt.stages = append(rt.stages, limitStages...)
	rt.channelStages = len(rt.stages)
	rt.stages = append(rt.stages, resolveStage{}, limitStage{})
	if l.TokenVerifier != nil {
		rt.stages = append(rt.stages, newTokenStage(l.TokenVerifier))
		rt.Access.tokenHeaders = tokenHeaders(l.TokenVerifier)
	}
	if rt.Hooks.Authorize != nil {
		rt.stages = append(rt.stages, authorizeStage{})
	}
	if rt.Group != nil { // after authorization: only authorized requests set limits
		rt.stages = append(rt.stages, groupStage{})
	}
	return rt
}

// Request is one request on its way through a route.
type Request struct {
	HTTP     *http.Request
	Route    *Route
	Captures []string
	Role     Role
	// Transport serves a Subscribe request.
	Transport config.Transport
	// Channels are the channels the request names, resolved by the
	// channel resolution stage.
	Channels []ChannelSpec
	// Cursor is the message id a subscriber request carries, resolved
	// with the channels (and copied into them).
	Cursor Cursor
	// Publish are the channels a WebSocket subscriber on a pubsub location
	// publishes to.
	Publish []store.ChannelKey
	// Token, when set, is the signed token the request carries in place of
	// those the location reads from HTTP (a multiplexed WebSocket frame's).
	Token string

	// allowOrigin is what the answers to a cross-origin request send as
	// Access-Control-Allow-Origin; "" for a request without an Origin.
	allowOrigin string

	values []string // the channel id expressions' values, before splitting

	// one holds the channel of a request that names one (Named) or whose
	// channel id resolves to one: values, Channels and the cursor's IDs
	// point into it, so resolving it does not allocate them apart from
	// the request.
	one struct {
		value [1]string
		spec  [1]ChannelSpec
		id    [1]msgid.ID
		key   [1]store.ChannelKey
	}

	// idVals backs the values of the id fields on a poll answer
	// (SetIDHeaders).
	idVals [3]string

	// onDone releases what stages hold for the request's life (Done).
	onDone []func()
}

// SetIDHeaders writes, on a poll answer to q with status, the id m the
// subscriber sends back for the next message (IDs.SetHeaders), with values
// kept in q.
func (q *Request) SetIDHeaders(hd http.Header, m msgid.Multi, status int) {
	q.Route.IDs.SetHeaders(hd, m, status, &q.idVals)
}

// Vars returns what the location's variables are read from.
func (q *Request) Vars() location.Request {
	return location.Request{HTTP: q.HTTP, Captures: q.Captures}
}

// Keys returns the store keys of the request's channels.
func (q *Request) Keys() []store.ChannelKey {
	keys := make([]store.ChannelKey, len(q.Channels))
	for i, c := range q.Channels {
		keys[i] = c.Key
	}
	return keys
}

// Refusal ends a request before its role handler: the answer to give and
// why, for logs and events.
type Refusal struct {
	Status  int
	Message string // the plain-text body; "" for none
	// Reason is a short name of what refused it ("origin", "channel id",
	// "limit", ...).
	Reason string
	// Header holds headers to add to the answer.
	Header http.Header
	// Raw sends Message as the whole body, as Nchan sends its own
	// messages: Content-Type text/plain, no newline added.
	Raw bool
	// Verbatim answers with Header and Body as they are (an application's
	// refusal) instead of a plain-text Message.
	Verbatim bool
	Body     []byte
	// Err is what failed, for the log, when the refusal comes from an
	// error (an application hook that could not be reached).
	Err error
}

// Error implements error.
func (r *Refusal) Error() string {
	if r.Message != "" {
		return r.Reason + ": " + r.Message
	}
	return r.Reason + ": " + http.StatusText(r.Status)
}

func refuse(status int, reason, msg string) *Refusal {
	return &Refusal{Status: status, Reason: reason, Message: msg}
}

// A Stage is one step of a route's pipeline. Run refuses the request, or
// returns nil to let the next stage (and finally the role handler) have it.
type Stage interface {
	// Name names the stage in logs.
	Name() string
	Run(ctx context.Context, q *Request) *Refusal
}

// Stages returns the route's pipeline, in order.
func (rt *Route) Stages() []Stage { return rt.stages }

// Guard runs only the stages that guard the location for every request
// (the origin check, per-client limits), without classifying the request
// or resolving channels: what a proxy_pass location runs before it
// forwards the request. The caller calls Done on the request when it ends.
func (rt *Route) Guard(ctx context.Context, r *http.Request, captures []string) (*Request, *Refusal) {
	q := &Request{HTTP: r, Route: rt, Captures: captures}
	for _, st := range rt.stages[:rt.channelStages] {
		if rf := st.Run(ctx, q); rf != nil {
			return q, rf
		}
	}
	return q, nil
}

// Prepare classifies a request on the route and runs it through the
// stages: those that guard the location for every request, then, for a
// request the location serves and that names channels, the channel stages.
// On success the request is ready for its role handler; otherwise the
// refusal says how to answer.
func (rt *Route) Prepare(ctx context.Context, r *http.Request, captures []string) (*Request, *Refusal) {
	q := &Request{HTTP: r, Route: rt, Captures: captures}
	q.Role, q.Transport = rt.classify(r)
	for _, st := range rt.stages[:rt.channelStages] {
		if rf := st.Run(ctx, q); rf != nil {
			return q, rf
		}
	}
	switch q.Role {
	case Refused:
		if !knownMethod(r.Method) || rt.List != nil {
			return q, &Refusal{Status: http.StatusMethodNotAllowed, Reason: "method",
				Message: "Method not allowed: use " + rt.Allow + ".", Header: http.Header{"Allow": {rt.Allow}}}
		}
		if r.Method != http.MethodGet {
			return q, refuse(http.StatusForbidden, "role", "Publishing is not allowed here.")
		}
		return q, refuse(http.StatusForbidden, "role", "This location does not allow that kind of subscriber.")
	case Status, Options, GroupLocation, ChannelList, Metrics, Health, Dashboard, PSPublisher, PSSubscriber, PSStatistics:
		return q, nil
	}
	for _, st := range rt.stages[rt.channelStages:] {
		if rf := st.Run(ctx, q); rf != nil {
			return q, rf
		}
	}
	return q, nil
}

func knownMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// classify decides a request's role and, for a subscriber, its transport.
func (rt *Route) classify(r *http.Request) (Role, config.Transport) {
	if rt.PushStream != nil {
		return rt.PushStream.role(), 0
	}
	if rt.Status {
		return Status, 0
	}
	if rt.Metrics {
		return Metrics, 0
	}
	if rt.Health != "" {
		return Health, 0
	}
	if rt.Dashboard {
		return Dashboard, 0
	}
	if rt.GroupOps != 0 {
		if r.Method == http.MethodOptions {
			return Options, 0
		}
		return GroupLocation, 0
	}
	if rt.List != nil {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return ChannelList, 0
		}
		if r.Method == http.MethodOptions {
			return Options, 0
		}
		return Refused, 0
	}
	switch r.Method {
	case http.MethodGet:
		upgrade := IsWebSocketUpgrade(r)
		if t := SelectTransport(r, rt.Subscriber.Transports); t != 0 {
			return Subscribe, t
		}
		if rt.Publisher.WebSocket && upgrade {
			return PublishSocket, 0
		}
		if rt.Publisher.HTTP && !upgrade {
			return Info, 0
		}
	case http.MethodPost, http.MethodPut:
		if rt.Publisher.HTTP {
			return Publish, 0
		}
	case http.MethodDelete:
		if rt.Publisher.HTTP {
			return Delete, 0
		}
	case http.MethodOptions:
		return Options, 0
	}
	return Refused, 0
}

// headerContains reports whether any value of header name contains sub,
// case-insensitively.
func headerContains(h http.Header, name, sub string) bool {
	for _, v := range h.Values(name) {
		if strings.Contains(strings.ToLower(v), sub) {
			return true
		}
	}
	return false
}
