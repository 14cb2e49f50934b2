//go:build !unix

package cli_test

import "testing"

func testUpgrade(t *testing.T, _ string) { t.Skip("binary upgrade needs a Unix system") }
