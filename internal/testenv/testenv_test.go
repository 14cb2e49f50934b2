package testenv

import (
	"fmt"
	"runtime"
	"testing"
)

func TestOptedOut(t *testing.T) {
	tests := []struct {
		env, group string
		want       bool
	}{
		{"", "redis", false},
		{"redis", "redis", true},
		{"redis", "browser", false},
		{"browser, Redis", "redis", true},
		{"all", "browser", true},
		{"redisx", "redis", false},
	}
	for _, tt := range tests {
		t.Setenv(SkipVar, tt.env)
		if got := OptedOut(tt.group); got != tt.want {
			t.Errorf("%s=%q: OptedOut(%q) = %v, want %v", SkipVar, tt.env, tt.group, got, tt.want)
		}
	}
}

// TestMissing: a missing prerequisite fails the test, saying what to
// install and how to opt out; opted out, it skips.
func TestMissing(t *testing.T) {
	for _, tt := range []struct {
		env                string
		wantFail, wantSkip bool
	}{
		{"", true, false},
		{"redis", false, true},
	} {
		t.Setenv(SkipVar, tt.env)
		r := &recorder{TB: t}
		done := make(chan struct{})
		go func() { // Fatal and Skip end the goroutine they run on
			defer close(done)
			Missing(r, "redis", "redis-server is not installed (apt-get install -y redis-server)")
		}()
		<-done
		if r.failed != tt.wantFail || r.skipped != tt.wantSkip {
			t.Errorf("%s=%q: failed %v skipped %v (%q), want failed %v skipped %v", SkipVar, tt.env, r.failed, r.skipped, r.msg, tt.wantFail, tt.wantSkip)
		}
		if tt.wantFail && r.msg != "redis-server is not installed (apt-get install -y redis-server). Install it, or run without the redis tests: HERALD_TEST_SKIP=redis go test ./..." {
			t.Errorf("message %q", r.msg)
		}
	}
}

// recorder records a Fatalf or Skipf instead of ending the test.
type recorder struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestRubyOptedOut: opted out of the ruby group, Ruby skips before looking
// for ruby.
func TestRubyOptedOut(t *testing.T) {
	t.Setenv(SkipVar, "ruby")
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Ruby(r)
	}()
	<-done
	if !r.skipped || r.failed {
		t.Errorf("skipped %v failed %v (%q), want a skip", r.skipped, r.failed, r.msg)
	}
}
