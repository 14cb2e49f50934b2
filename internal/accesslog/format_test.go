package accesslog

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func testRequest() *http.Request {
	r, _ := http.NewRequest("GET", "http://example.com/sub/a?x=1&y=%22q%22", nil)
	r.RequestURI = "/sub/a?x=1&y=%22q%22"
	r.Proto = "HTTP/1.1"
	r.RemoteAddr = "192.0.2.7:50123"
	r.Host = "example.com"
	r.Header.Set("User-Agent", `Mozilla "quoted" \ agent`)
	r.Header.Set("X-Custom-Thing", "v1")
	r.Header.Add("X-Custom-Thing", "v2")
	r.SetBasicAuth("alice", "secret")
	return r
}

func TestFormats(t *testing.T) {
	at := time.Date(2026, 12, 3, 7, 5, 9, 123e6, time.FixedZone("", 3600))
	e := &Entry{Request: testRequest(), Time: at, Status: 200, BodyBytes: 42, Duration: 1500 * time.Millisecond,
		Messages: 7, Transport: "eventsource"}
	tests := []struct {
		format, want string
	}{
		{"combined", `192.0.2.7 - alice [03/Dec/2026:07:05:09 +0100] "GET /sub/a?x=1&y=%22q%22 HTTP/1.1" 200 42 "-" "Mozilla \x22quoted\x22 \x5C agent"`},
		{CombinedStream, `192.0.2.7 - alice [03/Dec/2026:07:05:09 +0100] "GET /sub/a?x=1&y=%22q%22 HTTP/1.1" 200 42 "-" "Mozilla \x22quoted\x22 \x5C agent" 1.500 7`},
		{"$remote_port $request_method $uri $args $server_protocol $host", `50123 GET /sub/a x=1&y=%22q%22 HTTP/1.1 example.com`},
		{"${status}x $msec $time_iso8601", `200x 1796277909.123 2026-12-03T07:05:09+01:00`},
		{"$http_x_custom_thing|$http_missing|$transport|$messages_sent", `v1, v2|-|eventsource|7`},
		{"$query_string $bytes_sent $request_uri", `x=1&y=%22q%22 42 /sub/a?x=1&y=%22q%22`},
		{"no variables", "no variables"},
		{"combined-ish $status", "combined-ish 200"},
	}
	for _, tt := range tests {
		f, err := Compile(tt.format)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.format, err)
			continue
		}
		if got := string(f.Append(nil, e)); got != tt.want {
			t.Errorf("format %q:\n got %s\nwant %s", tt.format, got, tt.want)
		}
	}
}

func TestFormatErrors(t *testing.T) {
	for _, f := range []string{"$nope", "${unterminated", "a $ b", "${}", "$http_"} {
		if _, err := Compile(f); err == nil {
			t.Errorf("Compile(%q) accepted", f)
		}
	}
}

// FuzzCompile: any format either fails to compile or formats any entry
// into one line.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{Combined, CombinedStream, "$status ${msec}", "$http_user_agent", "${", "$", "$$", "x$1"} {
		f.Add(s, "agent\nwith\x00bytes")
	}
	f.Fuzz(func(t *testing.T, format, ua string) {
		fm, err := Compile(format)
		if err != nil {
			return
		}
		r := testRequest()
		r.Header.Set("User-Agent", ua)
		line := fm.Append(nil, &Entry{Request: r, Time: time.Unix(0, 0), Status: 200})
		if strings.ContainsAny(format, "\n\r") {
			return // a newline the format itself holds
		}
		if strings.ContainsAny(string(line), "\n\r") {
			t.Fatalf("format %q with agent %q makes more than one line: %q", format, ua, line)
		}
	})
}
