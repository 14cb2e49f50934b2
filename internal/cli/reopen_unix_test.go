//go:build unix

package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGUSR1ReopensTheAccessLog: after log rotation moved the access log
// away, SIGUSR1 makes herald write to a new file by the configured name.
func TestSIGUSR1ReopensTheAccessLog(t *testing.T) {
	bin := buildHerald(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "access.log")
	conf := writeFile(t, "herald.yaml", "access_log: "+logFile+"\naccess_log_format: '$request_method $uri $status'\n"+goodConfig)
	srv, addr := startHerald(t, bin, "-c", conf)
	defer stopHerald(t, srv)
	base := "http://" + addr
	waitContent := func(path, want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			b, _ := os.ReadFile(path)
			if string(b) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s holds %q, want %q", filepath.Base(path), b, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	httpDo(t, "POST", base+"/publish/a", "one")
	waitContent(logFile, "POST /publish/a 202\n")
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(srv.log.String(), `msg="log files reopened"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no reopen logged:\n%s", srv.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	httpDo(t, "POST", base+"/publish/a", "two")
	waitContent(logFile, "POST /publish/a 202\n")
	waitContent(logFile+".1", "POST /publish/a 202\n")
}
