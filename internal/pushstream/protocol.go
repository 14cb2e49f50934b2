package pushstream

// The module's response headers.
const (
	// HeaderExplain says why a request was refused (or what a DELETE did).
	HeaderExplain = "X-Nginx-PushStream-Explain"
	// HeaderTag and HeaderCommit name the module's version on statistics
	// answers.
	HeaderTag    = "X-Nginx-PushStream-Tag"
	HeaderCommit = "X-Nginx-PushStream-Commit"
	// Tag is the module version whose protocol Herald speaks.
	Tag = "0.5.5"
	// HeaderMode lets a subscriber ask for polling or long-polling on a
	// streaming, polling or long-polling location.
	HeaderMode = "X-Nginx-PushStream-Mode"
	// AllowedHeaders is Access-Control-Allow-Headers with
	// push_stream_allowed_origins.
	AllowedHeaders = "If-Modified-Since,If-None-Match,Etag,Event-Id,Event-Type,Last-Event-Id"
	// Expires and CacheControl are on every answer: nothing is cached.
	Expires      = "Thu, 01 Jan 1970 00:00:01 GMT"
	CacheControl = "no-cache, no-store, must-revalidate"
)

// The module's explanations (X-Nginx-PushStream-Explain).
const (
	ExplainNoChannelID        = "No channel id provided."
	ExplainNotAuthorized      = "Channel id not authorized for this method."
	ExplainEmptyPost          = "Empty post requests are not allowed."
	ExplainTooLarge           = "Channel id is too large."
	ExplainTooManyChannels    = "Number of channels were exceeded."
	ExplainEventsChannel      = "Only internal routines can change events channel."
	ExplainEventsSubscribe    = "Subscription to events channel is not allowed."
	ExplainChannelDeleted     = "Channel deleted."
	ExplainTooManySubscribers = "Subscribers limit per channel has been exceeded."
	ExplainTooManyWildcard    = "Subscribed too much wildcard channels."
	ExplainCannotCreate       = "Subscriber could not create channels."
	ExplainWebSocketHeaders   = "Don't have at least one of the mandatory headers: Connection, Upgrade, Sec-WebSocket-Key and Sec-WebSocket-Version"
	ExplainWebSocketVersion   = "Version not supported. Supported versions: 8, 13"
)

// AllChannels is the channel id that asks statistics for every channel,
// and that no publisher may use.
const AllChannels = "ALL"

// The events channel's event types (push_stream_events_channel_id).
const (
	EventChannelCreated     = "channel_created"
	EventChannelDestroyed   = "channel_destroyed"
	EventClientSubscribed   = "client_subscribed"
	EventClientUnsubscribed = "client_unsubscribed"
)

// AppendEvent writes an events channel message: {"type": "T", "channel":
// "ID"}, the id as it is.
func AppendEvent(b []byte, eventType, channel string) []byte {
	return append(b, `{"type": "`+eventType+`", "channel": "`+channel+`"}`...)
}
