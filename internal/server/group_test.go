package server_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/servertest"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/redis"
	"github.com/heraldpush/herald/internal/store/redis/redistest"
)

// groupConfig has a publisher, a subscriber and group locations for the
// group named by the first path segment, with channel_group_accounting on:
//
//	/pub/<group>/<id>      publisher
//	/tpub/<group>/<id>     publisher whose messages live 1s
//	/lpub/<group>/<id>     publisher that sets group_max_messages to 1
//	/sub/<group>/<id>      subscriber (long-poll and the rest)
//	/group/<group>         group location; POST sets the limits named by
//	                       ?max_channels= &c.
//	/groupget/<group>      group location that only answers GET
//	/noacc/<group>         group location without accounting
func groupConfig() string {
	acc := []string{"channel_group: $1", "channel_id: $2", "channel_group_accounting: on"}
	return testConfig(nil,
		location(`"~ ^/pub/(\\w+)/(\\w+)$"`, append(acc, "publisher: true")...),
		location(`"~ ^/tpub/(\\w+)/(\\w+)$"`, append(acc, "publisher: true", "message_timeout: 1s")...),
		location(`"~ ^/lpub/(\\w+)/(\\w+)$"`, append(acc, "publisher: true", "group_max_messages: 1")...),
		location(`"~ ^/sub/(\\w+)/(\\w+)$"`, append(acc, "subscriber: true", "subscriber_timeout: 30s")...),
		location(`"~ ^/group/(\\w+)$"`, "group_location: true", "channel_group: $1", "channel_group_accounting: on",
			"group_max_channels: $arg_max_channels", "group_max_subscribers: $arg_max_subscribers",
			"group_max_messages: $arg_max_messages", "group_max_messages_memory: $arg_max_messages_memory",
			"group_max_messages_disk: $arg_max_messages_disk"),
		location(`"~ ^/groupget/(\\w+)$"`, "group_location: get", "channel_group: $1", "channel_group_accounting: on"),
		location(`"~ ^/noacc/(\\w+)$"`, "group_location: true", "channel_group: $1"),
	)
}

// groupText is a group's info in Nchan's plain-text format.
func groupText(channels, subscribers, messages int, memory int64, limits store.GroupLimits) string {
	return fmt.Sprintf("channels: %d\r\nsubscribers: %d\r\nmessages: %d\r\nshared memory used by messages: %d bytes\r\n"+
		"disk space used by messages: 0 bytes\r\nlimits:\r\n  max channels: %d\r\n  max subscribers: %d\r\n  max messages: %d\r\n"+
		"  max messages shared memory: %d\r\n  max messages disk space: %d\r\n",
		channels, subscribers, messages, memory, limits.Channels, limits.Subscribers, limits.Messages, limits.MessageBytes, limits.DiskBytes)
}

// msgSize is what a message published without a Content-Type counts
// against group_max_messages_memory.
func msgSize(body string) int64 { return (&store.Message{Body: []byte(body)}).Size() }

// expectGroup waits (bounded) until GET url answers want, and fails with
// the last answer otherwise.
func expectGroup(t *testing.T, url, want string) {
	t.Helper()
	var r response
	if !poll(waitTimeout, func() bool { r = do(t, "GET", url, ""); return r.Status == 200 && r.Body == want }) {
		t.Fatalf("GET %s: %d\n%q\nwant\n%q", url, r.Status, r.Body, want)
	}
}

// expectNchanText expects an answer with one of Nchan's own messages:
// text/plain, no newline.
func expectNchanText(t *testing.T, r response, status int, body string) {
	t.Helper()
	if r.Status != status || r.Body != body || r.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("got %d %q (Content-Type %q), want %d %q (text/plain)", r.Status, r.Body, r.Header.Get("Content-Type"), status, body)
	}
}

// groupScenario runs the group accounting checks against two Herald
// nodes that share their channels (the same node twice for a memory
// store): counts and limits read on one node include what the other did.
func groupScenario(t *testing.T, a, b string) {
	group := a + "/group/g"

	t.Run("empty", func(t *testing.T) {
		r := do(t, "GET", group, "")
		if r.Status != 200 || r.Header.Get("Content-Type") != "text/plain" || r.Body != groupText(0, 0, 0, 0, store.GroupLimits{}) {
			t.Fatalf("GET of a group without channels: %d %q %q", r.Status, r.Header.Get("Content-Type"), r.Body)
		}
	})

	limits := store.GroupLimits{Channels: 2, Messages: 3, MessageBytes: 1024}
	t.Run("set limits", func(t *testing.T) {
		r := do(t, "POST", group+"?max_channels=2&max_messages=3&max_messages_memory=1K", "")
		if r.Status != 200 || r.Body != groupText(0, 0, 0, 0, limits) {
			t.Fatalf("POST limits: %d %q", r.Status, r.Body)
		}
		// An empty value leaves a limit as it is; the other node sees them.
		expectGroup(t, b+"/group/g?max_channels=", groupText(0, 0, 0, 0, limits))
		for _, tt := range []struct{ arg, key string }{
			{"max_channels=x", "group_max_channels"},
			{"max_subscribers=-1", "group_max_subscribers"},
			{"max_messages=1.5", "group_max_messages"},
			{"max_messages_memory=lots", "group_max_messages_memory"},
			{"max_messages_disk=-1", "group_max_messages_disk"},
		} {
			expectNchanText(t, do(t, "POST", group+"?"+tt.arg, ""), 403, "invalid nchan_"+tt.key+" value")
		}
		expectGroup(t, group, groupText(0, 0, 0, 0, limits))
	})

	size := msgSize("hello")
	t.Run("channels", func(t *testing.T) {
		for _, u := range []string{a + "/pub/g/c1", b + "/pub/g/c2"} {
			expectStatus(t, do(t, "POST", u, "hello"), 202, "publish "+u)
		}
		r := do(t, "POST", a+"/pub/g/c3", "hello")
		expectNchanText(t, r, 403, "Group limit reached for number of channels.")
		expectNchanText(t, do(t, "POST", b+"/pub/g/c3", "hello"), 403, "Group limit reached for number of channels.")
		expectGroup(t, b+"/group/g", groupText(2, 0, 2, 2*size, limits))
		// A subscriber may not make a third channel either: 403, no body.
		r = do(t, "GET", b+"/sub/g/c3", "")
		if r.Status != 403 || r.Body != "" || r.Header.Get("Vary") != "If-None-Match, If-Modified-Since" {
			t.Fatalf("long-poll subscriber to a third channel: %d %q %v, want 403 without a body, with Vary", r.Status, r.Body, r.Header)
		}
		expect404(t, a+"/pub/g/c3")
	})

	t.Run("messages", func(t *testing.T) {
		expectStatus(t, do(t, "POST", b+"/pub/g/c1", "hello"), 202, "third message")
		expectNchanText(t, do(t, "POST", a+"/pub/g/c2", "hello"), 403, "Group limit reached for number of messages.")
		expectGroup(t, a+"/group/g", groupText(2, 0, 3, 3*size, limits))
	})

	t.Run("memory", func(t *testing.T) {
		limits.Messages = 0
		limits.MessageBytes = 3*size + msgSize("12345678")
		do(t, "POST", a+"/group/g?max_messages=0&max_messages_memory="+strconv.FormatInt(limits.MessageBytes, 10), "")
		expectNchanText(t, do(t, "POST", b+"/pub/g/c1", "123456789"), 403, "Group limit reached for memory used by messages.")
		expectStatus(t, do(t, "POST", b+"/pub/g/c1", "12345678"), 202, "a message that fits")
		expectGroup(t, a+"/group/g", groupText(2, 0, 4, limits.MessageBytes, limits))
	})

	var waiting <-chan response
	t.Run("subscribers", func(t *testing.T) {
		limits.Subscribers = 1
		do(t, "POST", b+"/group/g?max_subscribers=1", "")
		waiting = async(t, 20*time.Second, "GET", b+"/sub/g/c2?last_event_id="+url0(), "")
		expectGroup(t, a+"/group/g", groupText(2, 1, 4, limits.MessageBytes, limits))
		for _, u := range []string{a + "/sub/g/c1", b + "/sub/g/c2"} {
			r := do(t, "GET", u, "", "Accept", "text/event-stream")
			if r.Status != 403 || r.Body != "" {
				t.Fatalf("subscriber past the limit (%s): %d %q, want 403 without a body", u, r.Status, r.Body)
			}
		}
	})

	t.Run("formats", func(t *testing.T) {
		m := limits.MessageBytes
		for _, tt := range []struct{ accept, ctype, body string }{
			{"application/json", "text/json", fmt.Sprintf("{\r\n  \"channels\": 2,\r\n  \"subscribers\": 1,\r\n  \"messages\": 4,\r\n  \"messages_memory\": %d,\r\n  \"messages_disk\": 0,\r\n  \"limits\": {\r\n    \"channels\": 2,\r\n    \"subscribers\": 1,\r\n    \"messages\": 0,\r\n    \"messages_memory\": %d,\r\n    \"messages_disk\": 0\r\n  }\r\n}", m, m)},
			{"text/xml", "text/xml", fmt.Sprintf("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\r\n<group>\r\n  <channels>2</channels>\r\n  <subscribers>1</subscribers>\r\n  <messages>4</messages>\r\n  <messages_memory>%d</messages_memory>\r\n  <messages_disk>0</messages_disk>\r\n  <limits>\r\n    <channels>2</channels>\r\n    <subscribers>1</subscribers>\r\n    <messages>0</messages>\r\n    <messages_memory>%d</messages_memory>\r\n    <messages_disk>0</messages_disk>\r\n  </limits>\r\n</group>", m, m)},
			{"text/x-yaml", "text/yaml", fmt.Sprintf("---\r\nchannels: 2\r\nsubscribers: 1\r\nmessages: 4\r\nmessages_memory: %d\r\nmessages_disk: 0\r\nlimits:\r\n  channels: 2\r\n  subscribers: 1\r\n  messages: 0\r\n  messages_memory: %d\r\n  messages_disk: 0\r\n\r\n", m, m)},
			{"text/plain", "text/plain", groupText(2, 1, 4, m, limits)},
		} {
			r := do(t, "GET", b+"/group/g", "", "Accept", tt.accept)
			if r.Status != 200 || r.Header.Get("Content-Type") != tt.ctype || r.Body != tt.body {
				t.Fatalf("Accept %s: %d %q\n%q\nwant %q\n%q", tt.accept, r.Status, r.Header.Get("Content-Type"), r.Body, tt.ctype, tt.body)
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		r := do(t, "DELETE", a+"/group/g", "")
		if r.Status != 200 || r.Body != groupText(2, 1, 4, limits.MessageBytes, limits) {
			t.Fatalf("DELETE: %d %q, want the counts from before", r.Status, r.Body)
		}
		expectStatus(t, recv(t, waiting), 410, "the subscriber of a deleted group's channel")
		expectGroup(t, b+"/group/g", groupText(0, 0, 0, 0, limits))
		expect404(t, b+"/pub/g/c1")
	})

	t.Run("location limits", func(t *testing.T) {
		// A location with group_max_* sets them on every request, before
		// its check.
		expectStatus(t, do(t, "POST", a+"/lpub/h/x", "1"), 202, "first message")
		expectNchanText(t, do(t, "POST", b+"/lpub/h/x", "2"), 403, "Group limit reached for number of messages.")
		expectGroup(t, a+"/group/h", groupText(1, 0, 1, msgSize("1"), store.GroupLimits{Messages: 1}))
	})

	t.Run("expiry", func(t *testing.T) {
		expectStatus(t, do(t, "POST", a+"/tpub/e/x", "short"), 202, "publish")
		expectStatus(t, do(t, "POST", b+"/pub/e/y", "long"), 202, "publish")
		expectGroup(t, b+"/group/e", groupText(2, 0, 2, msgSize("short")+msgSize("long"), store.GroupLimits{}))
		expectGroup(t, a+"/group/e", groupText(2, 0, 1, msgSize("long"), store.GroupLimits{}))
	})

	t.Run("group locations", func(t *testing.T) {
		expectNchanText(t, do(t, "GET", a+"/noacc/g", ""), 403, "Channel group accounting is disabled.")
		expectStatus(t, do(t, "GET", a+"/groupget/g", ""), 200, "GET where only GET is allowed")
		for _, m := range []string{"POST", "DELETE"} {
			if r := do(t, m, a+"/groupget/g", ""); r.Status != 403 || r.Body != "" {
				t.Fatalf("%s where only GET is allowed: %d %q, want 403 without a body", m, r.Status, r.Body)
			}
		}
		r := do(t, "OPTIONS", group, "", "Origin", "http://example.com")
		if r.Status != 200 || r.Header.Get("Allow") != "GET, POST, DELETE" ||
			r.Header.Get("Access-Control-Allow-Headers") != "Accept, Content-Type" ||
			r.Header.Get("Access-Control-Allow-Methods") != "GET, POST, DELETE" ||
			r.Header.Get("Access-Control-Allow-Origin") != "http://example.com" {
			t.Fatalf("OPTIONS: %d %v", r.Status, r.Header)
		}
	})
}

// url0 is a last event id that makes a long-poll wait for the next
// message: one far in the future.
func url0() string { return strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + ":0" }

// TestGroupsMemory: channel group accounting and limits on the memory
// store, over real sockets.
func TestGroupsMemory(t *testing.T) {
	s := startServer(t, groupConfig())
	groupScenario(t, s.URL, s.URL)
}

// TestGroupsRedis: the same on Redis, with two Herald nodes sharing one
// redis-server: every count and limit is cluster-wide.
func TestGroupsRedis(t *testing.T) {
	srv := redistest.Start(t)
	a := startRedisNode(t, []string{srv.Addr}, false)
	b := startRedisNode(t, []string{srv.Addr}, false)
	groupScenario(t, a, b)
}

// TestGroupsRedisCluster: the same on a Redis Cluster, where a group's
// channels live on different masters.
func TestGroupsRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	a := startRedisNode(t, c.Addrs(), true)
	b := startRedisNode(t, c.Addrs(), true)
	groupScenario(t, a, b)
}

// startRedisNode starts a Herald node with groupConfig on a Redis store of
// its own, and returns its URL.
func startRedisNode(t *testing.T, addrs []string, cluster bool) string {
	t.Helper()
	st, err := redis.New(redis.Options{Addrs: addrs, Cluster: cluster, Namespace: "groups:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg, err := config.Parse([]byte(groupConfig()), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return servertest.Start(t, servertest.Options{Config: cfg, Store: st}).URL
}

// TestGroupsWebSocketPublisher: a WebSocket publisher past a group limit
// is closed with 1008 and "403 Forbidden", its message not stored.
func TestGroupsWebSocketPublisher(t *testing.T) {
	s := startServer(t, groupConfig())
	do(t, "POST", s.URL+"/group/w?max_messages=1", "")
	p := openWebSocket(t, s, "/pub/w/x")
	p.send(t, ws.OpText, []byte("first"), true, false)
	if h, body := p.frame(t, 3*time.Second); h.OpCode != ws.OpText {
		t.Fatalf("reply to the first message: op %d %q, want channel info", h.OpCode, body)
	}
	p.send(t, ws.OpText, []byte("second"), true, false)
	p.expectClose(t, ws.StatusPolicyViolation, "403 Forbidden")
	expectGroup(t, s.URL+"/group/w", groupText(1, 0, 1, msgSize("first"), store.GroupLimits{Messages: 1}))
}

// TestGroupAccountingOff: publishers of a location without
// channel_group_accounting are not checked against their group's limits
// (and pay nothing for them), though the group location counts them.
func TestGroupAccountingOff(t *testing.T) {
	s := startServer(t, testConfig(nil,
		location(`"~ ^/pub/(\\w+)/(\\w+)$"`, "channel_group: $1", "channel_id: $2", "publisher: true"),
		location(`"~ ^/group/(\\w+)$"`, "group_location: true", "channel_group: $1", "channel_group_accounting: on", "group_max_channels: 1")))
	do(t, "POST", s.URL+"/group/g", "")
	for _, id := range []string{"a", "b", "c"} {
		expectStatus(t, do(t, "POST", s.URL+"/pub/g/"+id, "x"), 202, "publish without accounting")
	}
	expectGroup(t, s.URL+"/group/g", groupText(3, 0, 3, 3*msgSize("x"), store.GroupLimits{Channels: 1}))
}
