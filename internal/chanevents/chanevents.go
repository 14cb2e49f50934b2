// Package chanevents publishes Nchan's channel events: a location with
// channel_events_channel_id reports what happens to its subscribers and
// channels as messages on the channel meta/<id> (group "meta"), which any
// subscriber location of group meta can follow over every transport.
//
// The events, by name, and what causes them:
//
//	subscriber_enqueue          a subscriber was admitted (every transport; a
//	                            poll answered at once is admitted too)
//	subscriber_dequeue          its session ended, whatever ended it
//	channel_publish             a publisher request (HTTP or WebSocket)
//	                            stored its message
//	channel_delete              a DELETE request, whether or not the channel
//	                            existed
//	subscriber_receive_message  a subscriber was sent a message
//	subscriber_receive_status   a subscriber was sent an answer or ending
//	                            without a message (304, 408, 409, 410, 503)
//
// Nchan 1.3 names the last two but never sends them (their calls were
// removed from its spooler), so Herald sends them only where the location
// asks (channel_events_receive), and sends the first four exactly as Nchan
// does otherwise.
//
// The message body is channel_event_string, whose variables are the
// request's (its location captures, arguments, headers...) plus
// $nchan_channel_event and $nchan_channel_id (the first channel the request
// names). Variables are read when the request is admitted, so events that
// come later (a dequeue when the client leaves) need no request.
//
// Events are not taken from the event bus (package events): the bus drops
// what a busy consumer cannot take and carries no request to evaluate the
// templates with. They are evaluated where they happen and handed to a
// Publisher, which stores them through the location's store in the order
// they were sent, off the request's path (see Publisher for what happens
// when a store falls behind).
package chanevents

import (
	"strings"
	"time"

	"github.com/heraldpush/herald/internal/location"
	"github.com/heraldpush/herald/internal/store"
)

// Kind is a channel event.
type Kind uint8

// The channel events, named as Nchan names them.
const (
	SubscriberEnqueue Kind = iota
	SubscriberDequeue
	SubscriberReceiveMessage
	SubscriberReceiveStatus
	ChannelPublish
	ChannelDelete

	numKinds
)

var kindNames = [numKinds]string{
	SubscriberEnqueue:        "subscriber_enqueue",
	SubscriberDequeue:        "subscriber_dequeue",
	SubscriberReceiveMessage: "subscriber_receive_message",
	SubscriberReceiveStatus:  "subscriber_receive_status",
	ChannelPublish:           "channel_publish",
	ChannelDelete:            "channel_delete",
}

// String returns the event's name, as $nchan_channel_event gives it.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "unknown"
}

// Group is the channel group of every events channel, as in Nchan.
const Group = "meta"

// The buffer of an events channel, Nchan's: 100 messages kept 10 seconds,
// the channel forgotten 30 seconds after its last use.
const (
	BufferLength   = 100
	MessageTimeout = 10 * time.Second
	ChannelTimeout = 30 * time.Second
)

// DefaultString is channel_event_string's default.
const DefaultString = "$nchan_channel_event $nchan_channel_id"

// channelOptions is the buffer every event publish gives its channel.
var channelOptions = store.ChannelOptions{
	BufferLength:   BufferLength,
	MessageTimeout: MessageTimeout,
	ChannelTimeout: ChannelTimeout,
}

// Template is a value with the request's variables (package location) and
// the channel event variables $nchan_channel_event and $nchan_channel_id,
// as channel_events_channel_id and channel_event_string are written.
type Template struct {
	src   string
	parts []tpart
}

type tpartKind uint8

const (
	tExpr    tpartKind = iota // request variables and text
	tEvent                    // $nchan_channel_event
	tChannel                  // $nchan_channel_id
)

type tpart struct {
	kind tpartKind
	expr location.Expr
}

// CompileTemplate parses s. The channel event variables are taken out
// first; what is between them must be a valid location expression.
func CompileTemplate(s string) (Template, error) {
	t := Template{src: s}
	start := 0 // of the text not yet compiled
	flush := func(end int) error {
		if end <= start {
			return nil
		}
		e, err := location.Compile(s[start:end])
		if err != nil {
			return err
		}
		t.parts = append(t.parts, tpart{kind: tExpr, expr: e})
		return nil
	}
	for i := 0; i < len(s); {
		if s[i] != '$' {
			i++
			continue
		}
		name, next := varAt(s, i)
		var k tpartKind
		switch name {
		case "nchan_channel_event":
			k = tEvent
		case "nchan_channel_id":
			k = tChannel
		default:
			i = max(next, i+1)
			continue
		}
		if err := flush(i); err != nil {
			return Template{}, err
		}
		t.parts = append(t.parts, tpart{kind: k})
		i, start = next, next
	}
	if err := flush(len(s)); err != nil {
		return Template{}, err
	}
	return t, nil
}

// varAt reads the name of the variable whose '$' is at s[i]: "${name}" or
// "$name" (a run of letters, digits and '_'; a digit alone is a capture).
// It returns the name and the index after it; a "${" without its "}"
// gives no name.
func varAt(s string, i int) (name string, next int) {
	j := i + 1
	if j < len(s) && s[j] == '{' {
		end := strings.IndexByte(s[j:], '}')
		if end < 0 {
			return "", len(s)
		}
		return s[j+1 : j+end], j + end + 1
	}
	if j < len(s) && s[j] >= '0' && s[j] <= '9' {
		return s[j : j+1], j + 1
	}
	k := j
	for k < len(s) && isNameByte(s[k]) {
		k++
	}
	return s[j:k], k
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// String returns the template as written.
func (t Template) String() string { return t.src }

// IsEmpty reports whether the template has nothing in it.
func (t Template) IsEmpty() bool { return len(t.parts) == 0 }

// MaxCapture returns the largest location capture ($n) the template uses.
func (t Template) MaxCapture() int {
	n := 0
	for _, p := range t.parts {
		if p.kind == tExpr {
			n = max(n, p.expr.MaxCapture())
		}
	}
	return n
}

// bound is a template evaluated for one request: its text, split where
// the event's name goes.
type bound []string

// bind evaluates the template for a request whose first channel is
// channelID.
func (t Template) bind(r location.Request, channelID string) bound {
	b := bound{""}
	var cur strings.Builder
	for _, p := range t.parts {
		switch p.kind {
		case tExpr:
			cur.WriteString(p.expr.Eval(r))
		case tChannel:
			cur.WriteString(channelID)
		case tEvent:
			b[len(b)-1] = cur.String()
			cur.Reset()
			b = append(b, "")
		}
	}
	b[len(b)-1] = cur.String()
	return b
}

// text is the bound template with the event's name in place.
func (b bound) text(k Kind) string {
	if len(b) == 1 {
		return b[0]
	}
	return strings.Join(b, k.String())
}

// Events is a location's channel events, provisioned once: nil for a
// location without channel_events_channel_id.
type Events struct {
	id, body Template
	receive  bool
}

// New returns the events of a location: id is its
// channel_events_channel_id (nil Events when empty), body its
// channel_event_string, receive its channel_events_receive.
func New(id, body Template, receive bool) *Events {
	if id.IsEmpty() {
		return nil
	}
	return &Events{id: id, body: body, receive: receive}
}

// Receive reports whether the location sends the receive events
// (subscriber_receive_message, subscriber_receive_status).
func (e *Events) Receive() bool { return e != nil && e.receive }

// event is one event ready to publish: its channel and body.
type event struct {
	key  store.ChannelKey
	body string
	// name and opts, when set (Post), are the message's event name and
	// the options it is published with instead of channelOptions.
	name string
	opts *store.ChannelOptions
}

func (e *Events) event(id, body bound, k Kind) event {
	return event{key: store.ChannelKey{Group: Group, ID: id.text(k)}, body: body.text(k)}
}

// Sender sends the events of one request: a subscriber's from admission to
// its end, or a publisher request's. Its methods may be called from any
// goroutine; a nil Sender sends nothing.
type Sender struct {
	lane *lane
	ev   [numKinds]event
	has  uint8 // bit k: ev[k] is set
}

// Subscriber returns the sender of a subscriber's events: the request's
// variables are read now. It returns nil when the location sends no
// events, or the subscriber's channels are events channels themselves
// (group meta), as in Nchan.
func (e *Events) Subscriber(p *Publisher, st store.Store, r location.Request, first store.ChannelKey) *Sender {
	if e == nil || first.Group == Group {
		return nil
	}
	kinds := []Kind{SubscriberEnqueue, SubscriberDequeue}
	if e.receive {
		kinds = append(kinds, SubscriberReceiveMessage, SubscriberReceiveStatus)
	}
	return e.sender(p, st, r, first, kinds)
}

// Request returns the sender of a publisher request's event k
// (ChannelPublish, ChannelDelete), or nil when the location sends none.
func (e *Events) Request(p *Publisher, st store.Store, r location.Request, first store.ChannelKey, k Kind) *Sender {
	if e == nil {
		return nil
	}
	return e.sender(p, st, r, first, []Kind{k})
}

func (e *Events) sender(p *Publisher, st store.Store, r location.Request, first store.ChannelKey, kinds []Kind) *Sender {
	id, body := e.id.bind(r, first.ID), e.body.bind(r, first.ID)
	s := &Sender{lane: p.lane(st)}
	for _, k := range kinds {
		s.ev[k] = e.event(id, body, k)
		s.has |= 1 << k
	}
	return s
}

// Send sends event k once.
func (s *Sender) Send(k Kind) { s.SendN(k, 1) }

// SendN sends event k n times (a subscriber sent n messages at once) as
// one entry of the publisher's queue.
func (s *Sender) SendN(k Kind, n int) {
	if s == nil || n <= 0 || k >= numKinds || s.has&(1<<k) == 0 {
		return
	}
	if ev := s.ev[k]; ev.key.ID != "" {
		s.lane.send(ev, n)
	}
}

// Receives reports whether the sender sends the receive events.
func (s *Sender) Receives() bool {
	return s != nil && s.has&(1<<SubscriberReceiveMessage) != 0
}
