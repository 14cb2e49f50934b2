// Package clientaddr finds a request's real client behind trusted proxies,
// as nginx's realip module does: set_real_ip_from names the proxies
// (addresses, CIDR ranges, "unix:"), real_ip_header the header they name
// the client in (X-Real-IP, X-Forwarded-For or another), and
// real_ip_recursive whether a chain of trusted proxies in X-Forwarded-For
// is walked back to the first untrusted address.
//
// A header is believed only when the request's peer is trusted: from any
// other peer it is ignored, so a client cannot choose its own address.
package clientaddr

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Unix is the remote address of a peer on a Unix socket, as nginx's
// $remote_addr names it.
const Unix = "unix:"

// Trusted is a set of trusted proxies: address ranges and, optionally,
// every peer on a Unix socket.
type Trusted struct {
	Prefixes []netip.Prefix
	Unix     bool
}

// Empty reports whether the set trusts nobody.
func (t Trusted) Empty() bool { return len(t.Prefixes) == 0 && !t.Unix }

// ParseTrusted reads set_real_ip_from entries: an IPv4 or IPv6 address, a
// CIDR range (its host bits are ignored, as nginx ignores them), or
// "unix:" for every Unix socket peer.
func ParseTrusted(entries []string) (Trusted, error) {
	var t Trusted
	for _, e := range entries {
		p, unix, err := parseEntry(e)
		if err != nil {
			return Trusted{}, err
		}
		if unix {
			t.Unix = true
			continue
		}
		t.Prefixes = append(t.Prefixes, p)
	}
	return t, nil
}

func parseEntry(e string) (netip.Prefix, bool, error) {
	s := strings.TrimSpace(e)
	if s == Unix {
		return netip.Prefix{}, true, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false, fmt.Errorf("set_real_ip_from %q: not an address, a CIDR range or unix:", e)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p.Masked(), false, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false, fmt.Errorf("set_real_ip_from %q: not an address, a CIDR range or unix:", e)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), false, nil
}

// Contains reports whether a peer is trusted; unix marks a Unix socket
// peer (whose a is not used).
func (t Trusted) Contains(a netip.Addr, unix bool) bool {
	if unix {
		return t.Unix
	}
	a = a.Unmap()
	for _, p := range t.Prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ContainsAddr reports whether a connection's peer is trusted.
func (t Trusted) ContainsAddr(peer net.Addr) bool {
	switch a := peer.(type) {
	case *net.TCPAddr:
		ap := a.AddrPort()
		return t.Contains(ap.Addr(), false)
	case *net.UnixAddr:
		return t.Unix
	}
	a, unix, ok := ParseRemote(peer.String())
	return ok && t.Contains(a.Addr(), unix)
}

// ParseRemote reads an http.Request's RemoteAddr: "ip:port", or "unix:"
// (also "" and "@", the names Go gives an unnamed Unix socket peer) for a
// Unix socket peer.
func ParseRemote(remote string) (ap netip.AddrPort, unix, ok bool) {
	switch remote {
	case Unix, "", "@":
		return netip.AddrPort{}, true, true
	}
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.AddrPort{}, false, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), false, true
}

// Resolver finds a request's client.
type Resolver struct {
	// From are the trusted proxies (set_real_ip_from); empty turns the
	// resolver off.
	From Trusted
	// Header is the header a trusted proxy names the client in
	// (real_ip_header): X-Real-IP, X-Forwarded-For, or any other; nginx's
	// default is X-Real-IP. "proxy_protocol" reads no header: the address
	// a PROXY protocol listener found stands.
	Header string
	// Recursive walks X-Forwarded-For back past every trusted address
	// (real_ip_recursive); off takes the last address as the client.
	Recursive bool
}

// Active reports whether the resolver changes anything.
func (r *Resolver) Active() bool {
	return !r.From.Empty() && r.Header != "" && !strings.EqualFold(r.Header, "proxy_protocol")
}

// Resolve returns the client's remote address for a request from remote
// (an http.Request's RemoteAddr) with headers h: remote itself unless
// remote is a trusted proxy and the header names a valid address. The
// address found is written "ip:port", with the port the header gave or 0.
func (r *Resolver) Resolve(remote string, h http.Header) string {
	if !r.Active() {
		return remote
	}
	peer, unix, ok := ParseRemote(remote)
	if !ok || !r.From.Contains(peer.Addr(), unix) {
		return remote
	}
	var value string
	if strings.EqualFold(r.Header, "X-Forwarded-For") {
		// Several X-Forwarded-For lines read as one list, in order.
		value = strings.Join(h.Values("X-Forwarded-For"), ",")
	} else {
		value = h.Get(r.Header)
	}
	if value == "" {
		return remote
	}
	a, found := Forwarded(value, peer.Addr(), unix, r.From, r.Recursive)
	if !found {
		return remote
	}
	return a.String()
}

// Forwarded walks a forwarded-address list (a comma- or space-separated
// list of addresses, optionally with ports, as X-Forwarded-For is) from
// its end, as nginx does: the peer is trusted, so the last address is the
// client; with recursive, while the address found is trusted too, the one
// before it is taken. It stops at an address that does not parse (keeping
// what it found so far). found is false when the list's last address does
// not parse.
func Forwarded(list string, peer netip.Addr, peerUnix bool, from Trusted, recursive bool) (client netip.AddrPort, found bool) {
	cur, curUnix := netip.AddrPortFrom(peer, 0), peerUnix
	for {
		if !from.Contains(cur.Addr(), curUnix) {
			return cur, found
		}
		list = strings.TrimRight(list, " ,")
		i := strings.LastIndexAny(list, " ,")
		a, ok := ParseForwarded(list[i+1:])
		if !ok {
			return cur, found
		}
		cur, curUnix, found = a, false, true
		if i < 0 || !recursive {
			return cur, true
		}
		list = list[:i]
	}
}

// ParseForwarded reads one address of a forwarded list: "1.2.3.4",
// "1.2.3.4:80", "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:80".
func ParseForwarded(s string) (netip.AddrPort, bool) {
	if s == "" {
		return netip.AddrPort{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(a.Unmap(), 0), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		a, err := netip.ParseAddr(s[1 : len(s)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(a.Unmap(), 0), true
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Addr().Zone() != "" {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}
