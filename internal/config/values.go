package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Transport is a set of subscriber transports.
type Transport uint16

// The subscriber transports, as in Nchan.
const (
	WebSocket Transport = 1 << iota
	EventSource
	LongPoll
	IntervalPoll
	Chunked
	Multipart
	RawStream
)

// DefaultTransports are what `subscriber: true` enables (Nchan's default).
const DefaultTransports = WebSocket | EventSource | LongPoll | Chunked | Multipart

var transportNames = []struct {
	t     Transport
	names []string
}{
	{WebSocket, []string{"websocket", "ws", "websockets"}},
	{EventSource, []string{"eventsource", "event-source", "es", "sse"}},
	{LongPoll, []string{"longpoll", "long-poll"}},
	{IntervalPoll, []string{"intervalpoll", "interval-poll", "poll", "http"}},
	{Chunked, []string{"chunked", "http-chunked"}},
	{Multipart, []string{"multipart-mixed", "multipart", "multipart/mixed", "http-multipart"}},
	{RawStream, []string{"http-raw-stream"}},
}

// Has reports whether all of o is in t.
func (t Transport) Has(o Transport) bool { return t&o == o && o != 0 }

// String lists the transports by their canonical names.
func (t Transport) String() string {
	var names []string
	for _, tn := range transportNames {
		if t&tn.t != 0 {
			names = append(names, tn.names[0])
		}
	}
	if len(names) == 0 {
		return "off"
	}
	return strings.Join(names, " ")
}

func parseTransport(s string) (Transport, bool) {
	s = strings.ToLower(s)
	for _, tn := range transportNames {
		for _, n := range tn.names {
			if n == s {
				return tn.t, true
			}
		}
	}
	return 0, false
}

// scalars returns the node's value as a list of strings: a scalar (split on
// spaces when split is set) or a sequence of scalars.
func scalars(n *yaml.Node, split bool) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if split {
			return strings.Fields(n.Value), nil
		}
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return nil, nodeErr(c, "want a list of strings")
			}
			out = append(out, c.Value)
		}
		return out, nil
	}
	return nil, nodeErr(n, "want a string or a list of strings")
}

func scalar(n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", nodeErr(n, "want a single value")
	}
	return n.Value, nil
}

// ParseBool accepts on/off, true/false, yes/no, 1/0.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "on", "true", "yes", "1":
		return true, nil
	case "off", "false", "no", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not on/off", s)
}

// ParseDuration accepts nginx times ("30s", "5m", "1h", "2d", "500ms",
// "1h30m", a bare number of seconds) and Go durations.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty time")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > 1<<33 {
			return 0, fmt.Errorf("time %q out of range", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("bad time %q", s)
		}
		num, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("bad time %q", s)
		}
		rest = rest[i:]
		j := 0
		for j < len(rest) && (rest[j] < '0' || rest[j] > '9') && rest[j] != '.' {
			j++
		}
		var unit time.Duration
		switch strings.ToLower(rest[:j]) {
		case "ms":
			unit = time.Millisecond
		case "s", "":
			unit = time.Second
		case "m":
			unit = time.Minute
		case "h":
			unit = time.Hour
		case "d":
			unit = 24 * time.Hour
		case "w":
			unit = 7 * 24 * time.Hour
		case "y":
			unit = 365 * 24 * time.Hour
		default:
			return 0, fmt.Errorf("bad time unit in %q (want ms, s, m, h, d, w or y)", s)
		}
		rest = rest[j:]
		if num*float64(unit) > float64(200*365*24*time.Hour) {
			return 0, fmt.Errorf("time %q out of range", s)
		}
		total += time.Duration(num * float64(unit))
	}
	return total, nil
}

// ParseSize accepts nginx sizes: bytes, or a number with k, m or g (KiB,
// MiB, GiB), as in "128M" or "0.5G".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty size")
	}
	mult := float64(1)
	switch t[len(t)-1] {
	case 'k', 'K':
		mult = 1 << 10
	case 'm', 'M':
		mult = 1 << 20
	case 'g', 'G':
		mult = 1 << 30
	}
	if mult != 1 {
		t = t[:len(t)-1]
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || !(v >= 0) || v*mult > 1<<50 {
		return 0, fmt.Errorf("bad size %q (want bytes, or a number with k, m or g)", s)
	}
	return int64(v * mult), nil
}

// FormatDuration writes a duration the way the config reads it.
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}

// FormatSize writes a size the way the config reads it.
func FormatSize(n int64) string {
	switch {
	case n != 0 && n%(1<<30) == 0:
		return fmt.Sprintf("%dG", n>>30)
	case n != 0 && n%(1<<20) == 0:
		return fmt.Sprintf("%dM", n>>20)
	case n != 0 && n%(1<<10) == 0:
		return fmt.Sprintf("%dk", n>>10)
	}
	return strconv.FormatInt(n, 10)
}

// Error is a configuration error at a place in the file.
type Error struct {
	File   string
	Line   int
	Column int
	Msg    string
}

func (e *Error) Error() string {
	f := e.File
	if f == "" {
		f = "config"
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", f, e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("%s: %s", f, e.Msg)
}

func nodeErr(n *yaml.Node, format string, args ...any) *Error {
	return &Error{Line: n.Line, Column: n.Column, Msg: fmt.Sprintf(format, args...)}
}
