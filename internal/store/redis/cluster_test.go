package redis

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/redis/redistest"
	"github.com/heraldpush/herald/internal/store/storetest"
	"github.com/heraldpush/herald/protocol/msgid"
)

func newClusterStore(t testing.TB, c *redistest.Cluster) *Store {
	t.Helper()
	s, err := New(testOpts(c.Addrs(), true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestCluster runs the store contract's core on a Redis Cluster of three
// masters and three replicas: channels spread over every master, cross-node
// delivery over sharded pubsub, info, delete and re-create.
func TestCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	a := newClusterStore(t, c)
	b := newClusterStore(t, c)
	masters := map[string]bool{}
	for i := range 12 {
		ch := storetest.Key(fmt.Sprintf("c%d", i))
		masters[c.MasterFor(a.keys(ch).meta).Addr] = true
		sub := storetest.Subscribe(t, b, ch, store.SubscribeOptions{})
		var ids []msgid.ID
		for j := range 3 {
			ids = append(ids, storetest.Publish(t, a, ch, fmt.Sprintf("m%d", j), buffered).ID)
		}
		got := storetest.ReadAll(t, sub, msgid.ID{}, 3)
		for j, m := range got {
			if m.ID != ids[j] || string(m.Body) != fmt.Sprintf("m%d", j) {
				t.Fatalf("%s: message %d is %v %q", ch, j, m.ID, m.Body)
			}
		}
		info, err := a.Info(ctx, ch)
		if err != nil || info.Messages != 3 || info.Subscribers != 1 || info.LastMessageID != ids[2] {
			t.Fatalf("%s: Info = %+v, %v", ch, info, err)
		}
		if i%4 == 0 {
			_, w, _ := storetest.Read3(sub, ids[2], nil, 10)
			if _, err := a.Delete(ctx, ch); err != nil {
				t.Fatal(err)
			}
			if !storetest.Closed(w) {
				t.Fatalf("%s: delete did not reach the other node", ch)
			}
			if _, _, err := storetest.Read3(sub, ids[2], nil, 10); !errors.Is(err, store.ErrGone) {
				t.Fatalf("%s: Read after delete = %v", ch, err)
			}
			if m := storetest.Publish(t, a, ch, "again", buffered); !m.ID.After(ids[2]) {
				t.Fatalf("%s: re-created id %v not after %v", ch, m.ID, ids[2])
			}
		}
	}
	if len(masters) != 3 {
		t.Fatalf("channels landed on %d masters, want 3", len(masters))
	}

	// Listing is cluster-wide: channels of every master, made by either
	// node, followed by none (in a namespace of their own).
	t.Run("List", func(t *testing.T) {
		open := func() *Store {
			o := testOpts(c.Addrs(), true)
			o.Namespace = "list:"
			s, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		la, lb := open(), open()
		storetest.List(t, la, lb)
		page, err := la.Channels(ctx, store.ListOptions{AllGroups: true, Limit: store.MaxListLimit})
		if err != nil {
			t.Fatal(err)
		}
		on := map[string]int{}
		for _, ch := range page.Channels {
			on[c.MasterFor(la.keys(ch.Key).meta).Addr]++
		}
		if len(on) != 3 || page.Next != "" {
			t.Fatalf("listed channels of %d masters (%v), next %q; want all 3", len(on), on, page.Next)
		}
	})
}

// streamCheck publishes a numbered stream of messages from one node while
// another reads, through disrupt; every message whose publish succeeded
// must arrive, in order, once.
func streamCheck(t *testing.T, pub, sub *Store, ch store.ChannelKey, disrupt func()) {
	t.Helper()
	o := store.ChannelOptions{BufferLength: 1000, MessageTimeout: time.Hour, ChannelTimeout: time.Hour}
	s := storetest.Subscribe(t, sub, ch, store.SubscribeOptions{})
	type ack struct {
		id   msgid.ID
		body string
	}
	acks := make(chan []ack, 1)
	stop := make(chan struct{})
	var acked atomic.Int64
	go func() {
		var out []ack
		defer func() { acks <- out }()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			body := fmt.Sprint(i)
			r, err := pub.Publish(ctx, ch, store.Publication{Body: []byte(body)}, o)
			if err == nil {
				out = append(out, ack{r.Message.ID, body})
				acked.Add(1)
			} else if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("publish: %v", err)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	// Some publishes before the disruption and some after it: counted,
	// not timed, so a loaded machine only makes the test longer.
	waitAcked := func(n int64, what string) {
		for deadline := time.Now().Add(30 * time.Second); acked.Load() < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				close(stop)
				t.Fatalf("only %d publishes succeeded %s", acked.Load(), what)
			}
		}
	}
	waitAcked(20, "before the disruption")
	disrupt()
	waitAcked(acked.Load()+20, "after the disruption")
	close(stop)
	sent := <-acks
	var got []*store.Message
	var cursor msgid.ID
	deadline := time.After(10 * time.Second)
	for len(got) == 0 || got[len(got)-1].ID.Compare(sent[len(sent)-1].id) < 0 {
		msgs, w, err := storetest.Read3(s, cursor, nil, 100)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if len(msgs) == 0 {
			select {
			case <-w:
			case <-deadline:
				t.Fatalf("received %d messages, up to %v; last sent %v", len(got), cursor, sent[len(sent)-1].id)
			}
			continue
		}
		for _, m := range msgs {
			if !m.ID.After(cursor) {
				t.Fatalf("message %v not after %v", m.ID, cursor)
			}
			cursor = m.ID
			got = append(got, m)
		}
	}
	// Every acknowledged message arrived, in order; anything else that
	// arrived was published (its acknowledgement was lost in the outage).
	j := 0
	for _, a := range sent {
		for j < len(got) && got[j].ID != a.id {
			j++
		}
		if j == len(got) {
			t.Fatalf("acknowledged message %v (%s) never arrived", a.id, a.body)
		}
		if string(got[j].Body) != a.body {
			t.Fatalf("message %v body %q, want %q", a.id, got[j].Body, a.body)
		}
	}
	bodies := map[string]bool{}
	for _, m := range got {
		if bodies[string(m.Body)] {
			t.Fatalf("body %q arrived twice", m.Body)
		}
		bodies[string(m.Body)] = true
	}
	t.Logf("%d acknowledged, %d received", len(sent), len(got))
}

func TestClusterFailover(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	a := newClusterStore(t, c)
	b := newClusterStore(t, c)
	ch := storetest.Key("failover")
	streamCheck(t, a, b, ch, func() {
		m := c.MasterFor(a.keys(ch).meta)
		c.Failover(c.ReplicaOf(m))
	})
}

func TestClusterKillMaster(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	a := newClusterStore(t, c)
	b := newClusterStore(t, c)
	ch := storetest.Key("killed")
	streamCheck(t, a, b, ch, func() {
		m := c.MasterFor(a.keys(ch).meta)
		r := c.ReplicaOf(m)
		m.Kill()
		c.WaitMaster(r, 20*time.Second)
	})
	_ = slices.Equal[[]int]
}
