// Package cli implements the herald command line: serve, config check,
// config defaults, config docs, bench, token, channel-id, version, and the
// client commands pub, sub and channel (built on package client).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/heraldpush/herald/internal/app"
	"github.com/heraldpush/herald/internal/bench"
	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/handoff"
	"github.com/heraldpush/herald/internal/server"
)

// Version is Herald's release version.
const Version = server.Version

// Exit codes.
const (
	ExitOK      = 0 // success, including a graceful shutdown.
	ExitFailure = 1 // the server could not start or failed while running.
	ExitUsage   = 2 // bad command line or invalid configuration.
)

const usage = `Herald: a real-time pub/sub push server.

Usage:
  herald [serve] [-c FILE] [--listen ADDR]   run the server (built-in config without -c)
  herald serve --preset pushstream           run nginx-push-stream-module's sample layout (127.0.0.1:9080)
  herald reload [-c FILE | --pid-file FILE]  make a running server re-read its configuration (SIGHUP)
  herald config check -c FILE                validate a configuration file
  herald config defaults [--preset NAME]     print the built-in configuration (or a preset's)
  herald config docs                         print the configuration key reference
  herald bench SCENARIO [flags]              load a server: fanout, publish, idle, channels, churn, storm
  herald token --secret S --sub CH [flags]   mint a signed token (JWT) for testing
  herald channel-id [-n COUNT]               print a fresh, unguessable channel id
  herald pub CHANNEL|URL [MESSAGE|-]         publish a message (standard input without MESSAGE)
  herald sub CHANNEL|URL... [flags]          print messages as they come (--transport, --from, --json, -n)
  herald channel open|info|close|list [ID]   manage channels
  (pub, sub and channel talk to --server, default $HERALD_SERVER or http://127.0.0.1:8080;
   exit 1 on failure, 2 on a bad command line, 3 for a channel that does not exist)
  herald version                             print the version

Without a file Herald listens on 127.0.0.1:8080 with:
  /pub/<id>, /pub?id=<id>         publisher (POST/PUT publish, GET info, DELETE)
  /sub/<id>, /sub?id=<id>         subscriber (WebSocket, EventSource, long-poll, chunked, multipart/mixed)
  /pubsub/<id>, /pubsub?id=<id>   both
`

// Signals carry what the process's signals ask of a running server, beyond
// stopping it (which ends Run's context).
type Signals struct {
	// Reload receives a value each time the configuration is to be read
	// again and put in force (SIGHUP); nil never reloads.
	Reload <-chan os.Signal
	// Upgrade receives a value when the server is to hand its listening
	// sockets to a new process of the (new) executable and end (SIGUSR2);
	// nil never upgrades.
	Upgrade <-chan os.Signal
	// Reopen receives a value each time the log files are to be reopened
	// (SIGUSR1, after log rotation moved them); nil never reopens.
	Reopen <-chan os.Signal
}

// Run runs the command line args (without the program name) and returns the
// exit code. ctx ends the server gracefully.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return RunWith(ctx, args, stdout, stderr, Signals{})
}

// RunWith is Run for a process that passes its signals on (see Signals).
func RunWith(ctx context.Context, args []string, stdout, stderr io.Writer, sig Signals) int {
	if len(args) == 0 {
		return serve(ctx, nil, stdout, stderr, sig)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr, sig)
	case "reload":
		return reloadCmd(args[1:], stdout, stderr)
	case "config":
		return configCmd(args[1:], stdout, stderr)
	case "bench":
		return benchCmd(ctx, args[1:], stdout, stderr)
	case "token":
		return tokenCmd(args[1:], stdout, stderr)
	case "channel-id":
		return channelIDCmd(args[1:], stdout, stderr)
	case "pub":
		return pubCmd(ctx, args[1:], os.Stdin, stdout, stderr)
	case "sub":
		return subCmd(ctx, args[1:], stdout, stderr)
	case "channel":
		return channelCmd(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, versionString())
		return ExitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return ExitOK
	}
	if strings.HasPrefix(args[0], "-") {
		return serve(ctx, args, stdout, stderr, sig)
	}
	fmt.Fprintf(stderr, "herald: unknown command %q\n\n%s", args[0], usage)
	return ExitUsage
}

func versionString() string {
	v := "herald " + Version
	if bi, ok := debug.ReadBuildInfo(); ok {
		v += " (" + bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += ", " + s.Value[:12]
			}
		}
		v += ")"
	}
	return v
}

func configCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "herald config: want check, defaults or docs\n")
		return ExitUsage
	}
	switch args[0] {
	case "defaults":
		fs := flag.NewFlagSet("herald config defaults", flag.ContinueOnError)
		fs.SetOutput(stderr)
		preset := fs.String("preset", "default", "built-in configuration to print: "+strings.Join(config.PresetNames(), ", "))
		if err := fs.Parse(args[1:]); err != nil {
			return ExitUsage
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "herald config defaults: unexpected argument %q\n", fs.Arg(0))
			return ExitUsage
		}
		y, err := config.PresetYAML(*preset)
		if err != nil {
			fmt.Fprintf(stderr, "herald: %v\n", err)
			return ExitUsage
		}
		stdout.Write(y)
		return ExitOK
	case "docs":
		fmt.Fprint(stdout, config.Reference())
		return ExitOK
	case "check":
		fs := flag.NewFlagSet("herald config check", flag.ContinueOnError)
		fs.SetOutput(stderr)
		file := fs.String("c", "", "configuration file to check")
		fs.StringVar(file, "config", "", "configuration file to check")
		if err := fs.Parse(args[1:]); err != nil {
			return ExitUsage
		}
		if *file == "" && fs.NArg() == 1 {
			*file = fs.Arg(0)
		}
		if *file == "" {
			fmt.Fprintln(stderr, "herald config check: -c FILE is required")
			return ExitUsage
		}
		cfg, err := config.Load(*file)
		if err == nil {
			err = app.Check(cfg, nil)
		}
		if err != nil {
			fmt.Fprintf(stderr, "herald: %v\n", err)
			return ExitUsage
		}
		n := 0
		for _, s := range cfg.Servers {
			n += len(s.Locations)
		}
		fmt.Fprintf(stdout, "%s: ok (%d servers, %d locations)\n", *file, len(cfg.Servers), n)
		return ExitOK
	}
	fmt.Fprintf(stderr, "herald config: unknown subcommand %q (want check, defaults or docs)\n", args[0])
	return ExitUsage
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer, sig Signals) int {
	fs := flag.NewFlagSet("herald serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "", "configuration file (YAML); the built-in default without it")
	fs.StringVar(file, "config", "", "configuration file (same as -c)")
	preset := fs.String("preset", "", "run a built-in configuration instead of a file: "+strings.Join(config.PresetNames(), ", "))
	listen := fs.String("listen", "", "listen address host:port, overriding the configuration's")
	logLevel := fs.String("log-level", "", "log level: debug, info, warn, error (overrides log_level)")
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "herald serve: unexpected argument %q\n", fs.Arg(0))
		return ExitUsage
	}
	if *preset != "" && *file != "" {
		fmt.Fprintln(stderr, "herald serve: -c and --preset exclude each other")
		return ExitUsage
	}
	// load reads the configuration with the command line's overrides, at
	// start and on every reload.
	load := func() (*config.Config, error) {
		cfg := config.Default()
		var err error
		switch {
		case *file != "":
			if cfg, err = config.Load(*file); err != nil {
				return nil, err
			}
		case *preset != "":
			if cfg, err = config.Preset(*preset); err != nil {
				return nil, err
			}
		}
		if *listen != "" {
			if len(cfg.Servers) != 1 {
				return nil, errors.New("--listen needs a configuration with exactly one server")
			}
			cfg.Servers[0].Listen = []string{*listen}
		}
		if *logLevel != "" {
			cfg.LogLevel = *logLevel
		}
		return cfg, nil
	}
	cfg, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "herald: %v\n", err)
		return ExitUsage
	}
	level := new(slog.LevelVar)
	log, err := newLogger(cfg, level, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "herald: %v\n", err)
		return ExitUsage
	}
	inherited, parent, err := handoff.FromEnv()
	if err != nil {
		log.Error("cannot take over the old process's listeners", "err", err)
		return ExitFailure
	}
	a, err := app.New(ctx, cfg, app.Options{Logger: log, Listeners: inherited, Stderr: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "herald: %v\n", err)
		return ExitUsage
	}
	if parent != nil {
		// A binary upgrade: say ready, wait until the old process stopped
		// accepting, and number messages after its.
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		sec, err := parent.Ready(rctx)
		cancel()
		if err != nil {
			log.Warn("taking over without the old process's word", "err", err)
		}
		a.NumberAfter(sec)
	}
	if err := a.Start(ctx); err != nil {
		log.Error("cannot start", "err", err)
		a.Stop(context.Background())
		return ExitFailure
	}
	if cfg.PIDFile != "" {
		if err := writePIDFile(cfg.PIDFile); err != nil {
			log.Error("cannot write pid_file", "err", err)
			a.Stop(context.Background())
			return ExitFailure
		}
		defer removePIDFile(cfg.PIDFile)
	}
	name := configName(*file)
	if *preset != "" {
		name = "preset " + *preset
	}
	log.Info("herald started", "version", Version, "config", name, "pid", os.Getpid())
	wctx, stopSignals := context.WithCancel(ctx)
	signals := make(chan struct{})
	go func() {
		defer close(signals)
		for {
			select {
			case <-wctx.Done():
				return
			case <-sig.Reload:
				reload(ctx, a, load, level, log, *file)
			case <-sig.Reopen:
				if err := a.ReopenLogs(); err != nil {
					log.Error("log files not reopened", "err", err)
				} else {
					log.Info("log files reopened")
				}
			case <-sig.Upgrade:
				if upgrade(ctx, a, log, stdout, stderr) {
					stopSignals() // a.Wait returns: the new process serves
					return
				}
			}
		}
	}()
	err = a.Wait(wctx)
	stopSignals()
	<-signals
	if err != nil {
		log.Error("server failed", "err", err)
		return ExitFailure
	}
	log.Info("herald stopped")
	return ExitOK
}

// upgrade starts the executable again as a new process that inherits the
// listening sockets, hands over to it once it is ready, and ends this
// server's subscribers over upgrade_drain_time. It reports whether the new
// process took over; if not, this one goes on serving.
func upgrade(ctx context.Context, a *app.App, log *slog.Logger, stdout, stderr io.Writer) bool {
	log.Info("binary upgrade: starting a new process")
	files, err := a.ListenerFiles()
	if err != nil {
		log.Error("binary upgrade failed; this process goes on serving", "err", err)
		return false
	}
	child, err := handoff.Start(files, stdout, stderr)
	for _, f := range files {
		f.Close()
	}
	if err != nil {
		log.Error("binary upgrade failed; this process goes on serving", "err", err)
		return false
	}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = child.WaitReady(rctx)
	cancel()
	if err != nil {
		child.Abandon()
		log.Error("binary upgrade failed; this process goes on serving", "err", err)
		return false
	}
	if err := child.Go(a.StopAccepting()); err != nil {
		log.Warn("binary upgrade: the new process may not have heard it can go", "err", err)
	}
	cfg := a.Config()
	log.Info("binary upgrade: the new process accepts; ending this one's subscribers", "pid", child.Pid(), "upgrade_drain_time", cfg.UpgradeDrainTime)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.UpgradeDrainTime+max(cfg.ShutdownTimeout, time.Second))
	defer cancel()
	if err := a.Handover(dctx, cfg.UpgradeDrainTime); err != nil {
		log.Warn("binary upgrade: some clients did not finish in time", "err", err)
	}
	return true
}

// reload re-reads the configuration and puts it in force, or logs in one
// line why it did not and keeps the running one.
func reload(ctx context.Context, a *app.App, load func() (*config.Config, error), level *slog.LevelVar, log *slog.Logger, file string) {
	log.Info("reloading configuration", "config", configName(file))
	old := a.Config()
	cfg, err := load()
	if err == nil {
		err = a.Reload(ctx, cfg)
	}
	if err == nil && cfg.LogFormat != old.LogFormat {
		log.Warn("log_format changes at the next start", "log_format", old.LogFormat)
	}
	if err == nil && cfg.PIDFile != old.PIDFile {
		log.Warn("pid_file changes at the next start", "pid_file", old.PIDFile)
	}
	if err != nil {
		log.Error("configuration not reloaded; the running one stays in force", "config", configName(file), "err", err)
		return
	}
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		log.Warn("log level not changed", "err", err)
	}
}

func configName(file string) string {
	if file == "" {
		return "built-in default"
	}
	return file
}

// newLogger makes the server's logger at cfg's level, held in level so a
// reload can change it.
func newLogger(cfg *config.Config, level *slog.LevelVar, w io.Writer) (*slog.Logger, error) {
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, errors.New("log level: want debug, info, warn or error")
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// benchCmd parses herald bench's flags and runs package bench.
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(stderr, "usage: herald bench SCENARIO [flags]  (SCENARIO: %s; herald bench SCENARIO -h lists the flags)\n", strings.Join(bench.Scenarios, ", "))
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return ExitOK
		}
		return ExitUsage
	}
	cfg, err := bench.DefaultConfig(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "herald bench: %v\n", err)
		return ExitUsage
	}
	fs := flag.NewFlagSet("herald bench "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Pub, "pub", cfg.Pub, "publisher URL template; {ch} is the channel (loopback hosts only)")
	fs.StringVar(&cfg.Sub, "sub", cfg.Sub, "subscriber URL template; {ch} is the channel (loopback hosts only)")
	fs.StringVar(&cfg.Transport, "transport", cfg.Transport, "subscriber transport: eventsource, websocket, longpoll, chunked, intervalpoll")
	fs.DurationVar(&cfg.PollInterval, "poll-interval", cfg.PollInterval, "intervalpoll: wait this long after a 304 before asking again")
	fs.IntVar(&cfg.Subscribers, "n", cfg.Subscribers, "subscribers (fanout, idle, churn, storm)")
	fs.IntVar(&cfg.Subscribers, "subscribers", cfg.Subscribers, "same as -n")
	fs.IntVar(&cfg.SubscribersPerChannel, "subscribers-per-channel", cfg.SubscribersPerChannel, "publish: subscribers on each channel")
	fs.IntVar(&cfg.Channels, "channels", cfg.Channels, "channels (publish, channels, churn; storm: subscribers spread round robin)")
	fs.IntVar(&cfg.Publishers, "publishers", cfg.Publishers, "concurrent publishers (publish, channels, storm)")
	fs.IntVar(&cfg.Messages, "messages", cfg.Messages, "messages: fanout in all; channels per channel; publish, churn at most (0: until --duration)")
	fs.IntVar(&cfg.Size, "size", cfg.Size, "message body size in bytes")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "messages per second over all publishers (0: back to back, with --pace)")
	fs.DurationVar(&cfg.Pace, "pace", cfg.Pace, "pause between a publisher's messages when --rate is 0")
	fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "publish this many messages per request as a batch publish to --batch-url (publish, fanout)")
	fs.StringVar(&cfg.BatchURL, "batch-url", cfg.BatchURL, "batch publisher URL, a publish_batch location (loopback hosts only)")
	fs.Float64Var(&cfg.ChurnRate, "churn-rate", cfg.ChurnRate, "churn: subscribers replaced per second")
	fs.Float64Var(&cfg.StormPublishAt, "storm-publish-at", cfg.StormPublishAt, "storm: publish the mid-storm message when this fraction of the reconnections is established (0..1)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "longest publishing phase (publish, churn: its length)")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "per connection and request; also how long deliveries may take after the last publish (storm: and the reconnect phase)")
	fs.DurationVar(&cfg.Ramp, "ramp", cfg.Ramp, "spread opening the subscribers over this long")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "most connection attempts in flight")
	fs.DurationVar(&cfg.Settle, "settle", cfg.Settle, "idle: wait this long after connecting before reading memory")
	fs.Func("server-pid", "server process to read memory and CPU time from (repeatable, summed)", func(s string) error {
		for _, f := range strings.Split(s, ",") {
			pid, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return err
			}
			cfg.ServerPIDs = append(cfg.ServerPIDs, pid)
		}
		return nil
	})
	fs.StringVar(&cfg.Channel, "channel", "", "channel name (prefix with several channels); default bench-<random>")
	fs.IntVar(&cfg.SourceAddrs, "source-addrs", 0, "spread client sockets over this many 127.0.0.x addresses (0: as needed)")
	fs.BoolVar(&cfg.PushStream, "pushstream", false, "the server speaks nginx-push-stream-module's protocol with a JSON message template (as its sample configuration and `herald serve --preset pushstream`): find each body in the template's text field (eventsource and websocket)")
	fs.BoolVar(&cfg.JSON, "json", false, "print the result as JSON")
	fs.BoolVar(&cfg.NoProgress, "quiet", false, "no progress line on stderr")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "herald bench: unexpected argument %q\n", fs.Arg(0))
		return ExitUsage
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "herald bench: %v\n", err)
		return ExitUsage
	}
	res, err := bench.Run(ctx, &cfg, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "herald bench: %v\n", err)
		return ExitFailure
	}
	if !res.Passed {
		return ExitFailure
	}
	return ExitOK
}
