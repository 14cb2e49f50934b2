package server_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/server"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/memory"
)

// whoamiLocations publish to a channel named by the client's address as
// $remote_addr sees it: the MessagePublished event names it (and carries
// the address events and logs see).
var whoamiLocations = []string{
	location("= /whoami", "publisher: true", "channel_id: $remote_addr"),
	prefixLocation("pub", "publisher: true"),
	prefixLocation("sub", "subscriber: true"),
}

// whoami publishes to /whoami with headers and returns the client address
// Herald saw: the channel $remote_addr named, checked against the event's
// Remote.
func whoami(t testing.TB, s *testServer, log *eventLog, headers ...string) string {
	t.Helper()
	r := do(t, "POST", s.URL+"/whoami", "x", headers...)
	if r.Status != http.StatusAccepted && r.Status != http.StatusCreated {
		t.Fatalf("POST /whoami: %d %q", r.Status, r.Body)
	}
	return publishedBy(t, log)
}

// publishedBy reads the next MessagePublished event and returns the
// channel $remote_addr named, after checking that the event's Remote is
// the same address.
func publishedBy(t testing.TB, log *eventLog) string {
	t.Helper()
	e := log.next(events.MessagePublished)
	host := e.Remote
	if h, _, err := net.SplitHostPort(e.Remote); err == nil && e.Remote != "unix:" {
		host = h
	}
	if host != e.Channel {
		t.Errorf("$remote_addr is %q but the event's remote is %q", e.Channel, e.Remote)
	}
	return e.Channel
}

// TestRealIPHeaders sends forwarded headers from the loopback peer, trusted
// or not, and checks the client address $remote_addr and events see, as
// nginx's realip module finds it.
func TestRealIPHeaders(t *testing.T) {
	tests := []struct {
		name    string
		top     []string
		headers []string
		want    string
	}{
		{"no realip: the peer", nil, []string{"X-Forwarded-For", "203.0.113.7"}, "127.0.0.1"},
		{"xff from trusted peer", []string{"set_real_ip_from: 127.0.0.1", "real_ip_header: X-Forwarded-For"},
			[]string{"X-Forwarded-For", "203.0.113.7"}, "203.0.113.7"},
		{"xff chain: the last address", []string{"set_real_ip_from: [127.0.0.1, 10.0.0.0/8]", "real_ip_header: X-Forwarded-For"},
			[]string{"X-Forwarded-For", "198.51.100.1, 203.0.113.7, 10.0.0.1"}, "10.0.0.1"},
		{"xff chain recursive: the last untrusted", []string{"set_real_ip_from: [127.0.0.1, 10.0.0.0/8]", "real_ip_header: X-Forwarded-For", "real_ip_recursive: on"},
			[]string{"X-Forwarded-For", "198.51.100.1, 203.0.113.7, 10.0.0.1"}, "203.0.113.7"},
		{"xff recursive all trusted: the first", []string{"set_real_ip_from: [127.0.0.1, 10.0.0.0/8]", "real_ip_header: X-Forwarded-For", "real_ip_recursive: on"},
			[]string{"X-Forwarded-For", "10.0.0.2, 10.0.0.1"}, "10.0.0.2"},
		{"xff ipv6", []string{"set_real_ip_from: 127.0.0.0/8", "real_ip_header: X-Forwarded-For"},
			[]string{"X-Forwarded-For", "[2001:db8::7]:443"}, "2001:db8::7"},
		{"xff garbage: the peer", []string{"set_real_ip_from: 127.0.0.1", "real_ip_header: X-Forwarded-For"},
			[]string{"X-Forwarded-For", "203.0.113.7, not-an-address"}, "127.0.0.1"},
		{"x-real-ip (the default header)", []string{"set_real_ip_from: 127.0.0.1"},
			[]string{"X-Real-IP", "198.51.100.9", "X-Forwarded-For", "203.0.113.7"}, "198.51.100.9"},
		{"spoofed header from an untrusted peer", []string{"set_real_ip_from: 10.0.0.0/8", "real_ip_header: X-Forwarded-For", "real_ip_recursive: on"},
			[]string{"X-Forwarded-For", "203.0.113.7"}, "127.0.0.1"},
		{"spoofed x-real-ip from an untrusted peer", []string{"set_real_ip_from: 192.0.2.0/24"},
			[]string{"X-Real-IP", "10.0.0.1"}, "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, testConfig(tt.top, whoamiLocations...))
			log := watchEvents(t, s)
			if got := whoami(t, s, log, tt.headers...); got != tt.want {
				t.Errorf("client %q, want %q", got, tt.want)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Servers with listeners of their own (PROXY protocol, Unix sockets).

// listening is a Herald started with its configuration's own listen
// addresses (loopback ports 0 and Unix sockets).
type listening struct {
	st    store.Store
	srv   *server.Server
	addrs []net.Addr
	log   *eventLog
}

func startListening(t testing.TB, yamlText string) *listening {
	t.Helper()
	cfg, err := config.Parse([]byte(yamlText), "test.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	cfg.ShutdownTimeout = 2 * time.Second
	st := memory.New(memory.Options{MemoryLimit: cfg.MaxReservedMemory, SweepInterval: 50 * time.Millisecond})
	srv, err := server.New(cfg, server.Options{StoreFor: func(*config.Location) (store.Store, error) { return st, nil }})
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	if err := srv.Listen(context.Background(), nil); err != nil {
		t.Fatalf("listen: %v", err)
	}
	sub := srv.Events().Subscribe(1024)
	if err := srv.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		sub.Close()
		if err := srv.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
		st.Close()
	})
	return &listening{st: st, srv: srv, addrs: srv.Addrs(), log: &eventLog{t: t, sub: sub}}
}

// dial connects to listener i.
func (l *listening) dial(t testing.TB, i int) net.Conn {
	t.Helper()
	a := l.addrs[i]
	c, err := net.DialTimeout(a.Network(), a.String(), 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", a, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

// rawWhoami writes prefix (a PROXY header, or nothing) and a POST /whoami
// with headers on conn, and returns the answer's status; -1 when the
// connection ends without one.
func rawWhoami(t testing.TB, conn net.Conn, prefix []byte, headers ...string) int {
	t.Helper()
	var b strings.Builder
	b.Write(prefix)
	b.WriteString("POST /whoami HTTP/1.1\r\nHost: herald\r\nContent-Length: 1\r\n")
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	b.WriteString("\r\nx")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return -1
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return -1
	}
	res.Body.Close()
	return res.StatusCode
}

// proxyV2 is a PROXY protocol version 2 header naming src (PROXY command)
// or nothing (LOCAL, when src is not valid).
func proxyV2(src netip.AddrPort) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	if !src.IsValid() {
		return append(b, 0x20, 0x00, 0, 0)
	}
	var addr []byte
	fam := byte(0x11)
	if src.Addr().Is4() {
		s := src.Addr().As4()
		addr = append(addr, s[:]...)
		addr = append(addr, 127, 0, 0, 1)
	} else {
		fam = 0x21
		s, d := src.Addr().As16(), netip.IPv6Loopback().As16()
		addr = append(append(addr, s[:]...), d[:]...)
	}
	addr = binary.BigEndian.AppendUint16(addr, src.Port())
	addr = binary.BigEndian.AppendUint16(addr, 8080)
	b = append(b, 0x21, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(addr)))
	return append(b, addr...)
}

func proxyServerConfig(top ...string) string {
	var b strings.Builder
	for _, l := range top {
		b.WriteString(l + "\n")
	}
	b.WriteString("servers:\n  - listen: [\"127.0.0.1:0 proxy_protocol\", 127.0.0.2:0]\n    locations:\n")
	b.WriteString(strings.Join(whoamiLocations, ""))
	return b.String()
}

// TestProxyProtocol sends PROXY protocol headers, versions 1 and 2, to a
// proxy_protocol listener and to a plain one.
func TestProxyProtocol(t *testing.T) {
	l := startListening(t, proxyServerConfig())
	const proxied, plain = 0, 1
	tests := []struct {
		name   string
		on     int
		prefix []byte
		status int
		want   string // the client Herald saw; "" for no publish
	}{
		{"v1 tcp4", proxied, []byte("PROXY TCP4 203.0.113.7 127.0.0.1 51000 8080\r\n"), 202, "203.0.113.7"},
		{"v1 tcp6", proxied, []byte("PROXY TCP6 2001:db8::7 ::1 51000 8080\r\n"), 202, "2001:db8::7"},
		{"v1 unknown: the peer", proxied, []byte("PROXY UNKNOWN\r\n"), 202, "127.0.0.1"},
		{"v2 tcp4", proxied, proxyV2(netip.MustParseAddrPort("198.51.100.4:4000")), 202, "198.51.100.4"},
		{"v2 tcp6", proxied, proxyV2(netip.MustParseAddrPort("[2001:db8::9]:4000")), 202, "2001:db8::9"},
		{"v2 local: the peer", proxied, proxyV2(netip.AddrPort{}), 202, "127.0.0.1"},
		{"no header: closed", proxied, nil, -1, ""},
		{"broken header: closed", proxied, []byte("PROXY TCP4 203.0.113.7 nonsense\r\n"), -1, ""},
		{"v1 on a plain listener: 400", plain, []byte("PROXY TCP4 203.0.113.7 127.0.0.1 51000 8080\r\n"), 400, ""},
		{"v2 on a plain listener: 400", plain, proxyV2(netip.MustParseAddrPort("198.51.100.4:4000")), 400, ""},
		{"plain listener without header", plain, nil, 202, "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := l.dial(t, tt.on)
			status := rawWhoami(t, conn, tt.prefix)
			if status != tt.status {
				t.Fatalf("status %d, want %d", status, tt.status)
			}
			if tt.want == "" {
				return
			}
			if got := publishedBy(t, l.log); got != tt.want {
				t.Errorf("client %q, want %q", got, tt.want)
			}
		})
	}
	// Nothing was published by the refused requests: the next publish's
	// event is the next one.
	conn := l.dial(t, plain)
	if rawWhoami(t, conn, nil) != 202 || publishedBy(t, l.log) != "127.0.0.1" {
		t.Fatal("a refused request published")
	}
}

// TestProxyProtocolTrust checks the PROXY header against set_real_ip_from:
// from an untrusted peer it is read and dropped; from a trusted one its
// client stands, and a trusted balancer's X-Forwarded-For is read from
// there.
func TestProxyProtocolTrust(t *testing.T) {
	header := []byte("PROXY TCP4 10.1.1.1 127.0.0.1 51000 8080\r\n")
	t.Run("untrusted peer", func(t *testing.T) {
		l := startListening(t, proxyServerConfig("set_real_ip_from: 10.0.0.0/8", "real_ip_header: X-Forwarded-For"))
		conn := l.dial(t, 0)
		if st := rawWhoami(t, conn, header, "X-Forwarded-For", "203.0.113.7"); st != 202 {
			t.Fatalf("status %d", st)
		}
		if got := publishedBy(t, l.log); got != "127.0.0.1" {
			t.Errorf("client %q, want the peer 127.0.0.1", got)
		}
	})
	t.Run("trusted peer and balancer", func(t *testing.T) {
		l := startListening(t, proxyServerConfig("set_real_ip_from: [127.0.0.1, 10.0.0.0/8]", "real_ip_header: X-Forwarded-For"))
		conn := l.dial(t, 0)
		if st := rawWhoami(t, conn, header, "X-Forwarded-For", "203.0.113.7"); st != 202 {
			t.Fatalf("status %d", st)
		}
		if got := publishedBy(t, l.log); got != "203.0.113.7" {
			t.Errorf("client %q, want 203.0.113.7", got)
		}
		// Keep-alive: the second request on the connection has the same
		// client.
		if st := rawWhoami(t, conn, nil); st != 202 {
			t.Fatalf("second request: status %d", st)
		}
		if got := publishedBy(t, l.log); got != "10.1.1.1" {
			t.Errorf("second request without X-Forwarded-For: client %q, want the PROXY client 10.1.1.1", got)
		}
	})
}

// TestProxyProtocolReload reloads set_real_ip_from: the PROXY header of a
// connection accepted after the reload is judged by the new trusted set.
func TestProxyProtocolReload(t *testing.T) {
	l := startListening(t, proxyServerConfig())
	header := []byte("PROXY TCP4 203.0.113.7 127.0.0.1 51000 8080\r\n")
	if st := rawWhoami(t, l.dial(t, 0), header); st != 202 {
		t.Fatalf("status %d", st)
	}
	if got := publishedBy(t, l.log); got != "203.0.113.7" {
		t.Fatalf("before the reload: client %q", got)
	}
	cfg, err := config.Parse([]byte(proxyServerConfig("set_real_ip_from: 10.0.0.0/8")), "reload.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.srv.Reload(cfg, func(*config.Location) (store.Store, error) { return l.st, nil }); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if st := rawWhoami(t, l.dial(t, 0), header); st != 202 {
		t.Fatalf("status %d", st)
	}
	if got := publishedBy(t, l.log); got != "127.0.0.1" {
		t.Errorf("after the reload (loopback no longer trusted): client %q, want 127.0.0.1", got)
	}
}

// ---------------------------------------------------------------------------
// Per-client limits.

// TestLimitReqBurst counts the answers to a burst: with nodelay, 1 + burst
// requests go through at once and the rest get 429 with Retry-After;
// another client has a bucket of its own; limit_req_status changes the
// status.
func TestLimitReqBurst(t *testing.T) {
	s := startServer(t, testConfig([]string{"set_real_ip_from: 127.0.0.1", "real_ip_header: X-Forwarded-For"},
		prefixLocation("pub", "publisher: true", "limit_req: {rate: 1r/m, burst: 3, nodelay: on}"),
		prefixLocation("p503", "publisher: true", "limit_req: {rate: 1r/m, burst: 0}", "limit_req_status: 503"),
	))
	counts := map[int]int{}
	for i := range 10 {
		r := do(t, "POST", s.URL+"/pub/burst", fmt.Sprint(i), "X-Forwarded-For", "203.0.113.7")
		counts[r.Status]++
		if r.Status == http.StatusTooManyRequests {
			if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
				t.Errorf("429 with Retry-After %q", ra)
			}
		}
	}
	if counts[http.StatusAccepted] != 4 || counts[http.StatusTooManyRequests] != 6 {
		t.Fatalf("answers %v, want 4×202 and 6×429", counts)
	}
	if q := queued(t, s, "burst"); q != 4 {
		t.Errorf("%d messages stored, want 4", q)
	}
	if r := do(t, "POST", s.URL+"/pub/burst", "x", "X-Forwarded-For", "198.51.100.1"); r.Status != http.StatusAccepted {
		t.Errorf("another client: %d", r.Status)
	}
	if r := do(t, "POST", s.URL+"/p503/x", "x"); r.Status != http.StatusAccepted {
		t.Fatalf("first: %d", r.Status)
	}
	if r := do(t, "POST", s.URL+"/p503/x", "x"); r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Errorf("over the rate with limit_req_status 503: %d, Retry-After %q", r.Status, r.Header.Get("Retry-After"))
	}
}

// TestLimitReqDelay checks that without nodelay the requests of a burst
// wait (they are not answered while the one over the burst already has
// its 429).
func TestLimitReqDelay(t *testing.T) {
	s := startServer(t, testConfig(nil,
		prefixLocation("pub", "publisher: true", "limit_req: {rate: 1r/m, burst: 2}"),
		prefixLocation("info", "publisher: true")))
	if r := do(t, "POST", s.URL+"/pub/d", "1"); r.Status != http.StatusAccepted {
		t.Fatalf("first: %d", r.Status)
	}
	// Five more at once: two fill the burst and wait (a minute each at
	// this rate), three are refused, whatever order they arrive in.
	answers := make(chan response, 5)
	for range 5 {
		ch, cancel := asyncCancel(5*time.Second, "POST", s.URL+"/pub/d", "more")
		defer cancel()
		go func() { answers <- <-ch }()
	}
	for range 3 {
		select {
		case r := <-answers:
			if r.Status != http.StatusTooManyRequests {
				t.Fatalf("answered %d %q, want 429 (two wait, three are refused)", r.Status, r.Body)
			}
		case <-time.After(recvTimeout):
			t.Fatal("fewer than three answers")
		}
	}
	select {
	case r := <-answers:
		t.Fatalf("a delayed request was answered: %d", r.Status)
	default:
	}
	if q := getInfo(t, s.URL+"/info/d").Messages; q != 1 {
		t.Errorf("%d messages stored, want 1 (the others wait)", q)
	}
}

// TestLimitConnStreaming holds streaming subscribers and long-polls open:
// each counts against limit_conn for its whole life.
func TestLimitConnStreaming(t *testing.T) {
	s := startServer(t, testConfig([]string{"set_real_ip_from: 127.0.0.1", "real_ip_header: X-Forwarded-For"},
		prefixLocation("pub", "publisher: true"),
		prefixLocation("sub", "subscriber: true", "limit_conn: 2"),
		prefixLocation("wspub", "publisher: [websocket]", "limit_conn: 1"),
	))
	es1 := openEventSource(t, s, "/sub/a")
	es2 := openRaw(t, s, "GET", "/sub/a", "Accept", "text/event-stream")
	if es2.Status != http.StatusOK {
		t.Fatalf("second stream: %d", es2.Status)
	}
	r := do(t, "GET", s.URL+"/sub/a", "", "Accept", "text/event-stream")
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("third stream: %d, Retry-After %q; want 429 with 1", r.Status, r.Header.Get("Retry-After"))
	}
	ws := openWebSocket(t, s, "/sub/a", "X-Forwarded-For", "198.51.100.1")
	if ws.Status != http.StatusSwitchingProtocols {
		t.Fatalf("another client's WebSocket: %d", ws.Status)
	}
	waitSubscribers(t, s, "a", 3)
	// A stream that ends gives its slot back.
	es1.conn.Close()
	waitSubscribers(t, s, "a", 2)
	es3 := openRaw(t, s, "GET", "/sub/a", "Accept", "text/event-stream")
	if es3.Status != http.StatusOK {
		t.Fatalf("stream after one ended: %d", es3.Status)
	}
	es2.conn.Close()
	es3.conn.Close()
	waitSubscribers(t, s, "a", 1)

	// Long-polls count until they are answered.
	lp1 := async(t, 5*time.Second, "GET", s.URL+"/sub/b", "")
	lp2 := async(t, 5*time.Second, "GET", s.URL+"/sub/b", "")
	waitSubscribers(t, s, "b", 2)
	if r := do(t, "GET", s.URL+"/sub/b", ""); r.Status != http.StatusTooManyRequests {
		t.Fatalf("third long-poll: %d", r.Status)
	}
	publish(t, s, "b", "hello")
	for _, ch := range []<-chan response{lp1, lp2} {
		if r := recv(t, ch); r.Status != http.StatusOK || r.Body != "hello" {
			t.Fatalf("long-poll: %d %q", r.Status, r.Body)
		}
	}
	waitFor(t, waitTimeout, "slots given back", func() bool {
		return s.srv.Server.Routes(0)[1].Limits.Conns.Len() == 1 // the WebSocket's client
	})
	lp3 := async(t, 5*time.Second, "GET", s.URL+"/sub/c", "")
	waitSubscribers(t, s, "c", 1)
	publish(t, s, "c", "again")
	if r := recv(t, lp3); r.Status != http.StatusOK {
		t.Fatalf("long-poll after the others were answered: %d", r.Status)
	}

	// A WebSocket publisher holds its slot until it closes.
	wsPub := openWebSocket(t, s, "/wspub/d")
	if r := do(t, "GET", s.URL+"/wspub/d", "", wsHeaders()...); r.Status != http.StatusTooManyRequests {
		t.Fatalf("second WebSocket publisher: %d", r.Status)
	}
	conns := s.srv.Server.Routes(0)[2].Limits.Conns
	wsPub.conn.Close()
	waitFor(t, waitTimeout, "the publisher's slot given back", func() bool { return conns.Len() == 0 })
	openWebSocket(t, s, "/wspub/d")
}

// TestLimitMemoryBounded sends 50,000 requests, each from another client
// address (X-Forwarded-For from the trusted loopback peer), to a location
// whose table holds 1,000: the table stays within its size, and a client
// it forgot starts afresh.
func TestLimitMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("50,000 requests")
	}
	s := startServer(t, testConfig([]string{"set_real_ip_from: 127.0.0.1", "real_ip_header: X-Forwarded-For"},
		prefixLocation("pub", "publisher: true", "limit_req: {rate: 1r/m, nodelay: on}", "limit_zone_size: 1000")))
	first := []string{"X-Forwarded-For", "203.0.113.7"}
	do(t, "GET", s.URL+"/pub/none", "", first...)
	if r := do(t, "GET", s.URL+"/pub/none", "", first...); r.Status != http.StatusTooManyRequests {
		t.Fatalf("second request: %d", r.Status)
	}
	const clients, workers = 50000, 4
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < clients; i += workers {
				req, _ := http.NewRequest("GET", s.URL+"/pub/none", nil)
				req.Header.Set("X-Forwarded-For", netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String())
				res, err := hc.Do(req)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusNotFound {
					errs <- fmt.Errorf("client %d: %d", i, res.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := s.srv.Server.Routes(0)[0].Limits.Requests.Len(); n > 1024 {
		t.Fatalf("table holds %d addresses, want at most 1024", n)
	}
	if r := do(t, "GET", s.URL+"/pub/none", "", first...); r.Status != http.StatusNotFound {
		t.Fatalf("forgotten client: %d, want 404 (let through)", r.Status)
	}
}

// ---------------------------------------------------------------------------
// Unix socket listeners.

// shortTempDir is a temporary directory with a short path (a socket's
// path is limited to about 100 bytes).
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// unixClient is an HTTP client whose every request goes to the socket.
func unixClient(path string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

// TestUnixSocketListener runs the "subscribers public, publishers private"
// layout: publishers on a Unix socket, subscribers on TCP (and on the
// socket too), with a stale socket file left by a previous run.
func TestUnixSocketListener(t *testing.T) {
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "pub.sock")
	// A stale socket: bound, then closed without removing its file.
	old, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Skipf("unix sockets: %v", err)
	}
	old.SetUnlinkOnClose(false)
	old.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	cfg := fmt.Sprintf(`set_real_ip_from: "unix:"
servers:
  - listen: 127.0.0.1:0
    locations:
      - location: ~ ^/sub/(.+)$
        subscriber: true
        channel_id: $1
  - listen: unix:%s
    locations:
      - location: ~ ^/pub/(.+)$
        publisher: true
        channel_id: $1
      - location: ~ ^/sub/(.+)$
        subscriber: true
        channel_id: $1
      - location: = /whoami
        publisher: true
        channel_id: $remote_addr
`, sock)
	l := startListening(t, cfg)
	if got := l.addrs[1].String(); got != sock {
		t.Fatalf("second listener on %q, want %q", got, sock)
	}
	pub := unixClient(sock)
	tcp := "http://" + l.addrs[0].String()

	// Publishers are not served on TCP.
	res, err := http.Post(tcp+"/pub/chat", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("publish over TCP: %d, want 404", res.StatusCode)
	}

	// A subscriber on TCP and one on the socket get what is published on
	// the socket.
	tcpSub := async(t, 5*time.Second, "GET", tcp+"/sub/chat", "")
	sockSub := make(chan response, 1)
	go func() {
		res, err := pub.Get("http://herald/sub/chat")
		if err != nil {
			sockSub <- response{Status: -1, Body: err.Error()}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		sockSub <- response{Status: res.StatusCode, Body: string(b)}
	}()
	waitFor(t, waitTimeout, "both subscribers admitted", func() bool {
		return l.srv.Stats().Subscribers == 2
	})
	res, err = pub.Post("http://herald/pub/chat", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("publish over the socket: %d", res.StatusCode)
	}
	if e := l.log.next(events.MessagePublished); e.Remote != "unix:" {
		t.Errorf("publisher on the socket: event remote %q, want unix:", e.Remote)
	}
	for _, ch := range []<-chan response{tcpSub, sockSub} {
		if r := recv(t, ch); r.Status != http.StatusOK || r.Body != "hello" {
			t.Fatalf("subscriber: %d %q", r.Status, r.Body)
		}
	}

	// $remote_addr of a socket peer is "unix:"; a trusted socket peer's
	// X-Real-IP names the client.
	for _, c := range []struct{ header, want string }{{"", "unix:"}, {"198.51.100.3", "198.51.100.3"}} {
		req, _ := http.NewRequest("POST", "http://herald/whoami", strings.NewReader("x"))
		if c.header != "" {
			req.Header.Set("X-Real-IP", c.header)
		}
		res, err := pub.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := publishedBy(t, l.log); got != c.want {
			t.Errorf("X-Real-IP %q: client %q, want %q", c.header, got, c.want)
		}
	}

	// Stopping removes the socket file.
	if err := l.srv.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket file after stop: %v", err)
	}
}

// TestUnixSocketInUse refuses to take over a socket another process
// listens on, or a file that is not a socket.
func TestUnixSocketInUse(t *testing.T) {
	dir := shortTempDir(t)
	busy := filepath.Join(dir, "busy.sock")
	ln, err := net.Listen("unix", busy)
	if err != nil {
		t.Skipf("unix sockets: %v", err)
	}
	defer ln.Close()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{busy, file} {
		cfg, err := config.Parse([]byte("servers:\n  - listen: unix:"+path+"\n    locations:\n"+whoamiLocations[0]), "test.yaml")
		if err != nil {
			t.Fatal(err)
		}
		srv, err := server.New(cfg, server.Options{StoreFor: func(*config.Location) (store.Store, error) { return memory.New(memory.Options{}), nil }})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Listen(context.Background(), nil); err == nil {
			srv.Stop(context.Background())
			t.Errorf("listened on %s", path)
		}
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "keep me" {
		t.Errorf("the file was touched: %q %v", b, err)
	}
}
