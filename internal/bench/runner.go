package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// channel is one channel under test: its URLs, the sequence numbers handed
// out to its messages, and which of them the server acknowledged.
type channel struct {
	name    string
	subURI  string // request target of the subscriber URL
	pubURL  string
	wsURL   string
	ordered bool // one publisher at a time: messages have a defined order

	next  atomic.Uint64 // next sequence number to publish
	pubMu sync.Mutex    // held across a publish when ordered
	live  atomic.Int64  // established subscribers now

	mu        sync.Mutex
	acked     bitset
	ackedN    atomic.Int64
	lastAcked atomic.Int64      // highest acknowledged sequence number; -1: none
	ids       map[uint64]string // storm: the message id each publish answered, by sequence number
}

func (ch *channel) ack(seq uint64) {
	ch.mu.Lock()
	ch.acked.set(seq)
	ch.mu.Unlock()
	ch.ackedN.Add(1)
	for {
		old := ch.lastAcked.Load()
		if int64(seq) <= old || ch.lastAcked.CompareAndSwap(old, int64(seq)) {
			return
		}
	}
}

// accounting sums the subscribers' delivery records.
type accounting struct {
	subscribers  int    // established subscribers accounted
	complete     int    // of which got everything expected
	withLoss     int    // of which lost something
	received     uint64 // messages they received, duplicates included
	expected     uint64
	lost         uint64
	duplicated   uint64
	outOfOrder   uint64
	reachedAny   int   // subscribers that received at least one message
	lastDelivery int64 // unix nanos
}

// runner holds one run's shared state.
type runner struct {
	cfg      *Config
	pub, sub *endpoint
	sources  []net.IP
	ctx      context.Context
	cancel   context.CancelFunc
	client   *http.Client
	start    time.Time
	chans    []*channel

	phase atomic.Pointer[string]

	connected     atomic.Int64
	connectFailed atomic.Int64
	streamErrors  atomic.Int64
	deliveries    atomic.Int64
	backlog       atomic.Int64
	malformed     atomic.Int64
	published     atomic.Int64
	acked         atomic.Int64
	firstPublish  atomic.Int64 // unix nanos
	lastEstab     atomic.Int64 // unix nanos
	disconnects   atomic.Int64 // churn: subscribers closed on purpose
	reconnects    atomic.Int64 // churn: subscribers opened to replace them
	pubErrRun     atomic.Int64 // publishes in a row without an answer

	storm *stormState // storm's own records; nil in the other scenarios

	connectHist  *Histogram
	deliveryHist *Histogram
	publishHist  *Histogram

	nextID   atomic.Int64
	subWG    sync.WaitGroup
	react    *reactor // reads established streaming subscribers
	stopping atomic.Bool

	mu       sync.Mutex
	live     map[*subscriber]struct{}
	pending  []*subscriber // ended, accounted when the run ends
	errs     map[string]int64
	statuses map[int]int64
	acc      accounting
	warnings []string
}

func newRunner(ctx context.Context, cfg *Config) (*runner, error) {
	pub, err := parseEndpoint("pub", cfg.Pub)
	if err != nil {
		return nil, err
	}
	sub, err := parseEndpoint("sub", cfg.Sub)
	if err != nil {
		return nil, err
	}
	conns := cfg.subscriberCount() + cfg.Publishers + 8
	if cfg.Scenario == ScenarioChurn {
		// Replaced connections linger in TIME_WAIT on this side.
		conns += int(cfg.ChurnRate * cfg.Duration.Seconds())
	}
	if cfg.Scenario == ScenarioStorm {
		// Every subscriber connects twice.
		conns += cfg.subscriberCount()
	}
	lo, hi := portRange()
	inUse := portsInUse(lo, hi)
	sources, err := planSources(sub.ip, conns, hi-lo+1, cfg.SourceAddrs, func(ip net.IP) int {
		return inUse[[4]byte(ip.To4())]
	})
	if err != nil {
		return nil, err
	}
	r := &runner{
		cfg:          cfg,
		pub:          pub,
		sub:          sub,
		sources:      sources,
		connectHist:  NewHistogram(),
		deliveryHist: NewHistogram(),
		publishHist:  NewHistogram(),
		live:         make(map[*subscriber]struct{}),
		errs:         make(map[string]int64),
		statuses:     make(map[int]int64),
	}
	// Streaming subscribers are read by a few goroutines, leaving a core's
	// worth of scheduling to the publishers and the connecting.
	if r.react, err = newReactor(max(1, runtime.GOMAXPROCS(0)-1)); err != nil {
		return nil, fmt.Errorf("subscriber reader: %w", err)
	}
	if cfg.Scenario == ScenarioStorm {
		r.storm = newStormState()
	}
	r.ctx, r.cancel = context.WithCancel(ctx)
	r.setPhase("starting")
	// Publishers are few: the kernel picks their source address and port.
	r.client = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return r.dial(ctx, pub.addr, nil)
		},
		MaxIdleConns:        cfg.Publishers + 8,
		MaxIdleConnsPerHost: cfg.Publishers + 8,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}}
	prefix := cfg.Channel
	if prefix == "" {
		var b [4]byte
		rand.Read(b[:])
		prefix = "bench-" + hex.EncodeToString(b[:])
	}
	n := cfg.channelCount()
	ordered := cfg.Publishers <= n
	for i := range n {
		name := prefix
		if n > 1 {
			name = prefix + "-" + strconv.Itoa(i)
		}
		ch := &channel{
			name:    name,
			subURI:  sub.requestURI(name),
			pubURL:  pub.httpURL(name),
			wsURL:   sub.wsURL(name),
			ordered: ordered,
		}
		ch.lastAcked.Store(-1)
		if r.storm != nil {
			ch.ids = make(map[uint64]string)
		}
		r.chans = append(r.chans, ch)
	}
	return r, nil
}

func (r *runner) setPhase(p string) { r.phase.Store(&p) }

func (r *runner) sourceFor(id int) net.IP {
	if len(r.sources) == 0 {
		return nil
	}
	return r.sources[id%len(r.sources)]
}

func (r *runner) warn(format string, args ...any) {
	r.mu.Lock()
	r.warnings = append(r.warnings, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// dial opens a TCP connection to addr from source address src (nil: the
// kernel's choice).
func (r *runner) dial(ctx context.Context, addr string, src net.IP) (net.Conn, error) {
	d := net.Dialer{Timeout: r.cfg.Timeout, KeepAlive: -1}
	if src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	return d.DialContext(ctx, "tcp", addr)
}

func (r *runner) noteEstablished(t time.Time) {
	v := t.UnixNano()
	for {
		old := r.lastEstab.Load()
		if v <= old || r.lastEstab.CompareAndSwap(old, v) {
			return
		}
	}
}

// countError counts err under a short class name, so the table stays small
// whatever the addresses in the messages.
func (r *runner) countError(where string, err error) {
	k := where + ": " + errorClass(err)
	r.mu.Lock()
	if _, ok := r.errs[k]; ok || len(r.errs) < 32 {
		r.errs[k]++
	} else {
		r.errs[where+": other"]++
	}
	r.mu.Unlock()
}

func errorClass(err error) string {
	var se *statusError
	var ce *wsCloseError
	var ne net.Error
	switch {
	case err == nil:
		return "none"
	case errors.As(err, &se):
		return fmt.Sprintf("HTTP %d", se.code)
	case errors.As(err, &ce):
		return fmt.Sprintf("websocket close %d %s", ce.code, ce.reason)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too many open files"
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return "no free local port (use --source-addrs)"
	case errors.Is(err, errStreamClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "server closed the connection"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// startSubscriber opens one subscriber on ch; onConnect (may be nil) is
// told once whether it got established.
func (r *runner) startSubscriber(ch *channel, onConnect func(ok bool)) *subscriber {
	s := &subscriber{r: r, ch: ch, id: int(r.nextID.Add(1) - 1), onConnect: onConnect}
	s.src = r.sourceFor(s.id)
	s.maxSeen.Store(-1)
	s.keepID = r.storm != nil && r.cfg.Transport == TransportEventSource
	r.launch(s)
	return s
}

// launch registers s and starts its goroutine.
func (r *runner) launch(s *subscriber) {
	r.mu.Lock()
	r.live[s] = struct{}{}
	r.mu.Unlock()
	r.subWG.Add(1)
	go s.run()
}

// ended is called by a subscriber's goroutine as it exits.
func (r *runner) ended(s *subscriber) {
	if s.wasConnected {
		s.ch.live.Add(-1)
	}
	s.exited.Store(true)
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.live, s)
	if !s.wasConnected || s.resumed.Load() {
		// Never there, or its record carries on in the subscriber that
		// resumed from it (storm).
		return
	}
	if s.churned.Load() {
		// Closed on purpose mid-run: held to what it got up to its last
		// message.
		r.accountLocked(s, false)
		return
	}
	r.pending = append(r.pending, s)
}

// accountLocked adds a subscriber's record to the totals. final says the
// subscriber was there until publishing ended: it is held to every message
// acknowledged on its channel since it was established.
func (r *runner) accountLocked(s *subscriber, final bool) {
	ch := s.ch
	ch.mu.Lock()
	var end uint64
	endOK := false
	if final {
		if la := ch.lastAcked.Load(); la >= 0 {
			end, endOK = uint64(la), true
		}
	} else if s.tr.any {
		end, endOK = s.tr.max, true
	}
	lost, expected := s.tr.lost(ch.acked, s.tr.expect(s.floor, end, endOK))
	ch.mu.Unlock()
	a := &r.acc
	a.subscribers++
	a.received += s.tr.received
	a.expected += expected
	a.lost += lost
	a.duplicated += s.tr.duplicated
	a.outOfOrder += s.tr.outOfOrder
	if lost > 0 {
		a.withLoss++
	} else {
		a.complete++
	}
	if s.tr.distinct > 0 {
		a.reachedAny++
	}
	a.lastDelivery = max(a.lastDelivery, s.lastRecv)
}

// connectMany opens n subscribers, subscriber i on chanOf(i), at most
// --concurrency connecting at once and spread over --ramp. It returns when
// all are established or failed, or --ramp plus --timeout has passed.
func (r *runner) connectMany(n int, chanOf func(i int) *channel) (phase time.Duration) {
	if n == 0 {
		return 0
	}
	r.setPhase("connecting")
	start := time.Now()
	ctx, cancel := context.WithDeadline(r.ctx, start.Add(r.cfg.Ramp+r.cfg.Timeout))
	defer cancel()
	sem := make(chan struct{}, r.cfg.Concurrency)
	var outstanding atomic.Int64
	outstanding.Store(int64(n))
	allDone := make(chan struct{})
	finish := func() {
		if outstanding.Add(-1) == 0 {
			close(allDone)
		}
	}
	go func() {
		for i := range n {
			if r.cfg.Ramp > 0 {
				at := start.Add(time.Duration(int64(r.cfg.Ramp) * int64(i) / int64(n)))
				if !sleepUntil(ctx, at) {
					return
				}
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			r.startSubscriber(chanOf(i), func(bool) {
				<-sem
				finish()
			})
		}
	}()
	select {
	case <-allDone:
	case <-ctx.Done():
		if r.ctx.Err() == nil {
			r.warn("connect phase stopped after %s with %d of %d subscribers established", time.Since(start).Round(time.Millisecond), r.connected.Load(), n)
		}
	}
	end := time.Unix(0, r.lastEstab.Load())
	if end.Before(start) {
		return time.Since(start)
	}
	return end.Sub(start)
}

// sleepUntil sleeps until t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// serverSubscribers asks the server (GET on the publisher URL, as Nchan's
// channel info) how many subscribers ch has.
func (r *runner) serverSubscribers(ch *channel) (int, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", ch.pubURL, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "text/json")
	res, err := r.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 4096))
	if err != nil {
		return 0, err
	}
	if res.StatusCode == http.StatusNotFound {
		return 0, nil
	}
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("channel info: HTTP %d", res.StatusCode)
	}
	var info struct {
		Subscribers *int `json:"subscribers"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(body), &info); err != nil || info.Subscribers == nil {
		return 0, fmt.Errorf("channel info is not JSON with a subscribers field")
	}
	return *info.Subscribers, nil
}

// waitServerSubscribers waits until the server counts every established
// subscriber on the channels (at most --timeout), so publishing starts with
// all of them in place: a long-poll request or a stream counts as
// established before the server has registered it. It returns how many the
// server confirmed, or -1 if it could not tell.
func (r *runner) waitServerSubscribers(chans []*channel) int {
	if len(chans) > 100 || r.cfg.Transport == TransportIntervalPoll {
		// An interval-poll subscriber is not waiting at the server between
		// its polls: no server counts it.
		return -1
	}
	r.setPhase("registering")
	deadline := time.Now().Add(r.cfg.Timeout)
	for {
		total, all := 0, true
		for _, ch := range chans {
			n, err := r.serverSubscribers(ch)
			if err != nil {
				r.warn("cannot read the server's subscriber count: %v", err)
				return -1
			}
			total += n
			if int64(n) < ch.live.Load() {
				all = false
			}
		}
		if all || time.Now().After(deadline) || r.ctx.Err() != nil {
			if !all {
				r.warn("the server counted %d subscribers after %s", total, r.cfg.Timeout)
			}
			return total
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// maxPublishErrors publishes in a row without an answer (connection
// refused, timeouts) end publishing: the server is gone.
const maxPublishErrors = 100

// pubPlan says what to publish: message i goes to chanOf(i).
type pubPlan struct {
	limit  int64 // messages in all; 0: until the deadline
	rate   float64
	pace   time.Duration
	until  time.Time
	start  time.Time
	next   atomic.Int64
	chanOf func(i int64) *channel
}

// publish runs k publishers through the plan.
func (r *runner) publish(k int, plan *pubPlan) {
	r.setPhase("publishing")
	plan.start = time.Now()
	var wg sync.WaitGroup
	for p := range k {
		wg.Go(func() { r.publisher(p, plan) })
	}
	wg.Wait()
}

func (r *runner) publisher(p int, plan *pubPlan) {
	if r.cfg.Batch > 0 {
		r.batchPublisher(p, plan)
		return
	}
	buf := make([]byte, 0, max(r.cfg.Size, minBodySize))
	for r.ctx.Err() == nil && r.pubErrRun.Load() < maxPublishErrors {
		i := plan.next.Add(1) - 1
		if plan.limit > 0 && i >= plan.limit {
			return
		}
		if plan.rate > 0 {
			at := plan.start.Add(time.Duration(float64(i) / plan.rate * float64(time.Second)))
			if at.After(plan.until) || !sleepUntil(r.ctx, at) {
				return
			}
		}
		if time.Now().After(plan.until) {
			return
		}
		buf = r.publishOne(p, plan.chanOf(i), buf)
		if plan.rate == 0 && plan.pace > 0 && !sleepUntil(r.ctx, time.Now().Add(plan.pace)) {
			return
		}
	}
}

// publishOne publishes the channel's next message and records the answer.
func (r *runner) publishOne(p int, ch *channel, buf []byte) []byte {
	buf, _ = r.publishMsg(p, ch, buf, false)
	return buf
}

// publishMsg is publishOne; with wantID it also asks for the channel's
// info in JSON and returns the id of the message published, read from it
// ("" if the answer did not say).
func (r *runner) publishMsg(p int, ch *channel, buf []byte, wantID bool) ([]byte, string) {
	if ch.ordered {
		ch.pubMu.Lock()
		defer ch.pubMu.Unlock()
	}
	seq := ch.next.Add(1) - 1
	t := time.Now()
	buf = appendBody(buf[:0], seq, t.UnixNano(), r.cfg.Size)
	r.firstPublish.CompareAndSwap(0, t.UnixNano())
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.Timeout)
	defer cancel()
	r.published.Add(1)
	req, err := http.NewRequestWithContext(ctx, "POST", ch.pubURL, bytes.NewReader(buf))
	if err != nil {
		r.countStatus(0)
		r.countError("publish", err)
		return buf, ""
	}
	req.Header.Set("Content-Type", "text/plain")
	if wantID {
		req.Header.Set("Accept", "text/json")
	}
	res, err := r.client.Do(req)
	if err != nil {
		r.countStatus(0)
		r.countError("publish", err)
		if r.pubErrRun.Add(1) == maxPublishErrors && r.ctx.Err() == nil {
			r.warn("publishing stopped after %d publishes in a row got no answer", maxPublishErrors)
		}
		return buf, ""
	}
	r.pubErrRun.Store(0)
	id := ""
	if wantID {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		id = lastMessageID(body)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	r.countStatus(res.StatusCode)
	if res.StatusCode/100 == 2 {
		r.publishHist.Record(p, time.Since(t))
		r.acked.Add(1)
		if id != "" && ch.ids != nil {
			ch.mu.Lock()
			ch.ids[seq] = id
			ch.mu.Unlock()
		}
		ch.ack(seq)
	}
	return buf, id
}

func (r *runner) countStatus(code int) {
	r.mu.Lock()
	r.statuses[code]++
	r.mu.Unlock()
}

// drain waits until every live subscriber has every acknowledged message,
// or timeout. It reports whether they all did.
func (r *runner) drain(timeout time.Duration) bool {
	r.setPhase("draining")
	deadline := time.Now().Add(timeout)
	for {
		if r.allCaughtUp() {
			return true
		}
		if time.Now().After(deadline) || r.ctx.Err() != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *runner) allCaughtUp() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.live {
		if !s.caughtUp() {
			return false
		}
	}
	return true
}

// accounting returns the totals so far.
func (r *runner) accounting() accounting {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.acc
}

// liveSubscribers returns the subscribers now running.
func (r *runner) liveSubscribers() []*subscriber {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*subscriber, 0, len(r.live))
	for s := range r.live {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// stopAll closes every subscriber, waits for their goroutines and accounts
// those still to be.
func (r *runner) stopAll() {
	r.setPhase("closing")
	r.stopping.Store(true)
	for _, s := range r.liveSubscribers() {
		s.stop(true)
	}
	r.cancel()
	done := make(chan struct{})
	go func() {
		r.subWG.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		r.warn("some subscribers did not stop within 10s")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.pending {
		if s.exited.Load() {
			r.accountLocked(s, true)
		}
	}
	r.pending = nil
}
