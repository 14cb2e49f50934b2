package location

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func TestParsePattern(t *testing.T) {
	tests := []struct {
		in       string
		kind     Kind
		path     string
		captures int
		str      string
	}{
		{"= /pub", Exact, "/pub", 0, "= /pub"},
		{"=   /pub  ", Exact, "/pub", 0, "= /pub"},
		{"^~ /static/", PriorityPrefix, "/static/", 0, "^~ /static/"},
		{"~ ^/sub/(.+)$", Regex, "^/sub/(.+)$", 1, "~ ^/sub/(.+)$"},
		{`~* \.json$`, RegexFold, `\.json$`, 0, `~* \.json$`},
		{`~ ^/a b/(\w+)/(\d+)$`, Regex, `^/a b/(\w+)/(\d+)$`, 2, `~ ^/a b/(\w+)/(\d+)$`},
		{"~ ^/(?:x)(y)$", Regex, "^/(?:x)(y)$", 1, "~ ^/(?:x)(y)$"},
		{"~ " + strings.Repeat("(a)", 9), Regex, strings.Repeat("(a)", 9), 9, "~ " + strings.Repeat("(a)", 9)},
		{"/prefix", Prefix, "/prefix", 0, "/prefix"},
		{"  /trimmed  ", Prefix, "/trimmed", 0, "/trimmed"},
		{"/", Prefix, "/", 0, "/"},
		{"/with space", Prefix, "/with space", 0, "/with space"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParsePattern(tt.in)
			if err != nil {
				t.Fatalf("ParsePattern(%q): %v", tt.in, err)
			}
			if p.Kind != tt.kind || p.Path != tt.path {
				t.Errorf("ParsePattern(%q) = kind %d path %q, want kind %d path %q", tt.in, p.Kind, p.Path, tt.kind, tt.path)
			}
			if got := p.Captures(); got != tt.captures {
				t.Errorf("Captures() = %d, want %d", got, tt.captures)
			}
			if got := p.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
			again, err := ParsePattern(p.String())
			if err != nil || again.Kind != p.Kind || again.Path != p.Path {
				t.Errorf("ParsePattern(String()) = %+v, %v", again, err)
			}
		})
	}
}

func TestParsePatternErrors(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"empty", "", "empty"},
		{"blank", "   ", "empty"},
		{"prefix without slash", "pub", "must start with '/'"},
		{"modifier alone", "=", "must start with '/'"},
		{"regex modifier alone", "~", "must start with '/'"},
		{"exact without slash", "= pub", "must start with '/'"},
		{"priority without slash", "^~ static/", "must start with '/'"},
		{"unknown modifier", "!~ /x", "unknown modifier"},
		{"doubled modifier", "~~ /x", "unknown modifier"},
		{"named location", "@named /x", "unknown modifier"},
		{"bad regex", "~ ^/sub/(.+$", "missing closing )"},
		{"bad regex fold", "~* [a-", "missing closing ]"},
		{"bad repeat", "~ *x", "missing argument"},
		{"ten groups", "~ " + strings.Repeat("(a)", 10), "at most 9 capture groups"},
		{"ten groups fold", "~* " + strings.Repeat("(a)", 10), "at most 9 capture groups"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePattern(tt.in)
			if err == nil {
				t.Fatalf("ParsePattern(%q) = %+v, want an error", tt.in, p)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParsePattern(%q) error %q does not contain %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

// matcherPatterns is a configuration exercising every nginx precedence rule.
var matcherPatterns = []string{
	0:  "= /pub",
	1:  "/",
	2:  "/sub/",
	3:  "^~ /static/",
	4:  `~ ^/sub/(\w+)$`,
	5:  `~* \.json$`,
	6:  "/sub/long/",
	7:  `~ ^/static/(.*)$`,
	8:  "/static/img/",
	9:  "~ ^/pub",
	10: "~ ^/CaseSensitive$",
	11: `~ ^/sub/(\w+)\.json$`,
	12: "= /static/exact",
	13: `~ ^/multi/(\w+)/(\d+)$`,
}

func newTestMatcher(t testing.TB, srcs []string) *Matcher {
	t.Helper()
	ps := make([]Pattern, len(srcs))
	for i, s := range srcs {
		p, err := ParsePattern(s)
		if err != nil {
			t.Fatalf("ParsePattern(%q): %v", s, err)
		}
		ps[i] = p
	}
	return NewMatcher(ps)
}

func TestMatch(t *testing.T) {
	m := newTestMatcher(t, matcherPatterns)
	tests := []struct {
		name     string
		path     string
		want     int
		captures []string
	}{
		{"exact beats regex and prefix", "/pub", 0, nil},
		{"exact beats priority prefix", "/static/exact", 12, nil},
		{"regex beats plain prefix", "/pub/x", 9, []string{"/pub"}},
		{"regex with capture", "/sub/abc", 4, []string{"/sub/abc", "abc"}},
		{"two captures", "/multi/news/42", 13, []string{"/multi/news/42", "news", "42"}},
		{"first matching regex in config order", "/sub/a.json", 5, []string{".json"}},
		{"fallback to longest plain prefix", "/sub/long/x", 6, nil},
		{"fallback to shorter plain prefix", "/sub/a-b", 2, nil},
		{"fallback to root", "/other", 1, nil},
		{"root", "/", 1, nil},
		{"priority prefix beats regex", "/static/x.json", 3, nil},
		{"priority prefix beats later regex", "/static/a/b", 3, nil},
		{"priority prefix itself", "/static/", 3, nil},
		{"longer plain prefix lets regexes run", "/static/img/a.json", 5, []string{".json"}},
		{"longer plain prefix then capture regex", "/static/img/a.png", 7, []string{"/static/img/a.png", "img/a.png"}},
		{"case-insensitive regex", "/data.JsOn", 5, []string{".JsOn"}},
		{"case-sensitive regex matches", "/CaseSensitive", 10, []string{"/CaseSensitive"}},
		{"case-sensitive regex does not fold", "/casesensitive", 1, nil},
		{"prefix is not a path segment match", "/static", 1, nil},
		{"exact needs the whole path", "/pub/", 9, []string{"/pub"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i, caps, ok := m.Match(tt.path)
			if !ok {
				t.Fatalf("Match(%q): no match", tt.path)
			}
			if i != tt.want {
				t.Fatalf("Match(%q) = %d (%s), want %d (%s)", tt.path, i, matcherPatterns[i], tt.want, matcherPatterns[tt.want])
			}
			// Regex locations return $0..$n; others nil.
			if tt.captures == nil {
				if caps != nil {
					t.Fatalf("Match(%q) captures = %q, want nil", tt.path, caps)
				}
			} else if !reflect.DeepEqual(caps, tt.captures) {
				t.Fatalf("Match(%q) captures = %q, want %q", tt.path, caps, tt.captures)
			}
		})
	}
}

func TestMatchNone(t *testing.T) {
	m := newTestMatcher(t, []string{"= /a", "/b/", "^~ /c/", "~ ^/d$"})
	for _, path := range []string{"", "/", "/a/", "/b", "/c", "/dd", "x"} {
		if i, caps, ok := m.Match(path); ok || i != -1 || caps != nil {
			t.Errorf("Match(%q) = %d, %q, %v; want -1, nil, false", path, i, caps, ok)
		}
	}
	empty := NewMatcher(nil)
	if i, _, ok := empty.Match("/x"); ok || i != -1 {
		t.Errorf("empty matcher: Match = %d, %v", i, ok)
	}
}

// refMatch is a straightforward statement of nginx's rules, to compare the
// matcher against.
func refMatch(ps []Pattern, path string) int {
	for i, p := range ps {
		if p.Kind == Exact && p.Path == path {
			return i
		}
	}
	best := -1
	for i, p := range ps {
		if (p.Kind == Prefix || p.Kind == PriorityPrefix) && strings.HasPrefix(path, p.Path) {
			if best < 0 || len(p.Path) > len(ps[best].Path) {
				best = i
			}
		}
	}
	if best >= 0 && ps[best].Kind == PriorityPrefix {
		return best
	}
	for i, p := range ps {
		if (p.Kind == Regex || p.Kind == RegexFold) && p.re.MatchString(path) {
			return i
		}
	}
	return best
}

func FuzzMatch(f *testing.F) {
	for _, s := range []string{"/pub", "/sub/abc", "/static/img/a.JSON", "/multi/x/1", "", "/", "\xff/sub/", "/sub/long/\x00"} {
		f.Add(s)
	}
	ps := make([]Pattern, len(matcherPatterns))
	for i, s := range matcherPatterns {
		p, err := ParsePattern(s)
		if err != nil {
			f.Fatal(err)
		}
		ps[i] = p
	}
	m := NewMatcher(ps)
	f.Fuzz(func(t *testing.T, path string) {
		i, caps, ok := m.Match(path)
		want := refMatch(ps, path)
		if i != want || ok != (want >= 0) {
			t.Fatalf("Match(%q) = %d, %v; want %d", path, i, ok, want)
		}
		if !ok {
			return
		}
		p := ps[i]
		switch p.Kind {
		case Regex, RegexFold:
			if len(caps) != p.Captures()+1 {
				t.Fatalf("Match(%q) = %d with %d captures, want %d", path, i, len(caps), p.Captures()+1)
			}
			if !strings.Contains(path, caps[0]) {
				t.Fatalf("Match(%q): $0 %q is not in the path", path, caps[0])
			}
		default:
			if caps != nil {
				t.Fatalf("Match(%q) = %d (non-regex) with captures %q", path, i, caps)
			}
		}
	})
}

func TestCompileEval(t *testing.T) {
	r := httptest.NewRequest("GET", "/sub/a%20b?id=x%2Fy&ID=second&Name=Bob&empty=&flag&last=1", nil)
	r.Host = "example.com:8080"
	r.RemoteAddr = "192.0.2.7:41234"
	r.Header.Set("X-Custom", "custom value")
	r.Header.Add("X-Multi", "one")
	r.Header.Add("X-Multi", "two")
	r.Header.Set("Last-Event-ID", "1450755280:3")
	r.Header.Set("Cookie", "uid=42; session=abc%3D")
	caps := []string{"/sub/abc/def", "abc", "def"}

	tests := []struct {
		expr string
		want string
	}{
		{"literal", "literal"},
		{"", ""},
		{"$0", "/sub/abc/def"},
		{"$1", "abc"},
		{"$2", "def"},
		{"$3", ""},
		{"$9", ""},
		{"$1/$2", "abc/def"},
		{"$10", "abc0"},
		{"${1}x", "abcx"},
		{"$arg_id", "x%2Fy"},
		{"$arg_ID", "x%2Fy"},
		{"$ARG_id", "x%2Fy"},
		{"$arg_name", "Bob"},
		{"$arg_empty", ""},
		{"$arg_flag", ""},
		{"$arg_last", "1"},
		{"$arg_missing", ""},
		{"${arg_id}suffix", "x%2Fysuffix"},
		{"pre_${arg_id}_post", "pre_x%2Fy_post"},
		{"$arg_id.$arg_last", "x%2Fy.1"},
		{"$http_X_Custom", "custom value"},
		{"$http_x_custom", "custom value"},
		{"$http_x_multi", "one, two"},
		{"$http_last_event_id", "1450755280:3"},
		{"$http_x_absent", ""},
		{"$cookie_uid", "42"},
		{"$cookie_session", "abc%3D"},
		{"$cookie_nope", ""},
		{"$remote_addr", "192.0.2.7"},
		{"$uri", "/sub/a b"},
		{"$document_uri", "/sub/a b"},
		{"$request_uri", "/sub/a%20b?id=x%2Fy&ID=second&Name=Bob&empty=&flag&last=1"},
		{"$args", "id=x%2Fy&ID=second&Name=Bob&empty=&flag&last=1"},
		{"$query_string", "id=x%2Fy&ID=second&Name=Bob&empty=&flag&last=1"},
		{"$host", "example.com"},
		{"$scheme", "http"},
		{"$request_method", "GET"},
		{"user:$cookie_uid:$1", "user:42:abc"},
		{"100%", "100%"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			e, err := Compile(tt.expr)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.expr, err)
			}
			if e.String() != tt.expr {
				t.Errorf("String() = %q, want %q", e.String(), tt.expr)
			}
			if got := e.Eval(Request{HTTP: r, Captures: caps}); got != tt.want {
				t.Errorf("Eval(%q) = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
}

func TestEvalRequestVariants(t *testing.T) {
	tests := []struct {
		name  string
		expr  string
		setup func(r *http.Request)
		want  string
	}{
		{"remote addr ipv6", "$remote_addr", func(r *http.Request) { r.RemoteAddr = "[2001:db8::1]:443" }, "2001:db8::1"},
		{"remote addr without port", "$remote_addr", func(r *http.Request) { r.RemoteAddr = "unix" }, "unix"},
		{"host without port", "$host", func(r *http.Request) { r.Host = "example.org" }, "example.org"},
		{"host ipv6 with port", "$host", func(r *http.Request) { r.Host = "[::1]:8080" }, "::1"},
		{"no query", "[$args][$arg_id]", func(r *http.Request) { r.URL.RawQuery = "" }, "[][]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x", nil)
			tt.setup(r)
			e, err := Compile(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.Eval(Request{HTTP: r}); got != tt.want {
				t.Errorf("Eval(%q) = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}

	// Without an HTTP request only literals and captures expand.
	e, err := Compile("a$1$arg_id$host")
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Eval(Request{Captures: []string{"all", "one"}}); got != "aone" {
		t.Errorf("Eval without request = %q, want %q", got, "aone")
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		expr, wantErr string
	}{
		{"$", "without a variable name"},
		{"abc$", "without a variable name"},
		{"$/x", "without a variable name"},
		{"${", "unterminated"},
		{"${arg_id", "unterminated"},
		{"x${arg_id", "unterminated"},
		{"${}", "without a variable name"},
		{"${arg-id}", "bad variable name"},
		{"${arg id}", "bad variable name"},
		{"$nope", "unknown variable $nope"},
		{"$arg_", "unknown variable $arg_"},
		{"$http_", "unknown variable $http_"},
		{"$cookie_", "unknown variable $cookie_"},
		{"a_$unknown_var_b", "unknown variable"},
		{"${12}", "unknown variable $12"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			e, err := Compile(tt.expr)
			if err == nil {
				t.Fatalf("Compile(%q) = %+v, want an error", tt.expr, e)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Compile(%q) error %q does not contain %q", tt.expr, err, tt.wantErr)
			}
		})
	}
}

func TestExprHelpers(t *testing.T) {
	tests := []struct {
		expr       string
		maxCapture int
		empty      bool
	}{
		{"", 0, true},
		{"x", 0, false},
		{"$arg_id", 0, false},
		{"$1", 1, false},
		{"$3/$1/$2", 3, false},
		{"${9}", 9, false},
		{"$0", 0, false},
	}
	for _, tt := range tests {
		e, err := Compile(tt.expr)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tt.expr, err)
		}
		if got := e.MaxCapture(); got != tt.maxCapture {
			t.Errorf("%q.MaxCapture() = %d, want %d", tt.expr, got, tt.maxCapture)
		}
		if got := e.IsEmpty(); got != tt.empty {
			t.Errorf("%q.IsEmpty() = %v, want %v", tt.expr, got, tt.empty)
		}
	}
}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{"", "$1", "${arg_id}x", "$http_X_Custom", "$cookie_uid", "$", "${", "${}", "$$", "a$b", "$remote_addr$uri$request_uri$args$host$scheme$request_method", "\xff$1\x00",
		"$nchan_channel_id", "${nchan_channel_id4}x", "$channel_id2$subscriber_type", "$nchan_publisher_type$nchan_message_id$nchan_prev_message_id", "$nchan_channel_id5"} {
		f.Add(s)
	}
	r := httptest.NewRequest("POST", "/pub/a?id=1&x=%zz", strings.NewReader("body"))
	r.Header.Set("X-Custom", "v")
	r.Header.Set("Cookie", "uid=1")
	caps := []string{"/pub/a", "a"}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Compile(s)
		if err != nil {
			return
		}
		if e.String() != s {
			t.Fatalf("Compile(%q).String() = %q", s, e.String())
		}
		if n := e.MaxCapture(); n < 0 || n > 9 {
			t.Fatalf("Compile(%q).MaxCapture() = %d", s, n)
		}
		_ = e.Eval(Request{HTTP: r, Captures: caps})
		_ = e.Eval(Request{})
		_ = e.Eval(Request{HTTP: r, Nchan: &Nchan{ChannelIDs: []string{"a"}, SubscriberType: "websocket"}})
		if !strings.Contains(s, "$") {
			if got := e.Eval(Request{HTTP: r}); got != s {
				t.Fatalf("literal %q evaluates to %q", s, got)
			}
		}
	})
}

func TestEvalNchanVariables(t *testing.T) {
	r := httptest.NewRequest("GET", "/sub/a?x=1", nil)
	full := &Nchan{ChannelIDs: []string{"a", "b", "c"}, SubscriberType: "websocket", PublisherType: "http",
		MessageID: "1450755280:1", PrevMessageID: "1450755280:0"}
	tests := []struct {
		expr  string
		nchan *Nchan
		want  string
	}{
		{"$nchan_channel_id", full, "a"},
		{"$channel_id", full, "a"},
		{"$nchan_channel_id1", full, "a"},
		{"$nchan_channel_id2", full, "b"},
		{"$nchan_channel_id3", full, "c"},
		{"$nchan_channel_id4", full, ""},
		{"$NCHAN_CHANNEL_ID", full, "a"},
		{"$nchan_subscriber_type", full, "websocket"},
		{"$subscriber_type", full, "websocket"},
		{"$nchan_publisher_type", full, "http"},
		{"$nchan_message_id", full, "1450755280:1"},
		{"$message_id", full, "1450755280:1"},
		{"$nchan_prev_message_id", full, "1450755280:0"},
		{"$prev_message_id", full, "1450755280:0"},
		{"${nchan_channel_id}-$arg_x", full, "a-1"},
		{"$nchan_channel_id", nil, ""},
		{"$nchan_channel_id2", &Nchan{ChannelIDs: []string{"a"}}, ""},
		{"$nchan_message_id", &Nchan{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			e, err := Compile(tt.expr)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.expr, err)
			}
			if got := e.Eval(Request{HTTP: r, Nchan: tt.nchan}); got != tt.want {
				t.Errorf("Eval(%q) = %q, want %q", tt.expr, got, tt.want)
			}
			if got := e.Eval(Request{Nchan: tt.nchan}); got != tt.want && !strings.Contains(tt.expr, "$arg") {
				t.Errorf("Eval(%q) without HTTP = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
	for _, bad := range []string{"$nchan_channel_id5", "$nchan_channel_id0", "$nchan_bogus", "$channel_id12"} {
		if _, err := Compile(bad); err == nil {
			t.Errorf("Compile(%q) succeeded, want an error", bad)
		}
	}
}
