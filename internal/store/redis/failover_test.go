package redis_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldpush/herald/internal/store/redis/redistest"
)

// Failure tests with many channels over every shard: subscribers on one
// node, the publisher on another, every message counted. A defect that
// hits one shard in three is invisible with one channel.

// spreadChannels returns channel ids, perMaster of them on each master of
// the cluster, each in a slot of its own, and the master of each.
func spreadChannels(t *testing.T, cl *redistest.Cluster, prefix string, perMaster int) ([]string, map[string]*redistest.Server) {
	t.Helper()
	masters := cl.Masters()
	count := map[*redistest.Server]int{}
	slots := map[int]bool{}
	owner := map[string]*redistest.Server{}
	var chans []string
	for i := 0; len(chans) < perMaster*len(masters) && i < 10000; i++ {
		ch := fmt.Sprintf("%s%d", prefix, i)
		key := metaKey(ch)
		slot := cl.KeySlot(key)
		m := cl.MasterFor(key)
		if slots[slot] || count[m] >= perMaster {
			continue
		}
		slots[slot] = true
		count[m]++
		owner[ch] = m
		chans = append(chans, ch)
	}
	if len(chans) < perMaster*len(masters) {
		t.Fatalf("found %d channels, want %d", len(chans), perMaster*len(masters))
	}
	return chans, owner
}

// metaKey is a channel's meta key under the test nodes' namespace.
func metaKey(ch string) string { return "h:{/" + ch + "}:m" }

// feed publishes numbered messages to one channel, one after another,
// recording what was acknowledged (2xx) and what is unknown (503: the
// store could not say whether it kept the message).
type feed struct {
	ch string

	mu        sync.Mutex
	acked     []int
	uncertain map[int]bool
	others    []string
	next      int
}

func newFeed(ch string) *feed { return &feed{ch: ch, uncertain: map[int]bool{}, next: 1} }

// publishOne publishes the next message.
func (f *feed) publishOne(t *testing.T, n *node) {
	f.mu.Lock()
	i := f.next
	f.next++
	f.mu.Unlock()
	status, _ := publish(t, n, f.ch, strconv.Itoa(i))
	f.mu.Lock()
	defer f.mu.Unlock()
	switch status {
	case http.StatusCreated, http.StatusAccepted:
		f.acked = append(f.acked, i)
	case http.StatusServiceUnavailable:
		f.uncertain[i] = true
	default:
		f.others = append(f.others, fmt.Sprintf("%d: status %d", i, status))
	}
}

// healthySince reports whether the last two publishes were acknowledged
// and came after t (by number: after mark).
func (f *feed) healthyAfter(mark int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.acked)
	return n >= 2 && f.acked[n-2] > mark && f.acked[n-1] == f.acked[n-2]+1
}

func (f *feed) mark() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.next - 1
}

// check checks what one subscriber received: in order, once each, every
// acknowledged message, and nothing that was not published.
func (f *feed) check(t *testing.T, c *collector) {
	t.Helper()
	r := c.close()
	if r.err != nil {
		t.Errorf("%s on %s: %v", c.name, f.ch, r.err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := map[int]bool{}
	prev := 0
	for _, b := range r.bodies {
		v, err := strconv.Atoi(b)
		if err != nil || v <= prev {
			t.Errorf("%s on %s: %q after %d: repeated or out of order", c.name, f.ch, b, prev)
			return
		}
		prev = v
		seen[v] = true
	}
	ackedSet := map[int]bool{}
	for _, v := range f.acked {
		ackedSet[v] = true
		if !seen[v] {
			t.Errorf("%s on %s: acknowledged message %d never arrived (%d received, %d acknowledged)", c.name, f.ch, v, len(r.bodies), len(f.acked))
			return
		}
	}
	for v := range seen {
		if !ackedSet[v] && !f.uncertain[v] {
			t.Errorf("%s on %s: message %d arrived but was refused", c.name, f.ch, v)
			return
		}
	}
}

// stream runs one feed per channel, each publishing on pub every few
// milliseconds, until stop is closed.
func stream(t *testing.T, pub *node, feeds []*feed, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, f := range feeds {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				f.publishOne(t, pub)
				time.Sleep(15 * time.Millisecond)
			}
		})
	}
	return &wg
}

// TestClusterFailures: two Herald nodes on a Redis Cluster of three masters
// with a replica each; subscribers on node B over EventSource, WebSocket
// and long-poll to channels on every master; the publisher on node A. One
// after another: a manual failover, a master killed (its replica
// promoted), a slot migration, a master that stops answering for a while.
// Every subscriber receives every acknowledged message once, in order,
// and streams stay open throughout.
func TestClusterFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("long: real cluster failovers")
	}
	cl := redistest.StartCluster(t, 3, 1)
	o := nodeOpts(cl.Addrs(), true)
	a := startNode(t, o)
	warned := &warnings{}
	o.Logger = slog.New(warned)
	b := startNode(t, o)
	chans, owner := spreadChannels(t, cl, "f", 4)
	var feeds []*feed
	subs := map[string][]*collector{}
	for _, ch := range chans {
		feeds = append(feeds, newFeed(ch))
		subs[ch] = []*collector{eventSource(t, b, ch, ""), webSocket(t, b, ch), longPoll(t, b, ch)}
	}
	for _, ch := range chans {
		eventually(t, 10*time.Second, "subscribers on "+ch, func() bool { return activeSubscribers(t, a, ch) >= 2 })
	}
	stop := make(chan struct{})
	wg := stream(t, a, feeds, stop)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	recovered := func(what string, start time.Time) {
		marks := make([]int, len(feeds))
		for i, f := range feeds {
			marks[i] = f.mark()
		}
		for i, f := range feeds {
			eventually(t, 30*time.Second, what+": publishing to "+f.ch+" again", func() bool { return f.healthyAfter(marks[i]) })
		}
		t.Logf("%s: every channel publishes again %v after the disruption began", what, time.Since(start).Round(time.Millisecond))
	}
	time.Sleep(300 * time.Millisecond)

	// 1. A manual failover of the first channel's master.
	start := time.Now()
	m := owner[chans[0]]
	cl.Failover(cl.ReplicaOf(m))
	recovered("CLUSTER FAILOVER", start)

	// 2. Another master killed; its replica is promoted. The killed node
	// comes back as a replica.
	var victim *redistest.Server
	for _, ch := range chans {
		if mm := cl.MasterFor(metaKey(ch)); mm != cl.MasterFor(metaKey(chans[0])) {
			victim = mm
			break
		}
	}
	start = time.Now()
	replica := cl.ReplicaOf(victim)
	victim.Kill()
	cl.WaitMaster(replica, 20*time.Second)
	recovered("kill -9 of a master", start)
	victim.Restart()
	cl.WaitHealthy(30 * time.Second)

	// 3. Two channels' slots migrate to another master.
	start = time.Now()
	masters := cl.Masters()
	for _, ch := range chans[:2] {
		from := cl.MasterFor(metaKey(ch))
		var to *redistest.Server
		for _, mm := range masters {
			if mm != from {
				to = mm
				break
			}
		}
		cl.MigrateSlot(cl.KeySlot(metaKey(ch)), to)
	}
	recovered("slot migration", start)

	// 4. A master stops answering for four seconds.
	start = time.Now()
	paused := cl.MasterFor(metaKey(chans[len(chans)-1]))
	paused.Pause(4 * time.Second)
	time.Sleep(4 * time.Second)
	recovered("a paused master", start)

	close(stop)
	wg.Wait()
	// Node B said when it lost channels and when it followed them again.
	if warned.count("lost the subscriptions of channels") == 0 || warned.count("every lost channel is followed again") == 0 {
		t.Errorf("node B's warnings: %q", warned.msgs)
	}
	if h := b.Store.Health(); h.Losses == 0 || h.Restores == 0 || h.ChannelsLost != 0 {
		t.Errorf("node B's health after the failures: %+v", h)
	}
	for _, f := range feeds {
		f.mu.Lock()
		if len(f.others) > 0 {
			t.Errorf("%s: publishes answered neither 2xx nor 503: %v", f.ch, f.others)
		}
		last := strconv.Itoa(f.acked[len(f.acked)-1])
		acked, uncertain := len(f.acked), len(f.uncertain)
		f.mu.Unlock()
		for _, c := range subs[f.ch] {
			c.waitFor(t, last, 20*time.Second)
		}
		for _, c := range subs[f.ch] {
			f.check(t, c)
		}
		t.Logf("%s: %d acknowledged, %d answered 503, received by %d subscribers", f.ch, acked, uncertain, len(subs[f.ch]))
	}
}

// TestClusterManyChannelsAtOnce: twenty subscribers opened at once on one
// node to twenty channels of one master (twenty slots): every one gets the
// message published to it on another node, and so do subscribers that
// come later.
func TestClusterManyChannelsAtOnce(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	o := nodeOpts(cl.Addrs(), true)
	a, b := startNode(t, o), startNode(t, o)
	chans, owner := spreadChannels(t, cl, "m", 20)
	target := owner[chans[0]]
	var mine []string
	for _, ch := range chans {
		if owner[ch] == target {
			mine = append(mine, ch)
		}
	}
	sort.Strings(mine)
	subs := make([]*collector, len(mine))
	var wg sync.WaitGroup
	for i, ch := range mine {
		wg.Go(func() { subs[i] = eventSource(t, b, ch, "") })
	}
	wg.Wait()
	for _, ch := range mine {
		eventually(t, 10*time.Second, "subscriber on "+ch, func() bool { return activeSubscribers(t, a, ch) == 1 })
	}
	for _, ch := range mine {
		if status, _ := publish(t, a, ch, "hello "+ch); status != http.StatusCreated {
			t.Fatalf("publish to %s: %d", ch, status)
		}
	}
	for i, ch := range mine {
		subs[i].waitFor(t, "hello "+ch, 10*time.Second)
		checkSequence(t, ch, subs[i].close().bodies, []string{"hello " + ch})
	}
	// Later subscribers on the same node get the buffered message.
	for _, ch := range mine[:5] {
		lp := longPoll(t, b, ch)
		lp.waitFor(t, "hello "+ch, 10*time.Second)
		lp.close()
	}
}

// statusLine returns the value of one line of a node's status page.
func statusLine(t *testing.T, n *node, name string) string {
	t.Helper()
	res, err := client.Get(n.URL + "/status")
	if err != nil {
		t.Fatalf("status page: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return field(string(b), name)
}

// TestNodesCannotFollow: when a node cannot follow its channels (Redis gone
// for longer than follow_timeout), its subscribers are told instead of
// being left on a silent stream: EventSource gets a ":503:" comment and the
// end of the stream, WebSocket a 1011 close, a waiting long-poll 503. A
// publish while Redis is away gets 503 at once, and the status page shows
// the outage. Once Redis is back, subscribers resume by id.
func TestNodesCannotFollow(t *testing.T) {
	srv := redistest.Start(t)
	o := nodeOpts([]string{srv.Addr}, false)
	o.FollowTimeout = 1500 * time.Millisecond
	a, b := startNode(t, o), startNode(t, o)
	const ch = "unfollowed"
	status, id1 := publish(t, a, ch, "before")
	if status != http.StatusAccepted {
		t.Fatalf("publish: %d", status)
	}
	eventually(t, 5*time.Second, "redis reachable", func() bool {
		return statusLine(t, b, "redis connected servers") == "1" && statusLine(t, b, "redis unhealthy upstreams") == "0"
	})
	if sent, _ := strconv.Atoi(statusLine(t, b, "total redis commands sent")); sent == 0 {
		t.Fatal("no Redis command counted")
	}

	// An EventSource subscriber, read raw to see its ending.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", b.URL+"/sub/"+ch, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", id1)
	res, err := client.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("eventsource: %v %v", res, err)
	}
	esDone := make(chan string, 1)
	go func() {
		defer res.Body.Close()
		all, _ := io.ReadAll(res.Body)
		esDone <- string(all)
	}()
	// A WebSocket subscriber.
	conn, _, _, err := ws.Dialer{Timeout: 5 * time.Second}.Dial(ctx, "ws://"+b.host()+"/sub/"+ch)
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	defer conn.Close()
	wsDone := make(chan ws.StatusCode, 1)
	go func() {
		for {
			h, err := ws.ReadHeader(conn)
			if err != nil {
				wsDone <- 0
				return
			}
			p := make([]byte, h.Length)
			if _, err := io.ReadFull(conn, p); err != nil {
				wsDone <- 0
				return
			}
			if h.Masked {
				ws.Cipher(p, h.Mask, 0)
			}
			if h.OpCode == ws.OpClose {
				code, _ := ws.ParseCloseFrameData(p)
				wsDone <- code
				return
			}
		}
	}()
	eventually(t, 5*time.Second, "two subscribers", func() bool { return activeSubscribers(t, a, ch) == 2 })
	// A long-poll waiting for the next message.
	lp := make(chan int, 1)
	go func() {
		r, err := client.Get(b.URL + "/sub/" + ch + "?last_event_id=" + id1)
		if err != nil {
			lp <- -1
			return
		}
		r.Body.Close()
		lp <- r.StatusCode
	}()
	eventually(t, 5*time.Second, "the long-poll to wait", func() bool { return b.Store.Stats().Subscribers == 3 })

	srv.Kill()
	if status, _ := publish(t, a, ch, "lost"); status != http.StatusServiceUnavailable {
		t.Fatalf("publish with Redis away: %d, want 503", status)
	}
	select {
	case got := <-esDone:
		if got != ": hi\n\n:503: 503 Service Unavailable\n\n" {
			t.Fatalf("eventsource stream %q: want a :503: comment, then its end", got)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("eventsource subscriber not told within 15s")
	}
	select {
	case code := <-wsDone:
		if code != ws.StatusInternalServerError {
			t.Fatalf("websocket closed with %d, want 1011", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("websocket subscriber not told within 15s")
	}
	select {
	case code := <-lp:
		if code != http.StatusServiceUnavailable {
			t.Fatalf("long-poll got %d, want 503", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("long-poll not answered within 15s")
	}
	eventually(t, 5*time.Second, "the status page to show the outage", func() bool {
		return statusLine(t, b, "redis connected servers") == "0" && statusLine(t, b, "redis unhealthy upstreams") == "1"
	})

	// Redis comes back (empty): subscribers come back too and resume.
	srv.Restart()
	eventually(t, 10*time.Second, "redis reachable again", func() bool { return statusLine(t, b, "redis unhealthy upstreams") == "0" })
	es := eventSource(t, b, ch, id1)
	eventually(t, 5*time.Second, "the subscriber back", func() bool { return activeSubscribers(t, a, ch) == 1 })
	publish(t, a, ch, "after")
	es.waitFor(t, "after", 10*time.Second)
	checkSequence(t, "resumed", es.close().bodies, []string{"after"})
}

// TestSentinelFailover: two Herald nodes on a master watched by three
// sentinels, with one replica; subscribers on node B over EventSource,
// WebSocket and long-poll, the publisher on node A. The master is killed;
// Sentinel promotes the replica; both nodes follow it, and every subscriber
// receives every acknowledged message once, in order.
func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("long: a real Sentinel failover")
	}
	ss := redistest.StartSentinels(t, 1, 3)
	o := nodeOpts(nil, false)
	o.Sentinels, o.MasterName = ss.Addrs(), ss.MasterName
	a, b := startNode(t, o), startNode(t, o)
	var feeds []*feed
	subs := map[string][]*collector{}
	for i := range 6 {
		ch := fmt.Sprintf("s%d", i)
		feeds = append(feeds, newFeed(ch))
		subs[ch] = []*collector{eventSource(t, b, ch, ""), webSocket(t, b, ch), longPoll(t, b, ch)}
	}
	for ch := range subs {
		eventually(t, 10*time.Second, "subscribers on "+ch, func() bool { return activeSubscribers(t, a, ch) >= 2 })
	}
	stop := make(chan struct{})
	wg := stream(t, a, feeds, stop)
	time.Sleep(300 * time.Millisecond)

	old := ss.CurrentMaster()
	start := time.Now()
	old.Kill()
	promoted := ss.WaitPromoted(old, 30*time.Second)
	marks := make([]int, len(feeds))
	for i, f := range feeds {
		marks[i] = f.mark()
	}
	for i, f := range feeds {
		eventually(t, 30*time.Second, "publishing to "+f.ch+" again", func() bool { return f.healthyAfter(marks[i]) })
	}
	t.Logf("master %s killed; %s promoted; every channel publishes again %v later", old.Addr, promoted.Addr, time.Since(start).Round(time.Millisecond))
	close(stop)
	wg.Wait()
	for _, f := range feeds {
		f.mu.Lock()
		last := strconv.Itoa(f.acked[len(f.acked)-1])
		acked, uncertain := len(f.acked), len(f.uncertain)
		f.mu.Unlock()
		for _, c := range subs[f.ch] {
			c.waitFor(t, last, 20*time.Second)
		}
		for _, c := range subs[f.ch] {
			f.check(t, c)
		}
		t.Logf("%s: %d acknowledged, %d answered 503", f.ch, acked, uncertain)
	}
}
