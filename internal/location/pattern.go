// Package location matches request paths against nginx-style location
// patterns and expands the variables ($1, $arg_id, ...) that build channel ids.
package location

import (
	"fmt"
	"regexp"
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
		if c := p.re.FindStringSubmatch(path); c != nil {
			return i, c, true
		}
	}
	if best >= 0 {
		return best, nil, true
	}
	return -1, nil, false
}

// Captures returns the number of capture groups of a regex pattern, else 0.
func (p Pattern) Captures() int {
	if p.re == nil {
		return 0
	}
	return p.re.NumSubexp()
}
