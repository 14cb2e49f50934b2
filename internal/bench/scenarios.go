package bench

import (
	"time"
)

// Each scenario connects its subscribers, publishes, waits for the
// deliveries (at most --timeout after the last publish) and closes
// everything, filling in the parts of the result only it knows.

// runFanout: N subscribers on one channel, M messages from one publisher.
func (r *runner) runFanout(res *Result) {
	ch := r.chans[0]
	res.Connect.Seconds = r.connectMany(r.cfg.Subscribers, func(int) *channel { return ch }).Seconds()
	res.Connect.ServerConfirmed = r.waitServerSubscribers(r.chans)
	r.publishPhase(res, 1, int64(r.cfg.Messages), r.cfg.Pace)
	r.drain(r.cfg.Timeout)
	r.stopAll()
}

// runPublish: K publishers over C channels, optionally with subscribers.
func (r *runner) runPublish(res *Result) {
	c := len(r.chans)
	res.Connect.Seconds = r.connectMany(r.cfg.subscriberCount(), func(i int) *channel { return r.chans[i%c] }).Seconds()
	if r.cfg.SubscribersPerChannel > 0 {
		res.Connect.ServerConfirmed = r.waitServerSubscribers(r.chans)
	}
	r.publishPhase(res, r.cfg.Publishers, int64(r.cfg.Messages), r.cfg.Pace)
	if r.cfg.SubscribersPerChannel > 0 {
		r.drain(r.cfg.Timeout)
	}
	r.stopAll()
}

// runChannels: one subscriber on each of C channels, --messages per channel.
func (r *runner) runChannels(res *Result) {
	c := len(r.chans)
	res.Connect.Seconds = r.connectMany(c, func(i int) *channel { return r.chans[i] }).Seconds()
	res.Connect.ServerConfirmed = r.waitServerSubscribers(r.chans)
	r.publishPhase(res, r.cfg.Publishers, int64(c*r.cfg.Messages), r.cfg.Pace)
	r.drain(r.cfg.Timeout)
	r.stopAll()
}

// runIdle: N idle subscribers; the server's memory before and after; then
// one broadcast that must reach them all.
func (r *runner) runIdle(res *Result) {
	ch := r.chans[0]
	var mem *MemoryResult
	if len(r.cfg.ServerPIDs) > 0 {
		mem = &MemoryResult{PIDs: r.cfg.ServerPIDs}
		res.Memory = mem
		if m, err := readMem(r.cfg.ServerPIDs); err != nil {
			r.warn("server memory: %v", err)
			mem = nil
			res.Memory = nil
		} else {
			mem.Before = m
		}
	}
	res.Connect.Seconds = r.connectMany(r.cfg.Subscribers, func(int) *channel { return ch }).Seconds()
	res.Connect.ServerConfirmed = r.waitServerSubscribers(r.chans)
	if mem != nil {
		r.setPhase("settling")
		sleepUntil(r.ctx, time.Now().Add(r.cfg.Settle))
		n := ch.live.Load()
		for i := range 2 {
			if i > 0 {
				sleepUntil(r.ctx, time.Now().Add(time.Second))
			}
			m, err := readMem(r.cfg.ServerPIDs)
			if err != nil {
				r.warn("server memory: %v", err)
				break
			}
			mem.After = append(mem.After, m)
		}
		mem.Subscribers = int(n)
		if len(mem.After) > 0 && n > 0 {
			last := mem.After[len(mem.After)-1]
			mem.PerSubscriberVmRSS = float64(last.VmRSS-mem.Before.VmRSS) / float64(n)
			if last.SmapsRss > 0 && mem.Before.SmapsRss > 0 {
				mem.PerSubscriberRss = float64(last.SmapsRss-mem.Before.SmapsRss) / float64(n)
			}
		}
	}
	waiting := int(ch.live.Load())
	r.publishPhase(res, 1, 1, 0)
	r.drain(r.cfg.Timeout)
	r.stopAll()
	acc := r.accounting()
	b := &BroadcastResult{Subscribers: waiting, Reached: acc.reachedAny}
	if acc.lastDelivery > 0 && r.firstPublish.Load() > 0 {
		b.TimeToLastMs = float64(acc.lastDelivery-r.firstPublish.Load()) / 1e6
	}
	res.Broadcast = b
}

// runChurn: N subscribers, --churn-rate of them replaced every second while
// messages flow at --rate.
func (r *runner) runChurn(res *Result) {
	c := len(r.chans)
	res.Connect.Seconds = r.connectMany(r.cfg.Subscribers, func(i int) *channel { return r.chans[i%c] }).Seconds()
	until := time.Now().Add(r.cfg.Duration)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.churn(until)
	}()
	r.publishPhaseUntil(res, 1, int64(r.cfg.Messages), r.cfg.Pace, until)
	<-done
	r.drain(r.cfg.Timeout)
	r.stopAll()
	res.Churn = &ChurnResult{
		Disconnects: r.disconnects.Load(),
		Reconnects:  r.reconnects.Load(),
	}
}

// churn replaces a random established subscriber with a new one
// --churn-rate times a second until until.
func (r *runner) churn(until time.Time) {
	interval := time.Duration(float64(time.Second) / r.cfg.ChurnRate)
	sem := make(chan struct{}, r.cfg.Concurrency)
	next := time.Now()
	for {
		next = next.Add(interval)
		if next.After(until) || !sleepUntil(r.ctx, next) {
			return
		}
		v := r.pickVictim()
		if v == nil {
			continue
		}
		v.churned.Store(true)
		v.stop(false)
		r.disconnects.Add(1)
		select {
		case sem <- struct{}{}:
		case <-r.ctx.Done():
			return
		}
		r.reconnects.Add(1)
		r.startSubscriber(v.ch, func(bool) { <-sem })
	}
}

// pickVictim returns an established subscriber not yet churned (Go's map
// order makes the pick random enough), or nil.
func (r *runner) pickVictim() *subscriber {
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.live {
		if s.estab.Load() != 0 && !s.churned.Load() {
			return s
		}
	}
	return nil
}

// publishPhase publishes limit messages (0: until --duration) with k
// publishers, channel i%C for message i.
func (r *runner) publishPhase(res *Result, k int, limit int64, pace time.Duration) {
	r.publishPhaseUntil(res, k, limit, pace, time.Now().Add(r.cfg.Duration))
}

func (r *runner) publishPhaseUntil(res *Result, k int, limit int64, pace time.Duration, until time.Time) {
	if r.cfg.subscriberCount() > 0 && r.connected.Load() == 0 {
		r.warn("no subscriber connected: nothing published")
		return
	}
	c := int64(len(r.chans))
	plan := &pubPlan{
		limit:  limit,
		rate:   r.cfg.Rate,
		pace:   pace,
		until:  until,
		chanOf: func(i int64) *channel { return r.chans[i%c] },
	}
	if r.cfg.Scenario == ScenarioIdle {
		plan.rate = 0
	}
	r.publish(k, plan)
	res.Publish.Seconds = time.Since(plan.start).Seconds()
	if limit > 0 && r.published.Load() < limit && r.ctx.Err() == nil {
		r.warn("--duration %s ended publishing after %d of %d messages", r.cfg.Duration, r.published.Load(), limit)
	}
}
