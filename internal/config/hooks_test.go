package config

import (
	"strings"
	"testing"
	"time"
)

func TestHookKeys(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		check func(t *testing.T, l *Location)
	}{
		{"url", `authorize_request: http://app:8080/auth`, func(t *testing.T, l *Location) {
			h := l.AuthorizeRequest
			if h == nil || h.URL.String() != "http://app:8080/auth" || h.Timeout != 5*time.Second || !h.PassRequestHeaders || h.PassRequestBody {
				t.Fatalf("authorize_request %+v", h)
			}
		}},
		{"nchan prefix", `nchan_subscribe_request: http://app/sub`, func(t *testing.T, l *Location) {
			if l.SubscribeRequest == nil || l.SubscribeRequest.URL.String() != "http://app/sub" {
				t.Fatalf("subscribe_request %+v", l.SubscribeRequest)
			}
		}},
		{"off", `unsubscribe_request: off`, func(t *testing.T, l *Location) {
			if l.UnsubscribeRequest != nil {
				t.Fatalf("unsubscribe_request %+v", l.UnsubscribeRequest)
			}
		}},
		{"mapping", "publisher_upstream_request: {url: \"https://app/up/$nchan_channel_id\", timeout: 2s, headers: {X-Channel-Id: $nchan_channel_id, X-Empty: \"\"}, pass_request_headers: off, pass_request_body: on}", func(t *testing.T, l *Location) {
			h := l.PublisherUpstreamRequest
			if h == nil || h.Timeout != 2*time.Second || h.PassRequestHeaders || !h.PassRequestBody || len(h.Headers) != 2 ||
				h.Headers[0].Name != "X-Channel-Id" || h.Headers[0].Value.String() != "$nchan_channel_id" {
				t.Fatalf("publisher_upstream_request %+v", h)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(locYAML(tt.extra)), "test.yaml")
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, &c.Servers[0].Locations[0])
		})
	}
}

func TestHookKeyErrors(t *testing.T) {
	tests := []struct {
		extra string
		want  string
	}{
		{`authorize_request: /auth`, "calls the application directly"},
		{`authorize_request: ftp://x/`, "http:// or https://"},
		{`authorize_request: {timeout: 1s}`, "needs a url"},
		{`authorize_request: {url: "http://a/", bogus: 1}`, `unknown hook key "bogus"`},
		{`authorize_request: {url: "http://a/", timeout: never}`, "test.yaml:7"},
		{`authorize_request: {url: "http://a/", timeout: 0}`, "more than 0"},
		{`authorize_request: {url: "http://a/", headers: [a, b]}`, "mapping of header names"},
		{`authorize_request: {url: "http://a/", headers: {"Bad Name": x}}`, "not a valid header name"},
		{`authorize_request: {url: "http://a/$nope"}`, "unknown variable"},
		{`authorize_request: [http://a/]`, "want a URL or a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.extra, func(t *testing.T) {
			_, err := Parse([]byte(locYAML(tt.extra)), "test.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
