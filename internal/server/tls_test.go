package server_test

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
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeSelfSigned writes a certificate and key for 127.0.0.1 and returns
// their paths and a pool trusting the certificate.
func writeSelfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "herald test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLSHTTP2 serves EventSource and long-poll over TLS with HTTP/2
// negotiated by ALPN.
func TestTLSHTTP2(t *testing.T) {
	certFile, keyFile, pool := writeSelfSigned(t)
	// A publisher and a subscriber location, served over TLS.
	cfg := testConfig(nil, prefixLocation("pub", "publisher: true"), prefixLocation("sub", "subscriber: true"))
	cfg = strings.Replace(cfg, "    locations:\n", "    ssl_certificate: "+certFile+"\n    ssl_certificate_key: "+keyFile+"\n    locations:\n", 1)
	s := startServer(t, cfg)
	base := strings.Replace(s.URL, "http://", "https://", 1)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/sub/tls", nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.ProtoMajor != 2 || res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
		t.Fatalf("got %s %d %q, want HTTP/2 200 text/event-stream", res.Proto, res.StatusCode, res.Header.Get("Content-Type"))
	}
	rd := bufio.NewReader(res.Body)
	if line, _ := rd.ReadString('\n'); line != ": hi\n" {
		t.Fatalf("preamble %q", line)
	}
	rd.ReadString('\n')
	pub, err := client.Post(base+"/pub/tls", "text/plain", strings.NewReader("over tls"))
	if err != nil {
		t.Fatal(err)
	}
	pub.Body.Close()
	if pub.StatusCode != http.StatusCreated {
		t.Fatalf("publish over HTTP/2: %d", pub.StatusCode)
	}
	if id, data, err := readEvent(rd); err != nil || data != "over tls" {
		t.Fatalf("event id %q data %q (%v), want the message", id, data, err)
	}

	lp, err := client.Get(base + "/sub/tls")
	if err != nil {
		t.Fatal(err)
	}
	lp.Body.Close()
	if lp.ProtoMajor != 2 || lp.StatusCode != 200 || lp.Header.Get("Etag") != "0" {
		t.Fatalf("long-poll over HTTP/2: %s %d etag %q", lp.Proto, lp.StatusCode, lp.Header.Get("Etag"))
	}
}
