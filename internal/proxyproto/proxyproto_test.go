package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// v2 builds a version 2 header: command, family byte, address block and
// extra bytes (TLVs).
func v2(cmd, fam byte, addr []byte, extra []byte) []byte {
	b := append([]byte(nil), v2Sig...)
	b = append(b, 0x20|cmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(addr)+len(extra)))
	b = append(b, addr...)
	return append(b, extra...)
}

func inet4(src, dst string, sp, dp uint16) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	b := append(s[:], d[:]...)
	b = binary.BigEndian.AppendUint16(b, sp)
	return binary.BigEndian.AppendUint16(b, dp)
}

func inet6(src, dst string, sp, dp uint16) []byte {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	b := append(s[:], d[:]...)
	b = binary.BigEndian.AppendUint16(b, sp)
	return binary.BigEndian.AppendUint16(b, dp)
}

func TestParse(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		name string
		in   []byte
		want Header
		n    int
		err  error
	}{
		{"v1 tcp4", []byte("PROXY TCP4 203.0.113.7 10.0.0.1 51000 80\r\nGET"), Header{Version: 1, Source: ap("203.0.113.7:51000"), Dest: ap("10.0.0.1:80")}, 42, nil},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::7 2001:db8::1 65535 443\r\n"), Header{Version: 1, Source: ap("[2001:db8::7]:65535"), Dest: ap("[2001:db8::1]:443")}, 46, nil},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\n"), Header{Version: 1, Local: true}, 15, nil},
		{"v1 unknown with addresses", []byte("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"), Header{Version: 1, Local: true}, 59, nil},
		{"v1 partial", []byte("PROXY TCP4 203.0.113.7"), Header{}, 0, ErrNeedMore},
		{"v1 prefix partial", []byte("PRO"), Header{}, 0, ErrNeedMore},
		{"empty", nil, Header{}, 0, ErrNeedMore},
		{"http request", []byte("GET / HTTP/1.1\r\n"), Header{}, 0, ErrInvalid},
		{"v1 wrong prefix", []byte("PROXZ TCP4"), Header{}, 0, ErrInvalid},
		{"v1 family mismatch", []byte("PROXY TCP4 2001:db8::7 10.0.0.1 1 2\r\n"), Header{}, 0, ErrInvalid},
		{"v1 bad port", []byte("PROXY TCP4 1.2.3.4 10.0.0.1 65536 80\r\n"), Header{}, 0, ErrInvalid},
		{"v1 leading zero port", []byte("PROXY TCP4 1.2.3.4 10.0.0.1 080 80\r\n"), Header{}, 0, ErrInvalid},
		{"v1 double space", []byte("PROXY TCP4  1.2.3.4 10.0.0.1 1 80\r\n"), Header{}, 0, ErrInvalid},
		{"v1 missing CR", []byte("PROXY TCP4 1.2.3.4 10.0.0.1 1 80\n"), Header{}, 0, ErrInvalid},
		{"v1 too few fields", []byte("PROXY TCP4 1.2.3.4 10.0.0.1 1\r\n"), Header{}, 0, ErrInvalid},
		{"v1 too long", append([]byte("PROXY UNKNOWN "), bytes.Repeat([]byte("x"), 100)...), Header{}, 0, ErrInvalid},
		{"v1 binary junk", []byte("PROXY TCP4 \x00"), Header{}, 0, ErrInvalid},
		{"v2 tcp4", v2(1, 0x11, inet4("203.0.113.7", "10.0.0.1", 51000, 80), nil), Header{Version: 2, Source: ap("203.0.113.7:51000"), Dest: ap("10.0.0.1:80")}, 28, nil},
		{"v2 tcp6 with tlv", v2(1, 0x21, inet6("2001:db8::7", "2001:db8::1", 1, 2), []byte{0x04, 0, 1, 'x'}), Header{Version: 2, Source: ap("[2001:db8::7]:1"), Dest: ap("[2001:db8::1]:2")}, 56, nil},
		{"v2 local", v2(0, 0x00, nil, nil), Header{Version: 2, Local: true}, 16, nil},
		{"v2 local with address", v2(0, 0x11, inet4("1.2.3.4", "5.6.7.8", 1, 2), nil), Header{Version: 2, Local: true}, 28, nil},
		{"v2 unix family", v2(1, 0x31, make([]byte, 216), nil), Header{Version: 2, Local: true}, 232, nil},
		{"v2 partial signature", v2Sig[:5], Header{}, 0, ErrNeedMore},
		{"v2 partial body", v2(1, 0x11, inet4("1.2.3.4", "5.6.7.8", 1, 2), nil)[:20], Header{}, 0, ErrNeedMore},
		{"v2 bad version", append(append([]byte(nil), v2Sig...), 0x11, 0x11, 0, 12), Header{}, 0, ErrInvalid},
		{"v2 bad command", v2(2, 0x11, inet4("1.2.3.4", "5.6.7.8", 1, 2), nil), Header{}, 0, ErrInvalid},
		{"v2 bad family", v2(1, 0x41, nil, nil), Header{}, 0, ErrInvalid},
		{"v2 short address", v2(1, 0x11, make([]byte, 8), nil), Header{}, 0, ErrInvalid},
		{"v2 wrong signature", []byte("\r\n\r\nX"), Header{}, 0, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, n, err := Parse(tt.in)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if h != tt.want || n != tt.n {
				t.Errorf("got %+v, %d; want %+v, %d", h, n, tt.want, tt.n)
			}
		})
	}
}

// FuzzParse checks that Parse never panics, takes no more than it was
// given, agrees with itself on a longer input, and that a header it
// accepts is accepted again from any longer input and reported
// incomplete from every prefix.
func FuzzParse(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.7 10.0.0.1 51000 80\r\nGET / HTTP/1.1\r\n"))
	f.Add([]byte("PROXY TCP6 2001:db8::7 2001:db8::1 65535 443\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(v2(1, 0x11, inet4("203.0.113.7", "10.0.0.1", 51000, 80), nil))
	f.Add(v2(1, 0x21, inet6("2001:db8::7", "2001:db8::1", 1, 2), []byte{0x04, 0, 1, 'x'}))
	f.Add(v2(0, 0, nil, nil))
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrNeedMore) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("unexpected error %v", err)
			}
			if n != 0 || h != (Header{}) {
				t.Fatalf("error with result %+v %d", h, n)
			}
			return
		}
		if n <= 0 || n > len(b) || n > MaxLen {
			t.Fatalf("took %d of %d bytes", n, len(b))
		}
		if h.Local != (h.Source == netip.AddrPort{}) {
			t.Fatalf("local %v with source %v", h.Local, h.Source)
		}
		h2, n2, err := Parse(append(b[:n:n], "trailing"...))
		if err != nil || h2 != h || n2 != n {
			t.Fatalf("with trailing bytes: %+v %d %v, want %+v %d", h2, n2, err, h, n)
		}
		for i := 0; i < n; i++ {
			if _, _, err := Parse(b[:i]); !errors.Is(err, ErrNeedMore) {
				t.Fatalf("prefix of %d bytes: %v, want ErrNeedMore", i, err)
			}
		}
	})
}

// TestListener sends headers over real loopback connections, whole and in
// pieces, and checks the remote address and the bytes that follow.
func TestListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pl := &Listener{Listener: ln, Timeout: 5 * time.Second}
	tests := []struct {
		name   string
		pieces [][]byte
		remote string // "" : the peer's own
		rest   string
		broken bool
	}{
		{"v1 whole", [][]byte{[]byte("PROXY TCP4 203.0.113.7 10.0.0.1 51000 80\r\nhello")}, "203.0.113.7:51000", "hello", false},
		{"v1 in pieces", [][]byte{[]byte("PROXY TCP4 203.0"), []byte(".113.7 10.0.0.1 51000 80\r"), []byte("\nhello")}, "203.0.113.7:51000", "hello", false},
		{"v2 in pieces", [][]byte{v2Sig[:7], append(v2(1, 0x21, inet6("2001:db8::7", "2001:db8::1", 9, 2), nil)[7:], "hi"...)}, "[2001:db8::7]:9", "hi", false},
		{"v2 local", [][]byte{append(v2(0, 0, nil, nil), "x"...)}, "", "x", false},
		{"missing header", [][]byte{[]byte("GET / HTTP/1.1\r\n\r\n")}, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				sc, err := pl.Accept()
				if err != nil {
					close(accepted)
					return
				}
				accepted <- sc
			}()
			sc := <-accepted
			if sc == nil {
				t.Fatal("accept failed")
			}
			defer sc.Close()
			go func() {
				for _, p := range tt.pieces {
					c.Write(p) // separate writes: separate segments (no Nagle)
				}
			}()
			got := sc.RemoteAddr().String()
			want := tt.remote
			if want == "" {
				want = c.LocalAddr().String()
			}
			if got != want {
				t.Errorf("remote %s, want %s", got, want)
			}
			buf := make([]byte, max(len(tt.rest), 1))
			_, err = io.ReadFull(sc, buf)
			if tt.broken {
				if err == nil {
					t.Fatalf("read %q after a broken header", buf)
				}
				return
			}
			if err != nil || string(buf) != tt.rest {
				t.Fatalf("read %q, %v; want %q", buf, err, tt.rest)
			}
		})
	}
}
