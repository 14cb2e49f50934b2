// Package client is Herald's Go client: it manages channels the way
// application code does with a push server (open a private channel per
// user, check it, publish to it or to many, close it) and subscribes to
// channels over EventSource, long-poll or WebSocket, resuming after the
// last message received whenever a connection drops or the server
// restarts, so a consumer never misses nor repeats a message the server
// still buffers.
//
// A Client talks to one server. The zero Options fit a Herald running its
// built-in configuration (publisher at /pub/<id>, subscriber at
// /sub/<id>); URL templates with "{channel}" fit any other layout, and
// work against Nchan too:
//
//	c, err := client.New("http://127.0.0.1:8080", nil)
//	ch, err := c.Open(ctx, "")                 // a fresh, unguessable channel
//	p, err := c.Publish(ctx, ch.Channel, client.Message{Body: []byte("hi")})
//	sub, err := c.Subscribe(ctx, []string{ch.Channel}, nil)
//	m, err := sub.Next(ctx)                    // m.Body is "hi"
//
// Subscriptions reconnect with exponential backoff and jitter and resume
// from each channel's last message; Add and Remove change the channels of
// a live one. List and ListAll read a channel listing location where the
// server has one (Options.ListURL). docs/client.md in the repository
// describes it all, with the matching `herald pub`, `herald sub` and
// `herald channel` commands.
//
// The wire formats come from package protocol and message ids from
// protocol/msgid, the same code the server writes them with.
package client
