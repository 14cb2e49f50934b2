package testenv

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"
)

// RubyInstall is what to install for the tests of group "ruby": Debian's
// Ruby and its Faraday gem, which the push-stream example's publisher
// (examples/pushstream/ruby) uses.
const RubyInstall = "apt-get install -y ruby ruby-faraday"

// Ruby returns the path of a ruby that can load Faraday, for a test of
// group "ruby". It skips the test when the developer opted out of the
// group, and fails it, saying what to install, when either is missing.
func Ruby(t testing.TB) string {
	t.Helper()
	SkipIfOptedOut(t, "ruby")
	ruby, err := exec.LookPath("ruby")
	if err != nil {
		Missing(t, "ruby", fmt.Sprintf("the Ruby publisher tests need ruby on PATH (%s): %v", RubyInstall, err))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, ruby, "-e", "require 'faraday'").CombinedOutput(); err != nil {
		Missing(t, "ruby", fmt.Sprintf("the Ruby publisher tests need the faraday gem (%s): %v: %s", RubyInstall, err, out))
	}
	return ruby
}
