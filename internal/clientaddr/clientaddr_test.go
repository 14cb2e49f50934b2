package clientaddr

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestParseTrusted(t *testing.T) {
	tr, err := ParseTrusted([]string{"10.0.0.0/8", "192.168.1.77/24", "2001:db8::/32", "127.0.0.1", "::1", "unix:", "::ffff:172.16.0.0/108"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		unix bool
		want bool
	}{
		{"10.1.2.3", false, true},
		{"11.0.0.1", false, false},
		{"192.168.1.200", false, true}, // host bits of 192.168.1.77/24 are ignored
		{"192.168.2.1", false, false},
		{"2001:db8:1::5", false, true},
		{"2001:db9::5", false, false},
		{"127.0.0.1", false, true},
		{"127.0.0.2", false, false},
		{"::1", false, true},
		{"::ffff:10.9.9.9", false, true}, // IPv4-mapped matches the IPv4 range
		{"172.16.5.5", false, true},      // the IPv4-mapped range is an IPv4 range
		{"", true, true},
	}
	for _, tt := range tests {
		var a netip.Addr
		if tt.addr != "" {
			a = netip.MustParseAddr(tt.addr)
		}
		if got := tr.Contains(a, tt.unix); got != tt.want {
			t.Errorf("Contains(%s, unix %v) = %v, want %v", tt.addr, tt.unix, got, tt.want)
		}
	}
	for _, bad := range []string{"", "10.0.0.0/33", "example.com", "fe80::1%eth0", "1.2.3.4:80", "unix:/x"} {
		if _, err := ParseTrusted([]string{bad}); err == nil {
			t.Errorf("ParseTrusted(%q) accepted", bad)
		}
	}
	if (Trusted{}).Contains(netip.MustParseAddr("127.0.0.1"), false) || (Trusted{}).Contains(netip.Addr{}, true) {
		t.Error("the empty set trusts someone")
	}
}

// TestResolve follows nginx's realip module: X-Forwarded-For chains with
// and without real_ip_recursive, X-Real-IP, several header lines, bad
// entries, and a header from an untrusted peer ignored.
func TestResolve(t *testing.T) {
	from, err := ParseTrusted([]string{"127.0.0.1", "10.0.0.0/8", "unix:"})
	if err != nil {
		t.Fatal(err)
	}
	xff := Resolver{From: from, Header: "X-Forwarded-For"}
	xffRec := Resolver{From: from, Header: "X-Forwarded-For", Recursive: true}
	realIP := Resolver{From: from, Header: "X-Real-IP"}
	tests := []struct {
		name   string
		r      Resolver
		remote string
		header []string // name: value lines
		want   string
	}{
		{"xff one", xff, "127.0.0.1:5000", []string{"X-Forwarded-For: 203.0.113.7"}, "203.0.113.7:0"},
		{"xff last of chain", xff, "127.0.0.1:5000", []string{"X-Forwarded-For: 203.0.113.7, 10.0.0.1"}, "10.0.0.1:0"},
		{"xff recursive skips trusted", xffRec, "127.0.0.1:5000", []string{"X-Forwarded-For: 198.51.100.1, 203.0.113.7, 10.0.0.2, 10.0.0.1"}, "203.0.113.7:0"},
		{"xff recursive all trusted: leftmost", xffRec, "127.0.0.1:5000", []string{"X-Forwarded-For: 10.0.0.2, 10.0.0.1"}, "10.0.0.2:0"},
		{"xff recursive spoofed left part kept out", xffRec, "127.0.0.1:5000", []string{"X-Forwarded-For: 10.0.0.9, 203.0.113.7"}, "203.0.113.7:0"},
		{"xff lines read as one list", xffRec, "127.0.0.1:5000", []string{"X-Forwarded-For: 198.51.100.1", "X-Forwarded-For: 10.0.0.1"}, "198.51.100.1:0"},
		{"xff not recursive: last line's last", xff, "127.0.0.1:5000", []string{"X-Forwarded-For: 198.51.100.1", "X-Forwarded-For: 10.0.0.1"}, "10.0.0.1:0"},
		{"xff with port", xff, "127.0.0.1:5000", []string{"X-Forwarded-For: 203.0.113.7:4444"}, "203.0.113.7:4444"},
		{"xff ipv6", xff, "127.0.0.1:5000", []string{"X-Forwarded-For: 2001:db8::7"}, "[2001:db8::7]:0"},
		{"xff bracketed ipv6 with port", xff, "127.0.0.1:5000", []string{"X-Forwarded-For: [2001:db8::7]:443"}, "[2001:db8::7]:443"},
		{"xff spaces and trailing comma", xff, "127.0.0.1:5000", []string{"X-Forwarded-For: 203.0.113.7 ,  "}, "203.0.113.7:0"},
		{"xff bad last: unchanged", xff, "127.0.0.1:5000", []string{"X-Forwarded-For: 203.0.113.7, junk"}, "127.0.0.1:5000"},
		{"xff recursive bad before trusted: the trusted one", xffRec, "127.0.0.1:5000", []string{"X-Forwarded-For: junk, 10.0.0.1"}, "10.0.0.1:0"},
		{"xff empty", xff, "127.0.0.1:5000", []string{"X-Forwarded-For: "}, "127.0.0.1:5000"},
		{"xff absent", xff, "127.0.0.1:5000", nil, "127.0.0.1:5000"},
		{"untrusted peer: header ignored", xffRec, "192.0.2.1:5000", []string{"X-Forwarded-For: 203.0.113.7"}, "192.0.2.1:5000"},
		{"unix peer trusted", xff, "unix:", []string{"X-Forwarded-For: 203.0.113.7"}, "203.0.113.7:0"},
		{"x-real-ip", realIP, "10.1.1.1:80", []string{"X-Real-IP: 198.51.100.9"}, "198.51.100.9:0"},
		{"x-real-ip ignores xff", realIP, "10.1.1.1:80", []string{"X-Forwarded-For: 198.51.100.9"}, "10.1.1.1:80"},
		{"x-real-ip untrusted", realIP, "198.51.100.1:80", []string{"X-Real-IP: 10.0.0.1"}, "198.51.100.1:80"},
		{"x-real-ip first line only", realIP, "10.1.1.1:80", []string{"X-Real-IP: 198.51.100.9", "X-Real-IP: 198.51.100.10"}, "198.51.100.9:0"},
		{"mapped ipv4 peer", xff, "[::ffff:127.0.0.1]:5000", []string{"X-Forwarded-For: 203.0.113.7"}, "203.0.113.7:0"},
		{"proxy_protocol reads no header", Resolver{From: from, Header: "proxy_protocol"}, "127.0.0.1:1", []string{"X-Forwarded-For: 203.0.113.7"}, "127.0.0.1:1"},
		{"no trusted proxies: off", Resolver{Header: "X-Forwarded-For"}, "127.0.0.1:1", []string{"X-Forwarded-For: 203.0.113.7"}, "127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, l := range tt.header {
				k, v, _ := strings.Cut(l, ": ")
				h.Add(k, v)
			}
			if got := tt.r.Resolve(tt.remote, h); got != tt.want {
				t.Errorf("Resolve(%s, %v) = %s, want %s", tt.remote, tt.header, got, tt.want)
			}
		})
	}
}

// FuzzForwarded checks that walking any header value never panics, and
// that the address found is the peer (untouched) unless the peer is
// trusted, and otherwise one of the list's own addresses.
func FuzzForwarded(f *testing.F) {
	for _, s := range []string{"203.0.113.7", "198.51.100.1, 10.0.0.2, 10.0.0.1", "[2001:db8::7]:443", "junk, 10.0.0.1", " , ,", "1.2.3.4:99999", "::ffff:1.2.3.4", "[fe80::1%eth0]:1"} {
		f.Add(s, "127.0.0.1", true)
		f.Add(s, "192.0.2.1", false)
	}
	from, _ := ParseTrusted([]string{"127.0.0.1", "10.0.0.0/8"})
	f.Fuzz(func(t *testing.T, list, peer string, recursive bool) {
		p, err := netip.ParseAddr(peer)
		if err != nil {
			return
		}
		p = p.Unmap()
		got, found := Forwarded(list, p, false, from, recursive)
		if !from.Contains(p, false) {
			if found || got.Addr() != p {
				t.Fatalf("untrusted peer %s: got %v found %v", p, got, found)
			}
			return
		}
		if !found {
			if got.Addr() != p {
				t.Fatalf("not found but changed to %v", got)
			}
			return
		}
		if !got.Addr().IsValid() || got.Addr().Zone() != "" || got.Addr().Is4In6() {
			t.Fatalf("found %v", got)
		}
		// The address found is written in the list.
		if !strings.Contains(list, got.Addr().String()) && !strings.Contains(strings.ToLower(list), got.Addr().String()) {
			a := got.Addr()
			ok := false
			for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
				if x, k := ParseForwarded(f); k && x.Addr() == a {
					ok = true
				}
			}
			if !ok {
				t.Fatalf("found %v, not in %q", got, list)
			}
		}
		if !recursive {
			// Without recursion only the last entry counts.
			fs := strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' })
			if x, ok := ParseForwarded(fs[len(fs)-1]); !ok || x != got {
				t.Fatalf("not recursive: got %v, last entry %q", got, fs[len(fs)-1])
			}
		}
	})
}

// FuzzParseTrusted checks that a set_real_ip_from list either fails or
// gives prefixes that are masked, unmapped and contain the address each
// entry names.
func FuzzParseTrusted(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "192.168.1.77/24", "2001:db8::/32", "127.0.0.1", "::1", "unix:", "::ffff:172.16.0.0/108", "0.0.0.0/0", "1.2.3.4/33", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, entry string) {
		tr, err := ParseTrusted([]string{entry})
		if err != nil {
			return
		}
		if tr.Unix {
			if strings.TrimSpace(entry) != Unix || len(tr.Prefixes) != 0 {
				t.Fatalf("%q: unix %v prefixes %v", entry, tr.Unix, tr.Prefixes)
			}
			return
		}
		if len(tr.Prefixes) != 1 {
			t.Fatalf("%q: %v", entry, tr.Prefixes)
		}
		p := tr.Prefixes[0]
		if p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			t.Fatalf("%q: prefix %v", entry, p)
		}
		s := strings.TrimSpace(entry)
		addr, _, _ := strings.Cut(s, "/")
		a, err := netip.ParseAddr(addr)
		if err != nil {
			t.Fatalf("%q accepted but its address does not parse: %v", entry, err)
		}
		if !tr.Contains(a, false) {
			t.Fatalf("%q: %v does not contain %v", entry, p, a)
		}
	})
}
