// Package config is Herald's configuration model: the YAML file format, the
// built-in default, validation that names the bad key and line, and the
// reference documentation, all generated from one table of directives.
package config

import (
	"crypto/tls"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/heraldpush/herald/internal/chanevents"
	"github.com/heraldpush/herald/internal/clientaddr"
	"github.com/heraldpush/herald/internal/location"
	"github.com/heraldpush/herald/internal/token"
)

// Config is a whole configuration.
type Config struct {
	MaxReservedMemory int64
	MaxBodyMemory     int64
	ShutdownTimeout   time.Duration
	LogLevel          string
	LogFormat         string
	PIDFile           string
	UpgradeDrainTime  time.Duration
	// MemoryTrim returns freed memory to the OS at quiet moments
	// (memory_trim; see internal/memtrim).
	MemoryTrim bool
	// HTTP1Fast serves plain-text HTTP/1.1 with internal/http1
	// (fast_http1).
	HTTP1Fast      bool
	RedisUpstreams map[string]RedisUpstream
	Servers        []Server

	// AccessLog is "" (off), "stderr" or a file; its lines are in
	// AccessLogFormat, and a stream's last in AccessLogStreamFormat.
	AccessLog             string
	AccessLogFormat       string
	AccessLogStreamFormat string
}

// Server is a set of listen addresses sharing one list of locations.
type Server struct {
	Listen    []string
	Locations []Location
	// Listeners are Listen's addresses with their options, in the same
	// order.
	Listeners []Listener
	// RealIP finds the client behind trusted proxies (set_real_ip_from,
	// real_ip_header, real_ip_recursive).
	RealIP clientaddr.Resolver
	// TLSCertificate and TLSKey are PEM files (ssl_certificate,
	// ssl_certificate_key); when set, every listen address speaks TLS with
	// HTTP/2 and HTTP/1.1.
	TLSCertificate string
	TLSKey         string
}

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the built-in configuration used when no file is given.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Default returns the built-in configuration.
func Default() *Config {
	c, err := Parse(defaultYAML, "built-in default")
	if err != nil {
		panic(fmt.Sprintf("built-in config: %v", err)) // covered by tests
	}
	return c
}

// Load reads and validates a configuration file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, path)
}

// Parse parses and validates a configuration; file names it in errors.
func Parse(data []byte, file string) (*Config, error) {
	c, err := parse(data)
	if err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			ce.File = file
			return nil, ce
		}
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return c, nil
}

type index struct {
	loc  map[string]*Directive
	glob map[string]*Directive
	srv  map[string]*Directive
	all  []Directive
}

func newIndex() *index {
	ix := &index{loc: map[string]*Directive{}, glob: map[string]*Directive{}, srv: map[string]*Directive{}, all: Directives()}
	for i := range ix.all {
		d := &ix.all[i]
		m := ix.loc
		switch d.Scope {
		case ScopeGlobal:
			m = ix.glob
		case ScopeServer:
			m = ix.srv
		}
		m[d.Name] = d
		for _, a := range d.Aliases {
			m[a] = d
		}
	}
	return ix
}

// canonical strips the Nchan and Push Module prefixes from a key. The
// push-stream module's prefix stays: its directives are rows (or aliases)
// of their own, found with it and, where no Nchan directive has the name,
// without it.
func canonical(key string) string {
	k := strings.ToLower(key)
	if strings.HasPrefix(k, pushStreamPrefix) {
		return k
	}
	for _, p := range []string{"nchan_", "push_"} {
		if rest, ok := strings.CutPrefix(k, p); ok {
			return rest
		}
	}
	return k
}

func (ix *index) unknown(n *yaml.Node, where string) error {
	msg := fmt.Sprintf("unknown key %q %s", n.Value, where)
	if s := ix.suggest(canonical(n.Value)); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return nodeErr(n, "%s", msg)
}

func (ix *index) suggest(k string) string {
	best, bestD := "", 4
	for _, d := range ix.all {
		for _, name := range append([]string{d.Name}, d.Aliases...) {
			if dist := editDistance(k, name); dist < bestD {
				best, bestD = d.Name, dist
			}
		}
	}
	for _, s := range []string{"servers", "listen", "locations", "location", "ssl_certificate", "ssl_certificate_key"} {
		if dist := editDistance(k, s); dist < bestD {
			best, bestD = s, dist
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (ix *index) mapping(n *yaml.Node, what string) error {
	if n.Kind != yaml.MappingNode {
		return nodeErr(n, "%s must be a mapping of keys to values", what)
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i < len(n.Content); i += 2 {
		k := n.Content[i]
		name := canonical(k.Value)
		if d := ix.loc[name]; d != nil {
			name = d.Name
		} else if d := ix.glob[name]; d != nil {
			name = d.Name
		} else if d := ix.srv[name]; d != nil {
			name = d.Name
		}
		if prev, dup := seen[name]; dup {
			return nodeErr(k, "%s is set twice (first at line %d)", k.Value, prev.Line)
		}
		seen[name] = k
	}
	return nil
}

func parse(data []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlErr(data, err)
	}
	ix := newIndex()
	c := &Config{}
	base := &Location{}
	baseSrv := &Server{}
	for _, d := range ix.all {
		if d.Default == "" && d.Scope != ScopeGlobal {
			continue
		}
		n := &yaml.Node{Kind: yaml.ScalarNode, Value: d.Default}
		var err error
		switch d.Scope {
		case ScopeGlobal:
			err = d.setGlob(c, n)
		case ScopeServer:
			err = d.setSrv(baseSrv, n)
		default:
			err = d.setLoc(base, n)
		}
		if err != nil {
			return nil, fmt.Errorf("default of %s: %w", d.Name, err)
		}
	}
	if len(doc.Content) == 0 {
		return nil, &Error{Msg: "empty configuration: it needs a servers list"}
	}
	root := doc.Content[0]
	if err := ix.mapping(root, "the configuration"); err != nil {
		return nil, err
	}
	var servers *yaml.Node
	for i := 0; i < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		key := canonical(k.Value)
		switch {
		case key == "servers":
			servers = v
		case ix.glob[key] != nil:
			if err := ix.glob[key].setGlob(c, v); err != nil {
				return nil, keyErr(err, k)
			}
		case ix.loc[key] != nil:
			if err := ix.loc[key].setLoc(base, v); err != nil {
				return nil, keyErr(err, k)
			}
		case ix.srv[key] != nil:
			if err := ix.srv[key].setSrv(baseSrv, v); err != nil {
				return nil, keyErr(err, k)
			}
		default:
			return nil, ix.unknown(k, "at the top level")
		}
	}
	if servers == nil {
		return nil, nodeErr(root, "no servers: the configuration needs a servers list")
	}
	if servers.Kind != yaml.SequenceNode || len(servers.Content) == 0 {
		return nil, nodeErr(servers, "servers must be a non-empty list")
	}
	seen := map[string]int{}
	for _, sn := range servers.Content {
		s, err := ix.server(sn, base, baseSrv)
		if err != nil {
			return nil, err
		}
		for _, a := range s.Listen {
			if line, dup := seen[a]; dup {
				return nil, nodeErr(sn, "listen address %s is already used by the server at line %d", a, line)
			}
			seen[a] = sn.Line
		}
		c.Servers = append(c.Servers, s)
	}
	if err := c.checkRedis(); err != nil {
		return nil, err
	}
	return c, nil
}

func yamlErr(data []byte, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return &Error{Msg: strings.Join(te.Errors, "; ")}
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if _, scanErr := fmt.Sscanf(msg, "line %d:", &line); scanErr == nil {
		_, rest, _ := strings.Cut(msg, ":")
		if at := firstBadLine(data); at > line {
			// The parser names the line of the block it was reading; the
			// mistake is where the prefix of the file stops parsing.
			line = at
		}
		return &Error{Line: line, Column: 1, Msg: "invalid YAML:" + rest}
	}
	return &Error{Msg: "invalid YAML: " + msg}
}

// firstBadLine returns the first line n such that the file's first n
// lines do not parse as YAML (0 if every prefix parses). A file cut at a
// line break is still YAML up to the mistake, so that line holds it.
func firstBadLine(data []byte) int {
	lines := strings.SplitAfter(string(data), "\n")
	parses := func(n int) bool {
		var doc yaml.Node
		return yaml.Unmarshal([]byte(strings.Join(lines[:n], "")), &doc) == nil
	}
	if parses(len(lines)) {
		return 0
	}
	lo, hi := 0, len(lines) // parses(lo) holds, parses(hi) does not
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if parses(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// keyErr prefixes a value error with the key it belongs to.
func keyErr(err error, k *yaml.Node) error {
	var ce *Error
	if errors.As(err, &ce) {
		ce.Msg = fmt.Sprintf("%s: %s", k.Value, ce.Msg)
		if ce.Line == 0 {
			ce.Line, ce.Column = k.Line, k.Column
		}
		return ce
	}
	return nodeErr(k, "%s: %v", k.Value, err)
}

func (ix *index) server(n *yaml.Node, base *Location, baseSrv *Server) (Server, error) {
	if err := ix.mapping(n, "a server"); err != nil {
		return Server{}, err
	}
	s := *baseSrv
	sb := *base
	var locs *yaml.Node
	for i := 0; i < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := canonical(k.Value)
		switch {
		case key == "listen":
			words, err := scalars(v, true)
			if err != nil {
				return Server{}, keyErr(err, k)
			}
			ls, err := parseListen(words)
			if err != nil {
				return Server{}, nodeErr(v, "listen: %v", err)
			}
			s.Listen, s.Listeners = nil, ls
			for _, l := range ls {
				s.Listen = append(s.Listen, l.Addr)
			}
		case key == "locations":
			locs = v
		case key == "ssl_certificate" || key == "ssl_certificate_key" || key == "tls_certificate" || key == "tls_key":
			s2, err := scalar(v)
			if err != nil {
				return Server{}, keyErr(err, k)
			}
			if _, err := os.Stat(s2); err != nil {
				return Server{}, nodeErr(v, "%s: %v", k.Value, err)
			}
			if key == "ssl_certificate" || key == "tls_certificate" {
				s.TLSCertificate = s2
			} else {
				s.TLSKey = s2
			}
		case ix.loc[key] != nil && ix.loc[key].Scope == ScopeHTTP:
			return Server{}, nodeErr(k, "%s goes at the top level (nginx's http block), not in a server", k.Value)
		case ix.loc[key] != nil:
			if err := ix.loc[key].setLoc(&sb, v); err != nil {
				return Server{}, keyErr(err, k)
			}
		case ix.srv[key] != nil:
			if err := ix.srv[key].setSrv(&s, v); err != nil {
				return Server{}, keyErr(err, k)
			}
		case ix.glob[key] != nil:
			return Server{}, nodeErr(k, "%s goes at the top level, not in a server", k.Value)
		default:
			return Server{}, ix.unknown(k, "in a server")
		}
	}
	if len(s.Listen) == 0 {
		return Server{}, nodeErr(n, "server has no listen address")
	}
	if (s.TLSCertificate == "") != (s.TLSKey == "") {
		return Server{}, nodeErr(n, "ssl_certificate and ssl_certificate_key go together")
	}
	if s.TLSCertificate != "" {
		if _, err := tls.LoadX509KeyPair(s.TLSCertificate, s.TLSKey); err != nil {
			return Server{}, nodeErr(n, "ssl_certificate %s with ssl_certificate_key %s: %v", s.TLSCertificate, s.TLSKey, err)
		}
	}
	if locs == nil || locs.Kind != yaml.SequenceNode || len(locs.Content) == 0 {
		return Server{}, nodeErr(n, "server needs a non-empty locations list")
	}
	seen := map[string]int{}
	for _, ln := range locs.Content {
		l, err := ix.location(ln, &sb)
		if err != nil {
			return Server{}, err
		}
		p := l.Pattern.String()
		if first, dup := seen[p]; dup {
			return Server{}, nodeErr(ln, "duplicate location %q (first at line %d)", p, first)
		}
		seen[p] = ln.Line
		s.Locations = append(s.Locations, l)
	}
	return s, nil
}

func (ix *index) location(n *yaml.Node, base *Location) (Location, error) {
	if err := ix.mapping(n, "a location"); err != nil {
		return Location{}, err
	}
	l := *base
	l.Line = n.Line
	havePattern := false
	for i := 0; i < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := canonical(k.Value)
		switch {
		case key == "location":
			s, err := scalar(v)
			if err != nil {
				return Location{}, keyErr(err, k)
			}
			p, err := location.ParsePattern(s)
			if err != nil {
				return Location{}, nodeErr(v, "location: %v", err)
			}
			l.Pattern, havePattern = p, true
		case ix.loc[key] != nil && ix.loc[key].Scope == ScopeHTTP:
			return Location{}, nodeErr(k, "%s goes at the top level (nginx's http block), not in a location", k.Value)
		case ix.loc[key] != nil:
			if err := ix.loc[key].setLoc(&l, v); err != nil {
				return Location{}, keyErr(err, k)
			}
		case ix.glob[key] != nil:
			return Location{}, nodeErr(k, "%s goes at the top level, not in a location", k.Value)
		case ix.srv[key] != nil:
			return Location{}, nodeErr(k, "%s goes in a server (or at the top level), not in a location", k.Value)
		default:
			return Location{}, ix.unknown(k, "in a location")
		}
	}
	if !havePattern {
		return Location{}, nodeErr(n, "location needs a `location` key with its path pattern (for example \"~ ^/sub/(.+)$\")")
	}
	if err := l.validate(); err != nil {
		return Location{}, nodeErr(n, "location %q: %v", l.Pattern, err)
	}
	if l.Token.Enabled() && !l.StubStatus {
		v, err := token.Compile(l.Token)
		if err != nil {
			return Location{}, nodeErr(n, "location %q: %v", l.Pattern, err)
		}
		l.TokenVerifier = v
	}
	return l, nil
}

func (l *Location) validate() error {
	for _, t := range []chanevents.Template{l.ChannelEventsChannelID, l.ChannelEventString} {
		if n := t.MaxCapture(); n > l.Pattern.Captures() {
			return fmt.Errorf("%q uses $%d but the location pattern has %d capture group(s)", t, n, l.Pattern.Captures())
		}
	}
	if l.PushStream.Enabled() {
		return l.validatePushStream()
	}
	if l.Dashboard {
		return l.validateDashboard()
	}
	if !l.ProxyPass.IsEmpty() {
		return l.validateProxy()
	}
	if l.StubStatus || l.ChannelList {
		return nil
	}
	if !l.ServesChannels() {
		return nil
	}
	if l.HeraldJS || l.Root != "" {
		if l.Publisher.Enabled() || l.Subscriber != 0 || l.GroupLocation != 0 || (l.HeraldJS && l.Root != "") {
			return errors.New("herald_js and root go in a location of their own, without publisher, subscriber, pubsub or group_location")
		}
		return nil
	}
	if l.WebSocketMultiplex && !l.Publisher.Enabled() && l.Subscriber == 0 {
		return errors.New("websocket_multiplex needs publisher, subscriber or pubsub")
	}
	if l.GroupLocation != 0 && (l.Publisher.Enabled() || l.Subscriber != 0) {
		return errors.New("group_location goes in a location of its own, without publisher, subscriber or pubsub")
	}
	if !l.Publisher.Enabled() && l.Subscriber == 0 && l.GroupLocation == 0 {
		return errors.New("needs publisher, subscriber, pubsub or stub_status (or channel_list)")
	}
	if l.PublishBatch && !l.Publisher.HTTP {
		return errors.New("publish_batch needs publisher or pubsub")
	}
	if l.Publisher.Enabled() && len(l.PublisherChannelID) == 0 && len(l.ChannelID) == 0 && !l.WebSocketMultiplex && !l.PublishBatch {
		return errors.New("publisher needs channel_id or publisher_channel_id")
	}
	if l.Subscriber != 0 && len(l.SubscriberChannelID) == 0 && len(l.ChannelID) == 0 && !l.WebSocketMultiplex {
		return errors.New("subscriber needs channel_id or subscriber_channel_id")
	}
	if l.Store != "" && l.Store != "redis" && (l.UseRedis || l.RedisPass != "") {
		return fmt.Errorf("store: %s conflicts with use_redis and redis_pass, which keep channels in Redis", l.Store)
	}
	if l.MinMessageBufferLength > l.MessageBufferLength {
		return fmt.Errorf("min_message_buffer_length %d is more than message_buffer_length %d", l.MinMessageBufferLength, l.MessageBufferLength)
	}
	caps := l.Pattern.Captures()
	for _, set := range [][]location.Expr{l.ChannelID, l.PublisherChannelID, l.SubscriberChannelID, {l.ChannelGroup}, l.GroupMax[:]} {
		for _, e := range set {
			if n := e.MaxCapture(); n > caps {
				return fmt.Errorf("%q uses $%d but the location pattern has %d capture group(s)", e, n, caps)
			}
		}
	}
	return nil
}

// BufferLength is the number of messages a publish through this location keeps.
func (l *Location) BufferLength() int {
	if !l.StoreMessages {
		return 0
	}
	return l.MessageBufferLength
}

// validateProxy checks a proxy_pass location: it only forwards, so it has
// no role of its own, and its URL may only use the pattern's captures.
func (l *Location) validateProxy() error {
	if l.StubStatus || l.Publisher.Enabled() || l.Subscriber != 0 || l.GroupLocation != 0 {
		return errors.New("proxy_pass forwards every request to the application: it cannot be combined with publisher, subscriber, pubsub, group_location or stub_status (redirect to another location instead)")
	}
	if n, caps := l.ProxyPass.MaxCapture(), l.Pattern.Captures(); n > caps {
		return fmt.Errorf("proxy_pass %q uses $%d but the location pattern has %d capture group(s)", l.ProxyPass, n, caps)
	}
	return nil
}
