package server

import (
	"fmt"
	"testing"

	"github.com/heraldpush/herald/internal/chanevents"
	"github.com/heraldpush/herald/internal/location"
)

// BenchmarkStreamFanoutChannelEvents is BenchmarkStreamFanout with channel
// events on the subscribers' location: "off" is a location without
// channel_events_channel_id (BenchmarkStreamFanout itself), "events" one
// with it (enqueue and dequeue only: nothing on the fan-out path),
// "receive" one with channel_events_receive too, which queues
// subscriber_receive_message for every subscriber a message reaches.
func BenchmarkStreamFanoutChannelEvents(b *testing.B) {
	id, _ := chanevents.CompileTemplate("$nchan_channel_id")
	body, _ := chanevents.CompileTemplate(chanevents.DefaultString)
	for _, mode := range []string{"off", "events", "receive"} {
		for _, n := range []int{100, 1000} {
			b.Run(fmt.Sprintf("%s/%d", mode, n), func(b *testing.B) {
				if mode == "off" {
					benchStreamFanout(b, n, true)
					return
				}
				ev := chanevents.New(id, body, mode == "receive")
				benchStreamFanout(b, n, true, func(ss *session) {
					ss.ev = ev.Subscriber(ss.s.chanEvents, ss.rt.Store, location.Request{}, ss.key)
				})
			})
		}
	}
}
