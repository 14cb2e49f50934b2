package protocol

import (
	"strings"
	"testing"
)

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name, event, id, body, want string
	}{
		{"plain", "", "1:0", "hello", "id: 1:0\ndata: hello\n\n"},
		{"event", "chat", "1:1", "hi", "event: chat\nid: 1:1\ndata: hi\n\n"},
		{"empty body", "", "1:0", "", "id: 1:0\ndata: \n\n"},
		{"LF", "", "1:0", "a\nb", "id: 1:0\ndata: a\ndata: b\n\n"},
		{"CRLF", "", "1:0", "a\r\nb", "id: 1:0\ndata: a\ndata: b\n\n"},
		{"lone CR", "", "1:0", "a\rb", "id: 1:0\ndata: a\ndata: b\n\n"},
		{"trailing LF", "", "1:0", "a\n", "id: 1:0\ndata: a\ndata: \n\n"},
		{"blank lines", "", "1:0", "\n\n", "id: 1:0\ndata: \ndata: \ndata: \n\n"},
		{"event with newline", "a\nb", "1:0", "x", "event: ab\nid: 1:0\ndata: x\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendEvent(nil, tt.event, tt.id, []byte(tt.body))); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFraming(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"ping default", string(AppendPing(nil, "", "ping", "")), "event: ping\n\n"},
		{"ping empty", string(AppendPing(nil, "", "", "")), ":\n\n"},
		{"ping all", string(AppendPing(nil, "c", "e", "d")), ":c\nevent: e\ndata: d\n\n"},
		{"status 410", string(AppendStatusComment(nil, 410, "")), ":410: 410 Gone\n\n"},
		{"status 408", string(AppendStatusComment(nil, 408, "")), ":408: 408 Request Timeout\n\n"},
		{"status text", string(AppendStatusComment(nil, 503, "Subscriber Too Slow")), ":503: 503 Subscriber Too Slow\n\n"},
		{"chunk", string(AppendChunk(nil, []byte("hello world, 17b"))), "10\r\nhello world, 17b\r\n"},
		{"multipart part", string(AppendMultipartPart(nil, "B", "Thu, 01 Jan 1970 00:00:01 GMT", "Etag", "0", "text/x", []byte("m"))),
			"\r\nLast-Modified: Thu, 01 Jan 1970 00:00:01 GMT\r\nEtag: 0\r\nContent-Type: text/x\r\n\r\nm\r\n--B"},
		{"multipart compound", string(AppendMultipartPart(nil, "B", "", "Etag", "1:0", "", []byte("m"))), "\r\nEtag: 1:0\r\n\r\nm\r\n--B"},
		{"ws meta", string(AppendWSMeta(nil, "1:[0],-", "text/plain")), "id: 1:[0],-\ncontent-type: text/plain\n\n"},
		{"ws meta no type", string(AppendWSMeta(nil, "1:0", "")), "id: 1:0\n\n"},
		{"date", HTTPDate(1450755280), "Tue, 22 Dec 2015 03:34:40 GMT"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	var rnd [32]byte
	for i := range rnd {
		rnd[i] = byte(i * 7)
	}
	b := Boundary(rnd)
	if len(b) != 32 || strings.Trim(b, boundaryChars) != "" {
		t.Errorf("boundary %q: want 32 characters from %q", b, boundaryChars)
	}
}

// parseEvent reads one event the way the EventSource format defines it:
// lines end at CR, LF or CRLF; data lines join with LF.
func parseEvent(s string) (event, id, data string, ok bool) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	if !strings.HasSuffix(s, "\n\n") {
		return "", "", "", false
	}
	var datas []string
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n\n"), "\n") {
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			event = value
		case "id":
			id = value
		case "data":
			datas = append(datas, value)
		default:
			return "", "", "", false
		}
	}
	return event, id, strings.Join(datas, "\n"), true
}

// FuzzAppendEvent: any body survives the EventSource framing: a client
// reading the event gets the body back with its line breaks as LF.
func FuzzAppendEvent(f *testing.F) {
	f.Add("ev", "1:0", "hello\nworld")
	f.Add("", "1:0", "a\r\nb\rc\n")
	f.Add("x\ny", "1:[0],-", "")
	f.Fuzz(func(t *testing.T, event, id, body string) {
		out := string(AppendEvent(nil, event, id, []byte(body)))
		gotEvent, gotID, gotData, ok := parseEvent(out)
		if !ok {
			t.Fatalf("unparsable event %q", out)
		}
		strip := strings.NewReplacer("\r", "", "\n", "")
		wantData := strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\r", "\n")
		if gotData != wantData || gotID != strip.Replace(id) || gotEvent != strip.Replace(event) {
			t.Fatalf("event %q id %q data %q from (%q, %q, %q)", gotEvent, gotID, gotData, event, id, body)
		}
	})
}

// TestPiecewise: the heads, separators and ends written around a body in
// pieces make the same bytes as the whole encoders.
func TestPiecewise(t *testing.T) {
	body := []byte("first line\r\nsecond\nthird")
	lines := []string{"first line", "second", "third"}
	tests := []struct {
		name, got, want string
	}{
		{"event", string(AppendEventHead(nil, "chat", "1:2")) + strings.Join(lines, EventDataBreak) + EventEnd,
			string(AppendEvent(nil, "chat", "1:2", body))},
		{"event without name", string(AppendEventHead(nil, "", "1:2")) + "x" + EventEnd, string(AppendEvent(nil, "", "1:2", []byte("x")))},
		{"chunk", string(AppendChunkHead(nil, len(body))) + string(body) + ChunkDataEnd, string(AppendChunk(nil, body))},
		{"multipart", string(AppendMultipartHead(nil, "Thu, 01 Jan 1970 00:00:01 GMT", "Etag", "0", "text/x")) + string(body) +
			string(AppendMultipartBoundary(nil, "B")),
			string(AppendMultipartPart(nil, "B", "Thu, 01 Jan 1970 00:00:01 GMT", "Etag", "0", "text/x", body))},
		{"frame", string(AppendFrameHeader(nil, OpText, Fin, len(body))) + string(body), string(AppendFrame(nil, OpText, Fin, body))},
		{"long frame", string(AppendFrameHeader(nil, OpBinary, Fin|RSV1, 70000)) + strings.Repeat("x", 70000),
			string(AppendFrame(nil, OpBinary, Fin|RSV1, []byte(strings.Repeat("x", 70000))))},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: pieces give %.80q, want %.80q", tt.name, tt.got, tt.want)
		}
	}
}
