package redis_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/servertest"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/memory"
	redisstore "github.com/heraldpush/herald/internal/store/redis"
	"github.com/heraldpush/herald/internal/store/redis/redistest"
)

// Herald nodes whose /pub and /sub locations use the backup or nostore
// mode (nodes_helpers_test.go has the subscribers and publishers).

// startModeNode starts a node on st, and returns it with its kill, which
// stops it as a dead process would (crash stops st so). The node stops
// (st closed) when the test ends, unless killed.
func startModeNode(t testing.TB, st store.Store, crash func()) (*node, func()) {
	t.Helper()
	cfg, err := config.Parse([]byte(nodeConfig), "node.yaml")
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.New(memory.Options{})
	storeFor := func(l *config.Location) store.Store {
		if strings.HasPrefix(l.Pattern.String(), "~ ^/mem/") {
			return mem
		}
		return st
	}
	s := servertest.Start(t, servertest.Options{Config: cfg, Store: st, StoreFor: storeFor})
	n := &node{URL: s.URL, srv: s}
	stop := func(crashed bool) {
		n.once.Do(func() {
			if err := s.Stop(); err != nil {
				t.Errorf("node %s did not stop: %v", n.URL, err)
			}
			if crashed {
				crash()
			} else {
				st.Close()
			}
		})
	}
	t.Cleanup(func() {
		stop(false)
		mem.Close()
	})
	return n, func() { stop(true) }
}

func startNostore(t testing.TB, srv *redistest.Server) (*node, *redisstore.Nostore) {
	t.Helper()
	return startNostoreWith(t, srv, redisstore.ModeOptions{})
}

func startNostoreWith(t testing.TB, srv *redistest.Server, m redisstore.ModeOptions) (*node, *redisstore.Nostore) {
	t.Helper()
	st, err := redisstore.NewNostore(nodeOpts([]string{srv.Addr}, false), m)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := startModeNode(t, st, st.Crash)
	return n, st
}

// startBackup starts a backup node, and returns it, its store and its kill.
func startBackup(t testing.TB, srv *redistest.Server, m redisstore.ModeOptions) (*node, *redisstore.Backup, func()) {
	t.Helper()
	st, err := redisstore.NewBackup(nodeOpts([]string{srv.Addr}, false), m)
	if err != nil {
		t.Fatal(err)
	}
	n, kill := startModeNode(t, st, st.Crash)
	return n, st, kill
}

// TestNostoreNodesDelivery: in nostore mode a message published on node A
// reaches subscribers on nodes B and C over long-poll, EventSource and
// WebSocket, once each, in order, with A's ids; channel info on A counts
// every node's subscribers; A keeps the messages it published, and so do
// B and C, where a subscriber can resume by id. With fast publishing
// (redis_nostore_fastpublish) the same holds; only the publisher's answer
// may count the other nodes' subscribers late.
func TestNostoreNodesDelivery(t *testing.T) {
	for _, fast := range []bool{false, true} {
		t.Run(map[bool]string{false: "relay with counts", true: "fast publish"}[fast], func(t *testing.T) {
			nostoreDelivery(t, redisstore.ModeOptions{FastPublish: fast})
		})
	}
}

func nostoreDelivery(t *testing.T, m redisstore.ModeOptions) {
	srv := redistest.Start(t)
	a, ast := startNostoreWith(t, srv, m)
	b, _ := startNostoreWith(t, srv, m)
	c, _ := startNostoreWith(t, srv, m)
	const ch, n = "news", 100
	subs := []*collector{
		eventSource(t, a, ch, ""),
		longPoll(t, b, ch), eventSource(t, b, ch, ""), webSocket(t, b, ch),
		longPoll(t, c, ch), eventSource(t, c, ch, ""), webSocket(t, c, ch),
	}
	eventually(t, 5*time.Second, "seven subscribers counted on A", func() bool { return activeSubscribers(t, a, ch) == 7 })
	var ids []string
	for i := 1; i <= n; i++ {
		status, id := publish(t, a, ch, strconv.Itoa(i))
		if status != http.StatusCreated && !(m.FastPublish && status == http.StatusAccepted) {
			t.Fatalf("publish %d: status %d, want 201", i, status)
		}
		ids = append(ids, id)
	}
	for _, s := range subs {
		s.waitFor(t, strconv.Itoa(n), 10*time.Second)
	}
	if got, want := ast.FastRelays(), map[bool]uint64{false: 0, true: n}[m.FastPublish]; got != want {
		t.Errorf("A relayed %d publishes without counts, want %d", got, want)
	}
	for _, s := range subs {
		r := s.close()
		checkSequence(t, s.name, r.bodies, numbers(1, n))
		if r.ids[0] != "" {
			checkSequence(t, s.name+" ids", r.ids, ids)
		}
	}
	for _, x := range []*node{a, b, c} {
		_, text := info(t, x, ch)
		if got := field(text, "queued messages"); got != strconv.Itoa(n) {
			t.Fatalf("node %s keeps %s messages, want %d: %q", x.URL, got, n, text)
		}
		if got := field(text, "last message id"); got != ids[n-1] {
			t.Fatalf("node %s: last message id %s, want the publisher's %s", x.URL, got, ids[n-1])
		}
	}
	// Resume on C after an id A gave.
	es := eventSource(t, c, ch, ids[49])
	es.waitFor(t, strconv.Itoa(n), 5*time.Second)
	publish(t, a, ch, "101")
	es.waitFor(t, "101", 5*time.Second)
	checkSequence(t, "resumed on C", es.close().bodies, numbers(51, 101))
	// The subscribers left: the counts drop on every node.
	eventually(t, 5*time.Second, "no subscriber counted on B", func() bool { return activeSubscribers(t, b, ch) == 0 })
}

// TestNostoreNodesRedisRestart: Redis restarts (empty) while node A
// publishes to subscribers on A and B. What the test asserts: A's
// subscriber gets every message; B's subscribers get, in order and once
// each, every message published before Redis went away and every message
// published after B follows the channel again; of those published while
// Redis was away (stored on A, their relays queued on A until Redis is
// back) B gets some, none or all, depending on whether its subscription was
// back before A's queue reached Redis: those are the messages nostore may
// lose.
func TestNostoreNodesRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := startNostore(t, srv)
	b, bst := startNostore(t, srv)
	const ch = "restart"
	onA := eventSource(t, a, ch, "")
	subs := []*collector{eventSource(t, b, ch, ""), webSocket(t, b, ch), longPoll(t, b, ch)}
	eventually(t, 5*time.Second, "four subscribers", func() bool { return activeSubscribers(t, a, ch) == 4 })
	pub := func(from, to int) {
		for i := from; i <= to; i++ {
			if status, _ := publish(t, a, ch, strconv.Itoa(i)); status != http.StatusCreated && status != http.StatusAccepted {
				t.Fatalf("publish %d: status %d", i, status)
			}
		}
	}
	pub(1, 20)
	for _, s := range subs {
		s.waitFor(t, "20", 5*time.Second)
	}
	srv.Kill()
	eventually(t, 5*time.Second, "B to see its subscription lost", func() bool {
		return !bst.Following(store.ChannelKey{ID: ch})
	})
	pub(21, 40) // stored on A; relays wait
	onA.waitFor(t, "40", 5*time.Second)
	srv.Restart()
	eventually(t, 15*time.Second, "B to follow the channel again", func() bool {
		return bst.Following(store.ChannelKey{ID: ch})
	})
	pub(41, 60)
	for _, s := range subs {
		s.waitFor(t, "60", 10*time.Second)
	}
	checkSequence(t, onA.name, onA.close().bodies, numbers(1, 60))
	for _, s := range subs {
		r := s.close()
		if r.err != nil {
			t.Fatalf("%s: %v", s.name, r.err)
		}
		got := map[int]bool{}
		prev := 0
		for _, body := range r.bodies {
			i, _ := strconv.Atoi(body)
			if i <= prev {
				t.Fatalf("%s: %d after %d (got %q)", s.name, i, prev, abbreviate(r.bodies))
			}
			prev = i
			got[i] = true
		}
		lost := 0
		for i := 1; i <= 60; i++ {
			switch {
			case got[i]:
			case i > 20 && i <= 40:
				lost++
			default:
				t.Fatalf("%s: message %d missing (got %q)", s.name, i, abbreviate(r.bodies))
			}
		}
		t.Logf("%s: lost %d of the 20 messages published while Redis was away", s.name, lost)
	}
}

// TestBackupNodeRestart: a backup node killed and started again on the same
// Redis comes back with its channels: their messages, ids and options; a
// subscriber resuming by id gets exactly the messages after it, and new
// ids follow the old ones.
func TestBackupNodeRestart(t *testing.T) {
	srv := redistest.Start(t)
	a, _, killA := startBackup(t, srv, redisstore.ModeOptions{})
	const ch = "kept"
	var ids []string
	for i := 1; i <= 10; i++ {
		status, id := publish(t, a, ch, strconv.Itoa(i))
		if status != http.StatusAccepted {
			t.Fatalf("publish %d: %d", i, status)
		}
		ids = append(ids, id)
	}
	if status, _ := publish(t, a, "other", "x"); status != http.StatusAccepted {
		t.Fatal("publish to other")
	}
	eventually(t, 5*time.Second, "the copies in Redis", func() bool {
		return srv.MustDo("XLEN", "h:{/"+ch+"}:s") == ":10" && srv.MustDo("XLEN", "h:{/other}:s") == ":1"
	})
	killA()

	a2, st2, _ := startBackup(t, srv, redisstore.ModeOptions{})
	status, text := info(t, a2, ch)
	if status != http.StatusOK || field(text, "queued messages") != "10" || field(text, "last message id") != ids[9] {
		t.Fatalf("channel after restart: %d %q, want 10 messages, last id %s", status, text, ids[9])
	}
	es := eventSource(t, a2, ch, ids[4])
	es.waitFor(t, "10", 5*time.Second)
	_, id11 := publish(t, a2, ch, "11")
	es.waitFor(t, "11", 5*time.Second)
	r := es.close()
	checkSequence(t, "resumed after restart", r.bodies, numbers(6, 11))
	checkSequence(t, "resumed ids", r.ids, append(append([]string(nil), ids[5:]...), id11))
	res, err := client.Get(a2.URL + "/sub/other")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("long-poll of the other channel after restart: %d", res.StatusCode)
	}
	if n, _ := st2.Restored(); n != 2 {
		t.Fatalf("%d channels read back, want 2", n)
	}
}

// TestBackupRedisAway: publishing goes on while Redis is away; the backlog
// reaches Redis when it is back (here an empty Redis, restarted), and a
// node started on it then has every message. With a queue too short for
// the backlog, what did not fit is counted as dropped and the copy lacks
// exactly that many messages.
func TestBackupRedisAway(t *testing.T) {
	tests := []struct {
		name  string
		queue int
	}{
		{"the backlog fits", 0},
		{"the queue overflows", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := redistest.Start(t)
			a, st, killA := startBackup(t, srv, redisstore.ModeOptions{QueueLength: tt.queue})
			const ch, n = "away", 20
			es := eventSource(t, a, ch, "")
			publish(t, a, ch, "0")
			// The first copy is in Redis and its answer back (the read of
			// the channel at subscribe, then the copy): no write is in
			// flight when Redis goes.
			eventually(t, 5*time.Second, "the first copy", func() bool {
				_, _, written := st.QueueStats()
				return written == 2 && srv.MustDo("XLEN", "h:{/"+ch+"}:s") == ":1"
			})
			srv.Kill()
			for i := 1; i <= n; i++ {
				if status, _ := publish(t, a, ch, strconv.Itoa(i)); status != http.StatusCreated {
					t.Fatalf("publish %d while Redis is away: %d", i, status)
				}
			}
			es.waitFor(t, strconv.Itoa(n), 5*time.Second)
			checkSequence(t, es.name, es.close().bodies, numbers(0, n))
			srv.Restart()
			var dropped, written uint64
			var xlen string
			var pending int
			for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				pending, dropped, written = st.QueueStats()
				xlen = srv.MustDo("XLEN", "h:{/"+ch+"}:s")
				if pending == 0 && xlen == fmt.Sprintf(":%d", n-int(dropped)) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("backlog not written: XLEN %s, %d pending, %d dropped, %d written", xlen, pending, dropped, written)
				}
			}
			if (tt.queue == 0) != (dropped == 0) {
				t.Fatalf("%d writes dropped with a queue of %d", dropped, tt.queue)
			}
			killA()
			a2, _, _ := startBackup(t, srv, redisstore.ModeOptions{})
			_, text := info(t, a2, ch)
			if got := field(text, "queued messages"); got != strconv.Itoa(n-int(dropped)) {
				t.Fatalf("after restart %s messages, want %d (%d dropped): %q", got, n-int(dropped), dropped, text)
			}
			t.Logf("queue %d: %d of %d copies dropped", tt.queue, dropped, n)
		})
	}
}
