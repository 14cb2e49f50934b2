// Package location matches request paths against nginx-style location
// patterns and expands the variables ($1, $arg_id, ...) that build channel ids.
package location

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// Kind is the kind of a location pattern, as in nginx.
type Kind int

// The pattern kinds, in nginx syntax.
const (
	Prefix         Kind = iota // "/prefix"
	Exact                      // "= /exact"
	PriorityPrefix             // "^~ /prefix": wins over regexes
	Regex                      // "~ regex"
	RegexFold                  // "~* regex": case-insensitive
)

// Pattern is one parsed location pattern.
type Pattern struct {
	Kind Kind
	Path string         // the prefix or exact path; the source text for regexes
	re   *regexp.Regexp // regex kinds only
	// A regex of the common shape ^literal(.+)$ or ^literal(.*)$ is
	// matched without the regex engine: lit is its literal and tail 1
	// (.*) or 2 (.+); tail is 0 for every other pattern.
	lit  string
	tail int8
}

// ParsePattern parses an nginx location pattern such as "= /pub",
// "^~ /static/", "~ ^/sub/(.+)$", "~* \.json$" or "/prefix".
func ParsePattern(s string) (Pattern, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Pattern{}, fmt.Errorf("empty location pattern")
	}
	mod, rest, hasSpace := strings.Cut(s, " ")
	rest = strings.TrimSpace(rest)
	if !hasSpace || rest == "" {
		if !strings.HasPrefix(s, "/") {
			return Pattern{}, fmt.Errorf("location pattern %q: a prefix must start with '/'", s)
		}
		return Pattern{Kind: Prefix, Path: s}, nil
	}
	var p Pattern
	switch mod {
	case "=":
		p.Kind = Exact
	case "^~":
		p.Kind = PriorityPrefix
	case "~":
		p.Kind = Regex
	case "~*":
		p.Kind = RegexFold
	default:
		if !strings.HasPrefix(s, "/") {
			return Pattern{}, fmt.Errorf("location pattern %q: unknown modifier %q (want =, ^~, ~ or ~*)", s, mod)
		}
		return Pattern{Kind: Prefix, Path: s}, nil
	}
	p.Path = rest
	switch p.Kind {
	case Regex, RegexFold:
		src := rest
		if p.Kind == RegexFold {
			src = "(?i)" + src
		}
		re, err := regexp.Compile(src)
		if err != nil {
			return Pattern{}, fmt.Errorf("location pattern %q: %w", s, err)
		}
		if re.NumSubexp() > 9 {
			return Pattern{}, fmt.Errorf("location pattern %q: at most 9 capture groups ($1..$9)", s)
		}
		p.re = re
		if p.Kind == Regex {
			p.lit, p.tail = literalTail(rest)
		}
	default:
		if !strings.HasPrefix(rest, "/") {
			return Pattern{}, fmt.Errorf("location pattern %q: path must start with '/'", s)
		}
	}
	return p, nil
}

// String formats the pattern back in nginx syntax.
func (p Pattern) String() string {
	switch p.Kind {
	case Exact:
		return "= " + p.Path
	case PriorityPrefix:
		return "^~ " + p.Path
	case Regex:
		return "~ " + p.Path
	case RegexFold:
		return "~* " + p.Path
	}
	return p.Path
}

// Matcher picks the location for a path with nginx's rules: an exact match
// wins; otherwise the longest prefix is remembered, and if it is a "^~"
// prefix it wins; otherwise the first matching regex in order wins; otherwise
// the longest prefix.
type Matcher struct {
	patterns []Pattern
}

// NewMatcher returns a matcher over patterns; Match returns indexes into it.
func NewMatcher(patterns []Pattern) *Matcher {
	return &Matcher{patterns: patterns}
}

// Match returns the index of the location for path and the regex captures
// ($0..$n; nil for non-regex locations). ok is false when nothing matches.
func (m *Matcher) Match(path string) (index int, captures []string, ok bool) {
	best, bestLen := -1, -1
	for i, p := range m.patterns {
		switch p.Kind {
		case Exact:
			if path == p.Path {
				return i, nil, true
			}
		case Prefix, PriorityPrefix:
			if strings.HasPrefix(path, p.Path) && len(p.Path) > bestLen {
				best, bestLen = i, len(p.Path)
			}
		}
	}
	if best >= 0 && m.patterns[best].Kind == PriorityPrefix {
		return best, nil, true
	}
	for i, p := range m.patterns {
		if p.re == nil {
			continue
		}
		if p.tail != 0 {
			if c := p.matchLiteralTail(path); c != nil {
				return i, c, true
			}
			continue
		}
		if c := p.re.FindStringSubmatch(path); c != nil {
			return i, c, true
		}
	}
	if best >= 0 {
		return best, nil, true
	}
	return -1, nil, false
}

// literalTail recognizes a regex ^literal(.*)$ or ^literal(.+)$ (a
// literal without folding, one capture of any characters but a newline,
// anchored at both ends) and returns its literal and 1 for .*, 2 for .+;
// tail 0 for any other regex.
func literalTail(expr string) (lit string, tail int8) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return "", 0
	}
	re = re.Simplify()
	if re.Op != syntax.OpConcat || len(re.Sub) != 4 {
		return "", 0
	}
	begin, l, capture, end := re.Sub[0], re.Sub[1], re.Sub[2], re.Sub[3]
	if begin.Op != syntax.OpBeginText || end.Op != syntax.OpEndText ||
		l.Op != syntax.OpLiteral || l.Flags&syntax.FoldCase != 0 ||
		capture.Op != syntax.OpCapture || len(capture.Sub) != 1 {
		return "", 0
	}
	rep := capture.Sub[0]
	if len(rep.Sub) != 1 || rep.Sub[0].Op != syntax.OpAnyCharNotNL || rep.Flags&syntax.NonGreedy != 0 {
		return "", 0
	}
	switch rep.Op {
	case syntax.OpStar:
		tail = 1
	case syntax.OpPlus:
		tail = 2
	default:
		return "", 0
	}
	for _, r := range l.Rune {
		if r >= 0x80 {
			return "", 0 // the regex reads invalid UTF-8 as U+FFFD; keep it simple
		}
	}
	return string(l.Rune), tail
}

// matchLiteralTail matches path against a ^literal(.*)$ or ^literal(.+)$
// pattern as its regex would, returning its captures or nil.
func (p *Pattern) matchLiteralTail(path string) []string {
	if !strings.HasPrefix(path, p.lit) {
		return nil
	}
	rest := path[len(p.lit):]
	if (p.tail == 2 && rest == "") || strings.IndexByte(rest, '\n') >= 0 {
		return nil
	}
	return []string{path, rest}
}

// Captures returns the number of capture groups of a regex pattern, else 0.
func (p Pattern) Captures() int {
	if p.re == nil {
		return 0
	}
	return p.re.NumSubexp()
}
