package redis

import (
	"slices"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/internal/store/redis/redistest"
)

// TestHealthNodesOfACluster: Health names each master of a cluster and
// whether it answered the last probe; a master that is killed shows down.
func TestHealthNodesOfACluster(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	o := testOpts(c.Addrs(), true)
	o.PingInterval = 50 * time.Millisecond
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var want []store.NodeHealth
	for _, m := range c.Masters() {
		want = append(want, store.NodeHealth{Addr: m.Addr, Up: true})
	}
	slices.SortFunc(want, func(a, b store.NodeHealth) int {
		if a.Addr < b.Addr {
			return -1
		}
		return 1
	})
	waitNodes := func(what string, ok func([]store.NodeHealth) bool) []store.NodeHealth {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			h := s.Health()
			if ok(h.Nodes) {
				return h.Nodes
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: nodes %+v", what, h.Nodes)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitNodes("every master up", func(n []store.NodeHealth) bool { return slices.Equal(n, want) })
	dead := c.Masters()[0]
	dead.Kill()
	waitNodes("a master killed", func(n []store.NodeHealth) bool {
		for _, x := range n {
			if x.Addr == dead.Addr {
				return !x.Up
			}
		}
		return false
	})
}
