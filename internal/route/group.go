package route

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/location"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

// GroupAccounting is a location's channel group accounting
// (channel_group_accounting): where its group's counts and limits are
// kept, and the limits the location sets (group_max_*). A route without
// accounting has none, and its requests pay nothing for it.
type GroupAccounting struct {
	Stats  store.GroupAccounter
	Limits store.GroupLimiter
	// Max are the location's group_max_* values; an empty one leaves the
	// group's limit as it is.
	Max [config.NumGroupLimits]location.Expr
	// sets is whether any Max is configured.
	sets bool
}

// AccountsGroups reports whether st keeps group counts and limits, as
// channel_group_accounting needs.
func AccountsGroups(st store.Store) bool {
	_, a := st.(store.GroupAccounter)
	_, l := st.(store.GroupLimiter)
	return a && l
}

// newGroupAccounting returns the accounting of a location, nil when it has
// none or st keeps no group counts (see AccountsGroups).
func newGroupAccounting(l *config.Location, st store.Store) *GroupAccounting {
	if !l.ChannelGroupAccounting || st == nil || !AccountsGroups(st) {
		return nil
	}
	g := &GroupAccounting{Stats: st.(store.GroupAccounter), Limits: st.(store.GroupLimiter), Max: l.GroupMax}
	for _, e := range g.Max {
		if !e.IsEmpty() {
			g.sets = true
		}
	}
	return g
}

// groupRefusal is a 403 with Nchan's exact text/plain body.
func groupRefusal(msg string) *Refusal {
	return &Refusal{Status: http.StatusForbidden, Reason: "group limit", Message: msg, Raw: true}
}

// limitsToSet evaluates the location's group_max_* values for a request: the
// limits to set, negative where a value is not configured or empty. A
// value that is not a number refuses the request, as Nchan does.
func (g *GroupAccounting) limitsToSet(vars location.Request) (store.GroupLimits, *Refusal) {
	var v [config.NumGroupLimits]int64
	for i, e := range g.Max {
		v[i] = -1
		if e.IsEmpty() {
			continue
		}
		s := e.Eval(vars)
		if s == "" {
			continue
		}
		n, err := config.ParseGroupLimit(config.GroupLimit(i), s)
		if err != nil {
			return store.GroupLimits{}, groupRefusal("invalid nchan_" + config.GroupLimit(i).Key() + " value")
		}
		v[i] = n
	}
	return store.GroupLimits{Channels: v[0], Subscribers: v[1], Messages: v[2], MessageBytes: v[3], DiskBytes: v[4]}, nil
}

// Apply sets the location's group_max_* values (those it configures) as
// the group's limits and returns them all: what every request to a
// location with accounting does first, and what a group location's POST
// does.
func (g *GroupAccounting) Apply(ctx context.Context, vars location.Request, group string) (store.GroupLimits, *Refusal, error) {
	if !g.sets {
		l, err := g.Limits.GroupLimits(ctx, group)
		return l, nil, err
	}
	set, rf := g.limitsToSet(vars)
	if rf != nil {
		return store.GroupLimits{}, rf, nil
	}
	// Usually the group has them already: read, and write only a change
	// (on Redis a read is one round trip and replicates nothing).
	cur, err := g.Limits.GroupLimits(ctx, group)
	if err != nil || cur.Keep(set) == cur {
		return cur, nil, err
	}
	l, err := g.Limits.SetGroupLimits(ctx, group, set)
	return l, nil, err
}

// groupStage sets a request's group limits, when its location configures
// any, and checks a subscriber against them: a subscriber that would make
// a channel past group_max_channels, or be one subscriber past
// group_max_subscribers, gets 403 with an empty body, as in Nchan.
// Publishers are checked as they publish (CheckPublish), when the message
// is known.
type groupStage struct{}

func (groupStage) Name() string { return "group" }

func (groupStage) Run(ctx context.Context, q *Request) *Refusal {
	g := q.Route.Group
	group := q.Channels[0].Key.Group
	var (
		l   store.GroupLimits
		err error
		rf  *Refusal
	)
	if g.sets || q.Role == Subscribe {
		if l, rf, err = g.Apply(ctx, q.Vars(), group); rf != nil {
			return rf
		}
	}
	if err == nil && q.Role == Subscribe && (l.Channels > 0 || l.Subscribers > 0) {
		rf, err = g.checkSubscribe(ctx, q.Route.Store, q.Keys(), l)
	}
	if err != nil {
		return storeRefusal(err)
	}
	if rf != nil && (q.Transport == config.LongPoll || q.Transport == config.IntervalPoll) {
		rf.Header = pollRefusalHeaders(q, rf.Status)
	}
	return rf
}

// pollRefusalHeaders are the headers Nchan's poll subscribers put on every
// answer, a refusal included: the id the request named, Vary and, to a
// cross-origin request, Access-Control-Expose-Headers.
func pollRefusalHeaders(q *Request, status int) http.Header {
	hd := http.Header{}
	var id msgid.Multi
	if q.Cursor.Given {
		id = msgid.FromCursors(q.Cursor.IDs, max(q.Cursor.Active, 0))
	}
	q.SetIDHeaders(hd, id, status)
	q.ExposeIDs(hd)
	return hd
}

func (g *GroupAccounting) checkSubscribe(ctx context.Context, st store.Store, keys []store.ChannelKey, l store.GroupLimits) (*Refusal, error) {
	stats, err := g.Stats.GroupStats(ctx, keys[0].Group)
	if err != nil {
		return nil, err
	}
	forbidden := &Refusal{Status: http.StatusForbidden, Reason: "group limit"}
	if l.Subscribers > 0 && int64(stats.Subscribers+len(keys)) > l.Subscribers {
		return forbidden, nil
	}
	if l.Channels > 0 && int64(stats.Channels+len(keys)) > l.Channels {
		made, err := uncreated(ctx, st, keys)
		if err != nil {
			return nil, err
		}
		if made > 0 && int64(stats.Channels+made) > l.Channels {
			return forbidden, nil
		}
	}
	return nil, nil
}

// uncreated counts the keys that name no channel yet.
func uncreated(ctx context.Context, st store.Store, keys []store.ChannelKey) (int, error) {
	n := 0
	for _, k := range keys {
		_, err := st.Info(ctx, k)
		switch {
		case errors.Is(err, store.ErrNotFound):
			n++
		case err != nil:
			return 0, err
		}
	}
	return n, nil
}

// CheckPublish checks a publish of p to keys against the group's limits,
// in Nchan's order: messages (the group has as many as group_max_messages
// already), memory (the message, once in each channel, would pass
// group_max_messages_memory), then channels (it would make channels past
// group_max_channels). A refusal is a *Refusal error (403, Nchan's body);
// nil lets the publish go on.
func (g *GroupAccounting) CheckPublish(ctx context.Context, st store.Store, keys []store.ChannelKey, p store.Publication) error {
	group := keys[0].Group
	l, err := g.Limits.GroupLimits(ctx, group)
	if err != nil {
		return err
	}
	if l.Messages <= 0 && l.MessageBytes <= 0 && l.Channels <= 0 {
		return nil
	}
	stats, err := g.Stats.GroupStats(ctx, group)
	if err != nil {
		return err
	}
	if l.Messages > 0 && int64(stats.Messages) >= l.Messages {
		return groupRefusal("Group limit reached for number of messages.")
	}
	if l.MessageBytes > 0 {
		size := int64(len(p.Body)+len(p.ContentType)+len(p.EventName)) + (&store.Message{}).Size()
		if stats.MessageBytes+int64(len(keys))*size > l.MessageBytes {
			return groupRefusal("Group limit reached for memory used by messages.")
		}
	}
	if l.Channels > 0 && int64(stats.Channels+len(keys)) > l.Channels {
		made, err := uncreated(ctx, st, keys)
		if err != nil {
			return err
		}
		if int64(stats.Channels+made) > l.Channels {
			return groupRefusal("Group limit reached for number of channels.")
		}
	}
	return nil
}

// GroupName evaluates a group location's group (channel_group) for a
// request: "" (the default group) when it names none. A group with "/"
// names no group Herald can keep: ok is false.
func (rt *Route) GroupName(q *Request) (name string, ok bool) {
	name = rt.Channels.Group.Eval(q.Vars())
	return name, !strings.Contains(name, "/")
}

// storeRefusal answers a request whose group check failed in the store.
func storeRefusal(err error) *Refusal {
	switch {
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrClosed),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return refuse(http.StatusServiceUnavailable, "store", "Message store unavailable.")
	}
	return refuse(http.StatusInternalServerError, "store", "Internal error.")
}
