package route

import (
	"net/netip"
	"testing"
)

func TestListAllows(t *testing.T) {
	loopback := &List{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	some := &List{Allow: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("2001:db8::/32")}}
	tests := []struct {
		l      *List
		remote string
		want   bool
	}{
		{loopback, "127.0.0.1:5000", true},
		{loopback, "127.3.4.5:1", true},
		{loopback, "[::1]:5000", true},
		{loopback, "[::ffff:127.0.0.1]:5000", true},
		{loopback, "10.0.0.1:5000", false},
		{loopback, "[2001:db8::1]:80", false},
		{loopback, "192.168.1.1:80", false},
		{loopback, "", false},
		{loopback, "not an address", false},
		{some, "10.1.2.3:9", true},
		{some, "10.2.0.1:9", false},
		{some, "[2001:db8:5::1]:9", true},
		{some, "127.0.0.1:9", false},
		{some, "10.1.2.3", true}, // no port
	}
	for _, tt := range tests {
		if got := tt.l.Allows(tt.remote); got != tt.want {
			t.Errorf("%v allows %q: %v, want %v", tt.l.Allow, tt.remote, got, tt.want)
		}
	}
}
