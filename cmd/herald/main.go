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
	// re-read its configuration; SIGUSR2 (on Unix) hands its sockets to a
	// new process of the executable; SIGUSR1 (on Unix) reopens the log
	// files.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	reload := make(chan os.Signal, 1)
	signal.Notify(reload, syscall.SIGHUP)
	upgrade := make(chan os.Signal, 1)
	notifyUpgrade(upgrade)
	reopen := make(chan os.Signal, 1)
	notifyReopen(reopen)
	code := cli.RunWith(ctx, os.Args[1:], os.Stdout, os.Stderr, cli.Signals{Reload: reload, Upgrade: upgrade, Reopen: reopen})
	stop()
	os.Exit(code)
}
