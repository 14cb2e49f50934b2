//go:build unix

package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// testUpgrade hands a running herald over to a new process with SIGUSR2
// while messages are published to many channels without pause and
// EventSource subscribers read them: every publish is acknowledged (no
// connection refused or reset), the old process exits 0 once its
// subscribers were ended, the pid_file names the new process, and every
// subscriber, resuming by id on whichever process answers, receives every
// acknowledged message of its channel once, in order.
func testUpgrade(t *testing.T, bin string) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "herald.pid")
	file := filepath.Join(dir, "herald.yaml")
	conf := fmt.Sprintf(`pid_file: %s
upgrade_drain_time: 2s
shutdown_timeout: 2s
servers:
  - listen: 127.0.0.1:0
    locations:
      - location: ~ ^/pub/(\w+)$
        publisher: true
        channel_id: $1
        message_buffer_length: 1000
      - location: ~ ^/sub/(\w+)$
        subscriber: [eventsource, longpoll]
        channel_id: $1
`, pidFile)
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// Standard error goes to a file: the new process inherits it, and a
	// pipe would stay open after the old process exits.
	logPath := filepath.Join(dir, "herald.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	readLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	old := exec.Command(bin, "-c", file)
	old.Stderr = logFile
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	oldDone := make(chan error, 1)
	go func() { oldDone <- old.Wait() }()
	t.Cleanup(func() { old.Process.Kill() })
	var addr string
	waitCond(t, 20*time.Second, "herald listening", func() bool {
		m := listenRe.FindStringSubmatch(readLog())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	base := "http://" + addr
	newPid := 0
	t.Cleanup(func() {
		if newPid > 0 {
			syscall.Kill(newPid, syscall.SIGKILL)
		}
	})

	const channels = 8
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	subs := make([]*resumingES, channels)
	for c := range channels {
		subs[c] = &resumingES{url: fmt.Sprintf("%s/sub/ch%d", base, c)}
		go subs[c].run(ctx)
	}
	for c := range channels {
		waitCond(t, 10*time.Second, "subscriber connected", func() bool { return subs[c].connects() > 0 })
	}

	// Publish to every channel in turn, without pause, until told to stop.
	acked := make([][]string, channels)
	stop := make(chan struct{})
	pubDone := make(chan struct{})
	var pubErrs []string
	go func() {
		defer close(pubDone)
		client := &http.Client{Timeout: 10 * time.Second}
		for i := 0; i < 100000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c := i % channels
			body := strconv.Itoa(i)
			res, err := client.Post(fmt.Sprintf("%s/pub/ch%d", base, c), "text/plain", strings.NewReader(body))
			if err != nil {
				pubErrs = append(pubErrs, err.Error())
				continue
			}
			res.Body.Close()
			if res.StatusCode/100 != 2 {
				pubErrs = append(pubErrs, fmt.Sprintf("publish %d: %d", i, res.StatusCode))
				continue
			}
			acked[c] = append(acked[c], body)
			time.Sleep(2 * time.Millisecond)
		}
	}()

	time.Sleep(300 * time.Millisecond) // some messages before the upgrade
	if err := old.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	waitCond(t, 30*time.Second, "pid_file names the new process", func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false
		}
		newPid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return newPid > 0 && newPid != old.Process.Pid
	})
	select {
	case err := <-oldDone:
		if err != nil {
			t.Fatalf("old process: %v; log:\n%s", err, readLog())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("old process did not exit; log:\n%s", readLog())
	}
	time.Sleep(300 * time.Millisecond) // some messages after the old process is gone
	close(stop)
	<-pubDone
	if len(pubErrs) > 0 {
		t.Errorf("%d publishes failed during the upgrade, first: %s", len(pubErrs), pubErrs[0])
	}
	for c, s := range subs {
		want := strings.Join(acked[c], " ")
		waitCond(t, 10*time.Second, fmt.Sprintf("channel %d received everything", c), func() bool {
			return len(s.received()) >= len(acked[c])
		})
		if got := strings.Join(s.received(), " "); got != want {
			t.Errorf("channel %d received\n%s\nwant\n%s", c, got, want)
		}
		if s.connects() < 2 {
			t.Errorf("channel %d: subscriber connected %d times, want a reconnect to the new process", c, s.connects())
		}
	}
	log := readLog()
	for _, want := range []string{"binary upgrade: the new process accepts", "herald stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", log)
	}
	syscall.Kill(newPid, syscall.SIGTERM)
	waitCond(t, 15*time.Second, "new process exits", func() bool { return syscall.Kill(newPid, 0) != nil })
	newPid = 0
}

// resumingES is an EventSource client that reconnects whenever its stream
// ends, with the id of the last message it received, as browsers do.
type resumingES struct {
	url string

	mu       sync.Mutex
	msgs     []string
	lastID   string
	nconnect int
}

func (e *resumingES) received() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.msgs...)
}

func (e *resumingES) connects() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.nconnect
}

func (e *resumingES) run(ctx context.Context) {
	for attempt := 0; attempt < 200 && ctx.Err() == nil; attempt++ {
		e.once(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (e *resumingES) once(ctx context.Context) {
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url, nil)
	req.Header.Set("Accept", "text/event-stream")
	e.mu.Lock()
	if e.lastID != "" {
		req.Header.Set("Last-Event-ID", e.lastID)
	}
	e.mu.Unlock()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return
	}
	e.mu.Lock()
	e.nconnect++
	e.mu.Unlock()
	var dec protocol.EventSourceDecoder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		dec.Feed(buf[:n])
		for {
			ev, derr := dec.Next()
			if derr != nil || ev == nil {
				break
			}
			if ev.Kind == protocol.KindEvent {
				e.mu.Lock()
				e.msgs = append(e.msgs, string(bytes.Clone(ev.Data)))
				e.lastID = string(ev.ID)
				e.mu.Unlock()
			}
		}
		if err != nil {
			return
		}
	}
}
