package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// runIn runs herald with stdin, to completion within 30 seconds.
func runIn(t *testing.T, bin, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), o.String(), e.String()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return 0, o.String(), e.String()
}

// TestClientCommands runs herald pub, sub and channel against a herald
// started from the same binary with its built-in configuration.
func TestClientCommands(t *testing.T) {
	bin := buildHerald(t)
	p, addr := startHerald(t, bin, "--listen", "127.0.0.1:0")
	defer stopHerald(t, p)
	server := "http://" + addr
	srv := []string{"--server", server}
	must := func(args ...string) string {
		t.Helper()
		code, out, errOut := run(t, bin, args...)
		if code != 0 {
			t.Fatalf("herald %v: exit %d\n%s", args, code, errOut)
		}
		return out
	}

	// channel open: a fresh id, or the one given.
	id := strings.TrimSpace(must(append([]string{"channel", "open"}, srv...)...))
	if len(id) != 22 {
		t.Fatalf("channel open printed %q", id)
	}
	var info map[string]any
	if err := json.Unmarshal([]byte(must(append([]string{"channel", "open", "room", "--json"}, srv...)...)), &info); err != nil || info["channel"] != "room" {
		t.Fatalf("channel open room --json: %v %v", info, err)
	}

	// pub: from the argument and from standard input; prints the id.
	id1 := strings.TrimSpace(must(append([]string{"pub", "room", "first"}, srv...)...))
	code, out, errOut := runIn(t, bin, "second\n", append([]string{"pub", "room", "-t", "text/x-two", "--event", "two"}, srv...)...)
	if code != 0 {
		t.Fatalf("pub from stdin: exit %d: %s", code, errOut)
	}
	id2 := strings.TrimSpace(out)
	if id1 == "" || id2 == "" || id1 == id2 {
		t.Fatalf("pub ids %q, %q", id1, id2)
	}
	if out := must(append([]string{"channel", "info", "room"}, srv...)...); !strings.Contains(out, "queued messages: 2") || !strings.Contains(out, "last message id: "+id2) {
		t.Fatalf("channel info:\n%s", out)
	}

	// sub: one message a line, over each transport; --json; --from; a URL.
	for _, tr := range []string{"auto", "eventsource", "longpoll", "websocket"} {
		if out := must(append([]string{"sub", "room", "--transport", tr, "-n", "2"}, srv...)...); out != "first\nsecond\n" {
			t.Fatalf("sub --transport %s printed %q", tr, out)
		}
	}
	out = must(append([]string{"sub", "room", "--transport", "longpoll", "--json", "-n", "2"}, srv...)...)
	var lines []map[string]string
	for line := range strings.Lines(out) {
		var m map[string]string
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("sub --json line %q: %v", line, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 || lines[1]["id"] != id2 || lines[1]["channel"] != "room" || lines[1]["content_type"] != "text/x-two" || lines[1]["body"] != "second\n" {
		t.Fatalf("sub --json: %v", lines)
	}
	if out := must("sub", server+"/sub/room", "--from", id1, "-n", "1"); out != "second\n" {
		t.Fatalf("sub URL --from printed %q", out)
	}

	// sub waits for what is published while it runs, on several channels.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"sub", "live-a,live-b", "--json", "-n", "2"}, srv...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitCond(t, 10*time.Second, "the subscriber", func() bool {
		_, out, _ := run(t, bin, append([]string{"channel", "info", "live-a", "--json"}, srv...)...)
		return strings.Contains(out, `"subscribers":1`)
	})
	must(append([]string{"pub", "live-b", "to b"}, srv...)...)
	must(append([]string{"pub", "live-a,live-b", "to both"}, srv...)...)
	sc := bufio.NewScanner(stdout)
	var got []string
	for sc.Scan() {
		var m map[string]string
		json.Unmarshal(sc.Bytes(), &m)
		got = append(got, m["channel"]+":"+m["body"])
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sub live: %v", err)
	}
	if len(got) != 2 || got[0] != "live-b:to b" || !strings.HasSuffix(got[1], ":to both") {
		t.Fatalf("sub live got %v", got)
	}

	// A subscriber whose channel is closed exits 3.
	gone := exec.CommandContext(ctx, bin, append([]string{"sub", "doomed", "--transport", "websocket"}, srv...)...)
	var goneErr strings.Builder
	gone.Stderr = &goneErr
	if err := gone.Start(); err != nil {
		t.Fatal(err)
	}
	waitCond(t, 10*time.Second, "the doomed subscriber", func() bool {
		_, out, _ := run(t, bin, append([]string{"channel", "info", "doomed", "--json"}, srv...)...)
		return strings.Contains(out, `"subscribers":1`)
	})
	must(append([]string{"channel", "close", "doomed"}, srv...)...)
	if err := gone.Wait(); gone.ProcessState.ExitCode() != 3 || !strings.Contains(goneErr.String(), "410 Gone") {
		t.Fatalf("sub of a closed channel: %v, stderr %q", err, goneErr.String())
	}

	// close, then the channel is gone: exit 3.
	if out := must(append([]string{"channel", "close", "room"}, srv...)...); !strings.Contains(out, "queued messages: 2") {
		t.Fatalf("channel close:\n%s", out)
	}
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{append([]string{"channel", "info", "room"}, srv...), 3, "404 Not Found"},
		{append([]string{"channel", "close", "room"}, srv...), 3, "404 Not Found"},
		{[]string{"channel", "list"}, 2, "channel listing location"},
		{[]string{"channel", "frobnicate"}, 2, "unknown subcommand"},
		{[]string{"pub"}, 2, "usage"},
		{[]string{"sub", "x", "--transport", "carrier-pigeon"}, 2, "unknown transport"},
		{[]string{"sub", "x", "--from", "not-an-id"}, 2, "message id invalid"},
		{[]string{"pub", "x", "y", "--server", "http://127.0.0.1:1"}, 1, "connection refused"},
		{append([]string{"pub", "x", "y"}, "--server", server+"/nowhere"), 1, "404"},
		{[]string{"pub", server + "/sub/x", "y"}, 1, "403 Forbidden"},
	}
	for _, tt := range tests {
		code, _, errOut := run(t, bin, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.stderr) {
			t.Errorf("herald %v: exit %d, stderr %q; want %d and %q", tt.args, code, errOut, tt.code, tt.stderr)
		}
	}
}

// TestClientChannelList runs herald channel list against a channel listing
// location. It needs a build with channel_list locations.
func TestClientChannelList(t *testing.T) {
	bin := buildHerald(t)
	cfg := writeFile(t, "list.yaml", `servers:
  - listen: 127.0.0.1:0
    locations:
      - location: = /channels
        channel_list: on
      - location: ~ ^/pub/(.+)$
        publisher: true
        channel_id: $1
`)
	if code, _, errOut := run(t, bin, "config", "check", "-c", cfg); code != 0 {
		if strings.Contains(errOut, `unknown key "channel_list"`) {
			t.Skipf("this build has no channel listing location: %s", errOut)
		}
		t.Fatalf("config check: %s", errOut)
	}
	p, addr := startHerald(t, bin, "-c", cfg)
	defer stopHerald(t, p)
	srv := []string{"--server", "http://" + addr}
	for _, ch := range []string{"b", "a"} {
		if code, _, errOut := run(t, bin, append([]string{"pub", ch, "x"}, srv...)...); code != 0 {
			t.Fatalf("pub: %s", errOut)
		}
	}
	code, out, errOut := run(t, bin, append([]string{"channel", "list", "--list-url", "/channels"}, srv...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "group\tid\t") || !strings.HasPrefix(lines[1], "\ta\t1\t") || !strings.HasPrefix(lines[2], "\tb\t1\t") {
		t.Fatalf("channel list: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = run(t, bin, append([]string{"channel", "list", "--list-url", "http://" + addr + "/channels", "--prefix", "b", "--json"}, srv...)...)
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"channel":"b"`) {
		t.Fatalf("channel list --prefix b --json: exit %d\n%s", code, out)
	}
}
