// Package proxyproto reads the PROXY protocol header (versions 1 and 2, as
// HAProxy specifies them) that a load balancer sends at the start of a
// connection to name the client it accepted, and wraps a listener so every
// connection it accepts reports that client as its remote address.
//
// Only the header is read here; what follows it is the client's own bytes,
// handed on untouched.
package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
)

// v1Prefix starts a version 1 (text) header; v2Sig starts a version 2
// (binary) one.
var (
	v1Prefix = []byte("PROXY ")
	v2Sig    = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

const (
	// v1MaxLen is the longest version 1 header, CRLF included.
	v1MaxLen = 107
	// v2HeaderLen is the fixed part of a version 2 header.
	v2HeaderLen = 16
	// MaxLen is the longest header of either version.
	MaxLen = v2HeaderLen + 0xffff
)

// ErrNeedMore says the bytes given are the beginning of a header that is
// not complete yet.
var ErrNeedMore = errors.New("proxy protocol: incomplete header")

// ErrInvalid says the bytes given do not begin with a valid header.
var ErrInvalid = errors.New("proxy protocol: invalid header")

// Header is what a PROXY header says.
type Header struct {
	// Version is 1 or 2.
	Version int
	// Local reports a header that names no client: a version 2 LOCAL
	// command (the balancer's own health check), an UNKNOWN version 1
	// header, or an address family Herald does not read (unspecified or
	// a Unix socket). The connection's own peer stands.
	Local bool
	// Source is the client's address and port; Dest the address it
	// connected to. Both are zero when Local.
	Source, Dest netip.AddrPort
}

// Parse reads the header at the start of b and returns it with the number
// of bytes it took. It returns ErrNeedMore while b holds only the
// beginning of a valid header, and ErrInvalid as soon as b cannot begin
// one.
func Parse(b []byte) (Header, int, error) {
	switch {
	case len(b) == 0:
		return Header{}, 0, ErrNeedMore
	case b[0] == 'P':
		return parseV1(b)
	case b[0] == '\r':
		return parseV2(b)
	}
	return Header{}, 0, ErrInvalid
}

// matchPrefix compares b with prefix p: ok when one begins the other,
// complete when b holds all of p.
func matchPrefix(b, p []byte) (complete, ok bool) {
	if len(b) < len(p) {
		return false, bytes.HasPrefix(p, b)
	}
	return true, bytes.HasPrefix(b, p)
}

func parseV1(b []byte) (Header, int, error) {
	complete, ok := matchPrefix(b, v1Prefix)
	if !ok {
		return Header{}, 0, ErrInvalid
	}
	if !complete {
		return Header{}, 0, ErrNeedMore
	}
	end := bytes.IndexByte(b[:min(len(b), v1MaxLen)], '\n')
	if end < 0 {
		if len(b) >= v1MaxLen {
			return Header{}, 0, ErrInvalid
		}
		// Any byte that cannot appear in a header ends it early.
		for _, c := range b[len(v1Prefix):] {
			if c != '\r' && (c < ' ' || c > '~') {
				return Header{}, 0, ErrInvalid
			}
		}
		return Header{}, 0, ErrNeedMore
	}
	if end == 0 || b[end-1] != '\r' {
		return Header{}, 0, ErrInvalid
	}
	line := string(b[len(v1Prefix) : end-1])
	n := end + 1
	fields := splitSpaces(line)
	if len(fields) == 0 {
		return Header{}, 0, ErrInvalid
	}
	switch fields[0] {
	case "UNKNOWN":
		// Whatever follows UNKNOWN is to be ignored.
		for _, c := range line {
			if c < ' ' || c > '~' {
				return Header{}, 0, ErrInvalid
			}
		}
		return Header{Version: 1, Local: true}, n, nil
	case "TCP4", "TCP6":
	default:
		return Header{}, 0, ErrInvalid
	}
	if len(fields) != 5 {
		return Header{}, 0, ErrInvalid
	}
	src, err1 := netip.ParseAddr(fields[1])
	dst, err2 := netip.ParseAddr(fields[2])
	sp, ok1 := parsePort(fields[3])
	dp, ok2 := parsePort(fields[4])
	if err1 != nil || err2 != nil || !ok1 || !ok2 || src.Zone() != "" || dst.Zone() != "" {
		return Header{}, 0, ErrInvalid
	}
	if v4 := fields[0] == "TCP4"; v4 != src.Is4() || v4 != dst.Is4() {
		return Header{}, 0, ErrInvalid
	}
	return Header{Version: 1, Source: netip.AddrPortFrom(src, sp), Dest: netip.AddrPortFrom(dst, dp)}, n, nil
}

// splitSpaces splits s at single spaces; a doubled, leading or trailing
// space makes an empty field, which no valid header has.
func splitSpaces(s string) []string {
	var out []string
	for {
		i := 0
		for i < len(s) && s[i] != ' ' {
			i++
		}
		out = append(out, s[:i])
		if i == len(s) {
			return out
		}
		s = s[i+1:]
	}
}

// parsePort reads a decimal port from 0 to 65535 without a sign or
// leading zeros.
func parsePort(s string) (uint16, bool) {
	if s == "" || len(s) > 5 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 10, 16)
	return uint16(v), err == nil
}

func parseV2(b []byte) (Header, int, error) {
	complete, ok := matchPrefix(b, v2Sig)
	if !ok {
		return Header{}, 0, ErrInvalid
	}
	if !complete {
		return Header{}, 0, ErrNeedMore
	}
	if len(b) > len(v2Sig) && b[12]>>4 != 2 {
		return Header{}, 0, ErrInvalid
	}
	if len(b) < v2HeaderLen {
		return Header{}, 0, ErrNeedMore
	}
	cmd, fam := b[12]&0x0f, b[13]
	size := int(binary.BigEndian.Uint16(b[14:16]))
	if cmd > 1 {
		return Header{}, 0, ErrInvalid
	}
	var need int
	switch fam >> 4 {
	case 0, 3: // unspecified, Unix: no address Herald reads
	case 1:
		need = 12
	case 2:
		need = 36
	default:
		return Header{}, 0, ErrInvalid
	}
	if fam&0x0f > 2 {
		return Header{}, 0, ErrInvalid
	}
	if size < need && cmd == 1 {
		return Header{}, 0, ErrInvalid
	}
	if len(b) < v2HeaderLen+size {
		return Header{}, 0, ErrNeedMore
	}
	n := v2HeaderLen + size
	h := Header{Version: 2}
	if cmd == 0 || need == 0 {
		h.Local = true
		return h, n, nil
	}
	a := b[v2HeaderLen:n]
	if need == 12 {
		src := netip.AddrFrom4([4]byte(a[0:4]))
		dst := netip.AddrFrom4([4]byte(a[4:8]))
		h.Source = netip.AddrPortFrom(src, binary.BigEndian.Uint16(a[8:10]))
		h.Dest = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(a[10:12]))
	} else {
		src := netip.AddrFrom16([16]byte(a[0:16]))
		dst := netip.AddrFrom16([16]byte(a[16:32]))
		h.Source = netip.AddrPortFrom(src, binary.BigEndian.Uint16(a[32:34]))
		h.Dest = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(a[34:36]))
	}
	return h, n, nil
}
