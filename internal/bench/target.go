package bench

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
)

// chPlaceholder marks where a URL template takes the channel name.
const chPlaceholder = "{ch}"

// endpoint is a parsed URL template: where to connect and what to ask for.
type endpoint struct {
	tmpl string
	addr string // host:port to dial, always a loopback address
	host string // Host header
	ip   net.IP // the address's IP
}

// parseEndpoint checks a --pub or --sub template: an http:// URL with a
// loopback host and a {ch} placeholder. The tool only loads servers on this
// machine: it opens tens of thousands of connections, which is an attack
// against anything else.
func parseEndpoint(flagName, tmpl string) (*endpoint, error) {
	if !strings.Contains(tmpl, chPlaceholder) {
		return nil, fmt.Errorf("--%s %q has no %s placeholder for the channel name", flagName, tmpl, chPlaceholder)
	}
	const marker = "zzchannelzz"
	u, err := url.Parse(strings.ReplaceAll(tmpl, chPlaceholder, marker))
	if err != nil {
		return nil, fmt.Errorf("--%s %q: %v", flagName, tmpl, err)
	}
	switch u.Scheme {
	case "http", "ws":
	default:
		return nil, fmt.Errorf("--%s %q: want an http:// URL (https is not supported)", flagName, tmpl)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("--%s %q: no host", flagName, tmpl)
	}
	if strings.Contains(u.Host, marker) {
		return nil, fmt.Errorf("--%s %q: the channel goes in the path or query, not the host", flagName, tmpl)
	}
	ip, err := loopbackIP(u.Hostname())
	if err != nil {
		return nil, fmt.Errorf("--%s %q: %v", flagName, tmpl, err)
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	return &endpoint{tmpl: tmpl, addr: net.JoinHostPort(ip.String(), port), host: u.Host, ip: ip}, nil
}

// loopbackIP returns the IP of a loopback host, or says why host is refused.
func loopbackIP(host string) (net.IP, error) {
	if strings.EqualFold(host, "localhost") {
		return net.IPv4(127, 0, 0, 1).To4(), nil
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, fmt.Errorf("host %q is not a loopback IP address or localhost: herald bench only loads servers on this machine (names are not resolved, so one cannot point elsewhere)", host)
	}
	if !ip.IsLoopback() {
		return nil, fmt.Errorf("host %s is not a loopback address: herald bench only loads servers on this machine (127.0.0.0/8 or ::1)", host)
	}
	if v4 := ip.To4(); v4 != nil {
		return v4, nil
	}
	return ip, nil
}

// expand fills the template with a channel name.
func expand(tmpl, ch string) string {
	return strings.ReplaceAll(tmpl, chPlaceholder, url.PathEscape(ch))
}

// requestURI is the request target of the template filled with ch.
func (e *endpoint) requestURI(ch string) string {
	u, err := url.Parse(expand(e.tmpl, ch))
	if err != nil {
		return "/"
	}
	return u.RequestURI()
}

// httpURL is the template filled with ch, as an http:// URL.
func (e *endpoint) httpURL(ch string) string {
	s := expand(e.tmpl, ch)
	if strings.HasPrefix(s, "ws://") {
		s = "http://" + s[len("ws://"):]
	}
	return s
}

// wsURL is the template filled with ch, as a ws:// URL.
func (e *endpoint) wsURL(ch string) string {
	s := expand(e.tmpl, ch)
	if strings.HasPrefix(s, "http://") {
		s = "ws://" + s[len("http://"):]
	}
	return s
}

// portRange is the kernel's ephemeral port range.
func portRange() (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			lo, err1 := strconv.Atoi(f[0])
			hi, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && hi >= lo {
				return lo, hi
			}
		}
	}
	return 32768, 60999
}

// portsInUse counts, per IPv4 loopback address, the TCP sockets (in any
// state, TIME_WAIT included) holding one of its ephemeral ports, from
// /proc/net/tcp: those ports are not free for new connections.
func portsInUse(lo, hi int) map[[4]byte]int {
	used := make(map[[4]byte]int)
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return used
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		ipHex, portHex, ok := strings.Cut(f[1], ":")
		if !ok || len(ipHex) != 8 {
			continue
		}
		v, err1 := strconv.ParseUint(ipHex, 16, 32)
		port, err2 := strconv.ParseUint(portHex, 16, 16)
		if err1 != nil || err2 != nil || int(port) < lo || int(port) > hi {
			continue
		}
		// The address is the in-memory (network order) word printed as a
		// native integer.
		var ip [4]byte
		binary.NativeEndian.PutUint32(ip[:], uint32(v))
		if ip[0] == 127 {
			used[ip]++
		}
	}
	return used
}

// planSources picks the source addresses for conns client sockets to target
// ip, given ports ephemeral ports per source address, of which used(addr)
// are taken (nil: none). force > 0 asks for that many addresses. It returns
// nil when the kernel's choice (one address, no explicit bind) is enough.
// Extra sources are 127.0.0.2, 127.0.0.3, ...: Linux routes all of
// 127.0.0.0/8 to the loopback device, and each source address has its own
// ephemeral ports. Each address is filled at most half: the kernel's search
// for a free port slows down sharply as the range fills (19,000
// connections from one address cost seven times the system CPU time of the
// same spread over two). Connections are spread evenly, so n addresses
// serve conns when the fullest of them has conns/n ports to spare.
func planSources(ip net.IP, conns, ports, force int, used func(net.IP) int) ([]net.IP, error) {
	const most = 253
	type cand struct {
		ip   net.IP
		free int
	}
	cands := make([]cand, most)
	for i := range cands {
		c := cand{ip: net.IPv4(127, 0, 0, byte(1+i)).To4(), free: ports / 2}
		if used != nil {
			c.free = max(c.free-used(c.ip), 0)
		}
		cands[i] = c
	}
	if force <= 0 && cands[0].free >= conns {
		return nil, nil // the kernel's choice, 127.0.0.1, has room
	}
	// The addresses with the most free ports first; 127.0.0.1 first of
	// equals.
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].free > cands[j].free })
	n := force
	if n <= 0 {
		for n = 1; n <= most; n++ {
			if cands[n-1].free*n >= conns {
				break
			}
		}
	} else {
		sort.SliceStable(cands, func(i, j int) bool { return cands[i].ip[3] < cands[j].ip[3] })
	}
	v4 := ip.To4()
	if v4 == nil || v4[0] != 127 {
		return nil, fmt.Errorf("%d connections need %d source addresses, which only an IPv4 loopback target (127.x.x.x) allows", conns, n)
	}
	if n > most {
		return nil, fmt.Errorf("%d connections need more than %d source addresses (127.0.0.1-127.0.0.%d) with their free ports", conns, most, most)
	}
	out := make([]net.IP, n)
	for i := range out {
		out[i] = cands[i].ip
	}
	return out, nil
}

// checkBatchURL checks a batch publish URL: http, on a loopback host.
func checkBatchURL(s string) error {
	if s == "" {
		return fmt.Errorf("--batch needs --batch-url, the batch publisher's URL")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("--batch-url %q: %v", s, err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("--batch-url %q: want an http:// URL", s)
	}
	if _, err := loopbackIP(u.Hostname()); err != nil {
		return fmt.Errorf("--batch-url %q: %v", s, err)
	}
	return nil
}
