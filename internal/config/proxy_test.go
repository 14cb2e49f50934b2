package config

import (
	"strings"
	"testing"
	"time"
)

func proxyYAML(lines ...string) string {
	return "servers:\n  - listen: 127.0.0.1:8080\n    locations:\n      - location: ~ ^/sub/(\\w+)$\n        " +
		strings.Join(lines, "\n        ") + "\n"
}

func TestProxyKeys(t *testing.T) {
	c, err := Parse([]byte(proxyYAML("proxy_pass: http://127.0.0.1:3000/auth/$1?u=$arg_user")+
		"      - location: ~ ^/internal/sub/(\\w+)$\n        internal: true\n        subscriber: true\n        channel_id: $1\n"), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	l := c.Servers[0].Locations[0]
	if l.ProxyPass.String() != "http://127.0.0.1:3000/auth/$1?u=$arg_user" || l.Internal {
		t.Errorf("proxy location: proxy_pass %q, internal %v", l.ProxyPass, l.Internal)
	}
	if l.ProxyConnectTimeout != 60*time.Second || l.ProxyReadTimeout != 60*time.Second {
		t.Errorf("timeouts %v, %v: want nginx's 60s defaults", l.ProxyConnectTimeout, l.ProxyReadTimeout)
	}
	if in := c.Servers[0].Locations[1]; !in.Internal || !in.ProxyPass.IsEmpty() {
		t.Errorf("internal location: internal %v, proxy_pass %q", in.Internal, in.ProxyPass)
	}
}

func TestProxyKeyErrors(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		want       []string
	}{
		{"not http", proxyYAML("proxy_pass: ftp://app/"), []string{"test.yaml:5:", "proxy_pass", "http://"}},
		{"bad variable", proxyYAML("proxy_pass: http://app/$nope"), []string{"test.yaml:5:", "unknown variable $nope"}},
		{"with a role", proxyYAML("proxy_pass: http://app", "subscriber: true", "channel_id: $1"), []string{"cannot be combined with publisher"}},
		{"capture out of range", proxyYAML("proxy_pass: http://app/$2"), []string{"uses $2", "1 capture group"}},
		{"bad timeout", proxyYAML("proxy_pass: http://app", "proxy_read_timeout: soon"), []string{"proxy_read_timeout"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), "test.yaml")
			if err == nil {
				t.Fatalf("Parse succeeded, want an error containing %q", c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
