package redis_test

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/store/redis/redistest"
)

func numbers(from, to int) []string {
	var s []string
	for i := from; i <= to; i++ {
		s = append(s, strconv.Itoa(i))
	}
	return s
}

// TestNodesDelivery: a message published on node A reaches subscribers on
// nodes B and C over long-poll, EventSource and WebSocket, once each, in
// order, with the same ids everywhere.
func TestNodesDelivery(t *testing.T) {
	srv := redistest.Start(t)
	o := nodeOpts([]string{srv.Addr}, false)
	a, b, c := startNode(t, o), startNode(t, o), startNode(t, o)
	const ch, n = "news", 100
	subs := []*collector{
		longPoll(t, b, ch), eventSource(t, b, ch, ""), webSocket(t, b, ch),
		longPoll(t, c, ch), eventSource(t, c, ch, ""), webSocket(t, c, ch),
	}
	eventually(t, 5*time.Second, "six subscribers on B and C", func() bool { return activeSubscribers(t, a, ch) == 6 })
	var ids []string
	for i := 1; i <= n; i++ {
		status, id := publish(t, a, ch, strconv.Itoa(i))
		if status != http.StatusCreated {
			t.Fatalf("publish %d: status %d, want 201 (subscribers on other nodes)", i, status)
		}
		ids = append(ids, id)
	}
	for _, s := range subs {
		s.waitFor(t, strconv.Itoa(n), 10*time.Second)
	}
	for _, s := range subs {
		r := s.close()
		checkSequence(t, s.name, r.bodies, numbers(1, n))
		if r.ids[0] != "" {
			checkSequence(t, s.name+" ids", r.ids, ids)
		}
	}
	// The memory locations are each node's own.
	if status, _ := publishAt(t, a, "/mem/pub/local", "x"); status != http.StatusAccepted {
		t.Fatalf("memory publish: %d", status)
	}
	if res, err := client.Get(b.URL + "/mem/pub/local"); err != nil || res.StatusCode != http.StatusNotFound {
		t.Fatalf("memory channel of node A seen on node B: %v %v", res.StatusCode, err)
	}
	if res, err := client.Get(a.URL + "/mem/pub/local"); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("memory channel on its node: %v %v", res.StatusCode, err)
	}
}

// TestNodesResume: a subscriber that reconnects to another node resumes
// after its last message id, over each transport.
func TestNodesResume(t *testing.T) {
	srv := redistest.Start(t)
	o := nodeOpts([]string{srv.Addr}, false)
	a, b, c := startNode(t, o), startNode(t, o), startNode(t, o)
	const ch = "resume"
	es := eventSource(t, b, ch, "")
	for i := 1; i <= 10; i++ {
		publish(t, a, ch, strconv.Itoa(i))
	}
	es.waitFor(t, "10", 5*time.Second)
	first := es.close()
	checkSequence(t, "first connection", first.bodies, numbers(1, 10))

	// EventSource with Last-Event-ID on node C.
	es2 := eventSource(t, c, ch, first.ids[4])
	es2.waitFor(t, "10", 5*time.Second)
	for i := 11; i <= 15; i++ {
		publish(t, a, ch, strconv.Itoa(i))
	}
	es2.waitFor(t, "15", 5*time.Second)
	checkSequence(t, "resumed eventsource", es2.close().bodies, numbers(6, 15))

	// Long-poll with ?last_event_id= on node A (the publisher's node).
	res, err := client.Get(a.URL + "/sub/" + ch + "?last_event_id=" + first.ids[7])
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 16)
	nb, _ := res.Body.Read(body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body[:nb]) != "9" {
		t.Fatalf("long-poll resume: %d %q, want 200 \"9\"", res.StatusCode, body[:nb])
	}
}

// TestNodesSubscriberCounts: channel info counts the subscribers of every
// node, and a dead node's subscribers stop counting.
func TestNodesSubscriberCounts(t *testing.T) {
	srv := redistest.Start(t)
	o := nodeOpts([]string{srv.Addr}, false)
	a, b, c := startNode(t, o), startNode(t, o), startNode(t, o)
	const ch = "counted"
	b1, b2 := eventSource(t, b, ch, ""), eventSource(t, b, ch, "")
	c1, c2 := webSocket(t, c, ch), eventSource(t, c, ch, "")
	eventually(t, 5*time.Second, "4 subscribers", func() bool { return activeSubscribers(t, a, ch) == 4 })
	status, _ := publish(t, a, ch, "x")
	_, text := info(t, a, ch)
	if status != http.StatusCreated || field(text, "active subscribers") != "4" || field(text, "queued messages") != "1" {
		t.Fatalf("publish %d, info %q", status, text)
	}
	b1.close()
	eventually(t, 5*time.Second, "3 subscribers after one left", func() bool { return activeSubscribers(t, a, ch) == 3 })
	c.stop(t, true) // node C dies without deregistering
	c1.close()
	c2.close()
	eventually(t, 5*time.Second, "C's subscribers to expire", func() bool { return activeSubscribers(t, a, ch) == 1 })
	if got := activeSubscribers(t, b, ch); got != 1 {
		t.Fatalf("node B counts %d", got)
	}
	b2.close()
}

// midStream publishes numbered messages on node pub while subscribers on
// other nodes read, runs disrupt in the middle, and checks every
// subscriber: no loss of an acknowledged (2xx) message, no duplicate, no
// reordering, and streaming connections kept open.
func midStream(t *testing.T, pub *node, subs []*collector, ch string, disrupt func()) {
	t.Helper()
	var (
		mu       sync.Mutex
		acked    []int
		failures int
		others   []string
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			status, _ := publish(t, pub, ch, strconv.Itoa(i))
			mu.Lock()
			switch {
			case status == http.StatusCreated || status == http.StatusAccepted:
				acked = append(acked, i)
			case status == http.StatusServiceUnavailable:
				failures++
			default:
				others = append(others, fmt.Sprintf("%d: %d", i, status))
			}
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	time.Sleep(400 * time.Millisecond)
	start := time.Now()
	disrupt()
	t.Logf("disruption took %v", time.Since(start))
	// Publish until the store works again, and a little more.
	eventually(t, 20*time.Second, "publishing to succeed again", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) > 0 && time.Since(start) > 300*time.Millisecond && acked[len(acked)-1] > 0 && failuresSettled(acked, failures)
	})
	time.Sleep(500 * time.Millisecond)
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(others) > 0 {
		t.Fatalf("publishes answered neither 2xx nor 503: %v", others)
	}
	last := strconv.Itoa(acked[len(acked)-1])
	for _, s := range subs {
		s.waitFor(t, last, 15*time.Second)
	}
	for _, s := range subs {
		r := s.close()
		if r.err != nil {
			t.Fatalf("%s: %v", s.name, r.err)
		}
		prev := 0
		seen := map[int]bool{}
		for _, b := range r.bodies {
			v, err := strconv.Atoi(b)
			if err != nil || v <= prev {
				t.Fatalf("%s: %q after %d: out of order or repeated", s.name, b, prev)
			}
			prev = v
			seen[v] = true
		}
		for _, v := range acked {
			if !seen[v] {
				t.Fatalf("%s: acknowledged message %d never arrived (%d received)", s.name, v, len(r.bodies))
			}
		}
		t.Logf("%s: %d received; %d acknowledged, %d answered 503", s.name, len(r.bodies), len(acked), failures)
	}
}

// failuresSettled reports whether publishing works after the disruption:
// the last acknowledged message is newer than any failure could be.
func failuresSettled(acked []int, failures int) bool {
	if len(acked) < 2 {
		return false
	}
	// Two consecutive acknowledged publishes at the end.
	return acked[len(acked)-1] == acked[len(acked)-2]+1
}

// TestNodesRedisRestart: Redis is killed and restarted (empty: no
// persistence) mid-stream. Publishes during the outage get 503, streaming
// subscribers keep their connections, every message acknowledged before and
// after arrives once, and nothing from before the outage is repeated.
func TestNodesRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	o := nodeOpts([]string{srv.Addr}, false)
	a, b, c := startNode(t, o), startNode(t, o), startNode(t, o)
	const ch = "restart"
	subs := []*collector{eventSource(t, b, ch, ""), webSocket(t, c, ch), longPoll(t, c, ch)}
	eventually(t, 5*time.Second, "subscribers", func() bool { return activeSubscribers(t, a, ch) >= 2 })
	failed := false
	midStream(t, a, subs, ch, func() {
		srv.Kill()
		eventually(t, 5*time.Second, "a publish to fail", func() bool {
			status, _ := publish(t, a, ch, "lost")
			failed = status == http.StatusServiceUnavailable
			return failed
		})
		time.Sleep(500 * time.Millisecond)
		srv.Restart()
	})
	if !failed {
		t.Fatal("no publish failed while Redis was down")
	}
}

// TestNodesClusterFailover: a replica takes over its master (CLUSTER
// FAILOVER) mid-stream.
func TestNodesClusterFailover(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 1)
	o := nodeOpts(cl.Addrs(), true)
	a, b, c := startNode(t, o), startNode(t, o), startNode(t, o)
	const ch = "failover"
	subs := []*collector{eventSource(t, b, ch, ""), webSocket(t, c, ch), longPoll(t, c, ch)}
	eventually(t, 5*time.Second, "subscribers", func() bool { return activeSubscribers(t, a, ch) >= 2 })
	midStream(t, a, subs, ch, func() {
		m := cl.MasterFor("h:{/" + ch + "}:m")
		cl.Failover(cl.ReplicaOf(m))
	})
}

// TestNodesClusterKillMaster: the master of the channel's slot is killed
// mid-stream; its replica is promoted.
func TestNodesClusterKillMaster(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 1)
	o := nodeOpts(cl.Addrs(), true)
	a, b, c := startNode(t, o), startNode(t, o), startNode(t, o)
	const ch = "killed"
	subs := []*collector{eventSource(t, b, ch, ""), webSocket(t, c, ch), longPoll(t, c, ch)}
	eventually(t, 5*time.Second, "subscribers", func() bool { return activeSubscribers(t, a, ch) >= 2 })
	midStream(t, a, subs, ch, func() {
		m := cl.MasterFor("h:{/" + ch + "}:m")
		r := cl.ReplicaOf(m)
		m.Kill()
		cl.WaitMaster(r, 20*time.Second)
	})
}
