package redis_test

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

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
	a, b := startNode(t, o), startNode(t, o)
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
