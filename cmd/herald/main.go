// Command herald is a real-time pub/sub push server. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/heraldpush/herald/internal/cli"
)

func main() {
	// SIGINT and SIGTERM stop the server gracefully; SIGHUP makes it
	// re-read its configuration; SIGUSR1 (on Unix) reopens the log files.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	reload := make(chan os.Signal, 1)
	signal.Notify(reload, syscall.SIGHUP)
	reopen := make(chan os.Signal, 1)
	notifyReopen(reopen)
	code := cli.RunWith(ctx, os.Args[1:], os.Stdout, os.Stderr, cli.Signals{Reload: reload, Reopen: reopen})
	stop()
	os.Exit(code)
}
