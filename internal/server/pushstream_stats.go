package server

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/heraldpush/herald/internal/pushstream"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
)

// A push-stream channel statistics location
// (push_stream_channels_statistics) answers GET only (405, Allow: GET, to
// any other method) as the module does: without a channel, the summary of
// every channel; ALL, every channel in detail; "prefix*" the channels whose
// id starts with prefix ("*" alone is ALL); otherwise the channels named
// that exist (404 when none does). Channels are listed in the order they
// were made. Formats by Accept, as pushstream.Negotiate picks them.

// psStatistics serves a push-stream channel statistics location.
func (s *Server) psStatistics(w http.ResponseWriter, q *route.Request) {
	r, ps := q.HTTP, q.Route.PushStream
	hd := w.Header()
	psNoCache(hd)
	if r.Method != http.MethodGet {
		hd.Set("Allow", "GET")
		psHeaderOnly(w, http.StatusMethodNotAllowed, "")
		return
	}
	hd[pushstream.HeaderTag] = []string{pushstream.Tag} // spelled as the module spells it
	chans := psChannels(q)
	if len(chans) == 0 {
		s.psSummary(w, q)
		return
	}
	for _, c := range chans {
		if len(c.ID) > ps.MaxIDLen {
			psHeaderOnly(w, http.StatusBadRequest, pushstream.ExplainTooLarge)
			return
		}
		if i := strings.IndexByte(c.ID, '*'); i >= 0 {
			s.psDetailed(w, q, c.ID[:i]) // "*" alone: every channel
			return
		}
		if c.ID == pushstream.AllChannelsID {
			s.psDetailed(w, q, "")
			return
		}
	}
	s.psChannelStats(w, q, chans)
}

// psDetailed answers the statistics of every channel whose id starts with
// prefix, under the group header.
func (s *Server) psDetailed(w http.ResponseWriter, q *route.Request, prefix string) {
	r := q.HTTP
	all, err := psList(r.Context(), q.Route.Store, prefix)
	if err != nil {
		psStoreError(w, err)
		return
	}
	slices.SortStableFunc(all, func(a, b store.ChannelInfo) int {
		if c := a.Info.Created.Compare(b.Info.Created); c != 0 {
			return c
		}
		return cmp.Compare(a.Key.ID, b.Key.ID)
	})
	stats := make([]pushstream.ChannelStats, len(all))
	for i, c := range all {
		stats[i] = psStats(c.Key.ID, c.Info)
	}
	h, err := s.psHeaderOf(r.Context(), q.Route)
	if err != nil {
		psStoreError(w, err)
		return
	}
	f := pushstream.Negotiate(r.Header.Get("Accept"))
	psWrite(w, f, f.AppendGroup(make([]byte, 0, 256+96*len(stats)), h, stats))
}

// psSummary answers the summary of every channel: the channels of the
// default group counted from a listing (wildcard or not, their stored
// messages; the events channel's messages left out, as the module counts
// them), and the store's count of messages published.
func (s *Server) psSummary(w http.ResponseWriter, q *route.Request) {
	r, rt := q.HTTP, q.Route
	ps := rt.PushStream
	all, err := psList(r.Context(), rt.Store, "")
	if err != nil {
		psStoreError(w, err)
		return
	}
	now := s.now()
	st := rt.Store.Stats()
	sum := pushstream.Summary{Header: pushstream.Header{Hostname: psHostname(), Time: now, Uptime: now.Sub(s.psPub.start)},
		Published: st.Published, Subscribers: uint64(max(st.Subscribers, 0))}
	for _, c := range all {
		if ps.IsWildcard(c.Key.ID) {
			sum.WildcardChannels++
		} else {
			sum.Channels++
		}
		if ps.EventsChannelID != "" && c.Key.ID == ps.EventsChannelID {
			sum.Published -= min(sum.Published, c.Info.Published)
			continue
		}
		sum.Stored += uint64(max(c.Info.Messages, 0))
	}
	sum.Workers = []pushstream.Worker{{PID: os.Getpid(), Subscribers: sum.Subscribers, Uptime: sum.Uptime}}
	f := pushstream.Negotiate(r.Header.Get("Accept"))
	psWrite(w, f, f.AppendSummary(make([]byte, 0, 512), sum))
}

// psHeaderOf is the group header of a push-stream route: the host, the
// time, the channel counts of its store and the server's uptime.
func (s *Server) psHeaderOf(ctx context.Context, rt *route.Route) (pushstream.Header, error) {
	channels, wildcards, err := s.psCounts(ctx, rt)
	if err != nil {
		return pushstream.Header{}, err
	}
	now := s.now()
	return pushstream.Header{Hostname: psHostname(), Time: now, Channels: channels, WildcardChannels: wildcards, Uptime: now.Sub(s.psPub.start)}, nil
}

// psList lists the channels of st's default group whose id starts with
// prefix, with their info, in key order.
func psList(ctx context.Context, st store.Store, prefix string) ([]store.ChannelInfo, error) {
	l, ok := st.(store.Lister)
	if !ok {
		return nil, errors.New("the store cannot list its channels")
	}
	var out []store.ChannelInfo
	o := store.ListOptions{Prefix: prefix, Limit: store.MaxListLimit}
	for {
		page, err := l.Channels(ctx, o)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Channels...)
		if page.Next == "" {
			return out, nil
		}
		o.After = page.Next
	}
}
