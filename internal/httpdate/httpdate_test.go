package httpdate

import (
	"net/http"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want int64 // -1: refused
	}{
		{"Sun, 06 Nov 1994 08:49:37 GMT", 784111777},
		{"Thu, 01 Jan 1970 00:00:00 GMT", 0},
		{"Mon, 29 Feb 2016 23:59:59 GMT", 1456790399},
		{"Tue, 29 Feb 2000 12:00:00 GMT", 951825600},
		{"Wed, 31 Dec 9999 23:59:59 GMT", 253402300799},
		{"Fri, 06 Nov 1994 08:49:37 GMT", 784111777},  // the day name is not checked against the date
		{"Sunday, 06-Nov-94 08:49:37 GMT", 784111777}, // RFC 850, through net/http
		{"Sun Nov  6 08:49:37 1994", 784111777},       // asctime, through net/http
		{"Sun, 06 Nov 1994 8:49:37 GMT", 784111777},   // one-digit hour: net/http takes it
		{"Mon, 29 Feb 2015 00:00:00 GMT", -1},
		{"Mon, 29 Feb 1900 00:00:00 GMT", -1},
		{"Mon, 31 Apr 2015 00:00:00 GMT", -1},
		{"Mon, 00 Jan 2015 00:00:00 GMT", -1},
		{"Mon, 01 Jan 2015 24:00:00 GMT", -1},
		{"Mon, 01 Jan 2015 00:60:00 GMT", -1},
		{"Mon, 01 Jan 2015 00:00:60 GMT", -1},
		{"Mon, 01 Foo 2015 00:00:00 GMT", -1},
		{"Xyz, 01 Jan 2015 00:00:00 GMT", -1},
		{"Mon, 01 Jan 2015 00:00:00 UTC", -1},
		{"Mon, 0a Jan 2015 00:00:00 GMT", -1},
		{"Mon, 01 Jan 2015 00:00:00 GMTX", -1},
		{"", -1},
		{"0", -1},
	}
	for _, tt := range tests {
		got, ok := Parse(tt.in)
		if tt.want < 0 {
			if ok {
				t.Errorf("Parse(%q) = %d, want it refused", tt.in, got)
			}
			continue
		}
		if !ok || got != tt.want {
			t.Errorf("Parse(%q) = %d, %v; want %d", tt.in, got, ok, tt.want)
		}
	}
}

// TestFormattedTimes reads back what net/http writes, over a spread of
// seconds.
func TestFormattedTimes(t *testing.T) {
	for sec := int64(-86400 * 365); sec < 4e9; sec += 7919 * 97 {
		s := time.Unix(sec, 0).UTC().Format(http.TimeFormat)
		if got, ok := parseFixdate(s); !ok || got != sec {
			t.Fatalf("parseFixdate(%q) = %d, %v; want %d", s, got, ok, sec)
		}
	}
}

// FuzzParse checks that the direct reading agrees with net/http: whatever
// it takes, http.ParseTime takes as the same second, and whatever
// http.ParseTime takes in the preferred form, it takes too.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"Sun, 06 Nov 1994 08:49:37 GMT", "Mon, 29 Feb 2016 23:59:59 GMT", "Mon, 31 Apr 2015 00:00:00 GMT", "Sunday, 06-Nov-94 08:49:37 GMT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := http.ParseTime(s)
		got, ok := parseFixdate(s)
		if ok && (err != nil || want.Unix() != got) {
			t.Fatalf("parseFixdate(%q) = %d; http.ParseTime: %v, %v", s, got, want.Unix(), err)
		}
		if !ok && err == nil && len(s) == len(http.TimeFormat) && time.Unix(want.Unix(), 0).UTC().Format(http.TimeFormat) == s {
			t.Fatalf("parseFixdate(%q) refused what http.ParseTime takes", s)
		}
		if p, pok := Parse(s); pok != (err == nil) || (pok && p != want.Unix()) {
			t.Fatalf("Parse(%q) = %d, %v; http.ParseTime: %v, %v", s, p, pok, want.Unix(), err)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Parse("Sun, 06 Nov 1994 08:49:37 GMT"); !ok {
			b.Fatal("refused")
		}
	}
}

func BenchmarkNetHTTPParseTime(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := http.ParseTime("Sun, 06 Nov 1994 08:49:37 GMT"); err != nil {
			b.Fatal(err)
		}
	}
}
