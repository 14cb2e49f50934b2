package cli_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildHerald compiles the herald command once per test binary run.
func buildHerald(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "herald")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-race", "-o", bin, "../../cmd/herald").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// run runs herald to completion with a bounded time.
func run(t *testing.T, bin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runIn(t, bin, "", args...)
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodConfig = `servers:
  - listen: 127.0.0.1:0
    locations:
      - location: ~ ^/publish/(\w+)$
        publisher: true
        channel_id: $1
      - location: ~ ^/activity/(\w+)$
        subscriber: [longpoll]
        channel_id: $1
`

func TestCommands(t *testing.T) {
	bin := buildHerald(t)
	good := writeFile(t, "good.yaml", goodConfig)
	badKey := writeFile(t, "bad.yaml", strings.Replace(goodConfig, "        channel_id: $1\n      - location: ~ ^/activity",
		"        channel_id: $1\n        mesage_timeout: 5m\n      - location: ~ ^/activity", 1))
	badYAML := writeFile(t, "broken.yaml", "servers:\n  - listen: [127.0.0.1:0\n")
	tests := []struct {
		name     string
		args     []string
		code     int
		stdoutRe string
		stderrRe string
	}{
		{"version", []string{"version"}, 0, `^herald \d+\.\d+\.\d+`, ``},
		{"help", []string{"help"}, 0, `herald config check`, ``},
		{"unknown command", []string{"frobnicate"}, 2, ``, `unknown command "frobnicate"`},
		{"check good", []string{"config", "check", "-c", good}, 0, `ok \(1 servers, 2 locations\)`, ``},
		{"check bad key names line and key", []string{"config", "check", "-c", badKey}, 2, ``,
			`bad\.yaml:7:9: unknown key "mesage_timeout" in a location \(did you mean "message_timeout"\?\)`},
		{"check broken yaml names line", []string{"config", "check", "-c", badYAML}, 2, ``, `broken\.yaml:\d+:\d+: invalid YAML`},
		{"check missing file", []string{"config", "check", "-c", "/nonexistent.yaml"}, 2, ``, `read config`},
		{"check without file", []string{"config", "check"}, 2, ``, `-c FILE is required`},
		{"defaults", []string{"config", "defaults"}, 0, `location: ~ \^/sub/\(\.\+\)\$`, ``},
		{"defaults of a preset", []string{"config", "defaults", "--preset", "pushstream"}, 0, `(?s)listen: 127\.0\.0\.1:9080.*push_stream_publisher: admin`, ``},
		{"defaults of an unknown preset", []string{"config", "defaults", "--preset", "nginx"}, 2, ``, `unknown preset "nginx" \(want default or pushstream\)`},
		{"serve an unknown preset", []string{"serve", "--preset", "nginx"}, 2, ``, `unknown preset "nginx"`},
		{"serve a preset and a file", []string{"serve", "--preset", "pushstream", "-c", good}, 2, ``, `-c and --preset exclude each other`},
		{"docs", []string{"config", "docs"}, 0, "`message_buffer_length` \\| `10`", ``},
		{"serve bad config", []string{"serve", "-c", badKey}, 2, ``, `unknown key "mesage_timeout"`},
		{"serve bad flag", []string{"serve", "--bogus"}, 2, ``, `flag provided but not defined`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, bin, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			if tc.stdoutRe != "" && !regexp.MustCompile(tc.stdoutRe).MatchString(out) {
				t.Errorf("stdout %q does not match %q", out, tc.stdoutRe)
			}
			if tc.stderrRe != "" && !regexp.MustCompile(tc.stderrRe).MatchString(errOut) {
				t.Errorf("stderr %q does not match %q", errOut, tc.stderrRe)
			}
		})
	}

	t.Run("serve with Redis locations", func(t *testing.T) { testServeRedis(t, bin) })
	t.Run("token and channel-id", func(t *testing.T) { testTokenCommands(t, bin) })

	t.Run("port in use exits 1", func(t *testing.T) {
		srv, addr := startHerald(t, bin, "--listen", "127.0.0.1:0")
		defer stopHerald(t, srv)
		code, _, errOut := run(t, bin, "--listen", addr)
		if code != 1 || !strings.Contains(errOut, "address already in use") {
			t.Errorf("exit %d, stderr %q; want 1 and 'address already in use'", code, errOut)
		}
	})

	t.Run("serve the push-stream preset", func(t *testing.T) {
		// --listen overrides the preset's 127.0.0.1:9080.
		srv, addr := startHerald(t, bin, "serve", "--preset", "pushstream", "--listen", "127.0.0.1:0")
		defer stopHerald(t, srv)
		waitCond(t, 5*time.Second, "the start line naming the preset", func() bool {
			return regexp.MustCompile(`msg="herald started" .*config="preset pushstream"`).MatchString(srv.log.String())
		})
		r := httpDo(t, "POST", "http://"+addr+"/pub?id=chat", "hello")
		if want := `{"channel": "chat", "published_messages": 1, "stored_messages": 1, "subscribers": 0}` + "\r\n"; r.StatusCode != http.StatusOK || r.body != want {
			t.Errorf("publish: %d %q, want 200 %q", r.StatusCode, r.body, want)
		}
	})
	t.Run("SIGHUP and herald reload", func(t *testing.T) { testReload(t, bin) })
	t.Run("SIGUSR2 binary upgrade", func(t *testing.T) { testUpgrade(t, bin) })

	t.Run("serve and SIGTERM", func(t *testing.T) {
		srv, addr := startHerald(t, bin, "--listen", "127.0.0.1:0")
		base := "http://" + addr
		pub := httpDo(t, "POST", base+"/pub/chat", "hello")
		if pub.StatusCode != http.StatusAccepted {
			t.Fatalf("publish: %d", pub.StatusCode)
		}
		if r := httpDo(t, "GET", base+"/sub?id=chat", ""); r.StatusCode != 200 || r.body != "hello" {
			t.Fatalf("subscribe: %d %q", r.StatusCode, r.body)
		}
		// Park a long-poll that waits for the next message, then stop Herald.
		parked := make(chan *httpResult, 1)
		go func() {
			parked <- httpDo(t, "GET", base+"/sub/chat", "", "Last-Event-ID", "9999999999:0")
		}()
		deadline := time.Now().Add(5 * time.Second)
		for {
			info := httpDo(t, "GET", base+"/pub/chat", "")
			if strings.Contains(info.body, "active subscribers: 1") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("long-poll never parked: %q", info.body)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-parked:
			if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
				t.Errorf("parked subscriber got %d (Retry-After %q), want 503 with Retry-After", r.StatusCode, r.Header.Get("Retry-After"))
			}
		case <-time.After(5 * time.Second):
			t.Fatal("parked subscriber not answered on shutdown")
		}
		if code := waitExit(t, srv); code != 0 {
			t.Errorf("exit code after SIGTERM %d, want 0; log:\n%s", code, srv.log.String())
		}
	})
}

type heraldProc struct {
	cmd  *exec.Cmd
	done chan error
	log  *logBuffer
}

// logBuffer is a server's standard error, written as it comes and read by
// the test.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) WriteString(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var listenRe = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startHerald starts `herald` and returns once it logs its listen address.
func startHerald(t *testing.T, bin string, args ...string) (*heraldProc, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &heraldProc{cmd: cmd, done: make(chan error, 1), log: &logBuffer{}}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.log.WriteString(line + "\n")
			if m := listenRe.FindStringSubmatch(line); m != nil {
				select {
				case addrc <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	select {
	case addr := <-addrc:
		return p, addr
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("herald did not start listening")
	}
	return nil, ""
}

func stopHerald(t *testing.T, p *heraldProc) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	waitExit(t, p)
}

func waitExit(t *testing.T, p *heraldProc) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		t.Fatal("herald did not exit")
	}
	return -1
}

type httpResult struct {
	*http.Response
	body string
}

func httpDo(t *testing.T, method, url, body string, headers ...string) *httpResult {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return &httpResult{Response: &http.Response{}}
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return &httpResult{Response: &http.Response{}}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return &httpResult{Response: res, body: string(b)}
}

// testReload runs herald with a pid_file and reloads it with SIGHUP and
// with `herald reload`: new locations answer, a waiting long-poll and a
// streaming subscriber carry on across both, and a broken configuration is
// refused with one log line while the running one stays in force.
func testReload(t *testing.T, bin string) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "herald.pid")
	conf := func(extra string) string {
		return "pid_file: " + pidFile + "\n" + strings.Replace(goodConfig, "      - location: ~ ^/activity/",
			"      - location: ~ ^/"+extra+"/(\\w+)$\n        publisher: true\n        channel_id: $1\n      - location: ~ ^/activity/", 1)
	}
	file := filepath.Join(dir, "herald.yaml")
	write := func(text string) {
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(conf("first"))
	srv, addr := startHerald(t, bin, "-c", file)
	base := "http://" + addr
	waitCond(t, 5*time.Second, "pid_file written", func() bool {
		_, err := os.Stat(pidFile)
		return err == nil
	})
	pid, err := os.ReadFile(pidFile)
	if err != nil || strings.TrimSpace(string(pid)) != fmt.Sprint(srv.cmd.Process.Pid) {
		t.Fatalf("pid_file holds %q (%v), want %d", pid, err, srv.cmd.Process.Pid)
	}

	// A long-poll waiting on channel "wait" (its first message was read).
	if r := httpDo(t, "POST", base+"/publish/wait", "zero"); r.StatusCode != http.StatusAccepted {
		t.Fatalf("publish: %d", r.StatusCode)
	}
	first := httpDo(t, "GET", base+"/activity/wait", "")
	parked := make(chan *httpResult, 1)
	go func() {
		parked <- httpDo(t, "GET", base+"/activity/wait", "", "If-Modified-Since", first.Header.Get("Last-Modified"), "If-None-Match", first.Header.Get("Etag"))
	}()
	waitLog := func(re string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !regexp.MustCompile(re).MatchString(srv.log.String()) {
			if time.Now().After(deadline) {
				t.Fatalf("log never matched %q:\n%s", re, srv.log.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	write(conf("second"))
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(`msg="configuration reloaded"`)
	if r := httpDo(t, "POST", base+"/second/x", "m"); r.StatusCode != http.StatusAccepted {
		t.Errorf("location added by SIGHUP answers %d, want 202", r.StatusCode)
	}
	if r := httpDo(t, "POST", base+"/first/x", "m"); r.StatusCode != http.StatusNotFound {
		t.Errorf("location removed by SIGHUP answers %d, want 404", r.StatusCode)
	}

	// A broken file: refused in one line, the running configuration stays.
	write("servers:\n  - listen: [127.0.0.1:0\n")
	code, out, errOut := run(t, bin, "reload", "--pid-file", pidFile)
	if code != 0 {
		t.Fatalf("herald reload: exit %d\n%s%s", code, out, errOut)
	}
	waitLog(`level=ERROR msg="configuration not reloaded; the running one stays in force".*invalid YAML`)
	if r := httpDo(t, "POST", base+"/second/x", "m"); r.StatusCode != http.StatusAccepted {
		t.Errorf("after a refused reload the location answers %d, want 202", r.StatusCode)
	}

	// herald reload -c FILE finds the process through the file's pid_file.
	write(conf("third"))
	if code, out, errOut := run(t, bin, "reload", "-c", file); code != 0 {
		t.Fatalf("herald reload -c: exit %d\n%s%s", code, out, errOut)
	}
	waitLog(`(?s)configuration reloaded.*configuration reloaded`)
	if r := httpDo(t, "POST", base+"/third/x", "m"); r.StatusCode != http.StatusAccepted {
		t.Errorf("location added by herald reload answers %d, want 202", r.StatusCode)
	}
	if r := httpDo(t, "POST", base+"/publish/wait", "after"); r.StatusCode != http.StatusCreated {
		t.Errorf("publish to the waiting channel: %d, want 201 (its long-poll is still waiting)", r.StatusCode)
	}
	select {
	case r := <-parked:
		if r.StatusCode != http.StatusOK || r.body != "after" {
			t.Errorf("long-poll waiting across reloads got %d %q, want 200 after", r.StatusCode, r.body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("long-poll waiting across reloads not answered")
	}
	if srv.cmd.ProcessState != nil {
		t.Fatalf("herald exited: %v", srv.cmd.ProcessState)
	}
	stopHerald(t, srv)
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid_file still there after the server stopped: %v", err)
	}
}

// waitCond polls cond until it holds, failing the test after within.
func waitCond(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
	}
}
