// Package browser_test runs the browser end-to-end tests (run.mjs) against a
// freshly built herald: headless Chromium talks to Herald with native
// EventSource and WebSocket and with NchanSubscriber.js. See
// docs/browser-tests.md.
package browser_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	// The test builds and runs the herald binary; importing the command's
	// code ties go test's result cache to it, so a change to Herald reruns
	// this test instead of reusing an old result.
	_ "github.com/heraldpush/herald/internal/cli"
	"github.com/heraldpush/herald/internal/testenv"
)

const chromiumPath = "/usr/bin/chromium"

// needBrowser skips a browser test in -short mode or when the browser
// group is opted out, fails it (or skips it, see testenv.Missing) when
// Chromium, Node.js, playwright-core or one of the other npm modules named
// is missing, and returns the node command.
func needBrowser(t *testing.T, modules ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests skipped in -short mode")
	}
	testenv.SkipIfOptedOut(t, "browser")
	if _, err := os.Stat(chromiumPath); err != nil {
		testenv.Missing(t, "browser", fmt.Sprintf("the browser tests need Chromium at %s (apt-get update && apt-get install -y chromium): %v", chromiumPath, err))
	}
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Missing(t, "browser", fmt.Sprintf("the browser tests need Node.js (node) on PATH (apt-get install -y nodejs npm): %v", err))
	}
	for _, m := range append([]string{"playwright-core"}, modules...) {
		if _, err := os.Stat("node_modules/" + m); err != nil {
			testenv.Missing(t, "browser", fmt.Sprintf("the browser tests need browser/node_modules/%s (cd browser && npm ci): %v", m, err))
		}
	}
	return node
}

func TestBrowser(t *testing.T) {
	node := needBrowser(t, "nchan")

	bin := buildHerald(t)
	h := startHerald(t, bin, "--listen", "127.0.0.1:0")
	defer func() {
		if code := h.stop(t); code != 0 {
			t.Errorf("herald exited %d after SIGTERM, want 0; log:\n%s", code, h.logText())
		}
	}()

	runNode(t, node, "run.mjs", 2*time.Minute, h, "HERALD_URL=http://"+h.addr)
}

// runNode runs a Node.js script of this directory against Herald h (the
// browser's path added to env), logs what it prints, and fails the test
// with each line it starts with "FAIL " if it exits with an error or does
// not finish within timeout. On a timeout it asks the script to close the
// browser itself (SIGTERM), and kills it 15 s later.
func runNode(t *testing.T, node, script string, timeout time.Duration, h *herald, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(append(os.Environ(), "CHROMIUM="+chromiumPath), env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout // one stream, in order
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node %s: %v", script, err)
	}
	var failures []string
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		t.Log(line)
		if strings.HasPrefix(line, "FAIL ") {
			failures = append(failures, line)
		}
	}
	io.Copy(io.Discard, out)
	err = cmd.Wait()
	if ctx.Err() != nil {
		t.Errorf("node %s did not finish within %v", script, timeout)
	}
	if err != nil || len(failures) > 0 {
		t.Errorf("node %s: %v", script, err)
		for _, f := range failures {
			t.Error(f)
		}
		t.Logf("herald log:\n%s", h.logText())
	}
}

// buildHerald compiles the herald command into a temporary directory.
func buildHerald(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "herald")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/herald").CombinedOutput(); err != nil {
		t.Fatalf("go build ../cmd/herald: %v\n%s", err, out)
	}
	return bin
}

type herald struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{} // closed once the log is drained and the process waited for

	mu  sync.Mutex
	log strings.Builder
}

var listenRe = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startHerald starts herald and returns once it logs its listen address.
func startHerald(t *testing.T, bin string, args ...string) *herald {
	t.Helper()
	return startHeraldIn(t, "", bin, args...)
}

// startHeraldIn is startHerald with the working directory dir ("": this
// one).
func startHeraldIn(t *testing.T, dir, bin string, args ...string) *herald {
	t.Helper()
	h := &herald{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	h.cmd.Dir = dir
	stderr, err := h.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go func() {
		defer close(h.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			h.mu.Lock()
			h.log.WriteString(line + "\n")
			h.mu.Unlock()
			if m := listenRe.FindStringSubmatch(line); m != nil {
				select {
				case addrc <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
		h.cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case <-h.done:
		default:
			h.cmd.Process.Kill()
			<-h.done
		}
	})
	select {
	case h.addr = <-addrc:
		return h
	case <-h.done:
		t.Fatalf("herald exited before listening; log:\n%s", h.logText())
	case <-time.After(20 * time.Second):
		h.cmd.Process.Kill()
		t.Fatalf("herald did not start listening within 20 s; log:\n%s", h.logText())
	}
	return nil
}

func (h *herald) logText() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.log.String()
}

// stop sends SIGTERM and waits (bounded) for herald to exit; it returns the
// exit code.
func (h *herald) stop(t *testing.T) int {
	t.Helper()
	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("SIGTERM herald: %v", err)
	}
	select {
	case <-h.done:
		return h.cmd.ProcessState.ExitCode()
	case <-time.After(15 * time.Second):
		h.cmd.Process.Kill()
		<-h.done
		t.Errorf("herald did not exit within 15 s of SIGTERM")
		return -1
	}
}
