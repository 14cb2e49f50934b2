package route

import (
	"testing"

	"github.com/heraldpush/herald/internal/clientaddr"
)

func TestListAllows(t *testing.T) {
	trusted := func(entries ...string) *List {
		a, err := clientaddr.ParseTrusted(entries)
		if err != nil {
			t.Fatal(err)
		}
		return &List{Allow: a}
	}
	local := trusted("127.0.0.0/8", "::1/128", "unix:") // the default
	some := trusted("10.1.0.0/16", "2001:db8::/32")
	tests := []struct {
		l      *List
		remote string
		want   bool
	}{
		{local, "127.0.0.1:5000", true},
		{local, "127.3.4.5:1", true},
		{local, "[::1]:5000", true},
		{local, "[::ffff:127.0.0.1]:5000", true},
		{local, "unix:", true},
		{local, "@", true},
		{local, "10.0.0.1:5000", false},
		{local, "[2001:db8::1]:80", false},
		{local, "192.168.1.1:80", false},
		{local, "not an address", false},
		{local, "127.0.0.1", false}, // not a RemoteAddr
		{some, "10.1.2.3:9", true},
		{some, "10.2.0.1:9", false},
		{some, "[2001:db8:5::1]:9", true},
		{some, "127.0.0.1:9", false},
		{some, "unix:", false},
	}
	for _, tt := range tests {
		if got := tt.l.Allows(tt.remote); got != tt.want {
			t.Errorf("%+v allows %q: %v, want %v", tt.l.Allow, tt.remote, got, tt.want)
		}
	}
}
