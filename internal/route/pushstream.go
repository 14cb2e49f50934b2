package route

import (
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/store"
)

// PushStream is a push-stream location (push_stream_publisher,
// push_stream_subscriber, push_stream_channels_statistics) provisioned: its
// settings and what they mean for the store. A push-stream route's
// requests go through the stages that guard every request (per-client
// limits), not the Nchan channel stages: their role handlers resolve
// channels with the module's grammar (ChannelsPath) and answer with the
// module's statuses. Its roles are PSPublisher, PSSubscriber and
// PSStatistics, whatever the method: the handler answers each method as
// the module does.
type PushStream struct {
	// Settings are the location's push_stream_* values, as configured
	// (config.PushStream documents each).
	config.PushStream
	// Channel is what a publish through this location gives the channel:
	// with push_stream_store_messages on, up to
	// max_messages_stored_per_channel messages (StoreCap when unset) for
	// message_ttl; off, none stored (BufferLength 0: only the in-flight
	// window). ChannelTimeout is channel_inactivity_time.
	Channel store.ChannelOptions
	// Subscribe are the store options of a subscriber here:
	// authorized_channels_only (ExistingOnly), max_subscribers_per_channel,
	// and channel_inactivity_time for a channel the subscriber creates.
	Subscribe store.SubscribeOptions
	// MaxBodySize caps a published message (client_max_body_size); 0 is
	// no limit.
	MaxBodySize int64
	// BodyTimeout is client_body_timeout.
	BodyTimeout time.Duration
	// MaxIDLen is the longest channel id (max_channel_id_length).
	MaxIDLen int
}

// StoreCap is the most messages a push-stream channel stores when
// max_messages_stored_per_channel is unset (the module's "no limit"):
// message_ttl and the memory limit bound them first in practice.
const StoreCap = 1 << 20

// newPushStream provisions a push-stream location; nil for others.
func newPushStream(l *config.Location) *PushStream {
	if !l.PushStream.Enabled() {
		return nil
	}
	p := &PushStream{PushStream: l.PushStream, MaxBodySize: l.ClientMaxBodySize, BodyTimeout: l.ClientBodyTimeout, MaxIDLen: l.MaxChannelIDLength}
	p.Channel = store.ChannelOptions{MessageTimeout: p.MessageTTL, ChannelTimeout: p.ChannelInactivityTime}
	if p.StoreMessages {
		p.Channel.BufferLength = p.MaxMessagesStoredPerChannel
		if p.Channel.BufferLength == 0 {
			p.Channel.BufferLength = StoreCap
		}
	}
	p.Subscribe = store.SubscribeOptions{
		ExistingOnly:   l.SubscribeExistingChannelsOnly,
		MaxSubscribers: l.MaxChannelSubscribers,
		ChannelTimeout: p.ChannelInactivityTime,
	}
	return p
}

// psRole is the role of every request to a push-stream route.
func (p *PushStream) role() Role {
	switch {
	case p.Publisher != config.PSNoPublisher:
		return PSPublisher
	case p.Subscriber != config.PSNoSubscriber:
		return PSSubscriber
	}
	return PSStatistics
}
