package server

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"path"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/web"
)

// The dashboard (a `dashboard: on` location, docs/dashboard.md) is a page
// whose figures come from what the server already keeps: the status page's
// counters, the stores' Stats and listings, the event bus's running totals.
// Two small things are kept always, because they cost nothing on the hot
// path (subscriber admissions and endings are not hot): subscribers per
// transport and the last slow-subscriber disconnects. Everything that
// needs the event stream (delivery lag) and the history the charts start
// with are kept only while at least one dashboard is open: the first
// viewer starts a sampler, the last one to leave stops it and drops its
// history.

const (
	// dashboardHistory is how many one-second samples the charts hold.
	dashboardHistory = 600
	// dashboardSlowKept is how many slow-subscriber disconnects are kept.
	dashboardSlowKept = 20
	// dashboardChannels is how many channels a snapshot lists at most.
	dashboardChannels = 100
	// dashboardLagKeys bounds the channels whose last publish time the
	// lag estimate remembers.
	dashboardLagKeys = 10000
)

// dashboardType is the Content-Type of a dashboard file, fixed rather than
// read from the system's tables (which differ between systems).
func dashboardType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	}
	return "application/octet-stream"
}

// dashboardState is the server's dashboard side.
type dashboardState struct {
	transports sync.Map // transport name → *atomic.Int64 subscribers now

	mu      sync.Mutex
	slow    []dashSlow // newest last, at most dashboardSlowKept
	viewers int
	sampler *dashSampler // running while viewers > 0
}

// dashSlow is one slow-subscriber disconnect.
type dashSlow struct {
	Time      int64  `json:"time"` // Unix milliseconds
	Channel   string `json:"channel"`
	Group     string `json:"group,omitempty"`
	Transport string `json:"transport"`
	Location  string `json:"location"`
	Remote    string `json:"remote"`
	Reason    string `json:"reason"`
}

// observe takes what the dashboard keeps always from an event the server
// emits.
func (d *dashboardState) observe(e *events.Event) {
	switch e.Kind {
	case events.SubscriberJoined:
		d.transport(e.Transport).Add(1)
	case events.SubscriberLeft:
		d.transport(e.Transport).Add(-1)
	case events.SubscriberTooSlow:
		t := e.Time
		if t.IsZero() {
			t = time.Now()
		}
		d.mu.Lock()
		if len(d.slow) == dashboardSlowKept {
			d.slow = slices.Delete(d.slow, 0, 1)
		}
		d.slow = append(d.slow, dashSlow{Time: t.UnixMilli(), Channel: e.Channel, Group: e.Group,
			Transport: e.Transport, Location: e.Location, Remote: e.Remote, Reason: e.Reason})
		d.mu.Unlock()
	}
}

func (d *dashboardState) transport(name string) *atomic.Int64 {
	if v, ok := d.transports.Load(name); ok {
		return v.(*atomic.Int64)
	}
	v, _ := d.transports.LoadOrStore(name, new(atomic.Int64))
	return v.(*atomic.Int64)
}

// transportCounts returns the subscribers connected now per transport.
func (d *dashboardState) transportCounts() map[string]int64 {
	out := map[string]int64{}
	d.transports.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// dashPoint is one second of the charts.
type dashPoint struct {
	Time        int64   `json:"t"` // Unix milliseconds
	Published   float64 `json:"pub"`
	Delivered   float64 `json:"del"`
	LagAvg      float64 `json:"lag_avg"` // milliseconds; -1: nothing delivered
	LagMax      float64 `json:"lag_max"`
	Subscribers int     `json:"subs"`
	Channels    int     `json:"chans"`
	Memory      int64   `json:"mem"` // store memory in bytes
	Heap        uint64  `json:"heap"`
}

// dashSampler takes one dashPoint a second while dashboards are open.
type dashSampler struct {
	s    *Server
	sub  *events.Subscription
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	history []dashPoint   // oldest first, at most dashboardHistory
	tick    chan struct{} // closed and replaced at every new point
}

// openDashboard registers a viewer, starting the sampler for the first.
func (s *Server) openDashboard() *dashSampler {
	d := &s.dash
	d.mu.Lock()
	defer d.mu.Unlock()
	d.viewers++
	if d.sampler == nil {
		d.sampler = &dashSampler{s: s, stop: make(chan struct{}), done: make(chan struct{}), tick: make(chan struct{}),
			sub: s.events.Subscribe(4096, events.MessagePublished, events.MessageDelivered)}
		go d.sampler.run()
	}
	return d.sampler
}

// closeDashboard ends a viewer, stopping the sampler after the last.
func (s *Server) closeDashboard() {
	d := &s.dash
	d.mu.Lock()
	defer d.mu.Unlock()
	d.viewers--
	if d.viewers == 0 && d.sampler != nil {
		close(d.sampler.stop)
		d.sampler.sub.Close()
		d.sampler = nil
	}
}

// run samples every second until stopped. Delivery lag is estimated from
// the events: a delivery's lag is its time less the time of the latest
// publish to its channel that this server saw (so it is measured for
// channels published through this server, and a burst counts from its
// last message).
func (sp *dashSampler) run() {
	defer close(sp.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	lastPub := map[[2]string]time.Time{}
	var lagSum, lagMax float64
	var lagN int
	prev := sp.s.dashCounters()
	prevT := time.Now()
	for {
		select {
		case <-sp.stop:
			return
		case <-sp.s.quit:
			return
		case e := <-sp.sub.C():
			k := [2]string{e.Group, e.Channel}
			switch e.Kind {
			case events.MessagePublished:
				if len(lastPub) >= dashboardLagKeys {
					clear(lastPub)
				}
				lastPub[k] = e.Time
			case events.MessageDelivered:
				if p, ok := lastPub[k]; ok {
					lag := float64(e.Time.Sub(p).Microseconds()) / 1000
					lag = max(lag, 0)
					lagSum += lag * float64(e.Count())
					lagN += e.Count()
					lagMax = max(lagMax, lag)
				}
			}
		case now := <-t.C:
			cur := sp.s.dashCounters()
			secs := now.Sub(prevT).Seconds()
			if secs <= 0 {
				secs = 1
			}
			st := sp.s.Stats()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			p := dashPoint{Time: now.UnixMilli(),
				Published: round2(float64(cur.published-prev.published) / secs),
				Delivered: round2(float64(cur.delivered-prev.delivered) / secs),
				LagAvg:    -1, LagMax: -1,
				Subscribers: st.Subscribers, Channels: st.Channels, Memory: st.MemoryUsed, Heap: ms.HeapAlloc}
			if lagN > 0 {
				p.LagAvg, p.LagMax = round2(lagSum/float64(lagN)), round2(lagMax)
			}
			lagSum, lagMax, lagN = 0, 0, 0
			prev, prevT = cur, now
			sp.mu.Lock()
			if len(sp.history) == dashboardHistory {
				sp.history = slices.Delete(sp.history, 0, 1)
			}
			sp.history = append(sp.history, p)
			close(sp.tick)
			sp.tick = make(chan struct{})
			sp.mu.Unlock()
		}
	}
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// wait returns the channel closed at the next point.
func (sp *dashSampler) wait() <-chan struct{} {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.tick
}

// since returns the points after time t (Unix milliseconds).
func (sp *dashSampler) since(t int64) []dashPoint {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	i, _ := slices.BinarySearchFunc(sp.history, t, func(p dashPoint, t int64) int {
		switch {
		case p.Time <= t:
			return -1
		default:
			return 1
		}
	})
	return append([]dashPoint{}, sp.history[i:]...)
}

// dashCounts are the running totals rates are computed from.
type dashCounts struct{ published, delivered uint64 }

func (s *Server) dashCounters() dashCounts {
	return dashCounts{published: s.Stats().Published, delivered: s.events.Count(events.MessageDelivered)}
}

// dashChannel is one channel of a snapshot's listing.
type dashChannel struct {
	Group         string `json:"group,omitempty"`
	ID            string `json:"id"`
	Messages      int    `json:"messages"`
	Subscribers   int    `json:"subscribers"`
	LastMessageID string `json:"last_message_id,omitempty"`
	LastPublished int64  `json:"last_published,omitempty"` // Unix seconds
}

// dashSnapshot is what the dashboard's event stream sends every second.
type dashSnapshot struct {
	Time       int64            `json:"time"`
	Status     status           `json:"status"`
	Transports map[string]int64 `json:"transports"`
	Slow       []dashSlow       `json:"slow"`
	Points     []dashPoint      `json:"points"` // new since the last snapshot (the history in the first)
	Channels   []dashChannel    `json:"channels"`
	// ChannelsMore says the listing was cut at its limit.
	ChannelsMore bool `json:"channels_more"`
	// ListingUnsupported names stores that cannot list their channels.
	ListingUnsupported int    `json:"listing_unsupported,omitempty"`
	ListingError       string `json:"listing_error,omitempty"`
	Delivered          uint64 `json:"total_delivered_messages"`
	Goroutines         int    `json:"goroutines"`
}

// snapshot gathers one snapshot; prefix filters the channel listing.
func (s *Server) snapshot(ctx context.Context, sp *dashSampler, since int64, prefix string) dashSnapshot {
	out := dashSnapshot{Time: s.now().UnixMilli(), Status: s.status(), Transports: s.dash.transportCounts(),
		Delivered: s.events.Count(events.MessageDelivered), Goroutines: runtime.NumGoroutine()}
	s.dash.mu.Lock()
	out.Slow = append([]dashSlow{}, s.dash.slow...)
	s.dash.mu.Unlock()
	slices.Reverse(out.Slow) // newest first
	out.Points = sp.since(since)
	out.Channels = []dashChannel{}
	for _, st := range s.stores {
		l, ok := st.(store.Lister)
		if !ok {
			out.ListingUnsupported++
			continue
		}
		room := dashboardChannels - len(out.Channels)
		if room <= 0 {
			out.ChannelsMore = true
			break
		}
		page, err := l.Channels(ctx, store.ListOptions{AllGroups: true, Prefix: prefix, Limit: room})
		if err != nil {
			out.ListingError = err.Error()
			continue
		}
		for _, c := range page.Channels {
			dc := dashChannel{Group: c.Key.Group, ID: c.Key.ID, Messages: c.Info.Messages, Subscribers: c.Info.Subscribers}
			if !c.Info.LastMessageID.IsZero() {
				dc.LastMessageID = c.Info.LastMessageID.String()
				dc.LastPublished = c.Info.LastMessageID.Time
			}
			out.Channels = append(out.Channels, dc)
		}
		out.ChannelsMore = out.ChannelsMore || page.Next != ""
	}
	return out
}

// dashboard serves a dashboard location: the page and its assets
// (?asset=NAME), and the event stream of snapshots (?events).
func (s *Server) dashboard(w http.ResponseWriter, q *route.Request) {
	r := q.HTTP
	if r.Method == http.MethodOptions {
		s.options(w, q)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		plainError(w, http.StatusMethodNotAllowed, "Method not allowed: use GET.")
		return
	}
	qs := r.URL.Query()
	if qs.Has("events") {
		s.dashboardEvents(w, r)
		return
	}
	name := "index.html"
	if a := qs.Get("asset"); a != "" {
		name = path.Clean("/" + a)[1:]
	}
	body, err := fs.ReadFile(web.Dashboard(), name)
	if err != nil {
		plainError(w, http.StatusNotFound, "No such dashboard file.")
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", dashboardType(name))
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	if name == "index.html" {
		hd.Set("Content-Security-Policy", "default-src 'self'; connect-src *; img-src 'self' data:")
		hd.Set("X-Frame-Options", "DENY")
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

// dashboardEvents streams a snapshot every second as EventSource events
// named "snapshot", until the client leaves or the server drains.
// ?prefix= filters the channel listing.
func (s *Server) dashboardEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		plainError(w, http.StatusInternalServerError, "Streaming is not available on this connection.")
		return
	}
	if !s.streams.add() {
		plainError(w, http.StatusServiceUnavailable, "Herald is shutting down.")
		return
	}
	defer s.streams.done()
	sp := s.openDashboard()
	defer s.closeDashboard()
	prefix := r.URL.Query().Get("prefix")
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream; charset=utf-8")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ctx := r.Context()
	var since int64
	for {
		next := sp.wait()
		snap := s.snapshot(ctx, sp, since, prefix)
		if n := len(snap.Points); n > 0 {
			since = snap.Points[n-1].Time
		}
		body, err := json.Marshal(snap)
		if err != nil {
			s.log.Error("dashboard snapshot", "err", err)
			return
		}
		buf := make([]byte, 0, len(body)+32)
		buf = append(buf, "event: snapshot\ndata: "...)
		buf = append(buf, body...)
		buf = append(buf, "\n\n"...)
		if _, err := w.Write(buf); err != nil {
			return
		}
		fl.Flush()
		select {
		case <-next:
		case <-ctx.Done():
			return
		case <-s.quit:
			return
		}
	}
}
