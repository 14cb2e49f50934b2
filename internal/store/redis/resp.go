package redis

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
)

// The engine's subscriber connections speak RESP2 themselves (see
// subconn.go): a connection in subscribed mode receives pushes between the
// replies to its commands, and the engine must know exactly which command
// a reply or an error answers, which a general-purpose client hides.

// respValue is one RESP2 value. Arrays hold their elements; an error
// reply has kind '-' and its text in str.
type respValue struct {
	kind byte // '+', '-', ':', '$', '*'
	str  string
	num  int64
	arr  []respValue
	null bool
}

// maxRESPBulk bounds one bulk string a subscriber connection accepts: a
// pubsub notice carries one message, at most the largest body a location
// accepts plus its fields.
const maxRESPBulk = 1 << 30

// maxRESPArray bounds an array's length; pubsub replies have three
// elements.
const maxRESPArray = 1 << 10

var errRESP = errors.New("redis: malformed reply")

// readRESP reads one value.
func readRESP(r *bufio.Reader) (respValue, error) {
	line, err := readRESPLine(r)
	if err != nil {
		return respValue{}, err
	}
	if len(line) == 0 {
		return respValue{}, errRESP
	}
	v := respValue{kind: line[0]}
	rest := string(line[1:])
	switch v.kind {
	case '+', '-':
		v.str = rest
	case ':':
		if v.num, err = strconv.ParseInt(rest, 10, 64); err != nil {
			return respValue{}, fmt.Errorf("%w: integer %q", errRESP, rest)
		}
	case '$':
		n, err := strconv.Atoi(rest)
		if err != nil || n < -1 || n > maxRESPBulk {
			return respValue{}, fmt.Errorf("%w: bulk length %q", errRESP, rest)
		}
		if n == -1 {
			v.null = true
			return v, nil
		}
		buf := make([]byte, n+2)
		if _, err := ioReadFull(r, buf); err != nil {
			return respValue{}, err
		}
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return respValue{}, fmt.Errorf("%w: bulk string not ended by CRLF", errRESP)
		}
		v.str = string(buf[:n])
	case '*':
		n, err := strconv.Atoi(rest)
		if err != nil || n < -1 || n > maxRESPArray {
			return respValue{}, fmt.Errorf("%w: array length %q", errRESP, rest)
		}
		if n == -1 {
			v.null = true
			return v, nil
		}
		v.arr = make([]respValue, n)
		for i := range v.arr {
			if v.arr[i], err = readRESP(r); err != nil {
				return respValue{}, err
			}
		}
	default:
		return respValue{}, fmt.Errorf("%w: type %q", errRESP, v.kind)
	}
	return v, nil
}

// readRESPLine reads a line ended by CRLF, without it.
func readRESPLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: line too long", errRESP)
		}
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("%w: line not ended by CRLF", errRESP)
	}
	return line[:len(line)-2], nil
}

func ioReadFull(r *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// appendRESPCommand appends a command as an array of bulk strings.
func appendRESPCommand(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, "\r\n"...)
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	return b
}

// text returns element i of an array as a string ("" if there is none).
func (v respValue) text(i int) string {
	if i < len(v.arr) {
		e := v.arr[i]
		if e.kind == ':' {
			return strconv.FormatInt(e.num, 10)
		}
		return e.str
	}
	return ""
}
