package location

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Expr is a compiled value with nginx-style variables, such as "$1",
// "$arg_id", "user_${cookie_uid}" or "$http_x_channel".
type Expr struct {
	src   string
	parts []part
}

type varKind uint8

const (
	literal varKind = iota
	capture
	arg
	header
	cookie
	remoteAddr
	uri
	requestURI
	args
	host
	scheme
	method
	// The channel and message variables ($nchan_channel_id, ...) read
	// Request.Nchan; channel ids are evaluated before it exists.
	channelID
	subscriberType
	publisherType
	messageID
	prevMessageID
)

type part struct {
	kind varKind
	text string // literal text, or the name for arg/header/cookie
	n    int    // capture number
}

// Compile parses s into an expression. A "$" must start a known variable;
// "${name}" delimits a name from the text after it.
func Compile(s string) (Expr, error) {
	e := Expr{src: s}
	lit := strings.Builder{}
	flush := func() {
		if lit.Len() > 0 {
			e.parts = append(e.parts, part{kind: literal, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' {
			lit.WriteByte(c)
			i++
			continue
		}
		i++
		var name string
		switch {
		case i < len(s) && s[i] == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return Expr{}, fmt.Errorf("expression %q: unterminated ${", s)
			}
			name = s[i+1 : i+end]
			i += end + 1
		case i < len(s) && s[i] >= '0' && s[i] <= '9':
			name = s[i : i+1]
			i++
		default:
			j := i
			for j < len(s) && isNameByte(s[j]) {
				j++
			}
			name = s[i:j]
			i = j
		}
		p, err := varPart(name)
		if err != nil {
			return Expr{}, fmt.Errorf("expression %q: %w", s, err)
		}
		flush()
		e.parts = append(e.parts, p)
	}
	flush()
	return e, nil
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func varPart(name string) (part, error) {
	if name == "" {
		return part{}, fmt.Errorf("'$' without a variable name")
	}
	for i := 0; i < len(name); i++ {
		if !isNameByte(name[i]) {
			return part{}, fmt.Errorf("bad variable name %q", name)
		}
	}
	if len(name) == 1 && name[0] >= '0' && name[0] <= '9' {
		return part{kind: capture, n: int(name[0] - '0')}, nil
	}
	lower := strings.ToLower(name)
	for _, pre := range []struct {
		prefix string
		kind   varKind
	}{{"arg_", arg}, {"http_", header}, {"cookie_", cookie}} {
		if rest, ok := strings.CutPrefix(lower, pre.prefix); ok && rest != "" {
			text := name[len(pre.prefix):]
			if pre.kind == header {
				text = http.CanonicalHeaderKey(strings.ReplaceAll(rest, "_", "-"))
			}
			return part{kind: pre.kind, text: text}, nil
		}
	}
	switch lower {
	case "remote_addr":
		return part{kind: remoteAddr}, nil
	case "uri", "document_uri":
		return part{kind: uri}, nil
	case "request_uri":
		return part{kind: requestURI}, nil
	case "args", "query_string":
		return part{kind: args}, nil
	case "host":
		return part{kind: host}, nil
	case "scheme":
		return part{kind: scheme}, nil
	case "request_method":
		return part{kind: method}, nil
	}
	if p, ok := nchanPart(strings.TrimPrefix(lower, "nchan_")); ok {
		return p, nil
	}
	return part{}, fmt.Errorf("unknown variable $%s", name)
}

// String returns the source text of the expression.
func (e Expr) String() string { return e.src }

// IsLiteral reports whether the expression has no variables: it evaluates
// to its text for every request.
func (e Expr) IsLiteral() bool {
	for _, p := range e.parts {
		if p.kind != literal {
			return false
		}
	}
	return true
}

// IsEmpty reports whether the expression has no parts at all.
func (e Expr) IsEmpty() bool { return len(e.parts) == 0 }

// MaxCapture returns the largest capture number ($n) used, or 0.
func (e Expr) MaxCapture() int {
	n := 0
	for _, p := range e.parts {
		if p.kind == capture && p.n > n {
			n = p.n
		}
	}
	return n
}

// nchanPart is the part of an Nchan variable named without its "nchan_"
// prefix: channel_id (channel_id1 to channel_id4), subscriber_type,
// publisher_type, message_id, prev_message_id.
func nchanPart(name string) (part, bool) {
	switch name {
	case "channel_id":
		return part{kind: channelID}, true
	case "subscriber_type":
		return part{kind: subscriberType}, true
	case "publisher_type":
		return part{kind: publisherType}, true
	case "message_id":
		return part{kind: messageID}, true
	case "prev_message_id":
		return part{kind: prevMessageID}, true
	}
	if rest, ok := strings.CutPrefix(name, "channel_id"); ok && len(rest) == 1 && rest[0] >= '1' && rest[0] <= '4' {
		return part{kind: channelID, n: int(rest[0] - '1')}, true
	}
	return part{}, false
}

// Request is what variables are read from: the HTTP request, the captures
// of the location regex that matched it, and, once the request's channels
// are known, what the Nchan variables read.
type Request struct {
	HTTP     *http.Request
	Captures []string
	// Nchan holds the values of $nchan_channel_id and the other Nchan
	// variables; nil (while channel ids are resolved) leaves them empty.
	Nchan *Nchan
}

// Nchan is what the Nchan variables of a request read.
type Nchan struct {
	// ChannelIDs are the request's channel ids, without their group:
	// $nchan_channel_id (the first), $nchan_channel_id1 to 4.
	ChannelIDs []string
	// SubscriberType is the subscriber's transport as Nchan names it
	// (longpoll, eventsource, websocket, ...); "" for a publisher.
	SubscriberType string
	// PublisherType is "http" or "websocket"; "" for a subscriber.
	PublisherType string
	// MessageID and PrevMessageID are the message id just assigned or
	// being delivered, and the one before it ("" when there is none).
	MessageID, PrevMessageID string
}

// Eval expands the expression for one request. Missing values expand to "".
func (e Expr) Eval(r Request) string {
	if len(e.parts) == 1 {
		return e.parts[0].eval(r)
	}
	var b strings.Builder
	for _, p := range e.parts {
		b.WriteString(p.eval(r))
	}
	return b.String()
}

func (p part) eval(r Request) string {
	switch p.kind {
	case literal:
		return p.text
	case capture:
		if p.n < len(r.Captures) {
			return r.Captures[p.n]
		}
		return ""
	}
	if p.kind >= channelID {
		return p.evalNchan(r.Nchan)
	}
	h := r.HTTP
	if h == nil {
		return ""
	}
	switch p.kind {
	case arg:
		return rawArg(h.URL.RawQuery, p.text)
	case header:
		return strings.Join(h.Header.Values(p.text), ", ")
	case cookie:
		if c, err := h.Cookie(p.text); err == nil {
			return c.Value
		}
		return ""
	case remoteAddr:
		if h.RemoteAddr == "unix:" { // a Unix socket peer, as nginx names it
			return h.RemoteAddr
		}
		if a, _, err := net.SplitHostPort(h.RemoteAddr); err == nil {
			return a
		}
		return h.RemoteAddr
	case uri:
		return h.URL.Path
	case requestURI:
		return h.RequestURI
	case args:
		return h.URL.RawQuery
	case host:
		if hn, _, err := net.SplitHostPort(h.Host); err == nil {
			return strings.ToLower(hn)
		}
		return strings.ToLower(h.Host)
	case scheme:
		if h.TLS != nil {
			return "https"
		}
		return "http"
	case method:
		return h.Method
	}
	return ""
}

func (p part) evalNchan(v *Nchan) string {
	if v == nil {
		return ""
	}
	switch p.kind {
	case channelID:
		if p.n < len(v.ChannelIDs) {
			return v.ChannelIDs[p.n]
		}
	case subscriberType:
		return v.SubscriberType
	case publisherType:
		return v.PublisherType
	case messageID:
		return v.MessageID
	case prevMessageID:
		return v.PrevMessageID
	}
	return ""
}

// rawArg returns the first value of query argument name, undecoded, as
// nginx's $arg_name does. Names match case-insensitively.
func rawArg(query, name string) string {
	for query != "" {
		var kv string
		kv, query, _ = strings.Cut(query, "&")
		k, v, _ := strings.Cut(kv, "=")
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}
