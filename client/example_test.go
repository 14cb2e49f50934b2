package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/heraldpush/herald/client"
	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/server"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/memory"
)

// exampleServer starts a Herald with the built-in layout on a loopback
// port, as `herald` does on 127.0.0.1:8080, and returns its URL.
func exampleServer() (url string, stop func()) {
	cfg := config.Default()
	cfg.Servers[0].Listen = []string{"127.0.0.1:0"}
	st := memory.New(memory.Options{})
	srv, err := server.New(cfg, server.Options{StoreFor: func(*config.Location) (store.Store, error) { return st, nil }})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := srv.Listen(ctx, nil); err != nil {
		log.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	return "http://" + srv.Addrs()[0].String(), func() {
		cancel()
		<-done
		st.Close()
	}
}

// The channel management of an application that gives each user a
// private channel: open it, check it, push to it and to every user, close
// it.
func Example() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()

	c, err := client.New(url, nil) // client.New("", nil) for a local Herald on :8080
	if err != nil {
		log.Fatal(err)
	}
	alice, err := c.Open(ctx, "") // a fresh, unguessable id
	if err != nil {
		log.Fatal(err)
	}
	bob, err := c.Open(ctx, "user-bob") // or one of the application's
	if err != nil {
		log.Fatal(err)
	}
	ok, _ := c.Exists(ctx, alice.Channel)
	fmt.Println("alice's channel exists:", ok)

	p, err := c.Publish(ctx, alice.Channel, client.Message{Body: []byte(`{"unread": 3}`), ContentType: "application/json"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("delivered at once:", p.Delivered, "- queued:", p.Info.Messages)

	if _, err := c.PublishMany(ctx, []string{alice.Channel, bob.Channel}, client.Message{Body: []byte("maintenance at 6")}); err != nil {
		log.Fatal(err)
	}
	in, _ := c.Info(ctx, alice.Channel)
	fmt.Println("alice's messages:", in.Messages)

	if _, err := c.Close(ctx, alice.Channel); err != nil {
		log.Fatal(err)
	}
	ok, _ = c.Exists(ctx, alice.Channel)
	fmt.Println("after close:", ok)
	// Output:
	// alice's channel exists: true
	// delivered at once: false - queued: 1
	// alice's messages: 2
	// after close: false
}

// Subscribe receives every message of a channel, in order, across
// reconnections.
func ExampleClient_Subscribe() {
	url, stop := exampleServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, _ := client.New(url, nil)
	c.Publish(ctx, "news", client.Message{Body: []byte("first")})

	sub, err := c.Subscribe(ctx, []string{"news"}, &client.SubscribeOptions{Transport: client.EventSource})
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	c.Publish(ctx, "news", client.Message{Body: []byte("second"), Event: "headline"})
	for range 2 {
		m, err := sub.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %s (event %q)\n", m.Channel, m.Body, m.Event)
	}
	// Output:
	// news: first (event "")
	// news: second (event "headline")
}

// One subscription on several channels; channels join and leave it while
// it runs.
func ExampleSubscription_Add() {
	url, stop := exampleServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, _ := client.New(url, nil)
	sub, err := c.Subscribe(ctx, []string{"room-1"}, &client.SubscribeOptions{Transport: client.WebSocket})
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	c.Publish(ctx, "room-1", client.Message{Body: []byte("hello room 1")})
	m, _ := sub.Next(ctx)
	fmt.Println(m.Channel, string(m.Body))

	sub.Add("room-2")
	sub.Remove("room-1")
	c.Publish(ctx, "room-1", client.Message{Body: []byte("not heard")})
	c.Publish(ctx, "room-2", client.Message{Body: []byte("hello room 2")})
	m, _ = sub.Next(ctx)
	fmt.Println(m.Channel, string(m.Body))
	// Output:
	// room-1 hello room 1
	// room-2 hello room 2
}

// Resume in a new process after the last message handled: keep
// Received.ID (Subscription.Position) and give it back as From.
func ExampleSubscribeOptions_from() {
	url, stop := exampleServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, _ := client.New(url, nil)
	var ids []string
	for _, body := range []string{"a", "b", "c"} {
		p, _ := c.Publish(ctx, "log", client.Message{Body: []byte(body)})
		ids = append(ids, p.ID)
	}
	sub, _ := c.Subscribe(ctx, []string{"log"}, &client.SubscribeOptions{Transport: client.LongPoll, From: ids[0]})
	defer sub.Close()
	for range 2 {
		m, _ := sub.Next(ctx)
		fmt.Println(string(m.Body), m.ContentType == "")
	}
	// Output:
	// b true
	// c true
}
