package pushstream_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/heraldpush/herald/internal/pushstream"
)

func TestParseChannels(t *testing.T) {
	type ch = pushstream.Channel
	cases := []struct {
		path string
		want []ch
	}{
		{"", nil},
		{"/", nil},
		{"ch1", []ch{{"ch1", 0}}},
		{"ch1.b3", []ch{{"ch1", 3}}},
		{"ch1.b3/ch2.b5/ch3", []ch{{"ch1", 3}, {"ch2", 5}, {"ch3", 0}}},
		{"ch1/", []ch{{"ch1", 0}}},
		{"a//b", []ch{{"a", 0}, {"b", 0}}},
		{"a.b", []ch{{"a.b", 0}}},
		{"a.bx", []ch{{"a.bx", 0}}},
		{"a.b2x", []ch{{"a.b2x", 0}}},
		{"a.b1.b2", []ch{{"a.b1", 2}}},
		{"a.b0", []ch{{"a", 0}}},
		{".b3", nil},
		{"a.b99999999999999999999", []ch{{"a", pushstream.MaxBacktrack}}},
		{"x.y.b10/z", []ch{{"x.y", 10}, {"z", 0}}},
	}
	for _, c := range cases {
		if got := pushstream.ParseChannels(c.path); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseChannels(%q) = %v, want %v", c.path, got, c.want)
		}
	}
}

func TestTemplate(t *testing.T) {
	f := &pushstream.Fields{ID: 7, Text: []byte("hello"), Channel: "ch1", Time: 0, Tag: 2, EventID: "e1", EventType: "t1"}
	cases := []struct{ tpl, want string }{
		{"~text~", "hello"},
		{"", ""},
		{"plain", "plain"},
		{"~id~|~channel~|~text~|~tag~|~time~|~event-id~|~event-type~|~size~",
			"7|ch1|hello|2|Thu, 01 Jan 1970 00:00:00 GMT|e1|t1|5"},
		{"{\"id\":~id~,\"text\":\"~text~\"}", `{"id":7,"text":"hello"}`},
		{"~~text~~", "~hello~"},
		{"~nope~~id~", "~nope~7"},
		{"~", "~"},
		{"~text~~text~", "hellohello"},
	}
	for _, c := range cases {
		tp := pushstream.Compile(c.tpl)
		got := string(tp.Append(nil, f))
		if got != c.want {
			t.Errorf("Compile(%q).Append = %q, want %q", c.tpl, got, c.want)
		}
		if n := tp.Len(f); n < len(got) {
			t.Errorf("Compile(%q).Len = %d < %d", c.tpl, n, len(got))
		}
		if tp.String() != c.tpl {
			t.Errorf("String() = %q", tp.String())
		}
	}
	neg := &pushstream.Fields{ID: pushstream.PingID, Text: []byte(" ")}
	if got := string(pushstream.Compile("~id~:~text~:~channel~").Append(nil, neg)); got != "-1: :" {
		t.Errorf("ping = %q", got)
	}
}

func TestEventSource(t *testing.T) {
	cases := []struct {
		tpl  string
		f    pushstream.Fields
		want string
	}{
		{"", pushstream.Fields{Text: []byte("hello"), EventID: "e1", EventType: "t1"}, "id: e1\nevent: t1\ndata: hello\n\n"},
		{"", pushstream.Fields{Text: []byte("l1\nl2\r\n\nl3")}, "data: l1\ndata: l2\ndata: l3\n\n"},
		{"", pushstream.Fields{Text: []byte("a\rb\r")}, "data: a\ndata: b\n\n"},
		{"", pushstream.Fields{Text: nil}, "\n"},
		{"~id~:~text~:~size~", pushstream.Fields{ID: 3, Text: []byte("ab\ncde")}, "data: 3:ab:2\ndata: 3:cde:3\n\n"},
		{"data: ~text~\n", pushstream.Fields{Text: []byte("x")}, "data: x\n\n"},
	}
	for _, c := range cases {
		tp := pushstream.Compile(pushstream.EventSourceTemplate(c.tpl))
		got := string(pushstream.AppendEvent(nil, tp, &c.f))
		if got != c.want {
			t.Errorf("event(%q, %q) = %q, want %q", c.tpl, c.f.Text, got, c.want)
		}
		if n := pushstream.EventLen(tp, &c.f); n < len(got) {
			t.Errorf("EventLen = %d < %d", n, len(got))
		}
	}
	heads := []struct{ tpl, head, foot string }{
		{"", ": \n", ""},
		{"HEAD\r\nline2", ": HEAD\n: line2\n", ": HEAD\n: line2\n"},
		{": already", ": already", ": already"},
		{"bye", ": bye\n", ": bye\n"},
	}
	for _, h := range heads {
		if got := pushstream.EventSourceHeader(h.tpl); got != h.head {
			t.Errorf("EventSourceHeader(%q) = %q, want %q", h.tpl, got, h.head)
		}
		if got := pushstream.EventSourceFooter(h.tpl); got != h.foot {
			t.Errorf("EventSourceFooter(%q) = %q, want %q", h.tpl, got, h.foot)
		}
	}
}

func TestPadding(t *testing.T) {
	cases := []struct {
		max, min, n int
		es          bool
		want        int
	}{
		{4097, 1024, 10, false, 1100},
		{4097, 4097, 10, false, 4097},
		{4097, 0, 10, false, 0},
		{508, 508, 10, false, 500},
		{545, 545, 1, false, 545},
		{545, 545, 105, false, 500},
		{545, 545, 221, false, 400},
		{545, 545, 545, false, 0},
		{545, 545, 1, true, 545},
		{0, 100, 1, false, 0},
	}
	for _, c := range cases {
		p := pushstream.NewPadder(c.max).Pad(c.min, c.n, c.es)
		if len(p) != c.want {
			t.Errorf("Pad(max %d, min %d, n %d) = %d bytes, want %d", c.max, c.min, c.n, len(p), c.want)
			continue
		}
		if p == "" {
			continue
		}
		if c.es {
			if strings.Trim(p[:len(p)-1], ":") != "" || p[len(p)-1] != '\n' {
				t.Errorf("eventsource padding %q", p[:10])
			}
		} else if strings.Trim(p, "\r\n") != "" {
			t.Errorf("stream padding not line ends")
		}
	}
}

func TestParseTag(t *testing.T) {
	cases := map[string]int64{"": -1, "W/3": 3, "3": 3, "W/": -1, "x": -1, "12a": -1, "W/0": 0, "99999999999": -1}
	for in, want := range cases {
		if got := pushstream.ParseTag(in); got != want {
			t.Errorf("ParseTag(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestForbidden(t *testing.T) {
	for id, want := range map[string]bool{"ALL": true, "a*": true, "*": true, "all": false, "ch": false} {
		if got := pushstream.Forbidden(id); got != want {
			t.Errorf("Forbidden(%q) = %v", id, got)
		}
	}
}
