package app_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/heraldpush/herald/internal/app"
	"github.com/heraldpush/herald/internal/server"
	"github.com/heraldpush/herald/protocol"
)

// reloadConfig is the configuration of the reload tests: a publisher, a
// subscriber location (every transport) and one more publisher location
// named by extra.
func reloadConfig(top, extra string) string {
	return top + `
shutdown_timeout: 2s
servers:
  - listen: 127.0.0.1:0
    locations:
      - location: ~ ^/pub/(\w+)$
        publisher: true
        channel_id: $1
      - location: ~ ^/sub/(\w+)$
        subscriber: [eventsource, websocket, longpoll]
        channel_id: $1
      - location: ~ ^/` + extra + `/(\w+)$
        publisher: true
        channel_id: $1
`
}

// esReader reads the messages of an EventSource subscriber.
type esReader struct {
	res *http.Response
	dec protocol.EventSourceDecoder
	buf []byte
}

func openES(t *testing.T, url string) *esReader {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("eventsource %s: %v", url, err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("eventsource %s: %d", url, res.StatusCode)
	}
	t.Cleanup(func() { res.Body.Close() })
	return &esReader{res: res, buf: make([]byte, 4096)}
}

// next returns the next message's data (skipping comments), failing the
// test if none comes within 5 s.
func (e *esReader) next(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		ev, err := e.dec.Next()
		if err != nil {
			t.Fatalf("eventsource: %v", err)
		}
		if ev != nil {
			if ev.Kind == protocol.KindEvent {
				return string(ev.Data)
			}
			continue
		}
		type result struct {
			n   int
			err error
		}
		rc := make(chan result, 1)
		go func() { n, err := e.res.Body.Read(e.buf); rc <- result{n, err} }()
		select {
		case r := <-rc:
			if r.err != nil && r.n == 0 {
				t.Fatalf("eventsource read: %v", r.err)
			}
			e.dec.Feed(e.buf[:r.n])
		case <-time.After(time.Until(deadline)):
			t.Fatal("eventsource: no message within 5s")
		}
	}
	t.Fatal("eventsource: no message within 5s")
	return ""
}

// TestReloadKeepsSubscribers reloads a running App between publishes: the
// subscribers connected before (EventSource, WebSocket, a waiting
// long-poll) keep their connections and receive every message once, in
// order; new requests see the new locations.
func TestReloadKeepsSubscribers(t *testing.T) {
	a := start(t, parse(t, reloadConfig("", "old")), app.Options{NoMemoryTrim: true})
	base := "http://" + a.Addrs()[0].String()

	const channels, perPhase = 4, 20
	var es []*esReader
	for c := range channels {
		es = append(es, openES(t, fmt.Sprintf("%s/sub/ch%d", base, c)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, "ws://"+a.Addrs()[0].String()+"/sub/ch0")
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	defer conn.Close()
	if br != nil {
		ws.PutReader(br)
	}
	// A long-poll waiting for the channel's next message across the reload.
	if code, _, _ := get(t, "POST", base+"/pub/parked", "before"); code != http.StatusAccepted {
		t.Fatalf("publish: %d", code)
	}
	_, _, first := get(t, "GET", base+"/sub/parked", "")
	parked := make(chan string, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/sub/parked", nil)
		req.Header.Set("If-Modified-Since", first.Get("Last-Modified"))
		req.Header.Set("If-None-Match", first.Get("Etag"))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			parked <- "error: " + err.Error()
			return
		}
		defer res.Body.Close()
		b := new(strings.Builder)
		bufio.NewReader(res.Body).WriteTo(b)
		parked <- fmt.Sprintf("%d %s", res.StatusCode, b)
	}()
	waitFor(t, func() bool {
		_, body, _ := get(t, "GET", base+"/pub/parked", "")
		return strings.Contains(body, "subscribers: 1")
	})
	waitFor(t, func() bool {
		_, body, _ := get(t, "GET", base+"/pub/ch0", "")
		return strings.Contains(body, "subscribers: 2")
	})

	publishAll := func(from int) {
		for i := from; i < from+perPhase; i++ {
			for c := range channels {
				if code, body, _ := get(t, "POST", fmt.Sprintf("%s/pub/ch%d", base, c), fmt.Sprint(i)); code != http.StatusCreated && code != http.StatusAccepted {
					t.Fatalf("publish %d: %d %s", i, code, body)
				}
			}
		}
	}
	publishAll(0)
	if err := a.Reload(context.Background(), parse(t, reloadConfig("", "new"))); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if code, _, _ := get(t, "POST", base+"/old/ch0", "x"); code != http.StatusNotFound {
		t.Errorf("removed location answers %d, want 404", code)
	}
	if code, _, _ := get(t, "POST", base+"/new/parked", "after"); code != http.StatusCreated {
		t.Errorf("added location's publish to the parked channel: %d, want 201", code)
	}
	publishAll(perPhase)

	for c, r := range es {
		for i := range 2 * perPhase {
			if got := r.next(t); got != fmt.Sprint(i) {
				t.Fatalf("eventsource ch%d: message %d is %q, want %q", c, i, got, fmt.Sprint(i))
			}
		}
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := range 2 * perPhase {
		b, err := wsutil.ReadServerText(conn)
		if err != nil {
			t.Fatalf("websocket message %d: %v", i, err)
		}
		if string(b) != fmt.Sprint(i) {
			t.Fatalf("websocket message %d is %q", i, b)
		}
	}
	select {
	case got := <-parked:
		if got != "200 after" {
			t.Errorf("parked long-poll got %q, want 200 after", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("parked long-poll not answered")
	}
}

// TestReloadRefusesWhatNeedsARestart: a configuration that changes what a
// running Herald cannot change is refused whole, and the running one stays.
func TestReloadRefusesWhatNeedsARestart(t *testing.T) {
	a := start(t, parse(t, reloadConfig("", "old")), app.Options{NoMemoryTrim: true})
	base := "http://" + a.Addrs()[0].String()
	tests := []struct{ name, yaml string }{
		{"new Redis store", reloadConfig("", "new") + "        store: redis\n        redis_url: redis://127.0.0.1:1\n"},
		{"memory limit", reloadConfig("max_reserved_memory: 64M", "new")},
		{"proxy_protocol", strings.Replace(reloadConfig("", "new"), "listen: 127.0.0.1:0", `listen: "127.0.0.1:0 proxy_protocol"`, 1)},
		{"TLS turned on", strings.Replace(reloadConfig("", "new"), "  - listen: 127.0.0.1:0\n", "  - listen: 127.0.0.1:0\n    ssl_certificate: CERT\n    ssl_certificate_key: KEY\n", 1)},
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, certFile, keyFile, "tls")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			yaml := strings.NewReplacer("CERT", certFile, "KEY", keyFile).Replace(tc.yaml)
			err := a.Reload(context.Background(), parse(t, yaml))
			if !errors.Is(err, server.ErrRestartNeeded) {
				t.Fatalf("reload: %v, want an error wrapping ErrRestartNeeded", err)
			}
			if code, _, _ := get(t, "POST", base+"/old/ch", "x"); code != http.StatusAccepted {
				t.Errorf("after a refused reload the old location answers %d, want 202", code)
			}
			if code, _, _ := get(t, "POST", base+"/new/ch", "x"); code != http.StatusNotFound {
				t.Errorf("after a refused reload the new location answers %d, want 404", code)
			}
		})
	}
}

// TestReloadListeners: a reload opens the listen addresses it adds and
// closes those it removes; a subscriber connected on a removed address
// keeps its connection and keeps receiving.
func TestReloadListeners(t *testing.T) {
	second := func(addr string) string {
		return "  - listen: " + addr + "\n    locations:\n      - location: ~ ^/(pub|sub)/(\\w+)$\n        pubsub: true\n        channel_id: $2\n"
	}
	a := start(t, parse(t, reloadConfig("", "old")), app.Options{NoMemoryTrim: true})
	first := a.Addrs()[0].String()
	es := openES(t, "http://"+first+"/sub/ch")

	// Add a server block on another address.
	if err := a.Reload(context.Background(), parse(t, reloadConfig("", "old")+second("127.0.0.2:0"))); err != nil {
		t.Fatalf("reload adding a listener: %v", err)
	}
	addrs := a.Addrs()
	if len(addrs) != 2 || addrs[0].String() != first {
		t.Fatalf("addresses after adding one: %v, want %s and a new one", addrs, first)
	}
	added := "http://" + addrs[1].String()
	if code, _, _ := get(t, "POST", added+"/pub/ch", "one"); code != http.StatusCreated {
		t.Fatalf("publish on the added listener: %d, want 201 (a subscriber waits on the first)", code)
	}
	if got := es.next(t); got != "one" {
		t.Fatalf("subscriber got %q", got)
	}

	// Keep only the new block: the first address closes.
	cfg := parse(t, "shutdown_timeout: 2s\nservers:\n"+second("127.0.0.2:0")) // the address as configured
	if err := a.Reload(context.Background(), cfg); err != nil {
		t.Fatalf("reload removing a listener: %v", err)
	}
	waitFor(t, func() bool {
		_, err := http.Post("http://"+first+"/pub/ch", "text/plain", strings.NewReader("x"))
		return err != nil
	})
	if got := a.Addrs(); len(got) != 1 || got[0].String() != addrs[1].String() {
		t.Fatalf("addresses after removing one: %v", got)
	}
	if code, _, _ := get(t, "POST", added+"/pub/ch", "two"); code != http.StatusCreated {
		t.Fatalf("publish after removing the first listener: %d, want 201 (its subscriber is still there)", code)
	}
	if got := es.next(t); got != "two" {
		t.Fatalf("subscriber on the removed listener got %q, want two", got)
	}
	// A reload that cannot open an address changes nothing.
	busy, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if err := a.Reload(context.Background(), parse(t, "servers:\n"+second("127.0.0.2:0")+second(busy.Addr().String()))); err == nil {
		t.Fatal("reload onto an address in use succeeded")
	}
	if got := a.Addrs(); len(got) != 1 {
		t.Fatalf("addresses after a refused reload: %v", got)
	}
}

// TestReloadReplacesCertificate: new TLS handshakes get the certificate a
// reload read; the listener stays open.
func TestReloadReplacesCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, certFile, keyFile, "first")
	yaml := strings.Replace(reloadConfig("", "old"), "  - listen: 127.0.0.1:0\n",
		"  - listen: 127.0.0.1:0\n    ssl_certificate: "+certFile+"\n    ssl_certificate_key: "+keyFile+"\n", 1)
	a := start(t, parse(t, yaml), app.Options{NoMemoryTrim: true})
	addr := a.Addrs()[0].String()
	if cn := peerName(t, addr); cn != "first" {
		t.Fatalf("certificate %q, want first", cn)
	}
	writeCert(t, certFile, keyFile, "second")
	if err := a.Reload(context.Background(), parse(t, yaml)); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if cn := peerName(t, addr); cn != "second" {
		t.Fatalf("certificate after reload %q, want second", cn)
	}
	// A certificate that cannot be read refuses the reload; the one in
	// force stays.
	cfg := parse(t, yaml)
	os.WriteFile(certFile, []byte("not a certificate"), 0o600)
	if err := a.Reload(context.Background(), cfg); err == nil {
		t.Fatal("reload with a broken certificate succeeded")
	}
	if cn := peerName(t, addr); cn != "second" {
		t.Fatalf("certificate after a refused reload %q, want second", cn)
	}
}

func peerName(t *testing.T, addr string) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("tls dial: %v", err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func writeCert(t *testing.T, certFile, keyFile, name string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 5s")
}
