// Package testenv decides what a test does when a program it needs is not
// installed (redis-server, Chromium, Node.js, Ruby): it fails, saying what to
// install, so a missing prerequisite is never a silent skip (go test
// prints nothing of a passing package, skips included). A developer who
// means to run without a group of tests opts out of it by name with
// HERALD_TEST_SKIP, and those tests then skip, installed or not.
package testenv

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// SkipVar is the environment variable that opts out of groups of tests:
// a comma-separated list of their names ("redis", "browser", "nchan",
// "ruby"), or "all".
const SkipVar = "HERALD_TEST_SKIP"

// Groups are the names SkipVar takes.
var Groups = []string{"redis", "browser", "nchan", "ruby"}

// OptedOut reports whether SkipVar names group (or "all").
func OptedOut(group string) bool {
	for name := range strings.SplitSeq(os.Getenv(SkipVar), ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == group || name == "all" {
			return true
		}
	}
	return false
}

// SkipIfOptedOut skips the test when the developer opted out of group.
func SkipIfOptedOut(t testing.TB, group string) {
	t.Helper()
	if OptedOut(group) {
		t.Skipf("%s=%s: skipping the %s tests", SkipVar, os.Getenv(SkipVar), group)
	}
}

// Missing ends a test of group whose prerequisite is not there: what says
// what is missing and how to install it. The test fails, unless the
// developer opted out of group, when it skips.
func Missing(t testing.TB, group, what string) {
	t.Helper()
	SkipIfOptedOut(t, group)
	if !slices.Contains(Groups, group) {
		t.Fatalf("testenv: unknown test group %q", group)
	}
	t.Fatalf("%s. Install it, or run without the %s tests: %s=%s go test ./...", what, group, SkipVar, group)
}
