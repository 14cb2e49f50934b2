package server

import (
	"github.com/heraldpush/herald/internal/chanevents"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
)

// Channel events (channel_events_channel_id, package chanevents): what a
// session and a publisher request send, at the points where Nchan sends
// them. Only locations that configure them reach this file: elsewhere a
// route's Events and a session's ev are nil, and the callers check that
// before calling.

// enqueued binds the events of a session just admitted and sends
// subscriber_enqueue.
func (s *Server) enqueued(ss *session, q *route.Request) {
	rt := ss.rt
	ss.ev = rt.Events.Subscriber(s.chanEvents, rt.Store, q.NchanVars(), ss.key)
	ss.ev.Send(chanevents.SubscriberEnqueue)
}

// dequeued sends what a session's end causes: subscriber_receive_status
// for an ending that told the subscriber something without a message (with
// channel_events_receive), then subscriber_dequeue.
func (ss *session) dequeued(why endReason) {
	if ss.ev.Receives() {
		status := false
		switch why {
		case endAnswered:
			status = !ss.gotMessage.Load() // an interval-poll's 304
		case endTimeout, endDeleted, endConflict, endTooSlow, endShutdown, endStoreError:
			status = true
		}
		if status {
			ss.ev.Send(chanevents.SubscriberReceiveStatus)
		}
	}
	ss.ev.Send(chanevents.SubscriberDequeue)
}

// receivedN records that n messages were sent to the session's subscriber:
// subscriber_receive_message n times, with channel_events_receive. A batch
// of messages is one entry of the events queue.
func (ss *session) receivedN(n int) {
	if !ss.ev.Receives() {
		return
	}
	ss.gotMessage.Store(true)
	ss.ev.SendN(chanevents.SubscriberReceiveMessage, n)
}

// requestEvent sends a publisher request's event k (channel_publish,
// channel_delete) about keys, the channels it named.
func (s *Server) requestEvent(q *route.Request, k chanevents.Kind, keys []store.ChannelKey) {
	if len(keys) == 0 {
		return
	}
	rt := q.Route
	rt.Events.Request(s.chanEvents, rt.Store, q.NchanVars(), keys[0], k).Send(k)
}

// ChannelEvents returns how many channel events were stored in their
// events channels, and how many were dropped (their store's queue full, or
// the publish failed).
func (s *Server) ChannelEvents() (published, dropped uint64) {
	return s.chanEvents.Published(), s.chanEvents.Dropped()
}
