package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/heraldpush/herald/internal/clientaddr"
	"github.com/heraldpush/herald/internal/limit"
)

// Listener is one listen address with its options.
type Listener struct {
	// Addr is the address as written: host:port, or unix:/path.
	Addr string
	// Network is "tcp" or "unix".
	Network string
	// Path is a Unix socket's file; "" for TCP.
	Path string
	// ProxyProtocol makes every connection begin with a PROXY protocol
	// header naming the client (nginx's listen ... proxy_protocol).
	ProxyProtocol bool
}

// parseListen reads the words of a listen key: addresses, each followed by
// its options (proxy_protocol).
func parseListen(words []string) ([]Listener, error) {
	var out []Listener
	var split []string
	for _, w := range words {
		split = append(split, strings.Fields(w)...)
	}
	for _, w := range split {
		w = strings.Trim(w, ",")
		switch {
		case w == "":
			continue
		case strings.EqualFold(w, "proxy_protocol"):
			if len(out) == 0 {
				return nil, errors.New("proxy_protocol follows the address it applies to")
			}
			out[len(out)-1].ProxyProtocol = true
			continue
		case strings.HasPrefix(w, "unix:"):
			path := strings.TrimPrefix(w, "unix:")
			if path == "" {
				return nil, fmt.Errorf("%q names no socket file", w)
			}
			out = append(out, Listener{Addr: w, Network: "unix", Path: path})
			continue
		}
		if _, _, err := net.SplitHostPort(w); err != nil {
			return nil, fmt.Errorf("%q is not host:port, unix:/path or proxy_protocol", w)
		}
		out = append(out, Listener{Addr: w, Network: "tcp"})
	}
	if len(out) == 0 {
		return nil, errors.New("no address")
	}
	return out, nil
}

// LimitReq is a location's request rate limit (limit_req); a zero Rate is
// none.
type LimitReq struct {
	Rate    limit.Rate
	Burst   int64
	NoDelay bool
}

// Enabled reports whether the location limits request rates.
func (l LimitReq) Enabled() bool { return l.Rate > 0 }

// ParseRate reads a rate as nginx writes it: 10r/s or 30r/m.
func ParseRate(s string) (limit.Rate, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	var n string
	var perMin bool
	switch {
	case strings.HasSuffix(t, "r/s"):
		n = strings.TrimSuffix(t, "r/s")
	case strings.HasSuffix(t, "r/m"):
		n, perMin = strings.TrimSuffix(t, "r/m"), true
	default:
		return 0, fmt.Errorf("rate %q: want requests a second or a minute, like 10r/s or 30r/m", s)
	}
	v, err := strconv.ParseInt(n, 10, 64)
	if err != nil || v < 1 || v > 1_000_000 {
		return 0, fmt.Errorf("rate %q: want a whole number of requests from 1 to 1000000", s)
	}
	if perMin {
		return limit.PerMinute(v), nil
	}
	return limit.PerSecond(v), nil
}

func parseLimitReq(n *yaml.Node) (LimitReq, error) {
	if n.Kind == yaml.ScalarNode {
		if b, err := ParseBool(n.Value); err == nil && !b {
			return LimitReq{}, nil
		}
		if strings.TrimSpace(n.Value) == "" {
			return LimitReq{}, nil
		}
		return LimitReq{}, nodeErr(n, "want off or a mapping like {rate: 10r/s, burst: 20, nodelay: on}")
	}
	if n.Kind != yaml.MappingNode {
		return LimitReq{}, nodeErr(n, "want off or a mapping like {rate: 10r/s, burst: 20, nodelay: on}")
	}
	var lr LimitReq
	for i := 0; i < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		s, err := scalar(v)
		if err != nil {
			return LimitReq{}, keyErr(err, k)
		}
		switch strings.ToLower(k.Value) {
		case "rate":
			r, err := ParseRate(s)
			if err != nil {
				return LimitReq{}, nodeErr(v, "%v", err)
			}
			lr.Rate = r
		case "burst":
			b, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil || b < 0 || b > 1_000_000 {
				return LimitReq{}, nodeErr(v, "burst: want a whole number from 0 to 1000000, got %q", s)
			}
			lr.Burst = b
		case "nodelay":
			b, err := ParseBool(s)
			if err != nil {
				return LimitReq{}, nodeErr(v, "nodelay: %v", err)
			}
			lr.NoDelay = b
		default:
			return LimitReq{}, nodeErr(k, "limit_req: unknown key %q (rate, burst, nodelay)", k.Value)
		}
	}
	if lr.Rate == 0 {
		return LimitReq{}, nodeErr(n, "limit_req needs a rate, like 10r/s")
	}
	return lr, nil
}

func statusKey(get func(*Location) *int) func(*Location, *yaml.Node) error {
	return intKey(400, 599, get)
}

// clientDirectives are the keys of client addresses and per-client limits.
func clientDirectives() []Directive {
	return []Directive{
		{
			Name: "set_real_ip_from", Scope: ScopeServer, Default: "",
			Doc: "Trusted proxies, as nginx's directive of that name: addresses, CIDR ranges (`10.0.0.0/8`, `2001:db8::/32`) and `unix:` (every peer on a Unix socket listener), one or a list. A request from one of them has its client address taken from `real_ip_header`; from any other peer that header is ignored. Empty: client addresses are the peers'. See docs/client-addresses.md.",
			setSrv: func(s *Server, n *yaml.Node) error {
				vals, err := scalars(n, true)
				if err != nil {
					return err
				}
				t, err := clientaddr.ParseTrusted(vals)
				if err != nil {
					return nodeErr(n, "%v", err)
				}
				s.RealIP.From = t
				return nil
			},
		},
		{
			Name: "real_ip_header", Scope: ScopeServer, Default: "X-Real-IP",
			Doc: "The header a trusted proxy names the client in: `X-Real-IP` (nginx's default), `X-Forwarded-For`, any other header name, or `proxy_protocol` (none: the address a `proxy_protocol` listener read stands).",
			setSrv: func(s *Server, n *yaml.Node) error {
				v, err := scalar(n)
				if err != nil {
					return err
				}
				v = strings.TrimSpace(v)
				for _, c := range []byte(v) {
					if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
						return nodeErr(n, "%q is not a header name", v)
					}
				}
				s.RealIP.Header = v
				return nil
			},
		},
		{
			Name: "real_ip_recursive", Scope: ScopeServer, Default: "off",
			Doc: "`off`: the client is the last address of `real_ip_header`. `on`: addresses of trusted proxies at the end of an X-Forwarded-For chain are skipped, and the client is the last address that is not a trusted proxy (nginx's semantics).",
			setSrv: func(s *Server, n *yaml.Node) error {
				v, err := scalar(n)
				if err != nil {
					return err
				}
				b, err := ParseBool(v)
				if err != nil {
					return nodeErr(n, "%v", err)
				}
				s.RealIP.Recursive = b
				return nil
			},
		},
		{
			Name: "limit_req", Default: "",
			Doc: "Request rate per client address, as nginx's `limit_req`: `{rate: 10r/s, burst: 20, nodelay: on}` (rate in `r/s` or `r/m`). Each address has a bucket that drains at the rate; a request that finds more than `burst` requests ahead of it is refused with `limit_req_status` and `Retry-After`. Without `nodelay`, requests of a burst wait until the rate lets them through; with it they go at once. Each location keeps its own table (`limit_zone_size` addresses). `off`: no limit.",
			setLoc: func(l *Location, n *yaml.Node) error {
				lr, err := parseLimitReq(n)
				if err != nil {
					return err
				}
				l.LimitReq = lr
				return nil
			},
		},
		{
			Name: "limit_req_status", Default: "429",
			Doc:    "Status of a request `limit_req` refuses (nginx's default is 503).",
			setLoc: statusKey(func(l *Location) *int { return &l.LimitReqStatus }),
		},
		{
			Name: "limit_conn", Default: "0",
			Doc:    "Requests in progress per client address, as nginx's `limit_conn`: a streaming subscriber (EventSource, WebSocket, chunked, multipart) counts for its whole life, a long-poll until it is answered. One more is refused with `limit_conn_status` and `Retry-After: 1`. 0: no limit.",
			setLoc: intKey(0, 1_000_000, func(l *Location) *int { return &l.LimitConn }),
		},
		{
			Name: "limit_conn_status", Default: "429",
			Doc:    "Status of a request `limit_conn` refuses (nginx's default is 503).",
			setLoc: statusKey(func(l *Location) *int { return &l.LimitConnStatus }),
		},
		{
			Name: "limit_zone_size", Default: "100000",
			Doc:    "Most client addresses each of a location's limit tables remembers, so memory stays bounded however many addresses are seen. `limit_req` forgets the least recently seen address of a full table; `limit_conn` remembers only addresses with requests in progress and refuses a new address while full, as nginx does when its zone is full.",
			setLoc: intKey(64, 100_000_000, func(l *Location) *int { return &l.LimitZoneSize }),
		},
	}
}
