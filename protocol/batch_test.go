package protocol_test

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/heraldpush/herald/protocol"
)

func TestParseBatch(t *testing.T) {
	tests := []struct {
		name string
		body string
		max  int
		want []protocol.BatchMessage
		err  string // part of the error; "" for none
		idx  int
	}{
		{"two messages", `[{"channel":"a","data":"hi"},{"channel":"b","data_b64":"AAH/","content_type":"application/octet-stream","event":"e","token":"t"}]`, 0,
			[]protocol.BatchMessage{{Channel: "a", Data: []byte("hi")}, {Channel: "b", Data: []byte{0, 1, 0xff}, ContentType: "application/octet-stream", Event: "e", Token: "t"}}, "", 0},
		{"empty data", `[{"channel":"a","data":""}]`, 0, []protocol.BatchMessage{{Channel: "a", Data: []byte{}}}, "", 0},
		{"unknown fields ignored", ` [{"channel":"a","data":"x","later":1}] `, 0, []protocol.BatchMessage{{Channel: "a", Data: []byte("x")}}, "", 0},
		{"empty array", `[]`, 0, nil, "", 0},
		{"not an array", `{"channel":"a"}`, 0, nil, "not a JSON array", -1},
		{"empty body", ``, 0, nil, "not a JSON array", -1},
		{"no channel", `[{"channel":"a","data":"x"},{"data":"y"}]`, 0, nil, "no channel", 1},
		{"no data", `[{"channel":"a"}]`, 0, nil, "no data", 0},
		{"both data", `[{"channel":"a","data":"x","data_b64":"eA=="}]`, 0, nil, "both data", 0},
		{"bad base64", `[{"channel":"a","data_b64":"!!"}]`, 0, nil, "not base64", 0},
		{"wrong type", `[{"channel":5,"data":"x"}]`, 0, nil, "wrong type", 0},
		{"not an object", `["a"]`, 0, nil, "not a valid message", 0},
		{"unterminated", `[{"channel":"a","data":"x"}`, 0, nil, "batch", -1},
		{"trailing data", `[{"channel":"a","data":"x"}] []`, 0, nil, "data after the array", -1},
		{"too many", `[{"channel":"a","data":"x"},{"channel":"a","data":"x"},{"channel":"a","data":"x"}]`, 2, nil, "more than 2 messages", -1},
		{"at the limit", `[{"channel":"a","data":"x"},{"channel":"a","data":"y"}]`, 2,
			[]protocol.BatchMessage{{Channel: "a", Data: []byte("x")}, {Channel: "a", Data: []byte("y")}}, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := protocol.ParseBatch([]byte(tc.body), tc.max)
			if tc.err != "" {
				var pe *protocol.BatchParseError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.err) || pe.Index != tc.idx {
					t.Fatalf("error %v, want a BatchParseError at %d about %q", err, tc.idx, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestBatchRoundTrip(t *testing.T) {
	msgs := []protocol.BatchMessage{
		{Channel: "a", Data: []byte("hello \"world\"\n")},
		{Channel: "b/c", Data: []byte{0xff, 0}, ContentType: "application/octet-stream", Event: "ev", Token: "tok"},
		{Channel: "d", Data: []byte{}},
	}
	got, err := protocol.ParseBatch(protocol.AppendBatchMessages(nil, msgs), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, msgs) {
		t.Errorf("round trip: got %+v, want %+v", got, msgs)
	}
	results := []protocol.BatchResult{{Channel: "a", ID: "1795376591:0", Status: 202}, {Channel: "b", Status: 403, Reason: "Forbidden."}}
	body := protocol.AppendBatchResults(nil, results)
	if want := `{"results":[{"channel":"a","id":"1795376591:0","status":202},{"channel":"b","status":403,"reason":"Forbidden."}]}`; string(body) != want {
		t.Errorf("results = %s, want %s", body, want)
	}
	back, err := protocol.ParseBatchResults(body)
	if err != nil || !reflect.DeepEqual(back, results) {
		t.Errorf("results round trip: %+v, %v", back, err)
	}
}

func FuzzParseBatch(f *testing.F) {
	for _, s := range []string{`[]`, `[{"channel":"a","data":"hi"}]`, `[{"channel":"b","data_b64":"AAH/","event":"e"}]`, `[{"channel":"a"}`, `{}`, `[1,2]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs, err := protocol.ParseBatch(body, 100)
		if err != nil {
			var pe *protocol.BatchParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a BatchParseError", err)
			}
			return
		}
		if len(msgs) > 100 {
			t.Fatalf("%d messages past the limit", len(msgs))
		}
		for _, m := range msgs {
			if m.Channel == "" || m.Data == nil {
				t.Fatalf("accepted a message without channel or data: %+v", m)
			}
		}
		// What parses re-encodes to an equal batch.
		again, err := protocol.ParseBatch(protocol.AppendBatchMessages(nil, msgs), 0)
		if err != nil {
			t.Fatalf("re-encoded batch does not parse: %v", err)
		}
		if len(again) != len(msgs) {
			t.Fatalf("re-encoded batch has %d messages, want %d", len(again), len(msgs))
		}
	})
}

// benchBatch is a batch of 100 messages over 100 channels.
func benchBatch() []protocol.BatchMessage {
	msgs := make([]protocol.BatchMessage, 100)
	for i := range msgs {
		msgs[i] = protocol.BatchMessage{Channel: "room" + strconv.Itoa(i), Data: []byte("hello world")}
	}
	return msgs
}

func BenchmarkParseBatch(b *testing.B) {
	body := protocol.AppendBatchMessages(nil, benchBatch())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := protocol.ParseBatch(body, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendBatchResults(b *testing.B) {
	results := make([]protocol.BatchResult, 100)
	for i := range results {
		results[i] = protocol.BatchResult{Channel: "room" + strconv.Itoa(i), ID: "1795376591:" + strconv.Itoa(i), Status: 202}
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = protocol.AppendBatchResults(buf[:0], results)
	}
}
