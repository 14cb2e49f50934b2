package client_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExampleModule builds examples/goclient, a module of its own that
// imports the client as another project would, and runs it against a
// real Herald over each transport.
func TestExampleModule(t *testing.T) {
	srv := startHerald(t, nil)
	bin := filepath.Join(t.TempDir(), "goclient")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = filepath.Join("..", "examples", "goclient")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build in examples/goclient: %v\n%s", err, out)
	}
	for _, tr := range []string{"auto", "eventsource", "longpoll", "websocket"} {
		out, err := exec.CommandContext(ctx, bin, "-server", srv.URL, "-transport", tr, "-n", "3").CombinedOutput()
		if err != nil {
			t.Fatalf("goclient -transport %s: %v\n%s", tr, err, out)
		}
		want := `received "message 2" by`
		if !strings.Contains(string(out), want) || !strings.Contains(string(out), "closed the channel") {
			t.Fatalf("goclient -transport %s printed:\n%s", tr, out)
		}
	}
}
