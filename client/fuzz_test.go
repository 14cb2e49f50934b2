package client

import (
	"errors"
	"net/http"
	"testing"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/protocol/msgid"
)

// FuzzPollID reads long-poll id headers: it never panics, and an id it
// accepts has one tag per channel and reads back from its own headers.
func FuzzPollID(f *testing.F) {
	f.Add("0", "Sun, 22 Nov 2026 19:43:11 GMT", 1)
	f.Add("[0],-,-", "Sun, 22 Nov 2026 19:43:11 GMT", 3)
	f.Add("1795376591:0,[2]", "", 2)
	f.Add(`W/"3"`, "Thu, 01 Jan 1970 00:00:00 GMT", 1)
	f.Add("", "", 1)
	f.Add("x:y", "garbage", 4)
	f.Fuzz(func(t *testing.T, etag, lastModified string, n int) {
		n = n%300 - 20
		h := http.Header{}
		h.Set("Etag", etag)
		h.Set("Last-Modified", lastModified)
		m, err := PollID(h, n)
		if err != nil {
			return
		}
		if len(m.Tags) != n || m.Time <= 0 && lastModified != "" && !containsColon(etag) {
			t.Fatalf("PollID(%q, %q, %d) = %+v", etag, lastModified, n, m)
		}
		back := http.Header{}
		back.Set("Etag", m.TagString())
		back.Set("Last-Modified", protocol.HTTPDate(m.Time))
		if m.Time > 0 && m.Time < 1<<40 {
			m2, err := PollID(back, n)
			if err != nil || m2.String() != m.String() {
				t.Fatalf("%+v read back as %+v, %v", m, m2, err)
			}
		}
		if _, err := msgid.Parse(m.String(), n); err != nil {
			t.Fatalf("%+v formats as %q, which does not parse: %v", m, m.String(), err)
		}
	})
}

func containsColon(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return true
		}
	}
	return false
}

// FuzzCloseError reads WebSocket close frames: a status in the reason
// decides, and only 410 matches ErrGone.
func FuzzCloseError(f *testing.F) {
	f.Add(uint16(1001), "410 Gone")
	f.Add(uint16(1000), "408 408 Request Timeout")
	f.Add(uint16(1008), "403 Forbidden")
	f.Add(uint16(1013), "")
	f.Add(uint16(1000), "")
	f.Add(uint16(1011), "5000")
	f.Fuzz(func(t *testing.T, code uint16, reason string) {
		err := closeError("ws://x/", protocol.CloseCode(code), reason)
		if err == nil {
			t.Fatal("no error")
		}
		if errors.Is(err, ErrGone) != (len(reason) >= 3 && reason[:3] == "410" && (len(reason) == 3 || reason[3] == ' ') && code != uint16(protocol.CloseTryAgainLater)) {
			t.Fatalf("closeError(%d, %q) = %v", code, reason, err)
		}
	})
}

// FuzzParseInfo reads channel info: it never panics.
func FuzzParseInfo(f *testing.F) {
	f.Add(`{"messages": 5, "requested": 18, "subscribers": 0, "last_message_id": "1450755280:0" }`)
	f.Add(`{"messages": 0, "requested": -1, "subscribers": 2, "last_message_id": "0" }`)
	f.Add(`{`)
	f.Fuzz(func(t *testing.T, body string) {
		in, err := parseInfo("c", []byte(body))
		if err == nil && in.Requested < 0 && in.Requested != -1 {
			t.Fatalf("%q: requested %v", body, in.Requested)
		}
	})
}

// FuzzParseListPage reads channel listing pages: it never panics, and a
// page it accepts keeps every channel's "requested" at -1 or more.
func FuzzParseListPage(f *testing.F) {
	f.Add(`{"channels":[{"group":"","id":"chat","messages":3,"requested":12,"subscribers":2,"last_message_id":"1796279597:2"}],"next":"/chat"}`)
	f.Add(`{"channels":[]}`)
	f.Add(`{"channels":[{"requested":-5}]}`)
	f.Add(`[`)
	f.Fuzz(func(t *testing.T, body string) {
		p, err := parseListPage([]byte(body))
		if err != nil {
			return
		}
		for _, c := range p.Channels {
			if c.Info.Requested < -1 {
				t.Fatalf("%q: requested %v", body, c.Info.Requested)
			}
		}
	})
}
