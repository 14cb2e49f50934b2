package pushstream

// The module's response headers besides those of wire.go.
const (
	// HeaderTag names the module's version on statistics answers.
	HeaderTag = "X-Nginx-PushStream-Tag"
	// Tag is the module version whose protocol Herald speaks.
	Tag = "0.5.5"
	// Expires and CacheControl are on every answer: nothing is cached.
	Expires      = "Thu, 01 Jan 1970 00:00:01 GMT"
	CacheControl = "no-cache, no-store, must-revalidate"
)

// The publishers' explanations (X-Nginx-PushStream-Explain) besides
// those of wire.go.
const (
	ExplainEmptyPost = "Empty post requests are not allowed."
	// ExplainEventsInternal refuses a publish to or a delete of the
	// events channel.
	ExplainEventsInternal = "Only internal routines can change events channel."
	// ExplainChannelDeleted is what a DELETE that deleted a channel says.
	ExplainChannelDeleted = "Channel deleted."
)

// The events channel's event types (push_stream_events_channel_id).
const (
	EventChannelCreated     = "channel_created"
	EventChannelDestroyed   = "channel_destroyed"
	EventClientSubscribed   = "client_subscribed"
	EventClientUnsubscribed = "client_unsubscribed"
)

// AppendEventsMessage writes an events channel message: {"type": "T",
// "channel": "ID"}, the id as it is.
func AppendEventsMessage(b []byte, eventType, channel string) []byte {
	return append(b, `{"type": "`+eventType+`", "channel": "`+channel+`"}`...)
}
