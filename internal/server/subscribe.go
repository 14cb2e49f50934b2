package server

import (
	"net/http"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/protocol/msgid"
)

// subscribe admits a prepared subscriber request to its channels and
// serves it with its transport.
func (s *Server) subscribe(w http.ResponseWriter, q *route.Request) {
	t := q.Transport
	kind := route.SubscriberType(t)
	poll := t == config.LongPoll || t == config.IntervalPoll
	ss, err := s.admit(q, kind, !poll)
	if err != nil {
		herr := storeError(err)
		s.emit(events.Event{Kind: events.SubscriberRefused, Group: q.Channels[0].Key.Group, Channel: q.Channels[0].Key.ID,
			Channels: len(q.Channels), Transport: kind, Location: q.Route.Name, Remote: q.HTTP.RemoteAddr,
			Status: herr.status, Reason: err.Error()})
		if poll {
			var id msgid.Multi
			if q.Cursor.Given {
				id = msgid.FromCursors(q.Cursor.IDs, max(q.Cursor.Active, 0))
			}
			pollHeaders(w.Header(), q, id, herr.status)
		}
		herr.write(w)
		return
	}
	if !poll {
		s.startStreamLog(w, ss, t == config.WebSocket)
	}
	switch t {
	case config.LongPoll, config.IntervalPoll:
		s.poll(w, q, ss, t == config.IntervalPoll)
	case config.WebSocket:
		s.websocket(w, q, ss)
	default:
		s.streamHTTP(w, q, ss, t)
	}
}
