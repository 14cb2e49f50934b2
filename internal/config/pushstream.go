package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/heraldpush/herald/internal/location"
)

// PSPublisher is a push-stream publisher location's mode
// (push_stream_publisher).
type PSPublisher uint8

// The push-stream publisher modes.
const (
	// PSNoPublisher: the location is no push-stream publisher.
	PSNoPublisher PSPublisher = iota
	// PSNormal: GET answers channel statistics, POST and PUT publish;
	// DELETE is refused.
	PSNormal
	// PSAdmin: as PSNormal, and DELETE deletes channels.
	PSAdmin
)

// String names the mode as the directive writes it.
func (p PSPublisher) String() string {
	switch p {
	case PSNormal:
		return "normal"
	case PSAdmin:
		return "admin"
	}
	return "off"
}

// PSSubscriber is a push-stream subscriber location's mode
// (push_stream_subscriber).
type PSSubscriber uint8

// The push-stream subscriber modes.
const (
	// PSNoSubscriber: the location is no push-stream subscriber.
	PSNoSubscriber PSSubscriber = iota
	// PSStreaming: one long response, messages written as they come
	// (chunked), between the header and footer templates.
	PSStreaming
	// PSPolling: answers at once with what is newer than the client's
	// position, 304 when nothing is.
	PSPolling
	// PSLongPolling: waits for the next message when nothing is newer.
	PSLongPolling
	// PSEventSource: an EventSource (text/event-stream) stream.
	PSEventSource
	// PSWebSocket: a WebSocket; with websocket_allow_publish it also
	// publishes what the client sends.
	PSWebSocket
)

var psSubscriberNames = [...]string{"off", "streaming", "polling", "long-polling", "eventsource", "websocket"}

// String names the mode as the directive writes it.
func (s PSSubscriber) String() string {
	if int(s) < len(psSubscriberNames) {
		return psSubscriberNames[s]
	}
	return "unknown"
}

// PSPadding is one entry of push_stream_padding_by_user_agent: clients
// whose User-Agent matches UserAgent get the header padded to at least
// HeaderMin bytes and each message to at least MessageMin bytes.
type PSPadding struct {
	UserAgent  *regexp.Regexp
	HeaderMin  int
	MessageMin int
}

// PushStream is a location's nginx-push-stream-module settings (the
// push_stream_* directives, accepted with or without the prefix). A
// location speaks the push-stream protocol when one of Publisher,
// Subscriber and Statistics is set (Enabled); the other fields then say
// how. Fields that only the module's http block may set (HTTP-level,
// config scope ScopeHTTP) hold the same value in every location.
type PushStream struct {
	// Publisher makes the location a push-stream publisher
	// (push_stream_publisher); PSNoPublisher for others.
	Publisher PSPublisher
	// Subscriber makes the location a push-stream subscriber
	// (push_stream_subscriber); PSNoSubscriber for others.
	Subscriber PSSubscriber
	// Statistics makes the location a channel statistics endpoint
	// (push_stream_channels_statistics).
	Statistics bool

	// ChannelsPath is the expression the request's channels are read
	// from (push_stream_channels_path): for a publisher "a" or "a/b"
	// (several channels), for statistics also "ALL" or "prefix*", and for
	// a subscriber the module's path grammar ("/a.b3/b", backtracks).
	ChannelsPath location.Expr
	// StoreMessages keeps published messages for later subscribers
	// (push_stream_store_messages; off by default, unlike Nchan's
	// store_messages).
	StoreMessages bool
	// ChannelInfoOnPublish answers a publish with the channel's info
	// (push_stream_channel_info_on_publish, on by default); off, the
	// answer has an empty body.
	ChannelInfoOnPublish bool
	// AuthorizedChannelsOnly is push_stream_authorized_channels_only;
	// it is the same setting as Location.SubscribeExistingChannelsOnly
	// (kept in both).

	// HeaderTemplate, MessageTemplate and FooterTemplate are what a
	// subscriber is sent first, for each message, and last
	// (push_stream_header_template, ..._file). MessageTemplate's
	// placeholders are ~id~ ~text~ ~size~ ~channel~ ~time~ ~tag~
	// ~event-id~ ~event-type~; default "~text~". The templates are as
	// written: the subscriber side adapts them to its mode (EventSource
	// prefixes, WebSocket frames).
	HeaderTemplate  string
	MessageTemplate string
	FooterTemplate  string
	// WildcardChannelMaxQtd is the most wildcard channels one subscriber
	// may join (push_stream_wildcard_channel_max_qtd); 0 when unset, in
	// which case MaxNumberOfWildcardChannels applies.
	WildcardChannelMaxQtd int
	// PingMessageInterval is how often a subscriber is sent a ping when
	// idle (push_stream_ping_message_interval); 0: never.
	PingMessageInterval time.Duration
	// SubscriberConnectionTTL ends a subscriber's connection after this
	// long (push_stream_subscriber_connection_ttl); 0: never.
	SubscriberConnectionTTL time.Duration
	// LongPollingConnectionTTL ends a waiting long-poll after this long
	// (push_stream_longpolling_connection_ttl); 0: SubscriberConnectionTTL
	// applies (see LongPollTTL).
	LongPollingConnectionTTL time.Duration
	// WebSocketAllowPublish publishes what a WebSocket subscriber sends to
	// its channels (push_stream_websocket_allow_publish).
	WebSocketAllowPublish bool
	// LastReceivedMessageTime, LastReceivedMessageTag and LastEventID are
	// expressions (such as $arg_time) read in place of If-Modified-Since,
	// If-None-Match and Last-Event-ID when set
	// (push_stream_last_received_message_time, ..._tag,
	// push_stream_last_event_id); empty: the headers are read.
	LastReceivedMessageTime location.Expr
	LastReceivedMessageTag  location.Expr
	LastEventID             location.Expr
	// UserAgent is the expression the padding rules match
	// (push_stream_user_agent); empty: the User-Agent header.
	UserAgent location.Expr
	// PaddingByUserAgent is push_stream_padding_by_user_agent as written;
	// Paddings its parsed entries, in order (the first that matches
	// applies).
	PaddingByUserAgent string
	Paddings           []PSPadding
	// AllowedOrigins is push_stream_allowed_origins: when set, answers
	// carry Access-Control-Allow-Origin with its value and the
	// Access-Control-Allow-Methods and -Headers of the location's role.
	// Requests from other origins are not refused (the module's CORS is
	// advisory).
	AllowedOrigins location.Expr
	// AllowConnectionsToEventsChannel lets subscribers join the events
	// channel (push_stream_allow_connections_to_events_channel).
	AllowConnectionsToEventsChannel bool

	// The HTTP-level settings (the module's http block; the same in every
	// location).

	// MessageTTL is how long a stored message lives
	// (push_stream_message_ttl, default 30m).
	MessageTTL time.Duration
	// ChannelInactivityTime is how long a channel with no stored message
	// and no subscriber lives after its last publish or subscriber
	// (push_stream_channel_inactivity_time, default 30s).
	ChannelInactivityTime time.Duration
	// MaxMessagesStoredPerChannel caps the messages a channel stores
	// (push_stream_max_messages_stored_per_channel); 0: no cap (the
	// memory limit and MessageTTL still bound them).
	MaxMessagesStoredPerChannel int
	// MaxNumberOfChannels caps the channels of the store
	// (push_stream_max_number_of_channels); 0: no cap.
	MaxNumberOfChannels int
	// MaxNumberOfWildcardChannels caps the wildcard channels
	// (push_stream_max_number_of_wildcard_channels); 0: no cap.
	MaxNumberOfWildcardChannels int
	// WildcardChannelPrefix marks wildcard channels: ids that start with
	// it (push_stream_wildcard_channel_prefix); empty: none.
	WildcardChannelPrefix string
	// EventsChannelID is the channel channel and subscriber events are
	// published to (push_stream_events_channel_id); empty: none.
	EventsChannelID string
	// ChannelDeletedMessageText is the text of the message subscribers get
	// when their channel is deleted
	// (push_stream_channel_deleted_message_text, default
	// "Channel deleted").
	ChannelDeletedMessageText string
	// PingMessageText is the text of ping messages
	// (push_stream_ping_message_text); empty: the module's " ".
	PingMessageText string
	// TimeoutWithBody answers a long-poll that times out with a 200 and
	// the timeout message instead of 304 (push_stream_timeout_with_body).
	TimeoutWithBody bool
}

// Enabled reports whether the location speaks the push-stream protocol.
func (p *PushStream) Enabled() bool {
	return p.Publisher != PSNoPublisher || p.Subscriber != PSNoSubscriber || p.Statistics
}

// LongPollTTL is how long a long-poll waits: LongPollingConnectionTTL, or
// SubscriberConnectionTTL when that is unset (0: forever).
func (p *PushStream) LongPollTTL() time.Duration {
	if p.LongPollingConnectionTTL > 0 {
		return p.LongPollingConnectionTTL
	}
	return p.SubscriberConnectionTTL
}

// WildcardMax is the most wildcard channels one subscriber may join:
// WildcardChannelMaxQtd, or MaxNumberOfWildcardChannels when that is unset
// (0: no cap).
func (p *PushStream) WildcardMax() int {
	if p.WildcardChannelMaxQtd > 0 {
		return p.WildcardChannelMaxQtd
	}
	return p.MaxNumberOfWildcardChannels
}

// IsWildcard reports whether id names a wildcard channel.
func (p *PushStream) IsWildcard(id string) bool {
	return p.WildcardChannelPrefix != "" && strings.HasPrefix(id, p.WildcardChannelPrefix)
}

// DefaultPSMessageTemplate is the module's message template: the text.
const DefaultPSMessageTemplate = "~text~"

// DefaultPSChannelDeletedText is the module's channel-deleted text.
const DefaultPSChannelDeletedText = "Channel deleted"

// pushStreamPrefix is the module's directive prefix.
const pushStreamPrefix = "push_stream_"

// psName returns the prefixed spelling of a push-stream directive.
func psName(name string) string { return pushStreamPrefix + name }

// psKey is a push-stream directive whose unprefixed name is its own (no
// Nchan directive has it): the row is named without the prefix and
// accepts it with.
func psKey(name string, scope Scope, def, doc string, set func(*Location, *yaml.Node) error) Directive {
	return Directive{Name: name, Aliases: []string{psName(name)}, Scope: scope, Default: def, Doc: "Push-stream: " + doc, setLoc: set}
}

// psOnly is a push-stream directive whose unprefixed name is an Nchan
// directive with another meaning: it is only accepted with the prefix.
func psOnly(name string, scope Scope, def, doc string, set func(*Location, *yaml.Node) error) Directive {
	return Directive{Name: psName(name), Scope: scope, Default: def, Doc: "Push-stream: " + doc + " Only with the `push_stream_` prefix: `" + name + "` is Nchan's directive.", setLoc: set}
}

// psString sets a string field of the location's PushStream.
func psString(get func(*PushStream) *string) func(*Location, *yaml.Node) error {
	return func(l *Location, n *yaml.Node) error {
		s, err := scalar(n)
		if err != nil {
			return err
		}
		*get(&l.PushStream) = s
		return nil
	}
}

// psBool sets an on/off field; an empty value is on (a directive written
// without an argument).
func psBool(get func(*PushStream) *bool) func(*Location, *yaml.Node) error {
	return func(l *Location, n *yaml.Node) error {
		s, err := scalar(n)
		if err != nil {
			return err
		}
		if strings.TrimSpace(s) == "" {
			s = "on"
		}
		b, err := ParseBool(s)
		if err != nil {
			return nodeErr(n, "%v", err)
		}
		*get(&l.PushStream) = b
		return nil
	}
}

// psCount sets a count the module refuses to be zero: a whole number of
// at least 1, or "" / "off" / "none" for no limit (0).
func psCount(name string, get func(*PushStream) *int) func(*Location, *yaml.Node) error {
	return func(l *Location, n *yaml.Node) error {
		s, err := scalar(n)
		if err != nil {
			return err
		}
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "", "off", "none":
			*get(&l.PushStream) = 0
			return nil
		}
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v < 1 || v > 1<<30 {
			return nodeErr(n, "%s cannot be zero: want a whole number from 1 to %d (or off for no limit), got %q", name, 1<<30, s)
		}
		*get(&l.PushStream) = v
		return nil
	}
}

// psTime sets a time the module refuses to be zero; "" or "off" unsets it
// (0) where unset is allowed.
func psTime(name string, unset bool, get func(*PushStream) *time.Duration) func(*Location, *yaml.Node) error {
	return func(l *Location, n *yaml.Node) error {
		s, err := scalar(n)
		if err != nil {
			return err
		}
		if v := strings.ToLower(strings.TrimSpace(s)); unset && (v == "" || v == "off" || v == "none") {
			*get(&l.PushStream) = 0
			return nil
		}
		d, err := ParseDuration(s)
		if err != nil {
			return nodeErr(n, "%v", err)
		}
		if d <= 0 {
			return nodeErr(n, "%s cannot be zero", name)
		}
		*get(&l.PushStream) = d
		return nil
	}
}

// psExpr sets an expression field ("" unsets it).
func psExpr(get func(*PushStream) *location.Expr) func(*Location, *yaml.Node) error {
	return func(l *Location, n *yaml.Node) error {
		s, err := scalar(n)
		if err != nil {
			return err
		}
		e, err := location.Compile(s)
		if err != nil {
			return nodeErr(n, "%v", err)
		}
		*get(&l.PushStream) = e
		return nil
	}
}

// psTemplate sets a template inline (file false) or from a file read now;
// whichever is written last at a level wins.
func psTemplate(name string, file bool, get func(*PushStream) *string) func(*Location, *yaml.Node) error {
	return func(l *Location, n *yaml.Node) error {
		s, err := scalar(n)
		if err != nil {
			return err
		}
		if file {
			data, err := os.ReadFile(s)
			if err != nil {
				return nodeErr(n, "push_stream_%s_file: %v", name, err)
			}
			s = string(data)
		}
		*get(&l.PushStream) = s
		return nil
	}
}

// ParsePSPaddings parses a push_stream_padding_by_user_agent value:
// entries "regexp,header_min_size,message_min_size", each followed by one
// separator character (":" in the module's examples) before the next. The
// regexp runs from the entry's start to its first comma; the sizes are
// whole numbers.
func ParsePSPaddings(s string) ([]PSPadding, error) {
	var out []PSPadding
	rest := s
	for rest != "" {
		re, after, ok := strings.Cut(rest, ",")
		if !ok || re == "" {
			return nil, fmt.Errorf("padding %q: want regexp,header_min_size,message_min_size", rest)
		}
		hdr, n1 := leadingDigits(after)
		if n1 == 0 || n1 == len(after) || after[n1] != ',' {
			return nil, fmt.Errorf("padding %q: want regexp,header_min_size,message_min_size", rest)
		}
		msg, n2 := leadingDigits(after[n1+1:])
		if n2 == 0 {
			return nil, fmt.Errorf("padding %q: want regexp,header_min_size,message_min_size", rest)
		}
		rx, err := regexp.Compile(re)
		if err != nil {
			return nil, fmt.Errorf("padding user agent %q: %w", re, err)
		}
		out = append(out, PSPadding{UserAgent: rx, HeaderMin: hdr, MessageMin: msg})
		rest = after[n1+1+n2:]
		if rest != "" {
			rest = rest[1:] // the separator
		}
	}
	return out, nil
}

// leadingDigits parses the digits at the start of s (at most 9) and
// returns their value and count.
func leadingDigits(s string) (v, n int) {
	for n < len(s) && n < 9 && s[n] >= '0' && s[n] <= '9' {
		v = v*10 + int(s[n]-'0')
		n++
	}
	return v, n
}

// pushStreamDirectives are the nginx-push-stream-module directives. Those
// whose meaning is an Nchan directive's are aliases on that directive's
// row instead (shared_memory_size, max_channel_id_length,
// max_subscribers_per_channel, authorized_channels_only).
func pushStreamDirectives() []Directive {
	return []Directive{
		psOnly("publisher", ScopeLocation, "",
			"makes the location a push-stream publisher: POST and PUT publish to the channels of `push_stream_channels_path` (`a/b`: several), GET answers a channel's statistics, and, with `admin`, DELETE deletes channels. `normal` (also an empty value or `on`), `admin`, or `off`.",
			func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				switch v := strings.ToLower(strings.TrimSpace(s)); v {
				case "", "normal", "on", "true":
					l.PushStream.Publisher = PSNormal
				case "admin":
					l.PushStream.Publisher = PSAdmin
				case "off", "false":
					l.PushStream.Publisher = PSNoPublisher
				default:
					return nodeErr(n, "invalid push_stream_publisher mode %q: want normal or admin", s)
				}
				return nil
			}),
		psOnly("subscriber", ScopeLocation, "",
			"makes the location a push-stream subscriber in one mode: `streaming` (the default: also an empty value or `on`), `polling`, `long-polling`, `eventsource` or `websocket` (`off`: none). The request header `X-Nginx-PushStream-Mode: polling|long-polling` switches a streaming, polling or long-polling location's request to that mode.",
			func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				v := strings.ToLower(strings.TrimSpace(s))
				switch v {
				case "", "on", "true":
					l.PushStream.Subscriber = PSStreaming
					return nil
				case "off", "false":
					l.PushStream.Subscriber = PSNoSubscriber
					return nil
				}
				for i, name := range psSubscriberNames[1:] {
					if v == name {
						l.PushStream.Subscriber = PSSubscriber(i + 1)
						return nil
					}
				}
				return nodeErr(n, "invalid push_stream_subscriber mode %q: want streaming, polling, long-polling, eventsource or websocket", s)
			}),
		psKey("channels_statistics", ScopeLocation, "off",
			"makes the location a channel statistics endpoint: with no channel, the summary of every channel; `ALL`, every channel in detail; `prefix*`, the channels whose id starts with prefix; `a/b`, those channels. JSON, or by Accept plain text, XML or YAML. An empty value is `on`.",
			psBool(func(p *PushStream) *bool { return &p.Statistics })),
		psKey("channels_path", ScopeLocation, "",
			"where a push-stream location reads its channels, with variables (`$arg_id`, `$1`): a publisher's `a` or `a/b`; statistics' also `ALL` and `prefix*`; a subscriber's `/a/b.b3` (`.bN`: the last N messages of that channel first). Every push-stream location needs it.",
			psExpr(func(p *PushStream) *location.Expr { return &p.ChannelsPath })),
		psOnly("store_messages", ScopeLocation, "off",
			"keep published messages for subscribers that come later (up to `max_messages_stored_per_channel`, for `message_ttl`); off, a message reaches only the subscribers connected when it is published.",
			psBool(func(p *PushStream) *bool { return &p.StoreMessages })),
		psKey("channel_info_on_publish", ScopeLocation, "on",
			"answer a publish with the channel's statistics (`{\"channel\": ..., \"published_messages\": N, \"stored_messages\": N, \"subscribers\": N}`, by Accept); off, with an empty body.",
			psBool(func(p *PushStream) *bool { return &p.ChannelInfoOnPublish })),
		psKey("header_template", ScopeLocation, "",
			"what a subscriber is sent first, once (streaming, EventSource as a comment, WebSocket as a frame).",
			psTemplate("header_template", false, func(p *PushStream) *string { return &p.HeaderTemplate })),
		psKey("header_template_file", ScopeLocation, "",
			"`header_template` read from this file when the configuration is loaded (an error if it cannot be read).",
			psTemplate("header_template", true, func(p *PushStream) *string { return &p.HeaderTemplate })),
		psKey("message_template", ScopeLocation, DefaultPSMessageTemplate,
			"how each message is written to subscribers: `~id~` (the channel's message number: 1, 2, 3...), `~text~`, `~size~`, `~channel~`, `~time~`, `~tag~`, `~event-id~` and `~event-type~` are replaced. It cannot be empty.",
			psTemplate("message_template", false, func(p *PushStream) *string { return &p.MessageTemplate })),
		psKey("message_template_file", ScopeLocation, "",
			"`message_template` read from this file when the configuration is loaded. (Herald's: the module has only `header_template_file`.)",
			psTemplate("message_template", true, func(p *PushStream) *string { return &p.MessageTemplate })),
		psKey("footer_template", ScopeLocation, "",
			"what a streaming subscriber is sent last, when its connection ends.",
			psTemplate("footer_template", false, func(p *PushStream) *string { return &p.FooterTemplate })),
		psKey("footer_template_file", ScopeLocation, "",
			"`footer_template` read from this file when the configuration is loaded. (Herald's: the module has only `header_template_file`.)",
			psTemplate("footer_template", true, func(p *PushStream) *string { return &p.FooterTemplate })),
		psKey("wildcard_channel_max_qtd", ScopeLocation, "",
			"most wildcard channels (`wildcard_channel_prefix`) one subscriber may join; unset: `max_number_of_wildcard_channels`. Needs `wildcard_channel_prefix`; cannot be zero.",
			psCount("push_stream_wildcard_channel_max_qtd", func(p *PushStream) *int { return &p.WildcardChannelMaxQtd })),
		psKey("ping_message_interval", ScopeLocation, "",
			"send idle subscribers a ping message this often (id -1, text `ping_message_text`; EventSource: a comment; WebSocket: a ping frame). Unset: none; cannot be zero.",
			psTime("push_stream_ping_message_interval", true, func(p *PushStream) *time.Duration { return &p.PingMessageInterval })),
		psKey("subscriber_connection_ttl", ScopeLocation, "",
			"end a subscriber's connection after this long (streams are sent the footer). Unset: never; cannot be zero.",
			psTime("push_stream_subscriber_connection_ttl", true, func(p *PushStream) *time.Duration { return &p.SubscriberConnectionTTL })),
		psKey("longpolling_connection_ttl", ScopeLocation, "",
			"how long a long-poll waits for a message before it is answered 304 (or the timeout message, `timeout_with_body`). Unset: `subscriber_connection_ttl`; cannot be zero.",
			psTime("push_stream_longpolling_connection_ttl", true, func(p *PushStream) *time.Duration { return &p.LongPollingConnectionTTL })),
		psKey("websocket_allow_publish", ScopeLocation, "off",
			"a WebSocket subscriber's text messages are published to its channels.",
			psBool(func(p *PushStream) *bool { return &p.WebSocketAllowPublish })),
		psKey("last_received_message_time", ScopeLocation, "",
			"read the subscriber's last message time from this expression (such as `$arg_time`) instead of If-Modified-Since.",
			psExpr(func(p *PushStream) *location.Expr { return &p.LastReceivedMessageTime })),
		psKey("last_received_message_tag", ScopeLocation, "",
			"read the subscriber's last message tag from this expression (such as `$arg_tag`) instead of If-None-Match.",
			psExpr(func(p *PushStream) *location.Expr { return &p.LastReceivedMessageTag })),
		psKey("last_event_id", ScopeLocation, "",
			"read the subscriber's last event id from this expression (such as `$arg_eventid`) instead of Last-Event-ID.",
			psExpr(func(p *PushStream) *location.Expr { return &p.LastEventID })),
		psKey("user_agent", ScopeLocation, "",
			"the expression `padding_by_user_agent` matches; unset: the User-Agent header.",
			psExpr(func(p *PushStream) *location.Expr { return &p.UserAgent })),
		psKey("padding_by_user_agent", ScopeLocation, "",
			"pad the header and messages for clients that buffer small responses: entries `regexp,header_min_size,message_min_size` separated by `:`; the first whose regexp matches the user agent applies.",
			func(l *Location, n *yaml.Node) error {
				s, err := scalar(n)
				if err != nil {
					return err
				}
				ps, err := ParsePSPaddings(s)
				if err != nil {
					return nodeErr(n, "push_stream_padding_by_user_agent: %v", err)
				}
				l.PushStream.PaddingByUserAgent, l.PushStream.Paddings = s, ps
				return nil
			}),
		psKey("allowed_origins", ScopeLocation, "",
			"answers carry `Access-Control-Allow-Origin` with this value (variables allowed) and the methods and headers of the location's role; requests from other origins are not refused. Unset: no CORS headers. (Nchan's `access_control_allow_origin` is another setting.)",
			psExpr(func(p *PushStream) *location.Expr { return &p.AllowedOrigins })),
		psKey("allow_connections_to_events_channel", ScopeLocation, "off",
			"let subscribers join the events channel (`events_channel_id`); off, a request for it is refused.",
			psBool(func(p *PushStream) *bool { return &p.AllowConnectionsToEventsChannel })),

		psKey("message_ttl", ScopeHTTP, "30m",
			"how long a stored message lives. Cannot be zero.",
			psTime("push_stream_message_ttl", false, func(p *PushStream) *time.Duration { return &p.MessageTTL })),
		psKey("channel_inactivity_time", ScopeHTTP, "30s",
			"how long a channel with no stored message and no subscriber lives after its last publish or subscriber; then it is gone (statistics no longer list it, GET answers 404).",
			psTime("push_stream_channel_inactivity_time", false, func(p *PushStream) *time.Duration { return &p.ChannelInactivityTime })),
		psKey("max_messages_stored_per_channel", ScopeHTTP, "",
			"most messages a channel stores; the oldest goes beyond it. Unset: no cap (the memory limit and `message_ttl` still bound them); cannot be zero.",
			psCount("push_stream_max_messages_stored_per_channel", func(p *PushStream) *int { return &p.MaxMessagesStoredPerChannel })),
		psKey("max_number_of_channels", ScopeHTTP, "",
			"most channels at once; a publish or subscribe that would make another is refused. Unset: no cap; cannot be zero.",
			psCount("push_stream_max_number_of_channels", func(p *PushStream) *int { return &p.MaxNumberOfChannels })),
		psKey("max_number_of_wildcard_channels", ScopeHTTP, "",
			"most wildcard channels at once. Unset: no cap; cannot be zero.",
			psCount("push_stream_max_number_of_wildcard_channels", func(p *PushStream) *int { return &p.MaxNumberOfWildcardChannels })),
		psKey("wildcard_channel_prefix", ScopeHTTP, "",
			"channels whose id starts with this are wildcard channels: subscribers may join them with `authorized_channels_only` on, alongside a normal channel.",
			psString(func(p *PushStream) *string { return &p.WildcardChannelPrefix })),
		psKey("events_channel_id", ScopeHTTP, "",
			"a channel that receives `{\"type\": \"channel_created\", \"channel\": \"ID\"}` (and `channel_destroyed`, `client_subscribed`, `client_unsubscribed`) as channels and subscribers come and go. Nobody may publish to it or delete it; subscribing needs `allow_connections_to_events_channel`.",
			psString(func(p *PushStream) *string { return &p.EventsChannelID })),
		psKey("channel_deleted_message_text", ScopeHTTP, DefaultPSChannelDeletedText,
			"the text of the message (id -2) subscribers get when their channel is deleted.",
			psString(func(p *PushStream) *string { return &p.ChannelDeletedMessageText })),
		psKey("ping_message_text", ScopeHTTP, "",
			"the text of ping messages (id -1); empty: a space.",
			psString(func(p *PushStream) *string { return &p.PingMessageText })),
		psKey("timeout_with_body", ScopeHTTP, "off",
			"a long-poll that times out is answered 200 with a timeout message (id -3) in the message template, instead of 304.",
			psBool(func(p *PushStream) *bool { return &p.TimeoutWithBody })),
	}
}

// validatePushStream checks a push-stream location's settings, as the
// module checks them when nginx loads its configuration.
func (l *Location) validatePushStream() error {
	p := &l.PushStream
	roles := 0
	for _, on := range []bool{p.Publisher != PSNoPublisher, p.Subscriber != PSNoSubscriber, p.Statistics} {
		if on {
			roles++
		}
	}
	if roles > 1 {
		return errors.New("push_stream_publisher, push_stream_subscriber and push_stream_channels_statistics go in locations of their own")
	}
	if l.Publisher.Enabled() || l.Subscriber != 0 || l.StubStatus || l.GroupLocation != 0 || l.ChannelList || !l.ProxyPass.IsEmpty() {
		return errors.New("a push-stream location (push_stream_publisher, push_stream_subscriber, push_stream_channels_statistics) cannot also be an Nchan publisher, subscriber, pubsub, stub_status, group_location, channel_list or proxy_pass location")
	}
	if p.ChannelsPath.IsEmpty() {
		return errors.New("push_stream_channels_path must be set")
	}
	if p.MessageTemplate == "" {
		return errors.New("push_stream_message_template cannot be blank")
	}
	if p.WildcardChannelMaxQtd > 0 && p.WildcardChannelPrefix == "" {
		return errors.New("push_stream_wildcard_channel_max_qtd needs push_stream_wildcard_channel_prefix")
	}
	if p.MaxNumberOfWildcardChannels > 0 && p.WildcardChannelMaxQtd > p.MaxNumberOfWildcardChannels {
		return fmt.Errorf("push_stream_max_number_of_wildcard_channels %d is smaller than push_stream_wildcard_channel_max_qtd %d", p.MaxNumberOfWildcardChannels, p.WildcardChannelMaxQtd)
	}
	caps := l.Pattern.Captures()
	for _, e := range []location.Expr{p.ChannelsPath, p.LastReceivedMessageTime, p.LastReceivedMessageTag, p.LastEventID, p.UserAgent, p.AllowedOrigins} {
		if n := e.MaxCapture(); n > caps {
			return fmt.Errorf("%q uses $%d but the location pattern has %d capture group(s)", e, n, caps)
		}
	}
	return nil
}
