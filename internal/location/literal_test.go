package location

import (
	"regexp"
	"slices"
	"testing"
)

func TestLiteralTail(t *testing.T) {
	tests := []struct {
		expr string
		lit  string
		tail int8
	}{
		{`^/sub/(.+)$`, "/sub/", 2},
		{`^/pub/(.*)$`, "/pub/", 1},
		{`^/a\.b/(.+)$`, "/a.b/", 2},
		{`^/sub/(.+?)$`, "", 0},
		{`^/sub/(.+)`, "", 0},
		{`/sub/(.+)$`, "", 0},
		{`^/sub/([^/]+)$`, "", 0},
		{`^/sub/(.+)/x$`, "", 0},
		{`^/(?i)sub/(.+)$`, "", 0},
		{`(?m)^/sub/(.+)$`, "", 0},
		{`^/s(u)b/(.+)$`, "", 0},
		{`^/é/(.+)$`, "", 0},
	}
	for _, tt := range tests {
		lit, tail := literalTail(tt.expr)
		if lit != tt.lit || tail != tt.tail {
			t.Errorf("literalTail(%q) = %q, %d; want %q, %d", tt.expr, lit, tail, tt.lit, tt.tail)
		}
	}
}

var literalTailExprs = []string{`^/sub/(.+)$`, `^/pub/(.*)$`, `^/x$(.*)$`}

// FuzzLiteralTail checks that the literal-tail match of a path agrees with
// the regex's.
func FuzzLiteralTail(f *testing.F) {
	for _, s := range []string{"/sub/a", "/sub/", "/sub/a\nb", "/pub/", "/pub", "/sub/\xff", "/sub/a/b,c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		for _, expr := range literalTailExprs {
			p, err := ParsePattern("~ " + expr)
			if err != nil {
				t.Fatal(err)
			}
			if p.tail == 0 {
				continue
			}
			want := regexp.MustCompile(expr).FindStringSubmatch(path)
			if got := p.matchLiteralTail(path); !slices.Equal(got, want) {
				t.Fatalf("%s on %q: %q, regexp %q", expr, path, got, want)
			}
		}
	})
}
