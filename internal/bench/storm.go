package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The storm scenario: N subscribers get one message per channel; then
// every connection is dropped at once and all N reconnect, unpaced (at most
// --concurrency at a time), each resuming with a Last-Event-ID request
// header from the last message it received. When --storm-publish-at of the
// reconnections are established, one more message is published to each
// channel. Every reconnected subscriber must receive that message exactly
// once and nothing it had before the drop.
//
// A reconnected subscriber carries on the dropped one's delivery record,
// so the run accounts each client once: both messages expected, the first
// received before the drop and the second after.

// stormSeq is the mid-storm message's sequence number on every channel:
// the first message is 0.
const stormSeq = 1

// stormGrace is how long the run keeps reading after every reconnected
// subscriber has the mid-storm message, so a late duplicate is counted.
const stormGrace = 200 * time.Millisecond

// stormState is storm's record of the reconnect phase, shared by the
// subscribers' goroutines.
type stormState struct {
	handshakeHist  *Histogram
	start          atomic.Int64 // unix nanos the reconnections began
	lastEstab      atomic.Int64 // unix nanos of the last one established
	established    atomic.Int64
	failed         atomic.Int64
	resumed        atomic.Int64 // reconnections that sent a message id
	publishedAfter atomic.Int64 // reconnections established when the mid-storm message was published
	spanFirst      atomic.Int64 // nanos from publishing to the first receipt of the mid-storm message; -1: none
	spanLast       atomic.Int64 // and to the last; -1: none
}

func newStormState() *stormState {
	st := &stormState{handshakeHist: NewHistogram()}
	st.spanFirst.Store(-1)
	st.spanLast.Store(-1)
	st.publishedAfter.Store(-1)
	return st
}

func (st *stormState) noteEstablished(t time.Time) {
	storeMax(&st.lastEstab, t.UnixNano())
}

// delivered records, before the tracker does, a message a reconnected
// subscriber received: the mid-storm message (sent at ts) and its span,
// or a message it had before the drop, again.
func (st *stormState) delivered(s *subscriber, seq uint64, ts, now int64) {
	switch {
	case seq == stormSeq:
		s.stormGot++
		d := max(now-ts, 0)
		storeMax(&st.spanLast, d)
		for {
			old := st.spanFirst.Load()
			if (old >= 0 && d >= old) || st.spanFirst.CompareAndSwap(old, d) {
				break
			}
		}
	case s.tr.seen.has(seq):
		s.replayed++
	case s.tr.any && seq < s.tr.max:
		s.outOfOrder++
	}
}

// storeMax raises v to at least x.
func storeMax(v *atomic.Int64, x int64) {
	for {
		old := v.Load()
		if x <= old || v.CompareAndSwap(old, x) {
			return
		}
	}
}

// StormResult is storm's reconnect phase and its mid-storm message.
type StormResult struct {
	Dropped     int         `json:"dropped"`     // established subscribers whose connections were closed at once
	Reconnected int64       `json:"reconnected"` // reconnections established
	Failed      int64       `json:"failed"`      // reconnections that failed
	Resumed     int64       `json:"resumed"`     // reconnections that sent a Last-Event-ID
	Seconds     float64     `json:"seconds"`     // first reconnection attempt to the last established
	PerSecond   float64     `json:"per_second"`  // reconnected / seconds
	Handshake   Percentiles `json:"handshake"`   // connection start to the response head (WebSocket: the handshake answer)

	PublishAt      float64 `json:"publish_at"`      // --storm-publish-at
	PublishedAfter int64   `json:"published_after"` // reconnections established when the mid-storm message was published; -1: not published
	SpanFirstMs    float64 `json:"span_first_ms"`   // its publish to the first reconnected subscriber receiving it
	SpanLastMs     float64 `json:"span_last_ms"`    // and to the last

	Received   int64 `json:"received"`     // reconnected subscribers that received it
	Lost       int64 `json:"lost"`         // reconnected subscribers that did not
	Duplicated int64 `json:"duplicated"`   // extra copies of it
	Replayed   int64 `json:"replayed"`     // messages received again that a subscriber had before the drop
	OutOfOrder int64 `json:"out_of_order"` // earlier messages received after a later one
}

// runStorm: N subscribers, one message per channel, every connection
// dropped, every subscriber reconnected with its last message id, one more
// message per channel mid-storm.
func (r *runner) runStorm(res *Result) {
	st := r.storm
	sr := &StormResult{PublishAt: r.cfg.StormPublishAt, PublishedAfter: -1}
	res.Storm = sr
	c := len(r.chans)
	res.Connect.Seconds = r.connectMany(r.cfg.Subscribers, func(i int) *channel { return r.chans[i%c] }).Seconds()
	res.Connect.ServerConfirmed = r.waitServerSubscribers(r.chans)
	if r.connected.Load() == 0 {
		r.warn("no subscriber connected: nothing published")
		r.stopAll()
		return
	}
	r.setPhase("publishing")
	pubStart := time.Now()
	r.publishEach()
	pubTime := time.Since(pubStart)
	if !r.drain(r.cfg.Timeout) && r.ctx.Err() == nil {
		r.warn("not every subscriber had the first message after --timeout %s: those resume without it", r.cfg.Timeout)
	}

	olds := r.dropAll()
	sr.Dropped = len(olds)
	var succ []*subscriber
	if len(olds) > 0 {
		target := int64(math.Ceil(r.cfg.StormPublishAt * float64(len(olds))))
		var d time.Duration
		succ, d = r.reconnectAll(olds, target)
		pubTime += d
		r.drain(r.cfg.Timeout)
		sleepUntil(r.ctx, time.Now().Add(stormGrace))
	} else {
		r.warn("no subscriber was established when the connections were dropped")
	}
	r.stopAll()
	res.Publish.Seconds = pubTime.Seconds()

	sr.Reconnected = st.established.Load()
	sr.Failed = st.failed.Load()
	sr.Resumed = st.resumed.Load()
	if start, last := st.start.Load(), st.lastEstab.Load(); start > 0 && last > start {
		sr.Seconds = float64(last-start) / 1e9
		sr.PerSecond = float64(sr.Reconnected) / sr.Seconds
	}
	sr.Handshake = st.handshakeHist.Snapshot().Percentiles()
	sr.PublishedAfter = st.publishedAfter.Load()
	if d := st.spanFirst.Load(); d >= 0 {
		sr.SpanFirstMs = float64(d) / 1e6
	}
	if d := st.spanLast.Load(); d >= 0 {
		sr.SpanLastMs = float64(d) / 1e6
	}
	for _, s := range succ {
		// exited orders the subscriber goroutine's writes before these reads.
		if s == nil || !s.exited.Load() || !s.wasConnected {
			continue
		}
		if s.stormGot > 0 {
			sr.Received++
			sr.Duplicated += int64(s.stormGot - 1)
		} else if s.ch.lastAcked.Load() >= stormSeq {
			sr.Lost++
		}
		sr.Replayed += int64(s.replayed)
		sr.OutOfOrder += int64(s.outOfOrder)
	}
}

// publishEach publishes one message to every channel with --publishers
// publishers, keeping the id each publish answered.
func (r *runner) publishEach() {
	var next atomic.Int64
	var wg sync.WaitGroup
	for p := range min(r.cfg.Publishers, len(r.chans)) {
		wg.Go(func() {
			buf := make([]byte, 0, max(r.cfg.Size, minBodySize))
			for r.ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(len(r.chans)) {
					return
				}
				buf, _ = r.publishMsg(p, r.chans[i], buf, true)
			}
		})
	}
	wg.Wait()
}

// dropAll closes every subscriber's connection at once (a reset, so no
// socket lingers in TIME_WAIT) and waits, at most --timeout, until their
// goroutines have ended. It returns the established ones, in order, whose
// records their successors carry on.
func (r *runner) dropAll() []*subscriber {
	r.setPhase("dropping")
	// Marked under r.mu, as ended reads the mark: a subscriber that ended
	// before is no longer live and is accounted as usual.
	var olds []*subscriber
	r.mu.Lock()
	for s := range r.live {
		if s.estab.Load() != 0 {
			s.resumed.Store(true)
			olds = append(olds, s)
		}
	}
	r.mu.Unlock()
	sort.Slice(olds, func(i, j int) bool { return olds[i].id < olds[j].id })
	for _, s := range r.liveSubscribers() {
		s.stop(true)
	}
	deadline := time.Now().Add(r.cfg.Timeout)
	out := olds[:0]
	for _, s := range olds {
		for !s.exited.Load() && time.Now().Before(deadline) && r.ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		if s.exited.Load() {
			out = append(out, s)
		}
	}
	if len(out) < len(olds) {
		r.warn("%d dropped subscribers did not end within --timeout: not reconnected", len(olds)-len(out))
	}
	return out
}

// reconnectAll reconnects a successor for each dropped subscriber, at most
// --concurrency connecting at once, and publishes the mid-storm message
// once target of them are established (or all attempts ended). It returns
// when every attempt ended or --timeout passed, and the publishing is
// done, with the successors and the time the publishing took.
func (r *runner) reconnectAll(olds []*subscriber, target int64) ([]*subscriber, time.Duration) {
	st := r.storm
	n := len(olds)
	r.setPhase("reconnecting")
	start := time.Now()
	st.start.Store(start.UnixNano())
	ctx, cancel := context.WithDeadline(r.ctx, start.Add(r.cfg.Timeout))
	defer cancel()

	var pubTime time.Duration
	publish := func() {
		st.publishedAfter.Store(st.established.Load())
		t := time.Now()
		r.publishEach()
		pubTime = time.Since(t)
	}
	trigger := make(chan struct{})
	var once sync.Once
	fire := func() { once.Do(func() { close(trigger) }) }
	allDone := make(chan struct{})
	pubDone := make(chan struct{})
	if target <= 0 {
		// Published before anyone is back: every subscriber resumes into it.
		publish()
		close(pubDone)
	} else {
		go func() {
			defer close(pubDone)
			select {
			case <-trigger:
			case <-allDone:
			case <-ctx.Done():
			}
			if r.ctx.Err() == nil {
				publish()
			}
		}()
	}

	succ := make([]*subscriber, n)
	sem := make(chan struct{}, r.cfg.Concurrency)
	var outstanding atomic.Int64
	outstanding.Store(int64(n))
	finish := func() {
		if outstanding.Add(-1) == 0 {
			close(allDone)
		}
	}
	launched := make(chan struct{})
	go func() {
		defer close(launched)
		for i, old := range olds {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			succ[i] = r.resumeSubscriber(old, func(ok bool) {
				<-sem
				if ok {
					if st.established.Add(1) == target {
						fire()
					}
				} else {
					st.failed.Add(1)
				}
				finish()
			})
		}
	}()
	select {
	case <-allDone:
	case <-ctx.Done():
		if r.ctx.Err() == nil {
			r.warn("reconnect phase stopped after --timeout %s with %d of %d subscribers back", r.cfg.Timeout, st.established.Load(), n)
		}
	}
	<-launched
	<-pubDone
	if st.publishedAfter.Load() >= 0 && st.publishedAfter.Load() < target {
		r.warn("the mid-storm message was published after %d reconnections, short of %d", st.publishedAfter.Load(), target)
	}
	return succ, pubTime
}

// resumeSubscriber opens the successor of a dropped subscriber: it carries
// on old's delivery record and asks for what came after old's last
// message.
func (r *runner) resumeSubscriber(old *subscriber, onConnect func(ok bool)) *subscriber {
	s := &subscriber{r: r, ch: old.ch, id: int(r.nextID.Add(1) - 1), onConnect: onConnect, inherited: true}
	s.src = r.sourceFor(s.id)
	s.floor = old.floor
	s.tr = old.tr
	s.maxSeen.Store(old.maxSeen.Load())
	s.distinct.Store(old.distinct.Load())
	s.lastRecv = old.lastRecv
	s.resumeID = old.lastMessageID()
	if s.resumeID != "" {
		r.storm.resumed.Add(1)
	}
	r.launch(s)
	return s
}

// lastMessageID is the id of the last message s received: the EventSource
// id field, or else the id the publisher's answer gave it (a plain
// WebSocket message carries none). "" if it has none fit for a header.
func (s *subscriber) lastMessageID() string {
	id := string(s.lastID)
	if id == "" && s.tr.any {
		s.ch.mu.Lock()
		id = s.ch.ids[s.tr.max]
		s.ch.mu.Unlock()
	}
	for i := range len(id) {
		if id[i] < ' ' || id[i] == 0x7f {
			return ""
		}
	}
	return id
}

// lastMessageID reads the last message id from a publisher's answer:
// channel info in JSON ("last_message_id") or plain text ("last message
// id: "). "" if there is none.
func lastMessageID(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '{' {
		var info struct {
			ID string `json:"last_message_id"`
		}
		if json.Unmarshal(body, &info) == nil {
			return info.ID
		}
		return ""
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "last message id:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// failures lists what makes a storm run fail (none for a nil result).
func (sr *StormResult) failures() []string {
	if sr == nil {
		return nil
	}
	var f []string
	if sr.Dropped > 0 && sr.Reconnected < int64(sr.Dropped) {
		f = append(f, fmt.Sprintf("storm: %d of %d subscribers did not reconnect", int64(sr.Dropped)-sr.Reconnected, sr.Dropped))
	}
	if sr.Dropped > 0 && sr.PublishedAfter < 0 {
		f = append(f, "storm: the mid-storm message was not published")
	}
	if sr.Lost > 0 {
		f = append(f, fmt.Sprintf("storm: %d reconnected subscribers missed the mid-storm message", sr.Lost))
	}
	if sr.Duplicated > 0 {
		f = append(f, fmt.Sprintf("storm: %d extra copies of the mid-storm message", sr.Duplicated))
	}
	if sr.Replayed > 0 {
		f = append(f, fmt.Sprintf("storm: %d messages received again after resuming", sr.Replayed))
	}
	if sr.OutOfOrder > 0 {
		f = append(f, fmt.Sprintf("storm: %d messages out of order after resuming", sr.OutOfOrder))
	}
	return f
}

// writeText prints the storm lines of the result table.
func (sr *StormResult) writeText(line func(label, format string, args ...any)) {
	line("storm", "%d dropped at once; %d reconnected, %d failed in %.3fs (%.0f/s); %d resumed with Last-Event-ID",
		sr.Dropped, sr.Reconnected, sr.Failed, sr.Seconds, sr.PerSecond, sr.Resumed)
	line("", "handshake %s", fmtPct(sr.Handshake))
	if sr.PublishedAfter < 0 {
		line("", "mid-storm message not published")
		return
	}
	line("", "mid-storm message published after %d reconnections (--storm-publish-at %g): received first %s, last %s after publishing",
		sr.PublishedAfter, sr.PublishAt, fmtMs(sr.SpanFirstMs), fmtMs(sr.SpanLastMs))
	line("", "%d of %d reconnected got it: %d lost, %d duplicated, %d replayed from before the drop, %d out of order",
		sr.Received, sr.Reconnected, sr.Lost, sr.Duplicated, sr.Replayed, sr.OutOfOrder)
}
