package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

func TestParseMuxFrame(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want MuxFrame
		err  string
	}{
		{"subscribe", `{"op":"subscribe","channel":"a","from":"start","ref":1}`, MuxFrame{Op: MuxSubscribe, Channel: "a", From: "start", Ref: 1}, ""},
		{"subscribe with token", `{"op":"subscribe","channel":"a","token":"t.k.n"}`, MuxFrame{Op: MuxSubscribe, Channel: "a", Token: "t.k.n"}, ""},
		{"unsubscribe", ` {"op":"unsubscribe","channel":"a","ref":7} `, MuxFrame{Op: MuxUnsubscribe, Channel: "a", Ref: 7}, ""},
		{"publish text", `{"op":"publish","channel":"a","data":"hi\n","content_type":"text/plain","ref":2}`, MuxFrame{Op: MuxPublish, Channel: "a", Data: []byte("hi\n"), ContentType: "text/plain", Ref: 2}, ""},
		{"publish empty", `{"op":"publish","channel":"a","data":""}`, MuxFrame{Op: MuxPublish, Channel: "a", Data: []byte{}}, ""},
		{"publish base64", `{"op":"publish","channel":"a","data_b64":"AP8="}`, MuxFrame{Op: MuxPublish, Channel: "a", Data: []byte{0, 0xff}}, ""},
		{"unknown fields ignored", `{"op":"ping","future":[1,2]}`, MuxFrame{Op: MuxPing}, ""},
		{"ack", `{"op":"ack","ref":2,"id":"1:0","channel":"a"}`, MuxFrame{Op: MuxAck, Ref: 2, ID: "1:0", Channel: "a"}, ""},
		{"error", `{"op":"error","ref":3,"status":403,"reason":"no"}`, MuxFrame{Op: MuxError, Ref: 3, Status: 403, Reason: "no"}, ""},
		{"not json", `subscribe a`, MuxFrame{}, "not a JSON object"},
		{"array", `[1]`, MuxFrame{}, "not a JSON object"},
		{"trailing", `{"op":"ping"}{}`, MuxFrame{}, "not a valid frame"},
		{"no op", `{"channel":"a"}`, MuxFrame{}, "no op"},
		{"unknown op", `{"op":"shout","ref":4}`, MuxFrame{}, "unknown op"},
		{"subscribe without channel", `{"op":"subscribe","ref":5}`, MuxFrame{}, "needs a channel"},
		{"publish without data", `{"op":"publish","channel":"a"}`, MuxFrame{}, "needs data"},
		{"both data", `{"op":"publish","channel":"a","data":"x","data_b64":"eA=="}`, MuxFrame{}, "both data"},
		{"bad base64", `{"op":"publish","channel":"a","data_b64":"%%"}`, MuxFrame{}, "not base64"},
		{"negative ref", `{"op":"ping","ref":-1}`, MuxFrame{}, "wrong type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseMuxFrame([]byte(tt.in))
			if tt.err != "" {
				var pe *MuxParseError
				if !errors.As(err, &pe) || !bytes.Contains([]byte(pe.Reason), []byte(tt.err)) {
					t.Fatalf("err = %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !muxEqual(f, &tt.want) {
				t.Fatalf("got %+v, want %+v", f, tt.want)
			}
		})
	}
}

func TestParseMuxFrameKeepsRefOfBadFrame(t *testing.T) {
	_, err := ParseMuxFrame([]byte(`{"op":"publish","channel":"a","ref":9}`))
	var pe *MuxParseError
	if !errors.As(err, &pe) || pe.Ref != 9 {
		t.Fatalf("err = %#v, want ref 9", err)
	}
}

func TestAppendMuxFrame(t *testing.T) {
	tests := []struct {
		name string
		f    MuxFrame
		want string
	}{
		{"message", MuxFrame{Op: MuxMessage, Channel: "room", ID: "12:3", Data: []byte("a\"b\\c\n\x01"), ContentType: "text/plain"},
			`{"op":"message","channel":"room","id":"12:3","data":"a\"b\\c\n\u0001","content_type":"text/plain"}`},
		{"binary", MuxFrame{Op: MuxMessage, Channel: "b", ID: "1:0", Data: []byte{0xff, 0}},
			`{"op":"message","channel":"b","id":"1:0","data_b64":"/wA="}`},
		{"empty message", MuxFrame{Op: MuxMessage, Channel: "b", ID: "1:0"},
			`{"op":"message","channel":"b","id":"1:0","data":""}`},
		{"ack", MuxFrame{Op: MuxAck, Ref: 2, Channel: "a", ID: "5:1"}, `{"op":"ack","ref":2,"channel":"a","id":"5:1"}`},
		{"error", MuxFrame{Op: MuxError, Ref: 3, Channel: "a", Status: 403, Reason: "Forbidden"}, `{"op":"error","ref":3,"channel":"a","status":403,"reason":"Forbidden"}`},
		{"line separators", MuxFrame{Op: MuxError, Reason: "x\u2028y\xff"}, `{"op":"error","reason":"x\u2028y\ufffd"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(AppendMuxFrame(nil, &tt.f))
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Fatal("not valid JSON")
			}
		})
	}
}

func muxEqual(a, b *MuxFrame) bool {
	return a.Op == b.Op && a.Ref == b.Ref && a.Channel == b.Channel && a.From == b.From && a.Token == b.Token &&
		a.ID == b.ID && bytes.Equal(a.Data, b.Data) && (a.Data == nil) == (b.Data == nil) &&
		a.ContentType == b.ContentType && a.Event == b.Event && a.Status == b.Status && a.Reason == b.Reason
}

// FuzzParseMuxFrame checks that the parser never panics, and that every
// frame it accepts is written back by AppendMuxFrame as valid JSON that
// parses to the same frame.
func FuzzParseMuxFrame(f *testing.F) {
	for _, s := range []string{
		`{"op":"subscribe","channel":"a","from":"start","ref":1}`,
		`{"op":"subscribe","channel":"a","from":"1795376591:0","token":"x.y.z"}`,
		`{"op":"unsubscribe","channel":"a","ref":2}`,
		`{"op":"publish","channel":"a","data":"hi","content_type":"text/plain","ref":3}`,
		`{"op":"publish","channel":"a","data_b64":"AP8="}`,
		`{"op":"message","channel":"a","id":"1:0","data":"\u2028","event":"e"}`,
		`{"op":"error","ref":3,"status":403,"reason":"no"}`,
		`{"op":"ping"}`, `{}`, `[]`, `null`, `{"op":1}`, `{"ref":1e3}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		fr, err := ParseMuxFrame(p)
		if err != nil {
			if _, ok := err.(*MuxParseError); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		out := AppendMuxFrame(nil, fr)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %q from %q", out, p)
		}
		back, err := ParseMuxFrame(out)
		if err != nil {
			t.Fatalf("written frame %q does not parse: %v", out, err)
		}
		if fr.Data != nil && len(fr.Data) == 0 {
			fr.Data = []byte{}
		}
		if !muxEqual(fr, back) {
			t.Fatalf("round trip of %q: %+v, then %q: %+v", p, fr, out, back)
		}
	})
}

func ExampleParseMuxFrame() {
	// A client subscribes; the server answers and delivers.
	sub := AppendMuxFrame(nil, &MuxFrame{Op: MuxSubscribe, Channel: "room1", From: MuxFromStart, Ref: 1})
	fmt.Println(string(sub))
	f, err := ParseMuxFrame([]byte(`{"op":"message","channel":"room1","id":"1795376591:0","data":"hello"}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(f.Op, f.Channel, f.ID, string(f.Data))
	// Output:
	// {"op":"subscribe","ref":1,"channel":"room1","from":"start"}
	// message room1 1795376591:0 hello
}
