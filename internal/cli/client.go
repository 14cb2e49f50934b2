package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/heraldpush/herald/client"
)

// ExitNotFound is the exit code of a command about a channel that does
// not exist: channel info or close of an unknown channel, a subscription
// ended because its channel was closed.
const ExitNotFound = 3

// serverEnv names the environment variable with the default --server.
const serverEnv = "HERALD_SERVER"

// defaultServer is --server's default: $HERALD_SERVER, or a local Herald
// with the built-in configuration.
func defaultServer() string {
	if s := os.Getenv(serverEnv); s != "" {
		return s
	}
	return client.DefaultServer
}

// parseInterleaved parses flags that may stand before, between or after
// the positional arguments, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// parseCommand sets fs's usage line and parses args (flags anywhere);
// when it fails, or -h asked for help, ok is false and code the exit code.
func parseCommand(fs *flag.FlagSet, args []string, stderr io.Writer, usage string) (pos []string, code int, ok bool) {
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil, ExitOK, false
	case err != nil:
		return nil, ExitUsage, false
	}
	return pos, ExitOK, true
}

// isURL reports whether a command line argument is a URL rather than a
// channel id.
func isURL(s string) bool { return strings.Contains(s, "://") }

// urlChannels reads the channel ids a publisher or subscriber URL names:
// its id argument, or its last path segment, split at commas.
func urlChannels(u *url.URL) []string {
	if id := u.Query().Get("id"); id != "" {
		return strings.Split(id, ",")
	}
	p := strings.TrimRight(u.Path, "/")
	return strings.Split(p[strings.LastIndex(p, "/")+1:], ",")
}

// target is a client and the channels one argument (a channel id, ids
// joined with commas, or a URL) names. publisher says which template a
// URL fills.
func target(server, arg string, publisher bool) (*client.Client, []string, error) {
	if !isURL(arg) {
		c, err := client.New(server, nil)
		if err != nil {
			return nil, nil, err
		}
		return c, strings.Split(arg, ","), nil
	}
	u, err := url.Parse(arg)
	if err != nil || u.Host == "" {
		return nil, nil, fmt.Errorf("bad URL %q", arg)
	}
	o := &client.Options{SubscribeURL: arg}
	if publisher {
		o = &client.Options{PublishURL: arg}
	}
	c, err := client.New(u.Scheme+"://"+u.Host, o)
	if err != nil {
		return nil, nil, err
	}
	return c, urlChannels(u), nil
}

// exitFor prints a client error and returns its exit code: ExitNotFound
// when it matches notFound (nil: never), else ExitFailure.
func exitFor(stderr io.Writer, cmd string, err, notFound error) int {
	fmt.Fprintf(stderr, "herald %s: %s\n", cmd, strings.TrimPrefix(err.Error(), "herald client: "))
	if notFound != nil && errors.Is(err, notFound) {
		return ExitNotFound
	}
	return ExitFailure
}

// pubCmd publishes one message: herald pub CHANNEL|URL [MESSAGE|-].
func pubCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("herald pub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", defaultServer(), "Herald's address (or $"+serverEnv+")")
	ctype := fs.String("content-type", "", "the message's content type")
	fs.StringVar(ctype, "t", "", "same as --content-type")
	event := fs.String("event", "", "the message's EventSource event name")
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	pos, code, ok := parseCommand(fs, args, stderr, "usage: herald pub CHANNEL[,CHANNEL...]|URL [MESSAGE|-] [flags]  (no MESSAGE or -: read standard input)")
	if !ok {
		return code
	}
	var err error
	if len(pos) < 1 || len(pos) > 2 {
		fs.Usage()
		return ExitUsage
	}
	var body []byte
	if len(pos) == 2 && pos[1] != "-" {
		body = []byte(pos[1])
	} else if body, err = io.ReadAll(stdin); err != nil {
		fmt.Fprintf(stderr, "herald pub: read standard input: %v\n", err)
		return ExitFailure
	}
	c, chans, err := target(*server, pos[0], true)
	if err != nil {
		fmt.Fprintf(stderr, "herald pub: %v\n", err)
		return ExitUsage
	}
	m := client.Message{Body: body, ContentType: *ctype, Event: *event}
	var p client.Published
	if len(chans) == 1 {
		p, err = c.Publish(ctx, chans[0], m)
	} else {
		p, err = c.PublishMany(ctx, chans, m)
	}
	if err != nil {
		return exitFor(stderr, "pub", err, nil)
	}
	if *asJSON {
		writeJSON(stdout, map[string]any{"id": p.ID, "delivered": p.Delivered, "info": infoMap(p.Info)})
	} else {
		fmt.Fprintln(stdout, p.ID)
	}
	return ExitOK
}

// subCmd prints the messages of channels: herald sub CHANNEL|URL...
func subCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("herald sub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", defaultServer(), "Herald's address (or $"+serverEnv+")")
	transport := fs.String("transport", "auto", "auto, eventsource, longpoll, websocket or herald.v1")
	muxURL := fs.String("mux-url", "", "a websocket_multiplex location's URL: herald.v1 subscribes there (and auto tries it first)")
	from := fs.String("from", "", "start after this message id (a printed id)")
	asJSON := fs.Bool("json", false, "print each message as a JSON line with id, channel, content_type, event and body")
	count := fs.Int("n", 0, "exit after this many messages (0: run until interrupted)")
	idle := fs.Duration("idle-timeout", 0, "reconnect a stream silent for this long (0: never); keep it above the server's ping interval")
	pos, code, ok := parseCommand(fs, args, stderr, "usage: herald sub CHANNEL|URL... [--transport T] [--mux-url URL] [--from ID] [--json] [-n COUNT] [--idle-timeout D] [--server URL]\n"+
		"  Channel ids (or ids joined with commas) share one multiplexed subscription; each URL is a subscription of its own.")
	if !ok {
		return code
	}
	tr, err := client.ParseTransport(*transport)
	if err != nil || len(pos) == 0 || *count < 0 {
		if err != nil {
			fmt.Fprintf(stderr, "herald sub: %v\n", err)
		}
		fs.Usage()
		return ExitUsage
	}
	type group struct {
		c     *client.Client
		chans []string
	}
	var groups []group
	var named []string
	for _, a := range pos {
		if isURL(a) {
			c, chans, err := target(*server, a, false)
			if err != nil {
				fmt.Fprintf(stderr, "herald sub: %v\n", err)
				return ExitUsage
			}
			groups = append(groups, group{c, chans})
			continue
		}
		named = append(named, strings.Split(a, ",")...)
	}
	if len(named) > 0 {
		c, err := client.New(*server, &client.Options{MultiplexURL: *muxURL})
		if err != nil {
			fmt.Fprintf(stderr, "herald sub: %v\n", err)
			return ExitUsage
		}
		groups = append(groups, group{c, named})
	}
	if *from != "" && len(groups) > 1 {
		fmt.Fprintln(stderr, "herald sub: --from needs a single subscription (channel ids, or one URL)")
		return ExitUsage
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		left  = *count
		first error
		wg    sync.WaitGroup
	)
	subs := make([]*client.Subscription, 0, len(groups))
	for _, g := range groups {
		sub, err := g.c.Subscribe(ctx, g.chans, &client.SubscribeOptions{Transport: tr, From: *from, IdleTimeout: *idle})
		if err != nil {
			fmt.Fprintf(stderr, "herald sub: %v\n", err)
			return ExitUsage
		}
		subs = append(subs, sub)
	}
	for _, sub := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer sub.Close()
			for {
				m, err := sub.Next(ctx)
				if err != nil {
					mu.Lock()
					if first == nil && ctx.Err() == nil {
						first = err
					}
					mu.Unlock()
					cancel()
					return
				}
				mu.Lock()
				if *count > 0 && left == 0 {
					mu.Unlock() // another subscription printed the last
					return
				}
				printMessage(stdout, m, *asJSON)
				if *count > 0 {
					left--
					if left == 0 {
						cancel()
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return exitFor(stderr, "sub", first, client.ErrGone)
	}
	return ExitOK
}

// printMessage writes one received message: its body and a line break, or
// a JSON line.
func printMessage(w io.Writer, m *client.Received, asJSON bool) {
	if !asJSON {
		// One message a line: a body's own final line break is that line's.
		b, _ := bytes.CutSuffix(m.Body, []byte("\n"))
		w.Write(append(b, '\n'))
		return
	}
	v := map[string]any{"id": m.ID, "channel": m.Channel, "content_type": m.ContentType, "event": m.Event, "transport": string(m.Transport)}
	if utf8.Valid(m.Body) {
		v["body"] = string(m.Body)
	} else {
		v["body_base64"] = base64.StdEncoding.EncodeToString(m.Body)
	}
	writeJSON(w, v)
}

func writeJSON(w io.Writer, v any) {
	b, _ := json.Marshal(v)
	w.Write(append(b, '\n'))
}

func infoMap(in client.Info) map[string]any {
	req := int64(-1)
	if in.Requested >= 0 {
		req = int64(in.Requested.Seconds())
	}
	return map[string]any{"channel": in.Channel, "messages": in.Messages, "requested": req, "subscribers": in.Subscribers, "last_message_id": in.LastMessageID}
}

func printInfo(w io.Writer, in client.Info, asJSON bool) {
	if asJSON {
		writeJSON(w, infoMap(in))
		return
	}
	req := "never"
	if in.Requested >= 0 {
		req = fmt.Sprintf("%d sec. ago", int64(in.Requested.Seconds()))
	}
	fmt.Fprintf(w, "channel: %s\nqueued messages: %d\nlast requested: %s\nactive subscribers: %d\nlast message id: %s\n",
		in.Channel, in.Messages, req, in.Subscribers, in.LastMessageID)
}

// listChannels prints a channel listing: a header line and one
// tab-separated line a channel, or one JSON object a line.
func listChannels(ctx context.Context, server, listURL, prefix string, group *string, asJSON bool, stdout, stderr io.Writer) int {
	if listURL == "" {
		fmt.Fprintln(stderr, "herald channel list: this needs a channel listing location (a location with `channel_list: on`);\n"+
			"give its URL or path with --list-url (the built-in configuration has none; see docs/client.md)")
		return ExitUsage
	}
	if strings.HasPrefix(listURL, "/") {
		listURL = strings.TrimRight(server, "/") + listURL
	}
	c, err := client.New(server, &client.Options{ListURL: listURL})
	if err != nil {
		fmt.Fprintf(stderr, "herald channel list: %v\n", err)
		return ExitUsage
	}
	o := client.ListOptions{Prefix: prefix}
	if group != nil {
		o.Group, o.OnlyGroup = *group, true
	}
	headed := asJSON
	header := func() {
		if !headed {
			fmt.Fprintln(stdout, "group\tid\tmessages\tsubscribers\trequested\tlast_message_id")
			headed = true
		}
	}
	defer header()
	for ch, err := range c.ListAll(ctx, o) {
		if err != nil {
			headed = true // nothing was listed
			return exitFor(stderr, "channel list", err, nil)
		}
		header()
		if asJSON {
			m := infoMap(ch.Info)
			m["group"] = ch.Group
			writeJSON(stdout, m)
			continue
		}
		req := int64(-1)
		if ch.Info.Requested >= 0 {
			req = int64(ch.Info.Requested.Seconds())
		}
		fmt.Fprintf(stdout, "%s\t%s\t%d\t%d\t%d\t%s\n", listField(ch.Group), listField(ch.Info.Channel),
			ch.Info.Messages, ch.Info.Subscribers, req, ch.Info.LastMessageID)
	}
	return ExitOK
}

// listField quotes a group or id holding a tab, a line break or another
// control character (Go syntax), as the server's text listing does.
func listField(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return strconv.Quote(s)
		}
	}
	return s
}

const channelUsage = `usage:
  herald channel open [ID]    create a channel (a fresh 128-bit id without ID) and print its id
  herald channel info ID      print a channel's info (exit 3 if it does not exist)
  herald channel close ID     delete a channel; its subscribers get 410 (exit 3 if it does not exist)
  herald channel list --list-url URL|PATH [--prefix P] [--group G]
                              list the channels of a channel listing location (channel_list: on)
flags: --server URL (or $HERALD_SERVER), --json; ID may be a publisher URL
`

// channelCmd manages channels: herald channel open|info|close|list.
func channelCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, channelUsage)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	sub := args[0]
	fs := flag.NewFlagSet("herald channel "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", defaultServer(), "Herald's address (or $"+serverEnv+")")
	asJSON := fs.Bool("json", false, "print the channel info as JSON")
	listURL := fs.String("list-url", "", "list: URL of a channel listing location (channel_list: on); a path is on --server")
	prefix := fs.String("prefix", "", "list: only channels whose id starts with this")
	var group *string
	fs.Func("group", "list: only this group's channels (\"\" the default group)", func(g string) error {
		group = &g
		return nil
	})
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	switch sub {
	case "list":
		if len(pos) > 0 {
			break
		}
		return listChannels(ctx, *server, *listURL, *prefix, group, *asJSON, stdout, stderr)
	case "open":
		if len(pos) > 1 {
			break
		}
		id := ""
		if len(pos) == 1 {
			id = pos[0]
		}
		c, chans, err := target(*server, id, true)
		if err != nil {
			fmt.Fprintf(stderr, "herald channel open: %v\n", err)
			return ExitUsage
		}
		if id != "" {
			id = chans[0]
		}
		in, err := c.Open(ctx, id)
		if err != nil {
			return exitFor(stderr, "channel open", err, nil)
		}
		if *asJSON {
			printInfo(stdout, in, true)
		} else {
			fmt.Fprintln(stdout, in.Channel)
		}
		return ExitOK
	case "info", "close":
		if len(pos) != 1 {
			break
		}
		c, chans, err := target(*server, pos[0], true)
		if err != nil {
			fmt.Fprintf(stderr, "herald channel %s: %v\n", sub, err)
			return ExitUsage
		}
		var in client.Info
		if sub == "info" {
			in, err = c.Info(ctx, chans[0])
		} else {
			in, err = c.Close(ctx, chans[0])
		}
		if err != nil {
			return exitFor(stderr, "channel "+sub, err, client.ErrNotFound)
		}
		printInfo(stdout, in, *asJSON)
		return ExitOK
	default:
		fmt.Fprintf(stderr, "herald channel: unknown subcommand %q\n", sub)
	}
	fmt.Fprint(stderr, channelUsage)
	return ExitUsage
}
