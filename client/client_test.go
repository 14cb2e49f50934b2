package client_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldpush/herald/client"
	"github.com/heraldpush/herald/protocol/msgid"
)

func TestChannelManagement(t *testing.T) {
	srv := startHerald(t, nil)
	c := newClient(t, srv.URL)
	ctx := testCtx(t)

	// Open with a fresh id: 22 base64url characters, a channel with no
	// messages.
	in, err := c.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Channel) != 22 || in.Messages != 0 {
		t.Fatalf("Open(\"\") = %+v", in)
	}
	ok, err := c.Exists(ctx, in.Channel)
	if err != nil || !ok {
		t.Fatalf("Exists(opened) = %v, %v", ok, err)
	}
	ok, err = c.Exists(ctx, "never-opened")
	if err != nil || ok {
		t.Fatalf("Exists(never-opened) = %v, %v", ok, err)
	}
	if _, err := c.Info(ctx, "never-opened"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Info(never-opened) error = %v, want ErrNotFound", err)
	}

	// Open with a given id; publish; the id returned is the message's.
	user := "user/42 é" // escaped in the path
	if in, err = c.Open(ctx, user); err != nil || in.Channel != user {
		t.Fatalf("Open(%q) = %+v, %v", user, in, err)
	}
	p, err := c.Publish(ctx, user, client.Message{Body: []byte("hello"), ContentType: "text/x-greeting", Event: "greet"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := msgid.Parse(p.ID, 1); err != nil || p.Delivered || p.Info.Messages != 1 {
		t.Fatalf("Publish = %+v (id parse: %v)", p, err)
	}
	in, err = c.Info(ctx, user)
	if err != nil || in.Messages != 1 || in.LastMessageID != p.ID || in.Subscribers != 0 {
		t.Fatalf("Info = %+v, %v; want 1 message, id %s", in, err, p.ID)
	}

	// PublishMany over more channels than one request may name.
	var many []string
	for i := range 300 {
		many = append(many, fmt.Sprintf("many-%d", i))
	}
	pm, err := c.PublishMany(ctx, many, client.Message{Body: []byte("to all")})
	if err != nil {
		t.Fatal(err)
	}
	if pm.Info.Messages != 1 || pm.ID != "0" {
		t.Fatalf("PublishMany = %+v", pm)
	}
	for _, ch := range []string{"many-0", "many-254", "many-255", "many-299"} {
		if in, err := c.Info(ctx, ch); err != nil || in.Messages != 1 {
			t.Fatalf("Info(%s) after PublishMany = %+v, %v", ch, in, err)
		}
	}
	if _, err := c.PublishMany(ctx, []string{"a", "b,c"}, client.Message{}); err == nil {
		t.Fatal("PublishMany with a ',' in an id: no error")
	}

	// Close, then it is gone.
	in, err = c.Close(ctx, user)
	if err != nil || in.Messages != 1 {
		t.Fatalf("Close = %+v, %v", in, err)
	}
	if ok, err := c.Exists(ctx, user); err != nil || ok {
		t.Fatalf("Exists after Close = %v, %v", ok, err)
	}
	_, err = c.Close(ctx, user)
	var se *client.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusNotFound || se.Method != http.MethodDelete || !strings.Contains(err.Error(), "404") {
		t.Fatalf("Close again: %v", err)
	}
}

// TestStatusErrors checks that refusals say what the server answered.
func TestStatusErrors(t *testing.T) {
	srv := startHerald(t, nil)
	ctx := testCtx(t)
	// Publishing to a subscriber location: 403.
	c, err := client.New(srv.URL, &client.Options{PublishURL: srv.URL + "/sub/{channel}"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Publish(ctx, "x", client.Message{Body: []byte("no")})
	var se *client.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusForbidden || se.Method != http.MethodPost {
		t.Fatalf("publish on a subscriber location: %v", err)
	}
	// A server that is not there.
	c = newClient(t, "http://127.0.0.1:1")
	if _, err := c.Info(ctx, "x"); err == nil || errors.As(err, &se) {
		t.Fatalf("Info from nowhere: %v", err)
	}
	if _, err := client.New("ftp://x", nil); err == nil {
		t.Fatal("New(ftp://x): no error")
	}
}
