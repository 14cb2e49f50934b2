package accesslog

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func TestLoggerWritesReopensAndCloses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	f, _ := Compile("$status")
	l, err := Open(Options{Path: path, Format: f, StreamFormat: f})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest("GET", "/", nil)
	l.Log(&Entry{Request: r, Status: 200})
	if !waitFor(5*time.Second, func() bool { b, _ := os.ReadFile(path); return string(b) == "200\n" }) {
		t.Fatal("first line not written")
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	l.Log(&Entry{Request: r, Status: 201})
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.LogStreamEnd(&Entry{Request: r, Status: 202})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path + ".1"); string(b) != "200\n201\n" {
		t.Errorf("moved file holds %q, want the lines queued before the reopen", b)
	}
	if b, _ := os.ReadFile(path); string(b) != "202\n" {
		t.Errorf("reopened file holds %q", b)
	}
	if l.Written() != 3 || l.Dropped() != 0 {
		t.Errorf("written %d dropped %d, want 3 and 0", l.Written(), l.Dropped())
	}
	if err := l.Reopen(); err == nil {
		t.Error("Reopen after Close succeeded")
	}
}

func TestLoggerDropsWhenBehind(t *testing.T) {
	// A pipe nobody reads: the writer blocks once it is full, its queue of
	// one line fills, and later lines are dropped instead of blocking.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	f, _ := Compile("$http_x_pad")
	l, err := Open(Options{Path: "stderr", Stderr: pw, Format: f, Queue: 1})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest("GET", "/", nil)
	r.Header.Set("X-Pad", string(make([]byte, 64<<10)))
	for i := 0; i < 1000 && l.Dropped() == 0; i++ {
		l.Log(&Entry{Request: r})
	}
	if l.Dropped() == 0 {
		t.Fatal("no line dropped with the writer blocked")
	}
	pw.Close() // the blocked write fails; the writer goes on and stops
	l.Close()
}
