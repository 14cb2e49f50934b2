package pushstream_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/heraldpush/herald/internal/pushstream"
)

func FuzzParseChannels(f *testing.F) {
	for _, s := range []string{"", "/", "ch1.b3/ch2.b5/ch3", "a//b", "a.b1.b2", ".b3", "a.b99999999999999999999/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		chs := pushstream.ParseChannels(path)
		for _, c := range chs {
			if c.ID == "" || strings.Contains(c.ID, "/") {
				t.Fatalf("bad id %q from %q", c.ID, path)
			}
			if c.Backtrack < 0 || c.Backtrack > pushstream.MaxBacktrack {
				t.Fatalf("bad backtrack %d", c.Backtrack)
			}
			if !strings.Contains(path, c.ID) {
				t.Fatalf("id %q not in %q", c.ID, path)
			}
		}
		if len(chs) > strings.Count(path, "/")+1 {
			t.Fatalf("%d channels from %q", len(chs), path)
		}
	})
}

func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"~text~", "", "~~id~~", "{\"id\":~id~,\"text\":\"~text~\"}", "~time~~size~~tag~~event-id~~event-type~~channel~", "~"} {
		f.Add(s, []byte("hello\r\nworld"))
	}
	f.Fuzz(func(t *testing.T, tpl string, text []byte) {
		fl := &pushstream.Fields{ID: 12, Text: text, Channel: "c", Time: 1700000000, Tag: 1, EventID: "e", EventType: "t"}
		tp := pushstream.Compile(tpl)
		out := tp.Append(nil, fl)
		if len(out) > tp.Len(fl) {
			t.Fatalf("Len %d < %d", tp.Len(fl), len(out))
		}
		if !strings.Contains(tpl, "~") && string(out) != tpl {
			t.Fatalf("literal template %q rendered %q", tpl, out)
		}
		es := pushstream.Compile(pushstream.EventSourceTemplate(tpl))
		ev := pushstream.AppendEvent(nil, es, fl)
		if len(ev) > pushstream.EventLen(es, fl) {
			t.Fatalf("EventLen %d < %d", pushstream.EventLen(es, fl), len(ev))
		}
		if !bytes.HasSuffix(ev, []byte("\n")) {
			t.Fatalf("event %q does not end with a line end", ev)
		}
	})
}

func FuzzParseTag(f *testing.F) {
	for _, s := range []string{"", "W/3", "3", "W/", "x", "12a", "W/0", "99999999999", "W/W/1", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := pushstream.ParseTag(s)
		if n < -1 || n > 1<<31 {
			t.Fatalf("ParseTag(%q) = %d", s, n)
		}
		if n >= 0 && !strings.HasSuffix(s, strconv.FormatInt(n, 10)) && strings.TrimLeft(strings.TrimPrefix(s, "W/"), "0") != "" {
			t.Fatalf("ParseTag(%q) = %d, not its digits", s, n)
		}
	})
}
