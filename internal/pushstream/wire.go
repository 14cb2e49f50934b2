package pushstream

import "strings"

// Request and response headers of the protocol.
const (
	// ModeHeader (X-Nginx-PushStream-Mode: polling or long-polling)
	// makes a subscriber poll whatever its location's mode.
	ModeHeader = "X-Nginx-PushStream-Mode"
	// ExplainHeader carries the reason of a refusal.
	ExplainHeader = "X-Nginx-PushStream-Explain"
	// ModePolling and ModeLongPolling are ModeHeader's values.
	ModePolling     = "polling"
	ModeLongPolling = "long-polling"
)

// JSONP: a polling subscriber that passes ?callback=fn gets its messages
// as fn([m1,m2]); with this content type.
const (
	JSONPContentType = "application/javascript"
	JSONPOpen        = "(["
	JSONPSeparator   = ","
	JSONPClose       = "]);"
)

// CORS answers of a location with push_stream_allowed_origins.
const (
	AllowMethodsGet   = "GET"
	AllowHeadersValue = "If-Modified-Since,If-None-Match,Etag,Event-Id,Event-Type,Last-Event-Id"
)

// The refusals' explanations.
const (
	ExplainNoChannel          = "No channel id provided."
	ExplainNotAuthorized      = "Channel id not authorized for this method."
	ExplainTooLarge           = "Channel id is too large."
	ExplainTooManyWildcards   = "Subscribed too much wildcard channels."
	ExplainTooManySubscribers = "Subscribers limit per channel has been exceeded."
	ExplainCannotCreate       = "Subscriber could not create channels."
	ExplainTooManyChannels    = "Number of channels were exceeded."
	ExplainEventsChannel      = "Subscription to events channel is not allowed."
)

// AllChannelsID is the statistics id that no subscriber may use.
const AllChannelsID = "ALL"

// Forbidden reports whether a subscriber may not use id at all: "ALL" and
// ids with a "*" are the statistics' patterns.
func Forbidden(id string) bool {
	return id == AllChannelsID || strings.IndexByte(id, '*') >= 0
}

// ParseTag reads an If-None-Match value (or the tag argument): a number,
// optionally after "W/", its sign ignored; -1 when there is none.
func ParseTag(s string) int64 {
	if len(s) > 2 && s[0] == 'W' && s[1] == '/' {
		s = s[2:]
	}
	if s == "" {
		return -1
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
		if n > 1<<31 {
			return -1
		}
	}
	return n
}
