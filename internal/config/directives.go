package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/heraldpush/herald/internal/chanevents"
	"github.com/heraldpush/herald/internal/clientaddr"
	"github.com/heraldpush/herald/internal/hook"
	"github.com/heraldpush/herald/internal/location"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/token"
)

// Publisher says which publishing protocols a location accepts.
type Publisher struct {
	HTTP      bool
	WebSocket bool
}

// Enabled reports whether the location publishes at all.
func (p Publisher) Enabled() bool { return p.HTTP || p.WebSocket }

func (p Publisher) String() string {
	var s []string
	if p.HTTP {
		s = append(s, "http")
	}
	if p.WebSocket {
		s = append(s, "websocket")
	}
	if len(s) == 0 {
		return "off"
	}
	return strings.Join(s, " ")
}

// Location is one configured endpoint. Every field is set by the directive
// of the same name in the table below (see docs/configuration.md).
type Location struct {
	Pattern location.Pattern
	Line    int // line of the location in the file; 0 for built-ins.

	Publisher           Publisher
	Subscriber          Transport
	StubStatus          bool
	Metrics             bool
	MetricsAllow        []netip.Prefix
	Health              string // "", HealthLive or HealthReady
	ChannelID           []location.Expr
	PublisherChannelID  []location.Expr
	SubscriberChannelID []location.Expr
	SplitDelimiter      string
	ChannelGroup        location.Expr
	MaxChannelIDLength  int
	// PublishBatch accepts batch publishes (publish_batch, docs/batch.md).
	PublishBatch bool

	MessageBufferLength    int
	MinMessageBufferLength int
	MessageTimeout         time.Duration
	StoreMessages          bool
	ChannelTimeout         time.Duration

	SubscriberFirstMessage        store.Start
	SubscriberTimeout             time.Duration
	SubscriberConcurrency         store.Concurrency
	SubscribeExistingChannelsOnly bool
	MaxChannelSubscribers         int
	SubscriberLastMessageID       []location.Expr
	CompoundEtagMessageID         bool
	CustomEtagHeader              string

	ClientMaxBodySize int64
	ClientBodyTimeout time.Duration
	DefaultType       string

	// Per-client limits (limit_req, limit_conn; see clientaddr.go).
	LimitReq        LimitReq
	LimitReqStatus  int
	LimitConn       int
	LimitConnStatus int
	LimitZoneSize   int

	EventSourceEvent        string
	EventSourcePingInterval time.Duration
	EventSourcePingEvent    string
	EventSourcePingData     string
	EventSourcePingComment  string
	WebSocketPingInterval   time.Duration
	WebSocketHeartbeatIn    string
	WebSocketHeartbeatOut   string
	DeflateWebSocket        bool
	DeflateLevel            int
	RawStreamSeparator      string
	LongpollMultipart       string // "off", "on" or "raw"
	AllowOrigin             []location.Expr
	AllowCredentials        bool
	SendTimeout             time.Duration

	// Application hooks (see docs/hooks.md); nil when not configured.
	AuthorizeRequest         *hook.Hook
	SubscribeRequest         *hook.Hook
	UnsubscribeRequest       *hook.Hook
	PublisherUpstreamRequest *hook.Hook

	Store          string // the engine's name; "" lets UseRedis and RedisPass decide
	UseRedis       bool
	RedisURL       string
	RedisPass      string
	RedisNamespace string

	RedisStorageMode             RedisMode
	RedisNostoreFastPublish      bool
	RedisConnectTimeout          time.Duration
	RedisPingInterval            time.Duration
	RedisIdleChannelCacheTimeout time.Duration
	RedisFollowTimeout           time.Duration
	RedisWaitForReplica          bool

	// ChannelGroupAccounting turns on the group counts and limits of the
	// location's channel group; GroupLocation makes it a group location;
	// GroupMax are the group_max_* values (empty: not set).
	ChannelGroupAccounting bool
	GroupLocation          GroupOps
	GroupMax               [NumGroupLimits]location.Expr

	// Token is the location's signed-token settings (token_*); when
	// token_alg is set, TokenVerifier is them compiled, keys loaded.
	Token         token.Settings
	TokenVerifier *token.Verifier

	// ProxyPass forwards the location's requests to an application
	// (proxy_pass); empty: none. See docs/internal-redirects.md.
	ProxyPass           location.Expr
	ProxyConnectTimeout time.Duration
	ProxyReadTimeout    time.Duration
	// Internal locations answer 404 unless reached by an internal redirect.
	Internal bool

	// Channel events and the channel listing (docs/channel-events.md).
	ChannelEventsChannelID chanevents.Template
	ChannelEventString     chanevents.Template
	ChannelEventsReceive   bool
	ChannelList            bool
	ChannelListAllow       clientaddr.Trusted

	// Dashboard makes the location Herald's dashboard (docs/dashboard.md);
	// DashboardAllow are the clients it answers.
	Dashboard      bool
	DashboardAllow clientaddr.Trusted
	// WebSocketMultiplex accepts the herald.v1 WebSocket subprotocol
	// (docs/multiplex.md).
	WebSocketMultiplex bool
	// HeraldJS serves the browser client (herald.js, herald.d.ts).
	HeraldJS bool
	// Root serves the files of a directory (index.html for a directory).
	Root string

	// PushStream is the location's nginx-push-stream-module settings
	// (push_stream_*, pushstream.go); PushStream.Enabled reports whether
	// the location speaks that protocol.
	PushStream PushStream
}

// Scope says where a directive may appear.
type Scope uint8

// Directive scopes.
const (
	// ScopeLocation directives go in a location, or at server or top level as
	// defaults for the locations below.
	ScopeLocation Scope = iota
	// ScopeGlobal directives go at the top level only.
	ScopeGlobal
	// ScopeServer directives go in a server, or at the top level as
	// defaults for every server.
	ScopeServer
	// ScopeHTTP directives go at the top level only (nginx's http block)
	// and set a location value every location shares: the
	// nginx-push-stream-module's http-level directives.
	ScopeHTTP
)

// Directive is one configuration key: the single source of truth for its
// name, aliases, default and documentation.
type Directive struct {
	Name    string
	Aliases []string
	Scope   Scope
	Default string // as written in YAML
	Doc     string
	setLoc  func(l *Location, n *yaml.Node) error
	setGlob func(c *Config, n *yaml.Node) error
	setSrv  func(s *Server, n *yaml.Node) error
}

// parsedKey sets a directive's field (a location's or the top level's)
// from its scalar value read by parse.
func parsedKey[T, V any](get func(*T) *V, parse func(string) (V, error)) func(*T, *yaml.Node) error {
	return func(t *T, n *yaml.Node) error {
		s, err := scalar(n)
		if err != nil {
			return err
		}
		v, err := parse(s)
		if err != nil {
			return nodeErr(n, "%v", err)
		}
		*get(t) = v
		return nil
	}
}

// boolKey sets an on/off directive's field.
func boolKey[T any](get func(*T) *bool) func(*T, *yaml.Node) error {
	return parsedKey(get, ParseBool)
}

func intKey(min, max int, get func(*Location) *int) func(*Location, *yaml.Node) error {
	return func(l *Location, n *yaml.Node) error {
		s, err := scalar(n)
		if err != nil {
			return err
		}
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v < min || v > max {
			return nodeErr(n, "want a whole number from %d to %d, got %q", min, max, s)
		}
		*get(l) = v
		return nil
	}
}

// sizeValue reads a size (bytes, or a number with k, M or G).
func sizeValue(n *yaml.Node) (int64, error) {
	s, err := scalar(n)
	if err != nil {
		return 0, err
	}
	v, err := ParseSize(s)
	if err != nil {
		return 0, nodeErr(n, "%v", err)
	}
	return v, nil
}

// durationKey sets a duration directive's field.
func durationKey[T any](get func(*T) *time.Duration) func(*T, *yaml.Node) error {
	return parsedKey(get, ParseDuration)
}

func templateKey(get func(*Location) *chanevents.Template) func(*Location, *yaml.Node) error {
	return func(l *Location, n *yaml.Node) error {
		s, err := scalar(n)
		if err != nil {
			return err
		}
		t, err := chanevents.CompileTemplate(s)
		if err != nil {
			return nodeErr(n, "%v", err)
		}
		*get(l) = t
		return nil
	}
}

func exprsKey(max int, split bool, get func(*Location) *[]location.Expr) func(*Location, *yaml.Node) error {
	return func(l *Location, n *yaml.Node) error {
		vals, err := scalars(n, split)
		if err != nil {
			return err
		}
		if len(vals) > max {
			return nodeErr(n, "at most %d values", max)
		}
		exprs := make([]location.Expr, 0, len(vals))
		for _, v := range vals {
			e, err := location.Compile(v)
			if err != nil {
				return nodeErr(n, "%v", err)
			}
			exprs = append(exprs, e)
		}
		*get(l) = exprs
		return nil
	}
}

func setTransports(n *yaml.Node, allowHTTP bool) (Transport, Publisher, error) {
	vals, err := scalars(n, true)
	if err != nil {
		return 0, Publisher{}, err
	}
	if len(vals) == 1 {
		if b, err := ParseBool(vals[0]); err == nil {
			if !b {
				return 0, Publisher{}, nil
			}
			return DefaultTransports, Publisher{HTTP: true, WebSocket: true}, nil
		}
		switch strings.ToLower(vals[0]) {
		case "none", "disabled":
			return 0, Publisher{}, nil
		}
	}
	var t Transport
	var p Publisher
	for _, v := range vals {
		if allowHTTP && strings.EqualFold(v, "http") {
			p.HTTP = true
			continue
		}
		tr, ok := parseTransport(v)
		if !ok {
			return 0, Publisher{}, nodeErr(n, "unknown transport %q (want websocket, eventsource, longpoll, intervalpoll, chunked, multipart-mixed or http-raw-stream)", v)
		}
		if tr == WebSocket {
			p.WebSocket = true
		}
		t |= tr
	}
	return t, p, nil
}

// transportAliasDoc lists the spellings each subscriber transport is
// accepted under, as Nchan accepts them.
func transportAliasDoc() string {
	var parts []string
	for _, tn := range transportNames {
		p := "`" + tn.names[0] + "`"
		if len(tn.names) > 1 {
			p += " (also " + "`" + strings.Join(tn.names[1:], "`, `") + "`)"
		}
		parts = append(parts, p)
	}
	return "Accepted spellings, as in Nchan: " + strings.Join(parts, "; ") + "."
}

// Directives returns every configuration key, in documentation order.
func Directives() []Directive {
	return append(append(append(coreDirectives(), clientDirectives()...), dashboardDirectives()...), pushStreamDirectives()...)
}

func coreDirectives() []Directive {
	return []Directive{
		{
			Name: "max_reserved_memory", Aliases: []string{"shared_memory_size", "push_stream_shared_memory_size"}, Scope: ScopeGlobal, Default: "128M",
			Doc: "Memory for buffered messages and channels in the memory store: each message's body (held once), its fields, and the framing cached for each transport (an EventSource event of more than 16 lines and a compressed WebSocket frame hold a copy of their own). A publish that would pass it gets 507 Insufficient Storage (500 on push-stream locations, as the module answers). A second word (the module's zone name) is accepted and ignored. An encoding is built when a subscriber first needs it, after its publish was admitted, so usage can pass the limit by those encodings until messages are dropped; publishes meanwhile get 507.",
			setGlob: func(c *Config, n *yaml.Node) error {
				words, err := scalars(n, true)
				if err != nil {
					return err
				}
				if len(words) == 0 || len(words) > 2 {
					return nodeErr(n, "want a size, and optionally a zone name")
				}
				v, err := ParseSize(words[0])
				if err != nil {
					return nodeErr(n, "%v", err)
				}
				if v < 1<<20 && v != 0 {
					return nodeErr(n, "max_reserved_memory must be at least 1M (or 0 for no limit)")
				}
				c.MaxReservedMemory = v
				return nil
			},
		},
		{
			Name: "max_body_memory", Scope: ScopeGlobal, Default: "64M",
			Doc: "Most bytes of request bodies and WebSocket messages being received at once, across the server: the bytes received so far of every publish still arriving. A body that would pass it gets 503 Service Unavailable with Retry-After and nothing is published; a WebSocket message closes its connection with 1013 (try again later). Complete messages are the store's (`max_reserved_memory`). 0: no limit.",
			setGlob: func(c *Config, n *yaml.Node) error {
				v, err := sizeValue(n)
				if err != nil {
					return err
				}
				c.MaxBodyMemory = v
				return nil
			},
		},
		{
			Name: "shutdown_timeout", Scope: ScopeGlobal, Default: "10s",
			Doc:     "On SIGTERM/SIGINT: how long to wait for open requests to finish after waiting subscribers were answered, before closing connections.",
			setGlob: durationKey(func(c *Config) *time.Duration { return &c.ShutdownTimeout }),
		},
		{
			Name: "log_level", Scope: ScopeGlobal, Default: "info",
			Doc: "Log level: debug, info, warn or error. Logs are structured (slog) on standard error.",
			setGlob: func(c *Config, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				switch strings.ToLower(s) {
				case "debug", "info", "warn", "error":
					c.LogLevel = strings.ToLower(s)
					return nil
				}
				return nodeErr(n, "log_level %q: want debug, info, warn or error", s)
			},
		},
		{
			Name: "upgrade_drain_time", Scope: ScopeGlobal, Default: "10s",
			Doc:     "After a binary upgrade (SIGUSR2), the time over which the old process ends its subscribers, each at a random moment (long-polls with their timeout answer, EventSource with a retry hint, WebSocket with close 1012), so they reconnect to the new process spread out.",
			setGlob: durationKey(func(c *Config) *time.Duration { return &c.UpgradeDrainTime }),
		},
		{
			Name: "pid_file", Scope: ScopeGlobal, Default: "",
			Doc: "A file `herald serve` writes its process id to (and removes when it stops), for `herald reload` and service managers; none by default.",
			setGlob: func(c *Config, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				c.PIDFile = s
				return nil
			},
		},
		{
			Name: "memory_trim", Scope: ScopeGlobal, Default: "on",
			Doc:     "Return memory the process no longer uses to the operating system soon after a burst (of connections, say) is over, with a full garbage collection at a quiet moment (no collection and under 5% of a core used since the check a second before), so a busy server leaves this to the runtime's gradual scavenger and its tail latency is not touched. off leaves it all to the runtime, which keeps freed pages for minutes.",
			setGlob: boolKey(func(c *Config) *bool { return &c.MemoryTrim }),
		},
		{
			Name: "fast_http1", Scope: ScopeGlobal, Default: "on",
			Doc:     "Serve plain-text HTTP/1.1 requests of the usual shape (HTTP/1.1, no body or a Content-Length one, a head under 4 KiB) with Herald's own reader and writer, which cost less per request than Go's net/http: no goroutine and no read per request unless the request waits for a message, one allocation for the request head's strings, the Date field formatted once a second. A connection that sends anything else (a chunked or 100-continue body, HTTP/1.0, h2c, a malformed request) is handed to net/http from that request on and answered exactly as net/http answers; TLS listeners are net/http's throughout. off serves everything with net/http. Read when a listener opens: a reload applies it to the listeners it opens, not to those it keeps.",
			setGlob: boolKey(func(c *Config) *bool { return &c.HTTP1Fast }),
		},
		{
			Name: "log_format", Scope: ScopeGlobal, Default: "text",
			Doc: "Log format: text or json.",
			setGlob: func(c *Config, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				switch strings.ToLower(s) {
				case "text", "json":
					c.LogFormat = strings.ToLower(s)
					return nil
				}
				return nodeErr(n, "log_format %q: want text or json", s)
			},
		},
		{
			Name: "access_log", Scope: ScopeGlobal, Default: "off",
			Doc:     "The access log: `off`, `stderr`, or a file to append to. One line per request in `access_log_format`, and one when a stream ends in `access_log_stream_format`. Lines are written by one goroutine through a buffer and never delay a request: when writing falls behind, lines are dropped and counted (`herald_access_log_dropped_total`). SIGUSR1 reopens the file (log rotation).",
			setGlob: setAccessLog,
		},
		{
			Name: "access_log_format", Scope: ScopeGlobal, Default: "combined",
			Doc:     "The format of the access log's lines, in nginx's `log_format` language; `combined` is nginx's combined format (`$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\"`). A stream's line is written when it starts (status 200, or 101 for a WebSocket). " + accessLogDoc(),
			setGlob: formatKey(func(c *Config) *string { return &c.AccessLogFormat }),
		},
		{
			Name: "access_log_stream_format", Scope: ScopeGlobal, Default: "combined $request_time $messages_sent",
			Doc:     "The format of the line written when a stream (EventSource, WebSocket, chunked, multipart, raw) ends: by default the combined format followed by the stream's duration in seconds and the number of messages it was sent; `$body_bytes_sent` is the bytes of those messages.",
			setGlob: formatKey(func(c *Config) *string { return &c.AccessLogStreamFormat }),
		},
		{
			Name: "redis_upstreams", Scope: ScopeGlobal, Default: "",
			Doc:     "Named Redis deployments for `redis_pass`: `{name: {servers: [redis://host:port, ...], cluster: true|false, namespace: \"\", password: \"\"}}`. A single server has one URL; a cluster lists seed nodes (the rest are discovered); a master watched by Redis Sentinel is `{sentinels: [redis://host:26379, ...], master_name: mymaster}`. See docs/redis.md.",
			setGlob: setRedisUpstreams,
		},
		{
			Name: "publisher", Aliases: []string{"publisher_location"}, Default: "off",
			Doc: "Makes the location a publisher: POST/PUT publish, GET shows channel info, DELETE deletes the channel. `true`, or a list of `http` and `websocket`.",
			setLoc: func(l *Location, n *yaml.Node) error {
				vals, err := scalars(n, true)
				if err != nil {
					return err
				}
				if len(vals) == 1 {
					if b, err := ParseBool(vals[0]); err == nil {
						l.Publisher = Publisher{HTTP: b, WebSocket: b}
						return nil
					}
				}
				var p Publisher
				for _, v := range vals {
					switch strings.ToLower(v) {
					case "http":
						p.HTTP = true
					case "websocket", "ws":
						p.WebSocket = true
					default:
						return nodeErr(n, "publisher %q: want true, false, or a list of http and websocket", v)
					}
				}
				l.Publisher = p
				return nil
			},
		},
		{
			Name: "subscriber", Aliases: []string{"subscriber_location"}, Default: "off",
			Doc: "Makes the location a subscriber endpoint. `true` allows websocket, eventsource, longpoll, chunked and multipart-mixed; or list the transports allowed from websocket, eventsource, longpoll, intervalpoll, chunked, multipart-mixed, http-raw-stream (`off`, `none` or `disabled`: none). " + transportAliasDoc() + " With both `longpoll` and `intervalpoll`, every plain GET is an interval-poll (it comes first in Nchan's order), so nothing long-polls there.",
			setLoc: func(l *Location, n *yaml.Node) error {
				t, _, err := setTransports(n, false)
				if err != nil {
					return err
				}
				l.Subscriber = t
				return nil
			},
		},
		{
			Name: "pubsub", Aliases: []string{"pubsub_location"}, Default: "off",
			Doc: "Publisher and subscriber in one: GET subscribes, POST/PUT publish, DELETE deletes. `true` allows http and websocket publishing and the default subscriber transports; or a list of transports plus `http`, which here means HTTP publishing (not interval-poll, as in `subscriber`), as in Nchan; the other spellings are those of `subscriber`.",
			setLoc: func(l *Location, n *yaml.Node) error {
				t, p, err := setTransports(n, true)
				if err != nil {
					return err
				}
				l.Subscriber, l.Publisher = t, p
				return nil
			},
		},
		{
			Name: "stub_status", Default: "off",
			Doc:    "Makes the location a status page: GET answers Nchan's `nchan_stub_status` text (messages, channels, subscribers, memory) plus Herald's own counters.",
			setLoc: boolKey(func(l *Location) *bool { return &l.StubStatus }),
		},
		{
			Name: "metrics", Aliases: []string{"prometheus"}, Default: "off",
			Doc:    "Makes the location a Prometheus metrics endpoint: GET answers every metric in Prometheus's text format (or, with `Accept: application/json`, the same figures as JSON). It answers only the clients `metrics_allow` lists (loopback by default), others get 403. See docs/observability.md.",
			setLoc: boolKey(func(l *Location) *bool { return &l.Metrics }),
		},
		{
			Name: "metrics_allow", Default: "loopback",
			Doc:    "The clients a `metrics` location answers: a list of addresses and networks (`10.0.0.0/8`, `::1`), `loopback` (127.0.0.0/8 and ::1) or `all`.",
			setLoc: setMetricsAllow,
		},
		{
			Name: "health", Default: "off",
			Doc:    "Makes the location a health check: `live` answers 200 while the process serves requests; `ready` answers 200 when every listener is open and every store is reachable, 503 otherwise (and while shutting down). The body says why, in JSON with `Accept: application/json`. Open to every client.",
			setLoc: setHealth,
		},
		{
			Name: "channel_id", Aliases: []string{"pubsub_channel_id"}, Default: "",
			Doc:    "Channel id, built from variables: `$1`..`$9` (location regex captures), `$arg_NAME`, `$http_NAME`, `$cookie_NAME`, `$remote_addr`, `$uri`, `$request_uri`, `$args`, `$host`. Up to 7 values (a list) for multiplexing.",
			setLoc: exprsKey(7, false, func(l *Location) *[]location.Expr { return &l.ChannelID }),
		},
		{
			Name: "publisher_channel_id", Aliases: []string{"pub_channel_id"}, Default: "",
			Doc:    "Channel id for publishing, overriding `channel_id`.",
			setLoc: exprsKey(7, false, func(l *Location) *[]location.Expr { return &l.PublisherChannelID }),
		},
		{
			Name: "subscriber_channel_id", Aliases: []string{"sub_channel_id"}, Default: "",
			Doc:    "Channel id for subscribing, overriding `channel_id`.",
			setLoc: exprsKey(7, false, func(l *Location) *[]location.Expr { return &l.SubscriberChannelID }),
		},
		{
			Name: "channel_id_split_delimiter", Default: "",
			Doc: "Splits each channel id value on this string into up to 255 channels: `/sub/a,b,c` subscribes to three channels at once (multiplexing), `/pub/a,b` publishes to both. Empty: no splitting.",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				l.SplitDelimiter = s
				return nil
			},
		},
		{
			Name: "channel_group", Default: "",
			Doc: "Namespace for channel ids (variables allowed): channel `x` in group `g` is a different channel from `x` in group `h`. A group may not contain `/` or be `m` (403).",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				e, err := location.Compile(s)
				if err != nil {
					return nodeErr(n, "%v", err)
				}
				l.ChannelGroup = e
				return nil
			},
		},
		{
			Name: "max_channel_id_length", Aliases: []string{"push_stream_max_channel_id_length"}, Default: "1024",
			Doc:    "Longest channel id accepted (before splitting); longer ids get 403 (400 on push-stream locations, as the module answers). The module's default is no limit; Herald's 1024 applies to push-stream locations too.",
			setLoc: intKey(1, 1<<20, func(l *Location) *int { return &l.MaxChannelIDLength }),
		},
		{
			Name: "message_buffer_length", Aliases: []string{"max_message_buffer_length", "message_max_buffer_length"}, Default: "10",
			Doc:    "Most messages kept per channel; the oldest is dropped beyond it. Set by the publishing location: a channel takes the settings of its latest publish.",
			setLoc: intKey(0, 1<<20, func(l *Location) *int { return &l.MessageBufferLength }),
		},
		{
			Name: "min_message_buffer_length", Default: "0",
			Doc:    "Messages kept per channel even after `message_timeout` (the Push Module's minimum buffer).",
			setLoc: intKey(0, 1<<20, func(l *Location) *int { return &l.MinMessageBufferLength }),
		},
		{
			Name: "message_timeout", Default: "1h",
			Doc:    "How long a message stays buffered; 0 keeps messages until they are pushed out by newer ones.",
			setLoc: durationKey(func(l *Location) *time.Duration { return &l.MessageTimeout }),
		},
		{
			Name: "store_messages", Default: "on",
			Doc:    "`off` keeps no message buffer (as `message_buffer_length: 0`); messages still reach subscribers that are connected or reconnect within 10 seconds.",
			setLoc: boolKey(func(l *Location) *bool { return &l.StoreMessages }),
		},
		{
			Name: "channel_timeout", Default: "1h",
			Doc:    "How long a channel with no messages and no subscribers lingers before it is forgotten (GET then answers 404).",
			setLoc: durationKey(func(l *Location) *time.Duration { return &l.ChannelTimeout }),
		},
		{
			Name: "subscriber_first_message", Default: "oldest",
			Doc: "Where a subscriber without a message id starts: `oldest` buffered message, `newest` (the next one published), `N` (the N-th from the oldest) or `-N` (the N-th from the newest), N up to 32.",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				st, err := ParseStart(s)
				if err != nil {
					return nodeErr(n, "%v", err)
				}
				l.SubscriberFirstMessage = st
				return nil
			},
		},
		{
			Name: "subscriber_timeout", Default: "0",
			Doc:    "How long a subscriber may wait for a message before it gets 408 Request Timeout; 0 waits forever.",
			setLoc: durationKey(func(l *Location) *time.Duration { return &l.SubscriberTimeout }),
		},
		{
			Name: "subscriber_concurrency", Default: "broadcast",
			Doc: "Push Module rule for several subscribers on one channel: `broadcast` (all get every message), `first` (newcomers get 409 Conflict while one waits), `last` (a newcomer evicts those waiting with 409).",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				switch strings.ToLower(s) {
				case "broadcast":
					l.SubscriberConcurrency = store.Broadcast
				case "first":
					l.SubscriberConcurrency = store.First
				case "last":
					l.SubscriberConcurrency = store.Last
				default:
					return nodeErr(n, "subscriber_concurrency %q: want broadcast, first or last", s)
				}
				return nil
			},
		},
		{
			Name: "subscribe_existing_channels_only", Aliases: []string{"authorized_channels_only", "push_stream_authorized_channels_only"}, Default: "off",
			Doc:    "Subscribers may only subscribe to channels a publisher created (by publishing or by PUT); others get 403. On push-stream locations (`push_stream_authorized_channels_only`) wildcard channels are exempt when joined alongside a normal one.",
			setLoc: boolKey(func(l *Location) *bool { return &l.SubscribeExistingChannelsOnly }),
		},
		{
			Name: "channel_group_accounting", Default: "off",
			Doc:    "Counts the channels, subscribers, buffered messages and their memory of the location's channel group (`channel_group`) and enforces its `group_max_*` limits: a publish or subscribe past one gets 403 saying which. On Redis the counts and limits are cluster-wide (every node's channels and subscribers); checking them costs a scan of the group's channels in Redis. Off: no check, nothing read (publishing pays nothing). See docs/groups.md.",
			setLoc: boolKey(func(l *Location) *bool { return &l.ChannelGroupAccounting }),
		},
		{
			Name: "group_location", Default: "off",
			Doc:    "Makes the location a group location for its `channel_group` (needs `channel_group_accounting`, else 403 `Channel group accounting is disabled.`): GET answers the group's counts and limits in text, JSON, XML or YAML by Accept, POST sets its limits from the location's `group_max_*` values and answers the same, DELETE deletes every channel of the group and answers the counts from before. `true` allows all three; or a list of `get`, `set`, `delete` (others get 403).",
			setLoc: setGroupLocation,
		},
		groupMaxDirective(GroupMaxChannels),
		groupMaxDirective(GroupMaxSubscribers),
		groupMaxDirective(GroupMaxMessages),
		groupMaxDirective(GroupMaxMessagesMemory),
		groupMaxDirective(GroupMaxMessagesDisk),
		{
			Name: "max_channel_subscribers", Aliases: []string{"max_subscribers_per_channel", "push_stream_max_subscribers_per_channel"}, Default: "0",
			Doc:    "Most subscribers a channel may have at once; more get 403. 0: no limit. (`push_stream_max_subscribers_per_channel` is the same setting.)",
			setLoc: intKey(0, 1<<30, func(l *Location) *int { return &l.MaxChannelSubscribers }),
		},
		{
			Name: "subscriber_last_message_id", Default: "$http_last_event_id $arg_last_event_id",
			Doc:    "Where a subscriber's last message id is read from when If-Modified-Since/If-None-Match carry none (a tag-only If-None-Match without If-Modified-Since carries none): the first non-empty value (url-decoded) of these, up to 5. A value without a `:` is no id and the next is tried; one with a `:` that does not parse is 400, except for EventSource subscribers, which then start at `subscriber_first_message` (docs/protocol.md).",
			setLoc: exprsKey(5, true, func(l *Location) *[]location.Expr { return &l.SubscriberLastMessageID }),
		},
		{
			Name: "subscriber_compound_etag_message_id", Default: "off",
			Doc:    "Send the whole message id (`time:tag`) in the Etag and ignore Last-Modified/If-Modified-Since, for proxies that mangle dates.",
			setLoc: boolKey(func(l *Location) *bool { return &l.CompoundEtagMessageID }),
		},
		{
			Name: "subscriber_message_id_custom_etag_header", Default: "",
			Doc: "Use this header instead of Etag for the message id (for proxies that strip Etag); requests then carry it back in the same header.",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				l.CustomEtagHeader = strings.TrimSpace(s)
				return nil
			},
		},
		{
			Name: "client_max_body_size", Default: "1M",
			Doc: "Largest message a publisher may send; larger bodies get 413 and nothing is published, larger WebSocket messages close the connection with 1009. 0: no limit for HTTP bodies (`max_body_memory` still bounds them) and 16M for WebSocket messages. WebSocket messages on locations that do not publish over WebSocket are at most 125 bytes (or the `websocket_client_heartbeat` length).",
			setLoc: func(l *Location, n *yaml.Node) error {
				v, err := sizeValue(n)
				if err != nil {
					return err
				}
				l.ClientMaxBodySize = v
				return nil
			},
		},
		{
			Name: "client_body_timeout", Default: "60s",
			Doc:    "Longest wait between two successive reads of a request body, or of the rest of a WebSocket frame or fragmented message once it has begun (as nginx's directive of that name). A publisher that sends nothing for this long gets 408 and nothing is published; a WebSocket is closed with 1008. 0: no limit.",
			setLoc: durationKey(func(l *Location) *time.Duration { return &l.ClientBodyTimeout }),
		},
		{
			Name: "default_type", Default: "",
			Doc: "Content-Type given to messages published without one (on long-poll answers) and to chunked and raw streams. Empty, the default: none, as Nchan and the Push Module deliver them (nginx's own `default_type` does not apply to Nchan's answers: it has no counterpart there).",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				l.DefaultType = s
				return nil
			},
		},
		{
			Name: "eventsource_event", Default: "",
			Doc: "EventSource `event:` name for every message sent from this location, overriding the publisher's `X-EventSource-Event`.",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				l.EventSourceEvent = s
				return nil
			},
		},
		{
			Name: "eventsource_ping_interval", Default: "0",
			Doc:    "Send an EventSource ping this often on idle streams; 0: never.",
			setLoc: durationKey(func(l *Location) *time.Duration { return &l.EventSourcePingInterval }),
		},
		{
			Name: "eventsource_ping_event", Default: "ping",
			Doc: "`event:` line of EventSource pings (empty: none).",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				l.EventSourcePingEvent = s
				return nil
			},
		},
		{
			Name: "eventsource_ping_data", Default: "",
			Doc: "`data:` line of EventSource pings (empty: none).",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				l.EventSourcePingData = s
				return nil
			},
		},
		{
			Name: "eventsource_ping_comment", Default: "",
			Doc: "Comment line (`:...`) of EventSource pings (empty: none).",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				l.EventSourcePingComment = s
				return nil
			},
		},
		{
			Name: "websocket_ping_interval", Default: "0",
			Doc:    "Send a WebSocket PING frame this often; 0: never.",
			setLoc: durationKey(func(l *Location) *time.Duration { return &l.WebSocketPingInterval }),
		},
		{
			Name: "websocket_client_heartbeat", Default: "",
			Doc: "Two words `IN OUT`: a WebSocket client text frame equal to IN is answered with a text frame OUT and not published.",
			setLoc: func(l *Location, n *yaml.Node) error {
				vals, err := scalars(n, true)
				if err != nil {
					return err
				}
				if len(vals) != 2 {
					return nodeErr(n, "want two values: the client's heartbeat and the reply")
				}
				l.WebSocketHeartbeatIn, l.WebSocketHeartbeatOut = vals[0], vals[1]
				return nil
			},
		},
		{
			Name: "deflate_message_for_websocket", Default: "off",
			Doc:    "On a publisher location: messages published here go out compressed (once each, RSV1) to every WebSocket subscriber that negotiated permessage-deflate, whatever its location; messages from other publisher locations go out uncompressed. As in Nchan, it is the publisher's setting: on a subscriber-only location it changes nothing.",
			setLoc: boolKey(func(l *Location) *bool { return &l.DeflateWebSocket }),
		},
		{
			Name: "permessage_deflate_compression_level", Default: "6",
			Doc:    "zlib level (1-9) at which a publisher location with `deflate_message_for_websocket` compresses its messages. (Nchan has one level for the whole server; here each publisher location may have its own.)",
			setLoc: intKey(1, 9, func(l *Location) *int { return &l.DeflateLevel }),
		},
		{
			Name: "subscriber_http_raw_stream_separator", Default: "\\n",
			Doc: "What follows each message on an http-raw-stream subscriber (`\\n` escapes allowed); a newline is added if missing unless it is empty.",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				s = strings.NewReplacer(`\n`, "\n", `\r`, "\r", `\t`, "\t").Replace(s)
				if s != "" && !strings.HasSuffix(s, "\n") {
					s += "\n"
				}
				l.RawStreamSeparator = s
				return nil
			},
		},
		{
			Name: "longpoll_multipart_response", Default: "off",
			Doc: "`on`: a long-poll answer carries every available message at once as multipart/mixed; `raw`: the bodies each followed by the raw-stream separator; `off`: one message per answer.",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				switch v := strings.ToLower(s); v {
				case "raw":
					l.LongpollMultipart = v
				default:
					b, err := ParseBool(v)
					if err != nil {
						return nodeErr(n, "want on, off or raw")
					}
					l.LongpollMultipart = "off"
					if b {
						l.LongpollMultipart = "on"
					}
				}
				return nil
			},
		},
		{
			Name: "access_control_allow_origin", Default: "",
			Doc:    "Origins allowed to use this location: space-separated (or a list), `*` for any; variables are evaluated for each request, so `$arg_origin` or `$http_x_allowed_origins` can choose them per request. A request whose Origin is not among them gets 403 with an empty body; an empty value allows no origin. Answers send back the request's Origin as `Access-Control-Allow-Origin`, or `*` when the value is exactly `*`. Not set: any origin, echoed back.",
			setLoc: exprsKey(64, true, func(l *Location) *[]location.Expr { return &l.AllowOrigin }),
		},
		{
			Name: "access_control_allow_credentials", Default: "on",
			Doc:    "Send `Access-Control-Allow-Credentials: true` to cross-origin requests.",
			setLoc: boolKey(func(l *Location) *bool { return &l.AllowCredentials }),
		},
		{
			Name: "store", Default: "",
			Doc: "The engine that keeps this location's channels: `memory` (this process, the default) or `redis` (shared by every Herald node on that Redis: the same as `use_redis: on`; `redis_pass` also implies it). Left empty, `use_redis` and `redis_pass` decide.",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				s = strings.ToLower(strings.TrimSpace(s))
				if s != "" && !validEngineName(s) {
					return nodeErr(n, "%q is not an engine name (memory, redis)", s)
				}
				l.Store = s
				return nil
			},
		},
		{
			Name: "use_redis", Default: "off",
			Doc:    "Keep this location's channels in Redis at `redis_url` instead of in this process's memory, so every Herald node on that Redis shares them (docs/redis.md). Memory and Redis locations can be mixed.",
			setLoc: boolKey(func(l *Location) *bool { return &l.UseRedis }),
		},
		{
			Name: "redis_url", Default: "redis://127.0.0.1:6379/0",
			Doc:    "The Redis server of `use_redis`: `redis://[user:password@]host:port[/db]`, `rediss://` for TLS, or `host:port`. Written at the top level it is every location's default.",
			setLoc: setRedisURL,
		},
		{
			Name: "redis_pass", Default: "",
			Doc: "Keep this location's channels in the `redis_upstreams` entry of this name (a server or a Redis Cluster); takes precedence over `use_redis`.",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				l.RedisPass = strings.TrimSpace(s)
				return nil
			},
		},
		{
			Name: "redis_namespace", Default: "",
			Doc: "Prefix of this location's Redis keys (overrides the upstream's `namespace`), so several Herald installations can share a Redis.",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				l.RedisNamespace = s
				return nil
			},
		},
		{
			Name: "redis_storage_mode", Default: "distributed",
			Doc: "What Redis keeps, as Nchan's: `distributed` (channels and their messages live in Redis, shared by every node), `backup` (each channel lives in this node's memory and a copy is written to Redis behind every change, read back when the node first touches a channel it does not hold, so a restarted node comes back with its channels and ids: one node per Redis and namespace, not shared with another mode), `nostore` (each node keeps its channels in its own memory; a publish is stored on its node and relayed over Redis pub/sub, with its id, to the nodes that follow the channel; Redis stores no message, only subscriber counts). See docs/redis.md, Storage modes.",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				switch m := RedisMode(strings.ToLower(strings.TrimSpace(s))); m {
				case RedisDistributed, RedisBackup, RedisNostore:
					l.RedisStorageMode = m
					return nil
				}
				return nodeErr(n, "%q: want distributed, backup or nostore", s)
			},
		},
		{
			Name: "redis_nostore_fastpublish", Default: "off",
			Doc:    "In `nostore` mode, relay a publish with a plain pub/sub `PUBLISH` instead of the script that also reads the other nodes' subscriber counts, and do not wait for Redis's answer: Redis does less per publish and the publisher's answer comes at the memory engine's speed, but its subscriber count (and so 201 or 202) knows other nodes' subscribers only as of the last count this node read, as Nchan's `nchan_redis_nostore_fastpublish`. No effect in the other modes.",
			setLoc: boolKey(func(l *Location) *bool { return &l.RedisNostoreFastPublish }),
		},
		{
			Name: "redis_connect_timeout", Default: "10s",
			Doc:    "How long connecting to a Redis server may take before the attempt fails (and is retried).",
			setLoc: durationKey(func(l *Location) *time.Duration { return &l.RedisConnectTimeout }),
		},
		{
			Name: "redis_ping_interval", Default: "1s",
			Doc:    "How often a quiet connection to Redis is pinged. A server that answers nothing for three intervals is taken for gone: its channels are followed again where the cluster (or Sentinel) now serves them. Nchan's default is 4m, a keepalive only; Herald uses it to notice a dead or hung server.",
			setLoc: durationKey(func(l *Location) *time.Duration { return &l.RedisPingInterval }),
		},
		{
			Name: "redis_idle_channel_cache_timeout", Default: "30s",
			Doc:    "How long this node keeps following a Redis channel (and its copy of the channel's messages) after its last local subscriber left.",
			setLoc: durationKey(func(l *Location) *time.Duration { return &l.RedisIdleChannelCacheTimeout }),
		},
		{
			Name: "redis_follow_timeout", Default: "15s",
			Doc:    "How long a channel may go unfollowed (its Redis server gone and no new one confirmed) before this node gives up on it: its subscribers are told (EventSource `:503:` comment, WebSocket close 1011, long-poll 503) so they resume by id, instead of waiting on a stream that no longer delivers.",
			setLoc: durationKey(func(l *Location) *time.Duration { return &l.RedisFollowTimeout }),
		},
		{
			Name: "redis_wait_for_replica", Default: "on",
			Doc:    "Acknowledge a publish (201/202) only once a replica of the channel's Redis master has the message (Redis `WAIT`), so a master that dies right after answering cannot take an acknowledged message with it; a publish no replica confirms within half a second gets 503. Masters without replicas are not waited for. `off` acknowledges as soon as the master has the message, as Nchan does.",
			setLoc: boolKey(func(l *Location) *bool { return &l.RedisWaitForReplica }),
		},
		{
			Name: "send_timeout", Default: "10s",
			Doc:    "A streaming subscriber that accepts no data while a write waits this long (at least half of it: deadlines are renewed once half spent) is too slow: it is disconnected (logged and counted) instead of holding memory or slowing others.",
			setLoc: durationKey(func(l *Location) *time.Duration { return &l.SendTimeout }),
		},
		{
			Name: "token_alg", Default: "",
			Doc: "Require a signed token (JWT) on this location, signed with this algorithm and no other (the token's own `alg` is never trusted): " + token.Algorithms + ". Subscribers need a token whose claims grant each channel they subscribe to, publishers (publish, channel info, delete) one that grants publishing; without one the answer is 401, with one that does not grant the channel 403 (docs/tokens.md). Empty or `off`: no token is needed. The key is `token_key`, `token_secret` or `token_jwks` (exactly one).",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				s = strings.TrimSpace(s)
				if b, err := ParseBool(s); err == nil && !b || s == "" {
					l.Token.Alg = ""
					return nil
				}
				l.Token.Alg = s
				return nil
			},
		},
		{
			Name: "token_key", Default: "",
			Doc: "PEM file of the key tokens are verified with: a public key (`PUBLIC KEY`, `RSA PUBLIC KEY`), a certificate, or a private key (its public half is used) for RS*, PS*, ES* and EdDSA; for HS* the file's content (less a final newline) is the secret. Read at start and again on each reload (SIGHUP), which is how keys are rotated.",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				l.Token.Key = strings.TrimSpace(s)
				return nil
			},
		},
		{
			Name: "token_secret", Default: "",
			Doc: "The HMAC secret of HS256, HS384 or HS512 tokens, written here: at least as many bytes as the hash (32, 48, 64). Prefer `token_key` with a file readable only by Herald.",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				l.Token.Secret = s
				return nil
			},
		},
		{
			Name: "token_jwks", Default: "",
			Doc: "JWK Set file (RFC 7517) of the keys tokens are verified with: the keys of `token_alg`'s type (RSA, EC, OKP Ed25519, oct) whose `alg` and `use`, when given, fit. A token's `kid` picks its key; without one every key is tried. Read at start and again on each reload (SIGHUP), which is how keys are rotated.",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				l.Token.JWKS = strings.TrimSpace(s)
				return nil
			},
		},
		{
			Name: "token_from", Default: "bearer cookie:herald_token arg:token",
			Doc: "Where a request's token is read from, first found wins: `bearer` (`Authorization: Bearer TOKEN`), `cookie:NAME`, `arg:NAME` (a query argument: what browsers' EventSource and WebSocket can send) and `header:NAME` (a header holding the token alone).",
			setLoc: func(l *Location, n *yaml.Node) error {
				vals, err := scalars(n, true)
				if err != nil {
					return err
				}
				srcs := make([]token.Source, 0, len(vals))
				for _, v := range vals {
					src, err := token.ParseSource(v)
					if err != nil {
						return nodeErr(n, "%v", err)
					}
					srcs = append(srcs, src)
				}
				l.Token.Sources = srcs
				return nil
			},
		},
		{
			Name: "token_leeway", Default: "5s",
			Doc:    "Clock difference allowed when checking a token's `exp`, `nbf` and `iat`.",
			setLoc: durationKey(func(l *Location) *time.Duration { return &l.Token.Leeway }),
		},
		{
			Name: "token_issuer", Default: "",
			Doc: "When set, a token's `iss` must be this.",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				l.Token.Issuer = s
				return nil
			},
		},
		{
			Name: "token_audience", Default: "",
			Doc: "When set, a token's `aud` must include this.",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				l.Token.Audience = s
				return nil
			},
		},
		{
			Name: "proxy_pass", Default: "",
			Doc: "Forward this location's requests to an application at this URL (`http://` or `https://`), as nginx's `proxy_pass`: method, headers, body (streamed, at most `client_max_body_size`) and a WebSocket upgrade's intent. The URL may use the location's captures `$1`..`$9` and the variables of `channel_id`; without a path the request's own path and query are sent; a literal URL with a path on a prefix location replaces the matched prefix; a URL with variables and a path is sent as is. An answer with `X-Accel-Redirect: /path[?query]` is served by the location matching that path, as if the client had asked for it (an internal redirect: WebSocket, EventSource and long-poll subscribers, publishers); any other answer is relayed as is, streamed. Application unreachable: 502; too slow: 504. See docs/internal-redirects.md.",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				s = strings.TrimSpace(s)
				if s == "" {
					l.ProxyPass = location.Expr{}
					return nil
				}
				lower := strings.ToLower(s)
				if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
					return nodeErr(n, "proxy_pass %q: want an http:// or https:// URL", s)
				}
				e, err := location.Compile(s)
				if err != nil {
					return nodeErr(n, "%v", err)
				}
				l.ProxyPass = e
				return nil
			},
		},
		{
			Name: "proxy_connect_timeout", Default: "60s",
			Doc:    "How long connecting to the `proxy_pass` application may take; longer: 504 Gateway Timeout (as nginx's directive of that name).",
			setLoc: durationKey(func(l *Location) *time.Duration { return &l.ProxyConnectTimeout }),
		},
		{
			Name: "proxy_read_timeout", Default: "60s",
			Doc:    "Longest wait for the `proxy_pass` application's answer once the request is sent, and between two reads of its body (as nginx's directive of that name). No answer in time: 504 Gateway Timeout; a body that stalls is cut off. 0: no limit.",
			setLoc: durationKey(func(l *Location) *time.Duration { return &l.ProxyReadTimeout }),
		},
		{
			Name: "websocket_multiplex", Default: "off",
			Doc:    "Accept Herald's multiplexed WebSocket protocol (subprotocol `herald.v1`, see docs/multiplex.md) on this location: one connection subscribes to and unsubscribes from any number of channels, each from its own position, and publishes to them, with every channel going through the location's checks (origin, limits, token, authorize_request, group limits) as an HTTP request naming it would. Subscribing needs the location to be a subscriber, publishing a publisher. A location with it needs no channel_id. Plain WebSocket and ws+meta.nchan connections are served as before.",
			setLoc: boolKey(func(l *Location) *bool { return &l.WebSocketMultiplex }),
		},
		{
			Name: "publish_batch", Default: "off",
			Doc:    "Accept batch publishes on this publisher location: a POST whose body is a JSON array of messages, each naming its channel (`[{\"channel\":\"a\",\"data\":\"hi\"},...]`, see docs/batch.md), answered with each message's id or the status it failed with. Each message goes through the location's checks (origin, limits, token, authorize_request, group limits) and publish path as an HTTP publish naming its channel would; client_max_body_size applies to each message. A batch holds at most 10,000 messages and 16 MiB. A location with it needs no channel_id.",
			setLoc: boolKey(func(l *Location) *bool { return &l.PublishBatch }),
		},
		{
			Name: "herald_js", Default: "off",
			Doc:    "Serve Herald's browser client from this location: a request whose path ends in `herald.js` gets the client, one ending in `herald.d.ts` its TypeScript declarations (for example `location: = /herald.js`). Goes in a location of its own.",
			setLoc: boolKey(func(l *Location) *bool { return &l.HeraldJS }),
		},
		{
			Name: "root", Default: "",
			Doc: "Serve files from this directory (relative to the working directory), as nginx's `root`: the request's whole path is looked up under it, and a directory serves its index.html; GET and HEAD only. Goes in a location of its own; meant for a small site next to Herald (the chat example), not as a web server.",
			setLoc: func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				l.Root = s
				return nil
			},
		},
		{
			Name: "internal", Default: "off",
			Doc:    "The location serves internal redirects only (an application's `X-Accel-Redirect` answer to a `proxy_pass` location); requested directly it answers 404, as nginx's `internal`.",
			setLoc: boolKey(func(l *Location) *bool { return &l.Internal }),
		},
		{
			Name: "authorize_request", Default: "",
			Doc:    "Asks the application before a subscriber or publisher is admitted: a GET to this URL (with the client's query arguments, headers and cookies; no body). A 2xx answer admits. A refused subscriber (long-poll, interval-poll, EventSource, WebSocket handshake, chunked, multipart) gets the application's status, headers and body; a refused publisher (and a channel-info GET or DELETE) gets 403 with an empty body. Application unreachable: 502; slower than the timeout: 504. Long-poll and interval-poll are asked on every request, streams once per connection. The value is a URL or a mapping `{url, timeout: 5s, headers: {Name: template}, pass_request_headers: on, pass_request_body: off}`; templates use variables such as `$nchan_channel_id`. See docs/hooks.md.",
			setLoc: hookKey("authorize_request", func(l *Location) **hook.Hook { return &l.AuthorizeRequest }),
		},
		{
			Name: "subscribe_request", Default: "",
			Doc:    "Tells the application a streaming subscriber (EventSource, WebSocket, chunked, multipart, raw stream) started: a GET to this URL, sent in the background (never delaying the subscriber), retried with backoff, dropped and counted if the queue is full. None for long-poll and interval-poll, as in Nchan. Same value forms as `authorize_request`.",
			setLoc: hookKey("subscribe_request", func(l *Location) **hook.Hook { return &l.SubscribeRequest }),
		},
		{
			Name: "unsubscribe_request", Default: "",
			Doc:    "Tells the application a streaming subscriber ended, whatever ended it (the client closed or vanished, the channel was deleted, a timeout, shutdown): a GET to this URL, in the background like `subscribe_request`. None for long-poll and interval-poll.",
			setLoc: hookKey("unsubscribe_request", func(l *Location) **hook.Hook { return &l.UnsubscribeRequest }),
		},
		{
			Name: "publisher_upstream_request", Default: "",
			Doc:    "POSTs each message (HTTP or WebSocket publisher) to the application before it is published, with its Content-Type and `X-Publisher-Type` (`http` or `websocket`). 200, 201 or 202: the application's body is published, with its Content-Type; 304: the original is published; 204: nothing is published and the publisher gets 204; any other answer: nothing is published and the publisher gets 403 (a WebSocket publisher is closed with 1008). Application unreachable or too slow: 500. Same value forms as `authorize_request`.",
			setLoc: hookKey("publisher_upstream_request", func(l *Location) **hook.Hook { return &l.PublisherUpstreamRequest }),
		},
		{
			Name: "channel_events_channel_id", Default: "",
			Doc:    "Sends this location's channel events to the channel `meta/<this value>` (group `meta`; 100 messages kept 10 s, as in Nchan): `subscriber_enqueue` when a subscriber is admitted (every transport, a poll answered at once included), `subscriber_dequeue` when it leaves for any reason, `channel_publish` when a publisher request stores its message, `channel_delete` for every DELETE (found or not). Variables as in `channel_id`, plus `$nchan_channel_event` and Nchan's variables of the request (`$nchan_channel_id`, `$nchan_subscriber_type`, ...: docs/hooks.md). Follow them with a subscriber location of `channel_group: meta`. See docs/channel-events.md.",
			setLoc: templateKey(func(l *Location) *chanevents.Template { return &l.ChannelEventsChannelID }),
		},
		{
			Name: "channel_event_string", Default: chanevents.DefaultString,
			Doc:    "The body of each channel event message: variables as in `channel_id`, plus `$nchan_channel_event` (the event's name), `$nchan_channel_id` (the request's first channel id) and Nchan's other variables of the request (`$nchan_subscriber_type`, ...: docs/hooks.md).",
			setLoc: templateKey(func(l *Location) *chanevents.Template { return &l.ChannelEventString }),
		},
		{
			Name: "channel_events_receive", Default: "off",
			Doc:    "Also send `subscriber_receive_message` (once for every message a subscriber is sent) and `subscriber_receive_status` (an answer or ending without a message: 304, 408, 409, 410, 503). Nchan names these events but never sends them, so they are off by default; on, each delivery costs a publish to the events channel.",
			setLoc: boolKey(func(l *Location) *bool { return &l.ChannelEventsReceive }),
		},
		{
			Name: "channel_list", Default: "off",
			Doc:    "Makes the location a channel listing: GET answers the channels of its store (cluster-wide on Redis) with their info, in pages: `?prefix=` keeps ids that start with it, `?group=` one group (all groups without it, unless the location sets `channel_group`), `?limit=` (100 by default, at most 1000), `?cursor=` the `next` of the page before. JSON, or text with `Accept: text/plain`. See docs/channel-events.md.",
			setLoc: boolKey(func(l *Location) *bool { return &l.ChannelList }),
		},
		{
			Name: "channel_list_allow", Default: "127.0.0.0/8 ::1/128 unix:",
			Doc: "Clients a `channel_list` location answers: addresses, CIDR prefixes and `unix:` (every client on a Unix socket listener), space-separated or a list; `all` for any. Others get 403. By default loopback and Unix socket clients only. The address is the client's as Herald finds it (docs/client-addresses.md): behind a proxy, the proxy's, unless `set_real_ip_from` trusts it.",
			setLoc: func(l *Location, n *yaml.Node) error {
				vals, err := scalars(n, true)
				if err != nil {
					return err
				}
				var out clientaddr.Trusted
				for _, v := range vals {
					if strings.EqualFold(v, "all") || strings.EqualFold(v, "any") {
						out.Prefixes = append(out.Prefixes, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"))
						out.Unix = true
						continue
					}
					t, err := clientaddr.ParseTrusted([]string{v})
					if err != nil {
						return nodeErr(n, "channel_list_allow %q: want an address, a CIDR prefix, unix: or all", v)
					}
					out.Prefixes = append(out.Prefixes, t.Prefixes...)
					out.Unix = out.Unix || t.Unix
				}
				l.ChannelListAllow = out
				return nil
			},
		},
	}
}

// validEngineName reports whether s can name a store engine: a lower-case
// letter, then letters, digits, '-' or '_'.
func validEngineName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '_'):
		default:
			return false
		}
	}
	return s != ""
}

// StoreName is the engine that keeps the location's channels: the store
// key, or "redis" when use_redis or redis_pass is set, else "memory".
func (l *Location) StoreName() string {
	switch {
	case l.Store != "":
		return l.Store
	case l.RedisPass != "" || l.UseRedis:
		return "redis"
	}
	return "memory"
}

// ParseStart parses a subscriber_first_message value.
func ParseStart(s string) (store.Start, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "oldest":
		return store.Start{Kind: store.StartOldest}, nil
	case "newest":
		return store.Start{Kind: store.StartNewest}, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < -32 || n > 32 {
		return store.Start{}, fmt.Errorf("subscriber_first_message %q: want oldest, newest, or a number from -32 to 32", s)
	}
	switch n {
	case 0:
		return store.Start{Kind: store.StartNewest}, nil
	case 1:
		return store.Start{Kind: store.StartOldest}, nil
	}
	return store.Start{Kind: store.StartNth, N: n}, nil
}

// hookKey reads an application hook: a URL, "off", or a mapping of url,
// timeout, headers, pass_request_headers and pass_request_body.
func hookKey(name string, get func(*Location) **hook.Hook) func(*Location, *yaml.Node) error {
	return func(l *Location, n *yaml.Node) error {
		c := hook.Config{Name: name}
		switch n.Kind {
		case yaml.ScalarNode:
			v := strings.TrimSpace(n.Value)
			if v == "" || strings.EqualFold(v, "off") {
				*get(l) = nil
				return nil
			}
			c.URL = v
		case yaml.MappingNode:
			if err := hookMapping(&c, n); err != nil {
				return err
			}
		default:
			return nodeErr(n, "want a URL or a mapping {url, timeout, headers, pass_request_headers, pass_request_body}")
		}
		if strings.HasPrefix(c.URL, "/") {
			return nodeErr(n, "hook url %q: Herald calls the application directly; give its full URL (http://app.example:8080%s), not an nginx location", c.URL, c.URL)
		}
		h, err := hook.Compile(c)
		if err != nil {
			return nodeErr(n, "%v", err)
		}
		*get(l) = h
		return nil
	}
}

func hookMapping(c *hook.Config, n *yaml.Node) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch strings.ToLower(k.Value) {
		case "url":
			s, err := scalar(v)
			if err != nil {
				return err
			}
			c.URL = strings.TrimSpace(s)
		case "timeout":
			s, err := scalar(v)
			if err != nil {
				return err
			}
			d, err := ParseDuration(s)
			if err != nil {
				return nodeErr(v, "%v", err)
			}
			if d <= 0 {
				return nodeErr(v, "hook timeout must be more than 0")
			}
			c.Timeout = d
		case "headers":
			if v.Kind != yaml.MappingNode {
				return nodeErr(v, "headers: want a mapping of header names to values")
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				hv, err := scalar(v.Content[j+1])
				if err != nil {
					return err
				}
				c.Headers = append(c.Headers, [2]string{v.Content[j].Value, hv})
			}
		case "pass_request_headers", "pass_request_body":
			s, err := scalar(v)
			if err != nil {
				return err
			}
			b, err := ParseBool(s)
			if err != nil {
				return nodeErr(v, "%v", err)
			}
			if strings.EqualFold(k.Value, "pass_request_body") {
				c.PassRequestBody = b
			} else {
				c.PassRequestHeaders = &b
			}
		default:
			return nodeErr(k, "unknown hook key %q (want url, timeout, headers, pass_request_headers or pass_request_body)", k.Value)
		}
	}
	if c.URL == "" {
		return nodeErr(n, "hook needs a url")
	}
	return nil
}
