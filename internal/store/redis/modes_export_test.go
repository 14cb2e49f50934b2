package redis

// Crash stops the node as if its process died: what waits in the queue is
// not written, and its counts stay in Redis to expire.
func (b *Backup) Crash() {
	b.q.abandon.Store(true)
	b.Close()
}

// Crash stops the node as if its process died: what waits in the queue is
// not written, and its counts stay in Redis to expire.
func (n *Nostore) Crash() {
	n.q.abandon.Store(true)
	n.closed.Store(true)
	n.Close()
}

// Following reports whether the nostore node's subscription to the
// channel's pubsub channel is confirmed now.
func (n *Nostore) Following(key interface{ String() string }) bool {
	for _, c := range n.all() {
		if c.key.String() == key.String() {
			return n.t.ps.confirmed(c.ps, c)
		}
	}
	return false
}
