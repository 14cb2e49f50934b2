package chanevents

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/heraldpush/herald/internal/location"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/memory"
	"github.com/heraldpush/herald/protocol/msgid"
)

func TestKindNames(t *testing.T) {
	want := []string{"subscriber_enqueue", "subscriber_dequeue", "subscriber_receive_message",
		"subscriber_receive_status", "channel_publish", "channel_delete"}
	for k := Kind(0); k < numKinds; k++ {
		if k.String() != want[k] {
			t.Errorf("kind %d: %q, want %q", k, k, want[k])
		}
	}
	if numKinds.String() != "unknown" {
		t.Errorf("kind %d: %q", numKinds, numKinds)
	}
}

func TestTemplate(t *testing.T) {
	r := httptest.NewRequest("GET", "/sub/abc?a=1&b=two", nil)
	r.Header.Set("X-App", "app")
	vars := location.Request{HTTP: r, Captures: []string{"/sub/abc", "abc"}}
	tests := []struct {
		src  string
		want string // for channel_publish, first channel "chan"
		caps int
	}{
		{DefaultString, "channel_publish chan", 0},
		{"", "", 0},
		{"plain", "plain", 0},
		{"${nchan_channel_event}:${nchan_channel_id}", "channel_publish:chan", 0},
		{"$nchan_channel_event$nchan_channel_event", "channel_publishchannel_publish", 0},
		{"ev=$nchan_channel_event id=$nchan_channel_id arg=$arg_a cap=$1 h=$http_x_app", "ev=channel_publish id=chan arg=1 cap=abc h=app", 1},
		{"x$1/$nchan_channel_id", "xabc/chan", 1},
		{"$nchan_channel_idx", "", -1},    // another variable: unknown
		{"${nchan_channel_id", "", -1},    // unterminated
		{"cost: 5$", "", -1},              // '$' without a name
		{"$nchan_channel_event$", "", -1}, // the same, after a token
		{"${arg_b}$nchan_channel_id", "twochan", 0},
	}
	for _, tt := range tests {
		tp, err := CompileTemplate(tt.src)
		if tt.caps < 0 {
			if err == nil {
				t.Errorf("%q: compiled", tt.src)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.src, err)
			continue
		}
		if got := tp.bind(vars, "chan").text(ChannelPublish); got != tt.want {
			t.Errorf("%q: %q, want %q", tt.src, got, tt.want)
		}
		if tp.MaxCapture() != tt.caps || tp.String() != tt.src || tp.IsEmpty() != (tt.src == "") {
			t.Errorf("%q: captures %d, string %q, empty %v", tt.src, tp.MaxCapture(), tp.String(), tp.IsEmpty())
		}
	}
}

// TestSender checks what a Sender publishes: nothing for a location
// without events or a subscriber of an events channel, the receive events
// only when asked, each event to its channel with its body, in order.
func TestSender(t *testing.T) {
	id, _ := CompileTemplate("$1-$nchan_channel_event")
	body, _ := CompileTemplate(DefaultString)
	vars := location.Request{Captures: []string{"", "m"}}
	st := memory.New(memory.Options{})
	defer st.Close()
	p := NewPublisher(nil)
	var nilEvents *Events
	if nilEvents.Subscriber(p, st, vars, store.ChannelKey{ID: "c"}) != nil || New(Template{}, body, true) != nil {
		t.Fatal("events without channel_events_channel_id")
	}
	e := New(id, body, false)
	if e.Subscriber(p, st, vars, store.ChannelKey{Group: Group, ID: "c"}) != nil {
		t.Fatal("a subscriber of an events channel has events")
	}
	s := e.Subscriber(p, st, vars, store.ChannelKey{ID: "c"})
	if s.Receives() || !New(id, body, true).Subscriber(p, st, vars, store.ChannelKey{ID: "c"}).Receives() {
		t.Fatal("Receives")
	}
	s.Send(SubscriberReceiveMessage) // not bound: nothing
	s.SendN(SubscriberEnqueue, 3)
	s.Send(ChannelPublish) // not a subscriber's: nothing
	s.Send(SubscriberDequeue)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.Published() != 4 || p.Dropped() != 0 {
		t.Fatalf("published %d, dropped %d", p.Published(), p.Dropped())
	}
	for ch, want := range map[string][]string{
		"m-subscriber_enqueue": {"subscriber_enqueue c", "subscriber_enqueue c", "subscriber_enqueue c"},
		"m-subscriber_dequeue": {"subscriber_dequeue c"},
	} {
		sub, err := st.Subscribe(context.Background(), store.ChannelKey{Group: Group, ID: ch}, store.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := sub.Read(msgid.ID{}, nil, 10)
		sub.Close()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range b.Messages {
			got = append(got, string(m.Body))
		}
		if !slices.Equal(got, want) {
			t.Errorf("meta/%s: %q, want %q", ch, got, want)
		}
	}
	s.Send(SubscriberDequeue) // after Close: dropped
	if p.Dropped() != 1 {
		t.Fatalf("dropped %d after Close", p.Dropped())
	}
}

func FuzzCompileTemplate(f *testing.F) {
	for _, s := range []string{DefaultString, "${nchan_channel_event}", "$1$nchan_channel_id$arg_x", "${", "$", "a$$b", "${nchan_channel_id}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tp, err := CompileTemplate(s)
		if err != nil {
			return
		}
		if tp.String() != s {
			t.Fatalf("String %q of %q", tp.String(), s)
		}
		// Without the channel event variables, a template is a location
		// expression: it compiles as one and gives the same text.
		got := tp.bind(location.Request{Captures: []string{"c0", "c1"}}, "ID").text(SubscriberEnqueue)
		plain := strings.NewReplacer("${nchan_channel_event}", "subscriber_enqueue", "${nchan_channel_id}", "ID").Replace(s)
		if plain == s && !strings.Contains(s, "$nchan_channel_") {
			e, err := location.Compile(s)
			if err != nil {
				t.Fatalf("%q compiles as a template, not as an expression: %v", s, err)
			}
			if want := e.Eval(location.Request{Captures: []string{"c0", "c1"}}); got != want {
				t.Fatalf("%q: %q, want %q", s, got, want)
			}
		}
	})
}
