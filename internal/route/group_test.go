package route

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/memory"
)

const groupTestConfig = `
channel_group_accounting: on
servers:
  - listen: 127.0.0.1:0
    locations:
      - location: ~ ^/pub/(\w+)/(\w+)$
        publisher: true
        channel_group: $1
        channel_id: $2
        group_max_messages: $arg_max
      - location: ~ ^/sub/(\w+)/(\w+)$
        subscriber: true
        channel_group: $1
        channel_id: $2
      - location: ~ ^/group/(\w+)$
        group_location: get set
        channel_group: $1
      - location: ~ ^/off/(\w+)/(\w+)$
        publisher: true
        channel_group: $1
        channel_id: $2
        channel_group_accounting: off
`

// groupRoutes provisions groupTestConfig on a memory store.
func groupRoutes(t *testing.T) (map[string]*Route, *memory.Store) {
	t.Helper()
	cfg, err := config.Parse([]byte(groupTestConfig), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := memory.New(memory.Options{})
	t.Cleanup(func() { st.Close() })
	rts := map[string]*Route{}
	for i, name := range []string{"pub", "sub", "group", "off"} {
		rts[name] = Provision(&cfg.Servers[0].Locations[i], st)
	}
	return rts, st
}

func TestGroupRoles(t *testing.T) {
	rts, _ := groupRoutes(t)
	g := rts["group"]
	if g.Group == nil || g.GroupOps != config.GroupGet|config.GroupSet || g.Allow != "GET, POST, DELETE" {
		t.Fatalf("group route: accounting %v, ops %v, Allow %q", g.Group, g.GroupOps, g.Allow)
	}
	if rts["off"].Group != nil {
		t.Fatal("a location with accounting off has a group stage")
	}
	for _, tt := range []struct {
		method string
		want   Role
	}{
		{"GET", GroupLocation}, {"POST", GroupLocation}, {"DELETE", GroupLocation}, {"PUT", GroupLocation}, {"OPTIONS", Options},
	} {
		q, rf := g.Prepare(context.Background(), request(tt.method, "/group/acme"), []string{"/group/acme", "acme"})
		if rf != nil || q.Role != tt.want {
			t.Errorf("%s: role %v, refusal %v; want %v", tt.method, q.Role, rf, tt.want)
		}
	}
	if name, ok := g.GroupName(&Request{HTTP: request("GET", "/group/acme"), Route: g, Captures: []string{"/group/acme", "acme"}}); !ok || name != "acme" {
		t.Errorf("GroupName = %q, %v", name, ok)
	}
}

func TestGroupStage(t *testing.T) {
	rts, st := groupRoutes(t)
	ctx := context.Background()
	prepare := func(name, method, target string, caps ...string) (*Request, *Refusal) {
		return rts[name].Prepare(ctx, request(method, target), append([]string{target}, caps...))
	}
	// A location's group_max_* is set on the group by its requests; an
	// empty value leaves the limit as it is.
	if _, rf := prepare("pub", "GET", "/pub/g/a?max=2", "g", "a"); rf != nil {
		t.Fatalf("GET with a limit: %v", rf)
	}
	if l, _ := st.GroupLimits(ctx, "g"); l != (store.GroupLimits{Messages: 2}) {
		t.Fatalf("limits after a request = %+v", l)
	}
	if _, rf := prepare("pub", "GET", "/pub/g/a", "g", "a"); rf != nil {
		t.Fatal(rf)
	}
	if l, _ := st.GroupLimits(ctx, "g"); l.Messages != 2 {
		t.Fatalf("an empty value changed the limit: %+v", l)
	}
	_, rf := prepare("pub", "POST", "/pub/g/a?max=two", "g", "a")
	if rf == nil || rf.Status != http.StatusForbidden || rf.Message != "invalid nchan_group_max_messages value" || !rf.Raw {
		t.Fatalf("bad limit: %+v", rf)
	}

	// Publishers are checked as they publish.
	q, rf := prepare("pub", "POST", "/pub/g/a", "g", "a")
	if rf != nil {
		t.Fatal(rf)
	}
	for i, want := range []string{"", "", "Group limit reached for number of messages."} {
		err := q.Route.Group.CheckPublish(ctx, st, q.Keys(), store.Publication{Body: []byte("m")})
		var got string
		if rf, ok := errors.AsType[*Refusal](err); ok {
			got = rf.Message
		} else if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("publish %d: refusal %q, want %q", i+1, got, want)
		}
		if err == nil {
			if _, err := st.Publish(ctx, q.Keys()[0], store.Publication{Body: []byte("m")}, store.ChannelOptions{BufferLength: 10, ChannelTimeout: time.Hour}); err != nil {
				t.Fatal(err)
			}
		}
	}

	// A subscriber past a limit: 403 without a body; a long-poll one with
	// Vary, as Nchan's poll answers.
	if _, err := st.SetGroupLimits(ctx, "g", store.GroupLimits{Channels: 1, Subscribers: -1, Messages: -1, MessageBytes: -1, DiskBytes: -1}); err != nil {
		t.Fatal(err)
	}
	if _, rf := prepare("sub", "GET", "/sub/g/a", "g", "a"); rf != nil {
		t.Fatalf("subscriber to an existing channel of a full group: %v", rf)
	}
	_, rf = prepare("sub", "GET", "/sub/g/b", "g", "b")
	if rf == nil || rf.Status != http.StatusForbidden || rf.Message != "" || rf.Header.Get("Vary") != "If-None-Match, If-Modified-Since" {
		t.Fatalf("subscriber making a channel past the limit: %+v", rf)
	}

	// Without accounting nothing is checked.
	q, rf = prepare("off", "POST", "/off/g/z", "g", "z")
	if rf != nil || q.Route.Group != nil {
		t.Fatalf("location without accounting: %v", rf)
	}
}
