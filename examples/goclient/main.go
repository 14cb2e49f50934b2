// Command goclient is a program of its own module that uses Herald's Go
// client as any application would: it opens a private channel, subscribes
// to it, publishes to it, and closes it.
//
//	go run . -server http://127.0.0.1:8080
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/heraldpush/herald/client"
)

func main() {
	server := flag.String("server", client.DefaultServer, "Herald's address")
	transport := flag.String("transport", "auto", "auto, eventsource, longpoll or websocket")
	n := flag.Int("n", 3, "messages to send and receive")
	flag.Parse()
	if err := run(*server, *transport, *n); err != nil {
		fmt.Fprintln(os.Stderr, "goclient:", err)
		os.Exit(1)
	}
}

func run(server, transport string, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := client.ParseTransport(transport)
	if err != nil {
		return err
	}
	c, err := client.New(server, nil)
	if err != nil {
		return err
	}
	ch, err := c.Open(ctx, "")
	if err != nil {
		return err
	}
	sub, err := c.Subscribe(ctx, []string{ch.Channel}, &client.SubscribeOptions{Transport: tr})
	if err != nil {
		return err
	}
	defer sub.Close()
	for i := range n {
		if _, err := c.Publish(ctx, ch.Channel, client.Message{Body: fmt.Appendf(nil, "message %d", i), ContentType: "text/plain"}); err != nil {
			return err
		}
	}
	for range n {
		m, err := sub.Next(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("received %q by %s\n", m.Body, m.Transport)
	}
	if _, err := c.Close(ctx, ch.Channel); err != nil {
		return err
	}
	fmt.Println("closed the channel")
	return nil
}
