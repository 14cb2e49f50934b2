package store

import (
	"container/heap"
	"context"
	"fmt"
	"slices"
	"strings"
)

// The optional interfaces below are what an engine may offer besides Store;
// callers discover them by type assertion:
//
//	if l, ok := st.(store.Lister); ok { ... }

// Lister is an engine that can list its channels.
type Lister interface {
	// Channels returns one page of the channels o selects, in key order
	// (ChannelKey.Compare), with their info. A page holds at most the
	// limit of o; the next page starts after the cursor it returns.
	// Channels made or removed while pages are read may or may not be
	// listed, but none is listed twice and none that lives throughout is
	// left out.
	Channels(ctx context.Context, o ListOptions) (ChannelPage, error)
}

// Limits of a Lister's page.
const (
	// DefaultListLimit is the page size of a ListOptions without Limit.
	DefaultListLimit = 100
	// MaxListLimit is the largest page: a larger Limit is cut to it.
	MaxListLimit = 1000
)

// ListOptions select the channels of a listing and one page of it.
type ListOptions struct {
	// Group is the group whose channels are listed ("" is the default
	// group), unless AllGroups is set.
	Group string
	// AllGroups lists the channels of every group, by group and then id.
	AllGroups bool
	// Prefix keeps only the channels whose id starts with it.
	Prefix string
	// After is the cursor of the page before (ChannelPage.Next): the page
	// starts after it. "" starts at the first channel.
	After string
	// Limit is the most channels in the page: DefaultListLimit when 0 or
	// less, MaxListLimit at most.
	Limit int
}

// ChannelInfo is a channel of a listing and its info.
type ChannelInfo struct {
	Key  ChannelKey
	Info Info
}

// ChannelPage is one page of a listing.
type ChannelPage struct {
	Channels []ChannelInfo
	// Next is the cursor of the next page (ListOptions.After), "" when
	// this page is the last. A page may hold fewer channels than the
	// limit and still have a next one, when channels went away while it
	// was read.
	Next string
}

// Pager picks the keys of one page of a listing, for an engine that offers
// it every channel it has (in any order, even with repeats) and then reads
// the info of the keys it kept. It holds at most Limit+1 keys.
type Pager struct {
	o     ListOptions
	after ChannelKey
	from  bool // after is set
	limit int
	keys  keyHeap // the least keys offered so far, at most limit+1
	in    map[ChannelKey]struct{}
}

// NewPager checks o (its cursor) and returns a Pager for it.
func NewPager(o ListOptions) (*Pager, error) {
	p := &Pager{o: o, limit: o.Limit, in: map[ChannelKey]struct{}{}}
	if p.limit <= 0 {
		p.limit = DefaultListLimit
	}
	p.limit = min(p.limit, MaxListLimit)
	if o.After != "" {
		k, err := ParseChannelKey(o.After)
		if err != nil {
			return nil, fmt.Errorf("list cursor: %w", err)
		}
		p.after, p.from = k, true
	}
	return p, nil
}

// Limit returns the page size.
func (p *Pager) Limit() int { return p.limit }

// Wants reports whether k belongs to the listing: its group and prefix,
// and after the cursor.
func (p *Pager) Wants(k ChannelKey) bool {
	if !p.o.AllGroups && k.Group != p.o.Group {
		return false
	}
	if !strings.HasPrefix(k.ID, p.o.Prefix) {
		return false
	}
	return !p.from || k.Compare(p.after) > 0
}

// Offer considers k for the page.
func (p *Pager) Offer(k ChannelKey) {
	if !p.Wants(k) {
		return
	}
	if len(p.keys) > p.limit && k.Compare(p.keys[0]) >= 0 {
		return // past the page and the key that tells there is a next one
	}
	if _, dup := p.in[k]; dup {
		return
	}
	heap.Push(&p.keys, k)
	p.in[k] = struct{}{}
	if len(p.keys) > p.limit+1 {
		delete(p.in, heap.Pop(&p.keys).(ChannelKey))
	}
}

// Page returns the page's keys in order, and the cursor of the next page
// ("" when there is none).
func (p *Pager) Page() (keys []ChannelKey, next string) {
	keys = slices.Clone([]ChannelKey(p.keys))
	slices.SortFunc(keys, ChannelKey.Compare)
	if len(keys) <= p.limit {
		return keys, ""
	}
	keys = keys[:p.limit]
	return keys, keys[len(keys)-1].String()
}

// keyHeap is a max-heap of keys.
type keyHeap []ChannelKey

func (h keyHeap) Len() int           { return len(h) }
func (h keyHeap) Less(i, j int) bool { return h[i].Compare(h[j]) > 0 }
func (h keyHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *keyHeap) Push(x any)        { *h = append(*h, x.(ChannelKey)) }
func (h *keyHeap) Pop() any {
	old := *h
	k := old[len(old)-1]
	*h = old[:len(old)-1]
	return k
}

// GroupAccounter is an engine that keeps counts per channel group. The
// memory engine keeps counters updated as channels, subscribers and
// messages come and go, so reading them costs no scan of the channels.
// The Redis engine counts across every node of a cluster: it reads the
// group's channels in Redis (a scan, see its GroupStats).
type GroupAccounter interface {
	// GroupStats returns the counts of a group; a group with no channel
	// has zero counts.
	GroupStats(ctx context.Context, group string) (GroupStats, error)
}

// GroupStats are the counts of one channel group.
type GroupStats struct {
	Channels    int // channels of the group.
	Subscribers int // subscribers on them now.
	// Messages is the number of messages in their buffers (as
	// Stats.StoredMessages counts them), and MessageBytes their size
	// (Message.Size).
	Messages     int
	MessageBytes int64
}

// GroupLimits are the limits of one channel group
// (channel_group_accounting, group_max_*): 0 is no limit.
type GroupLimits struct {
	Channels    int64 // channels of the group.
	Subscribers int64 // subscribers on them at once.
	Messages    int64 // messages in their buffers.
	// MessageBytes caps the memory their messages use (GroupStats.
	// MessageBytes); DiskBytes the disk space, which Herald's engines never
	// use (kept and shown, as Nchan's group_max_messages_disk).
	MessageBytes int64
	DiskBytes    int64
}

// Keep returns the limits where every field of set that is negative keeps
// the value of l: what setting limits with set does to limits l.
func (l GroupLimits) Keep(set GroupLimits) GroupLimits {
	keep := func(cur, v int64) int64 {
		if v < 0 {
			return cur
		}
		return v
	}
	return GroupLimits{
		Channels:     keep(l.Channels, set.Channels),
		Subscribers:  keep(l.Subscribers, set.Subscribers),
		Messages:     keep(l.Messages, set.Messages),
		MessageBytes: keep(l.MessageBytes, set.MessageBytes),
		DiskBytes:    keep(l.DiskBytes, set.DiskBytes),
	}
}

// UnsetGroupLimits returns a GroupLimits whose every field is negative:
// passed to SetGroupLimits it changes nothing.
func UnsetGroupLimits() GroupLimits { return GroupLimits{-1, -1, -1, -1, -1} }

// GroupLimiter is an engine that keeps the limits of channel groups, as
// Nchan keeps them with the group: set by a group location's POST (or by
// any request of a location with group_max_* keys) and read by the checks
// of publishers and subscribers. The memory engine keeps them in memory;
// the Redis engine in Redis, so every node shares them.
type GroupLimiter interface {
	// GroupLimits returns a group's limits (zero when none were set).
	GroupLimits(ctx context.Context, group string) (GroupLimits, error)
	// SetGroupLimits sets the fields of set that are not negative as the
	// group's limits and returns them all.
	SetGroupLimits(ctx context.Context, group string, set GroupLimits) (GroupLimits, error)
}

// Health is how an engine's backend stands (its connection to Redis, say),
// for the status page.
type Health struct {
	// Reachable reports whether the backend answered the last probe.
	Reachable bool
	// ConnectedServers is how many backend servers answered it.
	ConnectedServers int
	// PendingCommands is how many commands are on their way now;
	// CommandsSent counts every command sent so far.
	PendingCommands int64
	CommandsSent    uint64
	// ChannelsLost is how many channels this node followed and lost with
	// a backend server (a failover, a crash, a moved slot), not followed
	// again yet; ChannelsUnfollowed, every channel not followed now.
	ChannelsLost, ChannelsUnfollowed int
	// Losses counts the times channels were lost with a backend server;
	// Restores the times every lost channel was followed again.
	Losses, Restores uint64
	// Nodes are the backend servers the last probe tried (a cluster's
	// masters) and whether each answered.
	Nodes []NodeHealth
}

// NodeHealth is how one backend server answered the last probe.
type NodeHealth struct {
	Addr string
	Up   bool
}

// HealthReporter is an engine with a backend that can say how it stands.
type HealthReporter interface {
	Health() Health
}
