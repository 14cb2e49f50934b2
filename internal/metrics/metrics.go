// Package metrics is Herald's Prometheus metrics: a consumer of the event
// bus (subscribers by transport and location, publish latency, delivery
// lag, refusals, hook and store calls) and of the counters the server and
// its stores keep (the bus's running totals, store.Stats,
// store.HealthReporter), read when the metrics are scraped.
//
// Nothing here runs on a request's path: events reach the collector's own
// goroutine through its bounded queue on the bus (an event that finds it
// full is dropped and counted in herald_metrics_events_dropped_total), and
// the totals are read at scrape time.
package metrics

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/heraldpush/herald/internal/events"
	"github.com/heraldpush/herald/internal/store"
)

// Namespace prefixes every Herald metric.
const Namespace = "herald"

// maxReasons caps the distinct reason labels of refusals; more are
// counted as "other", so a reason that carries request data cannot grow
// the metrics without bound.
const maxReasons = 64

// Options configure a Collector.
type Options struct {
	// Bus is the event bus the collector consumes and whose running totals
	// it reports.
	Bus *events.Bus
	// Stats sums the counters of every store.
	Stats func() store.Stats
	// Stores returns the stores, whose health (store.HealthReporter) is
	// reported.
	Stores func() []store.Store
	// AccessLog returns the access log's lines written and dropped; nil
	// when there is no access log.
	AccessLog func() (written, dropped uint64)
	// Version and NchanVersion are reported in herald_info.
	Version, NchanVersion string
	// Queue is the collector's queue on the bus (default 8192).
	Queue int
}

// Collector holds Herald's metrics and the goroutine that feeds them from
// the bus.
type Collector struct {
	o    Options
	reg  *prometheus.Registry
	sub  *events.Subscription
	done chan struct{}
	once sync.Once

	subscribers    *prometheus.GaugeVec
	publishSeconds *prometheus.HistogramVec
	deliveryLag    prometheus.Histogram
	deliveredBytes prometheus.Counter
	publishedBytes prometheus.Counter
	refused        *prometheus.CounterVec
	hookCalls      *prometheus.CounterVec
	hookSeconds    *prometheus.HistogramVec
	storeOps       *prometheus.CounterVec
	storeSeconds   *prometheus.HistogramVec

	reasons map[string]struct{} // owned by the goroutine
}

// consumed are the kinds the collector reads from the bus; the others are
// reported from the bus's running totals.
var consumed = []events.Kind{
	events.SubscriberJoined, events.SubscriberLeft, events.SubscriberRefused, events.RequestRefused,
	events.MessagePublished, events.MessageDelivered, events.StoreOp, events.HookCalled,
}

// New builds the metrics and starts consuming the bus; Close stops it.
func New(o Options) *Collector {
	if o.Queue <= 0 {
		o.Queue = 8192
	}
	c := &Collector{o: o, reg: prometheus.NewRegistry(), done: make(chan struct{}), reasons: map[string]struct{}{}}
	latency := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	c.subscribers = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "subscribers",
		Help: "Subscribers connected now, by transport and location."}, []string{"transport", "location"})
	c.publishSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "publish_duration_seconds",
		Help: "Time to store a published message in its channel, by location.", Buckets: latency}, []string{"location"})
	c.deliveryLag = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "delivery_lag_seconds",
		Help:    "Time from a message's publication (its id's time, whole seconds) to its delivery to a subscriber, once per batch delivered, with the batch's newest message.",
		Buckets: []float64{0, 1, 2, 5, 10, 30, 60, 300, 900, 3600}})
	c.deliveredBytes = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "delivered_bytes_total",
		Help: "Bytes of messages written to subscribers, as framed for their transport (long-poll: message bodies)."})
	c.publishedBytes = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "published_bytes_total",
		Help: "Bytes of message bodies published."})
	c.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "refused_requests_total",
		Help: "Requests refused before their role handler, by role, status and reason."}, []string{"role", "status", "reason"})
	c.hookCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "hook_calls_total",
		Help: "Calls to application hooks, by hook and the status the application answered (0: unreachable)."}, []string{"hook", "status"})
	c.hookSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "hook_duration_seconds",
		Help: "Time application hooks took to answer, by hook.", Buckets: latency}, []string{"hook"})
	c.storeOps = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "store_operations_total",
		Help: "Calls to the stores, by operation and result (ok or error)."}, []string{"op", "result"})
	c.storeSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "store_operation_duration_seconds",
		Help: "Time store calls took, by operation.", Buckets: latency}, []string{"op"})
	c.reg.MustRegister(c.subscribers, c.publishSeconds, c.deliveryLag, c.deliveredBytes, c.publishedBytes,
		c.refused, c.hookCalls, c.hookSeconds, c.storeOps, c.storeSeconds)
	c.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	c.reg.MustRegister(&scraped{c: c})
	c.sub = o.Bus.Subscribe(o.Queue, consumed...)
	go c.run()
	return c
}

// Registry returns the registry the metrics are in.
func (c *Collector) Registry() *prometheus.Registry { return c.reg }

// Close stops consuming the bus.
func (c *Collector) Close() {
	c.once.Do(func() {
		c.sub.Close()
		close(c.done)
	})
}

// run is the collector's goroutine.
func (c *Collector) run() {
	for {
		select {
		case e := <-c.sub.C():
			c.observe(&e)
		case <-c.done:
			return
		}
	}
}

// observe counts one event.
func (c *Collector) observe(e *events.Event) {
	switch e.Kind {
	case events.SubscriberJoined:
		c.subscribers.WithLabelValues(e.Transport, e.Location).Inc()
	case events.SubscriberLeft:
		c.subscribers.WithLabelValues(e.Transport, e.Location).Dec()
	case events.SubscriberRefused:
		c.refused.WithLabelValues("subscribe", strconv.Itoa(e.Status), c.reason(e.Reason)).Inc()
	case events.RequestRefused:
		c.refused.WithLabelValues(e.Transport, strconv.Itoa(e.Status), c.reason(e.Reason)).Inc()
	case events.MessagePublished:
		c.publishSeconds.WithLabelValues(e.Location).Observe(e.Duration.Seconds())
		c.publishedBytes.Add(float64(e.Bytes))
	case events.MessageDelivered:
		c.deliveredBytes.Add(float64(e.Bytes))
		if !e.MessageID.IsZero() {
			lag := e.Time.Unix() - e.MessageID.Time
			c.deliveryLag.Observe(float64(max(lag, 0)))
		}
	case events.StoreOp:
		result := "ok"
		if e.Err != nil {
			result = "error"
		}
		c.storeOps.WithLabelValues(e.Reason, result).Inc()
		c.storeSeconds.WithLabelValues(e.Reason).Observe(e.Duration.Seconds())
	case events.HookCalled:
		c.hookCalls.WithLabelValues(e.Reason, strconv.Itoa(e.Status)).Inc()
		c.hookSeconds.WithLabelValues(e.Reason).Observe(e.Duration.Seconds())
	}
}

// reason returns r as a label value, or "other" once maxReasons distinct
// reasons were seen.
func (c *Collector) reason(r string) string {
	if _, ok := c.reasons[r]; ok {
		return r
	}
	if len(c.reasons) >= maxReasons {
		return "other"
	}
	c.reasons[r] = struct{}{}
	return r
}

// ServeHTTP answers a scrape: Prometheus's text format, or with
// Accept: application/json the same figures as JSON (see WriteJSON).
func (c *Collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Method not allowed: use GET.", http.StatusMethodNotAllowed)
		return
	}
	if wantsJSON(r.Header.Get("Accept")) {
		c.serveJSON(w, r)
		return
	}
	c.serveText(w, r)
}

// scraped reports what is read at scrape time: the bus's running totals,
// the stores' counters and health, the access log's counts.
type scraped struct{ c *Collector }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
}

var (
	totals = []struct {
		kind events.Kind
		desc *prometheus.Desc
	}{
		{events.MessagePublished, desc("messages_published_total", "Messages published (stored in a channel; a message published to several channels counts once per channel).")},
		{events.MessageDelivered, desc("messages_delivered_total", "Messages written to subscribers (one per subscriber per message).")},
		{events.MessageExpired, desc("messages_expired_total", "Messages that left a channel's buffer by age (message_timeout).")},
		{events.SubscriberJoined, desc("subscribers_joined_total", "Subscribers admitted to their channels.")},
		{events.SubscriberRefused, desc("subscribers_refused_total", "Subscriber requests refused.")},
		{events.SubscriberTooSlow, desc("slow_subscribers_disconnected_total", "Streaming subscribers disconnected because they did not keep up.")},
		{events.ChannelCreated, desc("channels_created_total", "Channels created.")},
		{events.ChannelDeleted, desc("channels_deleted_total", "Channels deleted by a publisher or removed after their timeout.")},
		{events.StoreError, desc("store_errors_total", "Store calls that failed in their backend (Redis).")},
	}
	descInfo          = desc("info", "Herald's version, and the Nchan version whose protocol it speaks.", "version", "nchan_version")
	descChannels      = desc("channels", "Channels in the stores now.")
	descStoreSubs     = desc("store_subscribers", "Subscriptions the stores hold now (a subscriber of several channels holds one per channel).")
	descStored        = desc("stored_messages", "Messages buffered in the stores now.")
	descMemUsed       = desc("store_memory_used_bytes", "Memory the memory store uses for messages and channels.")
	descMemLimit      = desc("store_memory_limit_bytes", "The memory store's limit (max_reserved_memory); 0: none.")
	descEventsDropped = desc("events_dropped_total", "Events the event bus's consumers missed because their queues were full.")
	descMetricsDrop   = desc("metrics_events_dropped_total", "Events the metrics missed because their queue was full (the subscriber gauges may then be off).")
	descLogLines      = desc("access_log_lines_total", "Access log lines written.")
	descLogDropped    = desc("access_log_dropped_total", "Access log lines dropped because writing had fallen behind.")
	descRedisUp       = desc("redis_up", "Whether the store's Redis answered its last probe (1) or not (0).", "store")
	descRedisServers  = desc("redis_connected_servers", "Redis servers of the store that answered its last probe.", "store")
	descRedisNode     = desc("redis_node_up", "Whether a Redis server (a cluster's master) answered the last probe (1) or not (0).", "store", "node")
	descRedisPending  = desc("redis_pending_commands", "Commands sent to Redis and not answered yet.", "store")
	descRedisSent     = desc("redis_commands_sent_total", "Commands sent to Redis.", "store")
	descRedisLost     = desc("redis_channels_lost", "Channels this node followed and lost with a Redis server, not followed again yet.", "store")
)

// Describe implements prometheus.Collector.
func (s *scraped) Describe(ch chan<- *prometheus.Desc) {
	for _, t := range totals {
		ch <- t.desc
	}
	for _, d := range []*prometheus.Desc{descInfo, descChannels, descStoreSubs, descStored, descMemUsed, descMemLimit,
		descEventsDropped, descMetricsDrop, descLogLines, descLogDropped, descRedisUp, descRedisServers, descRedisNode,
		descRedisPending, descRedisSent, descRedisLost} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *scraped) Collect(ch chan<- prometheus.Metric) {
	c := s.c
	bus := c.o.Bus
	for _, t := range totals {
		ch <- prometheus.MustNewConstMetric(t.desc, prometheus.CounterValue, float64(bus.Count(t.kind)))
	}
	ch <- prometheus.MustNewConstMetric(descInfo, prometheus.GaugeValue, 1, c.o.Version, c.o.NchanVersion)
	if c.o.Stats != nil {
		st := c.o.Stats()
		ch <- prometheus.MustNewConstMetric(descChannels, prometheus.GaugeValue, float64(st.Channels))
		ch <- prometheus.MustNewConstMetric(descStoreSubs, prometheus.GaugeValue, float64(st.Subscribers))
		ch <- prometheus.MustNewConstMetric(descStored, prometheus.GaugeValue, float64(st.StoredMessages))
		ch <- prometheus.MustNewConstMetric(descMemUsed, prometheus.GaugeValue, float64(st.MemoryUsed))
		ch <- prometheus.MustNewConstMetric(descMemLimit, prometheus.GaugeValue, float64(st.MemoryLimit))
	}
	ch <- prometheus.MustNewConstMetric(descEventsDropped, prometheus.CounterValue, float64(bus.Dropped()))
	ch <- prometheus.MustNewConstMetric(descMetricsDrop, prometheus.CounterValue, float64(c.sub.Dropped()))
	if c.o.AccessLog != nil {
		written, dropped := c.o.AccessLog()
		ch <- prometheus.MustNewConstMetric(descLogLines, prometheus.CounterValue, float64(written))
		ch <- prometheus.MustNewConstMetric(descLogDropped, prometheus.CounterValue, float64(dropped))
	}
	if c.o.Stores == nil {
		return
	}
	n := 0
	for _, st := range c.o.Stores() {
		hr, ok := st.(store.HealthReporter)
		if !ok {
			continue
		}
		n++
		name := storeName(st, n)
		h := hr.Health()
		ch <- prometheus.MustNewConstMetric(descRedisUp, prometheus.GaugeValue, b2f(h.Reachable), name)
		ch <- prometheus.MustNewConstMetric(descRedisServers, prometheus.GaugeValue, float64(h.ConnectedServers), name)
		ch <- prometheus.MustNewConstMetric(descRedisPending, prometheus.GaugeValue, float64(h.PendingCommands), name)
		ch <- prometheus.MustNewConstMetric(descRedisSent, prometheus.CounterValue, float64(h.CommandsSent), name)
		ch <- prometheus.MustNewConstMetric(descRedisLost, prometheus.GaugeValue, float64(h.ChannelsLost), name)
		seen := map[string]bool{}
		for _, nd := range h.Nodes {
			if seen[nd.Addr] {
				continue
			}
			seen[nd.Addr] = true
			ch <- prometheus.MustNewConstMetric(descRedisNode, prometheus.GaugeValue, b2f(nd.Up), name, nd.Addr)
		}
	}
}

// storeName names a store in labels: its own name when it has one
// (fmt.Stringer), else its place among the stores with a backend.
func storeName(st store.Store, n int) string {
	if s, ok := st.(fmt.Stringer); ok {
		return s.String()
	}
	return "redis" + strconv.Itoa(n)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
