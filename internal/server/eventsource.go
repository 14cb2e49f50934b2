package server

import (
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/protocol/msgid"
)

// esFormat writes EventSource events. A message's event is encoded once for
// every subscriber of one channel that does not rename events; a
// multiplexed subscriber's ids are its own.
type esFormat struct{ es *route.EventSource }

func (f *esFormat) message(m *store.Message, id msgid.Multi, single bool) []byte {
	if f.es.Event != "" || !single {
		event := m.EventName
		if f.es.Event != "" {
			event = f.es.Event
		}
		return protocol.AppendEvent(nil, event, id.String(), m.Body)
	}
	return m.Encoded(slotEventSource, func(m *store.Message) []byte {
		return protocol.AppendEvent(make([]byte, 0, len(m.Body)+40), m.EventName, m.ID.String(), m.Body)
	})
}

func (f *esFormat) ping() []byte {
	return protocol.AppendPing(nil, f.es.PingComment, f.es.PingEvent, f.es.PingData)
}

func (f *esFormat) end(e streamEnd) []byte {
	if e.status == 0 {
		return nil
	}
	return protocol.AppendStatusComment(nil, e.status, e.text)
}
