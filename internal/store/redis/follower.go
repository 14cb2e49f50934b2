package redis

// follower is what the pubsub manager follows a pubsub channel for: a
// channel's mirror (the distributed mode) or a channel of the nostore mode.
// The manager calls resync when a subscription is confirmed (again, after a
// reconnect, a failover or a slot move: what came meanwhile may be
// missing), and fail when the channel could not be followed for
// FollowTimeout, after it stopped following it.
type follower interface {
	resync()
	fail()
}

// resync brings the mirror up to date from the channel's stream.
func (mr *mirror) resync() { mr.s.requestSync(mr) }

var _ follower = (*mirror)(nil)
