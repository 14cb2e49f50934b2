package protocol

import (
	"bytes"
	"reflect"
	"testing"
)

// TestParseBatchFastShapes: which bodies the fast reader takes, and that
// what it takes means the same to encoding/json.
func TestParseBatchFastShapes(t *testing.T) {
	tests := []struct {
		name string
		body string
		max  int
		fast bool
	}{
		{"empty array", `[]`, 0, true},
		{"spaced", " [ { \"channel\" : \"a\" ,\n\"data\":\"x\" } ,\t{\"channel\":\"b\",\"data_b64\":\"AAH/\",\"content_type\":\"t\",\"event\":\"e\",\"token\":\"k\"} ] ", 0, true},
		{"empty data", `[{"channel":"a","data":""}]`, 0, true},
		{"at the limit", `[{"channel":"a","data":"x"},{"channel":"a","data":"y"}]`, 2, true},
		{"past the limit", `[{"channel":"a","data":"x"},{"channel":"a","data":"y"}]`, 1, false},
		{"escape", `[{"channel":"a","data":"x\"y"}]`, 0, false},
		{"non-ASCII", `[{"channel":"a","data":"é"}]`, 0, false},
		{"unknown field", `[{"channel":"a","data":"x","later":"1"}]`, 0, false},
		{"field in capitals", `[{"Channel":"a","data":"x"}]`, 0, false},
		{"duplicate field", `[{"channel":"a","channel":"b","data":"x"}]`, 0, false},
		{"number value", `[{"channel":"a","data":5}]`, 0, false},
		{"null data", `[{"channel":"a","data":null}]`, 0, false},
		{"no channel", `[{"data":"x"}]`, 0, false},
		{"no data", `[{"channel":"a"}]`, 0, false},
		{"both data", `[{"channel":"a","data":"x","data_b64":"eA=="}]`, 0, false},
		{"bad base64", `[{"channel":"a","data_b64":"!!"}]`, 0, false},
		{"trailing comma", `[{"channel":"a","data":"x"},]`, 0, false},
		{"after the array", `[{"channel":"a","data":"x"}] []`, 0, false},
		{"unterminated", `[{"channel":"a","data":"x"}`, 0, false},
		{"empty object", `[{}]`, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := bytes.TrimSpace([]byte(tc.body))
			got, ok := parseBatchFast(body, tc.max)
			if ok != tc.fast {
				t.Fatalf("fast reader took it: %v, want %v", ok, tc.fast)
			}
			if ok {
				want, err := parseBatchJSON(body, tc.max)
				if err != nil {
					t.Fatalf("encoding/json refuses what the fast reader took: %v", err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("fast %+v, encoding/json %+v", got, want)
				}
			}
		})
	}
}

// FuzzParseBatchFast: whatever the fast reader takes, encoding/json takes
// too, with the same messages.
func FuzzParseBatchFast(f *testing.F) {
	for _, s := range []string{`[]`, `[{"channel":"a","data":"hi"}]`, `[{"channel":"b","data_b64":"AAH/","event":"e"}]`,
		`[{"channel":"a","data":""},{"channel":"c","data":"x","token":"t","content_type":"text/plain"}]`, `[{"channel":"a"}`, `{}`, `[1,2]`} {
		f.Add([]byte(s), 0)
	}
	f.Fuzz(func(t *testing.T, body []byte, max int) {
		body = bytes.TrimSpace(body)
		got, ok := parseBatchFast(body, max)
		if !ok {
			return
		}
		want, err := parseBatchJSON(body, max)
		if err != nil {
			t.Fatalf("encoding/json refuses %q, which the fast reader took: %v", body, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: fast %+v, encoding/json %+v", body, got, want)
		}
	})
}
