// Package bench is `herald bench`, a load tool for Nchan-style pub/sub
// servers (Herald, or Nchan itself). It opens subscribers over EventSource,
// WebSocket, long-poll or HTTP chunked, publishes timestamped, numbered
// messages with HTTP POST, and reports delivery latency percentiles,
// throughput, lost/duplicated/out-of-order messages, connect rates, the
// server's memory per subscriber and the CPU time of both sides.
//
// Scenarios: fanout (many subscribers, one channel), publish (publisher
// throughput), idle (memory per idle subscriber, then one broadcast),
// channels (one subscriber on each of many channels), churn (subscribers
// replaced while messages flow) and storm (every connection dropped at once
// and resumed from its last message id). Every run is bounded by
// message counts, --duration and --timeout, and only loopback servers are
// accepted.
package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// Run runs the configured scenario, prints the result on stdout (a table,
// or JSON with cfg.JSON) and a progress line on stderr (nil: none), and
// returns the result. An error means the run could not start.
func Run(ctx context.Context, cfg *Config, stdout, stderr io.Writer) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	nofile, nofileErr := raiseNofile()
	r, err := newRunner(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer r.cancel()
	defer r.react.close()
	if nofileErr != nil {
		r.warn("cannot raise the open-file limit: %v", nofileErr)
	}
	if need := uint64(cfg.subscriberCount() + cfg.Publishers + 64); nofile > 0 && need > nofile {
		r.warn("%d subscribers need about %d open files but the limit is %d", cfg.subscriberCount(), need, nofile)
	}
	res := &Result{
		Scenario:    cfg.Scenario,
		Transport:   cfg.Transport,
		Pub:         cfg.Pub,
		Sub:         cfg.Sub,
		Channel:     r.chans[0].name,
		Channels:    len(r.chans),
		Subscribers: cfg.subscriberCount(),
		Publishers:  cfg.Publishers,
		MessageSize: max(cfg.Size, minBodySize),
		NofileLimit: nofile,
	}
	if cfg.Scenario == ScenarioFanout || cfg.Scenario == ScenarioIdle || cfg.Scenario == ScenarioChurn {
		res.Publishers = 1
	}
	if len(r.sources) > 0 {
		res.SourceAddrs = ipStrings(r.sources)
	}
	res.Connect.ServerConfirmed = -1

	start := time.Now()
	r.start = start
	cpu0, _ := selfUsage()
	var srv0 cpuTimes
	pids := cfg.ServerPIDs
	if len(pids) > 0 {
		if srv0, err = readCPU(pids); err != nil {
			return nil, fmt.Errorf("--server-pid: %v", err)
		}
		if m, err := readMem(pids); err == nil {
			res.CPU.ServerRSSStart = m.VmRSS
		}
	}

	stopProgress := func() {}
	if stderr != nil && !cfg.NoProgress {
		stopProgress = r.progress(stderr)
	}
	switch cfg.Scenario {
	case ScenarioFanout:
		r.runFanout(res)
	case ScenarioPublish:
		r.runPublish(res)
	case ScenarioIdle:
		r.runIdle(res)
	case ScenarioChannels:
		r.runChannels(res)
	case ScenarioChurn:
		r.runChurn(res)
	case ScenarioStorm:
		r.runStorm(res)
	}
	stopProgress()

	wall := time.Since(start)
	cpu1, maxRSS := selfUsage()
	tool := cpu1.sub(cpu0)
	res.WallSeconds = wall.Seconds()
	res.CPU.Cores = runtime.NumCPU()
	res.CPU.ToolUser = tool.User.Seconds()
	res.CPU.ToolSys = tool.Sys.Seconds()
	res.CPU.ToolCores = (tool.User + tool.Sys).Seconds() / wall.Seconds()
	res.CPU.ToolMaxRSS = maxRSS
	if len(pids) > 0 {
		if srv1, err := readCPU(pids); err == nil {
			d := srv1.sub(srv0)
			u, s, c := d.User.Seconds(), d.Sys.Seconds(), (d.User+d.Sys).Seconds()/wall.Seconds()
			res.CPU.ServerUser, res.CPU.ServerSys, res.CPU.ServerCores = &u, &s, &c
		} else {
			r.warn("server CPU: %v", err)
		}
		if m, err := readMem(pids); err == nil {
			res.CPU.ServerRSSEnd = m.VmRSS
		}
	}
	r.fill(res)
	if cfg.JSON {
		if err := res.writeJSON(stdout); err != nil {
			return res, err
		}
	} else {
		res.writeText(stdout)
	}
	return res, nil
}

// fill copies the counters into the result and judges it.
func (r *runner) fill(res *Result) {
	cfg := r.cfg
	acc := r.accounting()
	c := &res.Connect
	c.Attempted = r.nextID.Load()
	c.Established = r.connected.Load()
	c.Failed = r.connectFailed.Load()
	if c.Seconds > 0 {
		c.PerSecond = float64(min(c.Established, int64(cfg.subscriberCount()))) / c.Seconds
	}
	c.Latency = r.connectHist.Snapshot().Percentiles()

	p := &res.Publish
	p.Sent = r.published.Load()
	p.OK = r.acked.Load()
	p.Failed = p.Sent - p.OK
	if p.Seconds > 0 {
		p.PerSecond = float64(p.OK) / p.Seconds
	}
	p.Latency = r.publishHist.Snapshot().Percentiles()
	r.mu.Lock()
	p.Status = make(map[string]int64, len(r.statuses))
	for code, n := range r.statuses {
		k := strconv.Itoa(code)
		if code == 0 {
			k = "error"
		}
		p.Status[k] = n
	}
	if len(r.errs) > 0 {
		res.Errors = make(map[string]int64, len(r.errs))
		for k, n := range r.errs {
			res.Errors[k] = n
		}
	}
	res.Warnings = append(res.Warnings, r.warnings...)
	r.mu.Unlock()

	var failures []string
	if c.Attempted > 0 {
		d := &DeliveryResult{
			Deliveries:   r.deliveries.Load(),
			Expected:     acc.expected,
			Backlog:      r.backlog.Load(),
			Malformed:    r.malformed.Load(),
			Latency:      r.deliveryHist.Snapshot().Percentiles(),
			Lost:         acc.lost,
			Duplicated:   acc.duplicated,
			OutOfOrder:   acc.outOfOrder,
			OrderChecked: len(r.chans) > 0 && r.chans[0].ordered,
			Subscribers:  acc.subscribers,
			Complete:     acc.complete,
			StreamErrors: r.streamErrors.Load(),
		}
		if fp := r.firstPublish.Load(); fp > 0 && acc.lastDelivery > fp {
			d.Seconds = float64(acc.lastDelivery-fp) / 1e9
			d.PerSecond = float64(d.Deliveries) / d.Seconds
		}
		res.Delivery = d
		if d.Lost > 0 {
			failures = append(failures, fmt.Sprintf("%d lost", d.Lost))
		}
		if d.Duplicated > 0 {
			failures = append(failures, fmt.Sprintf("%d duplicated", d.Duplicated))
		}
		if d.OutOfOrder > 0 {
			failures = append(failures, fmt.Sprintf("%d out of order", d.OutOfOrder))
		}
		if d.Malformed > 0 {
			failures = append(failures, fmt.Sprintf("%d malformed", d.Malformed))
		}
		if c.Established == 0 {
			failures = append(failures, "no subscriber connected")
		}
		if cfg.Scenario != ScenarioChurn {
			if c.Failed > 0 {
				failures = append(failures, fmt.Sprintf("%d subscribers failed to connect", c.Failed))
			}
			if d.StreamErrors > 0 {
				failures = append(failures, fmt.Sprintf("%d subscriber streams broke", d.StreamErrors))
			}
		}
	}
	failures = append(failures, res.Storm.failures()...)
	if b := res.Broadcast; b != nil && b.Reached < b.Subscribers {
		failures = append(failures, fmt.Sprintf("broadcast reached %d of %d", b.Reached, b.Subscribers))
	}
	if p.OK == 0 {
		failures = append(failures, "no message was published")
	}
	res.Failures = failures
	res.Passed = len(failures) == 0

	u := res.CPU
	if u.ServerCores != nil && float64(u.Cores) > 0 && u.ToolCores+*u.ServerCores > 0.85*float64(u.Cores) {
		res.Notes = append(res.Notes, fmt.Sprintf("bench and server together used %.2f of %d cores: the machine was saturated, and the figures are bounded by it", u.ToolCores+*u.ServerCores, u.Cores))
	}
	if u.ServerCores != nil && u.ToolCores > *u.ServerCores && u.ToolCores > 0.5 {
		res.Notes = append(res.Notes, "bench used more CPU than the server: it may be the bottleneck")
	}
	if res.Memory != nil {
		res.Notes = append(res.Notes, "memory per subscriber is only meaningful on a freshly started server (a Go server keeps memory freed by earlier runs)")
	}
}

// progress prints a one-line status on w every second until the returned
// function is called.
func (r *runner) progress(w io.Writer) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		width := 0
		for {
			select {
			case <-done:
				if width > 0 {
					fmt.Fprint(w, "\n")
				}
				return
			case <-t.C:
			}
			live := int64(0)
			for _, ch := range r.chans {
				live += ch.live.Load()
			}
			s := fmt.Sprintf("\r%s %3.0fs %-11s subscribers %d (%d failed)  published %d (%d ok)  delivered %d  broken %d",
				r.cfg.Scenario, time.Since(r.start).Seconds(), *r.phase.Load(), live, r.connectFailed.Load(),
				r.published.Load(), r.acked.Load(), r.deliveries.Load(), r.streamErrors.Load())
			pad := width - len(s)
			width = len(s)
			for ; pad > 0; pad-- {
				s += " "
			}
			fmt.Fprint(w, s)
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// ipStrings formats addresses.
func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}
