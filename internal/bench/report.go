package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Result is everything a run measured. Latencies are in milliseconds,
// memory in bytes, CPU time in seconds.
type Result struct {
	Scenario    string   `json:"scenario"`
	Transport   string   `json:"transport"`
	Pub         string   `json:"pub"`
	Sub         string   `json:"sub"`
	Channel     string   `json:"channel"` // the first channel's name
	Channels    int      `json:"channels"`
	Subscribers int      `json:"subscribers"` // opened at the start
	Publishers  int      `json:"publishers"`
	MessageSize int      `json:"message_size"`
	SourceAddrs []string `json:"source_addrs,omitempty"`
	NofileLimit uint64   `json:"nofile_limit"`
	WallSeconds float64  `json:"wall_seconds"`

	Connect   ConnectResult    `json:"connect"`
	Publish   PublishResult    `json:"publish"`
	Delivery  *DeliveryResult  `json:"delivery,omitempty"`
	Broadcast *BroadcastResult `json:"broadcast,omitempty"`
	Churn     *ChurnResult     `json:"churn,omitempty"`
	Storm     *StormResult     `json:"storm,omitempty"`
	Memory    *MemoryResult    `json:"memory,omitempty"`
	CPU       CPUResult        `json:"cpu"`

	Errors   map[string]int64 `json:"errors,omitempty"`
	Warnings []string         `json:"warnings,omitempty"`
	Notes    []string         `json:"notes,omitempty"`
	Passed   bool             `json:"passed"`
	Failures []string         `json:"failures,omitempty"`
}

// ConnectResult covers opening the subscribers.
type ConnectResult struct {
	Attempted       int64       `json:"attempted"`
	Established     int64       `json:"established"`
	Failed          int64       `json:"failed"`
	Seconds         float64     `json:"seconds"` // first attempt to last establishment, initial batch
	PerSecond       float64     `json:"per_second"`
	ServerConfirmed int         `json:"server_confirmed"` // subscribers the server's channel info counted; -1: not asked
	Latency         Percentiles `json:"latency"`
}

// PublishResult covers the publishers.
type PublishResult struct {
	Sent      int64            `json:"sent"`
	OK        int64            `json:"ok"` // 2xx answers
	Failed    int64            `json:"failed"`
	Seconds   float64          `json:"seconds"`
	PerSecond float64          `json:"per_second"` // ok / seconds
	Status    map[string]int64 `json:"status"`     // answers by status code; "error": no answer
	Latency   Percentiles      `json:"latency"`
}

// DeliveryResult covers what the subscribers received.
type DeliveryResult struct {
	Deliveries   int64       `json:"deliveries"` // messages received, duplicates included
	Expected     uint64      `json:"expected"`
	Backlog      int64       `json:"backlog"` // received but published before the subscriber was there (not in the latency)
	Malformed    int64       `json:"malformed"`
	Seconds      float64     `json:"seconds"`    // first publish to last delivery
	PerSecond    float64     `json:"per_second"` // deliveries / seconds
	Latency      Percentiles `json:"latency"`    // publish (body timestamp) to receipt
	Lost         uint64      `json:"lost"`
	Duplicated   uint64      `json:"duplicated"`
	OutOfOrder   uint64      `json:"out_of_order"`
	OrderChecked bool        `json:"order_checked"`
	Subscribers  int         `json:"subscribers"` // subscriber sessions accounted
	Complete     int         `json:"complete"`    // of which got everything expected
	StreamErrors int64       `json:"stream_errors"`
}

// BroadcastResult is idle's closing broadcast.
type BroadcastResult struct {
	Subscribers  int     `json:"subscribers"`
	Reached      int     `json:"reached"`
	TimeToLastMs float64 `json:"time_to_last_ms"`
}

// ChurnResult counts churn's replacements.
type ChurnResult struct {
	Disconnects int64 `json:"disconnects"`
	Reconnects  int64 `json:"reconnects"`
}

// MemoryResult is the server's resident memory around idle's connect.
type MemoryResult struct {
	PIDs               []int       `json:"pids"`
	Subscribers        int         `json:"subscribers"`
	Before             memSample   `json:"before"`
	After              []memSample `json:"after"` // read twice, a second apart, after settling
	PerSubscriberVmRSS float64     `json:"per_subscriber_vmrss_bytes"`
	PerSubscriberRss   float64     `json:"per_subscriber_smaps_rss_bytes,omitempty"`
}

// CPUResult is the CPU time of the tool and the server over the run.
type CPUResult struct {
	Cores          int      `json:"cores"`
	ToolUser       float64  `json:"tool_user_seconds"`
	ToolSys        float64  `json:"tool_sys_seconds"`
	ToolCores      float64  `json:"tool_cores"` // CPU seconds per wall second
	ToolMaxRSS     int64    `json:"tool_max_rss_bytes"`
	ServerUser     *float64 `json:"server_user_seconds,omitempty"`
	ServerSys      *float64 `json:"server_sys_seconds,omitempty"`
	ServerCores    *float64 `json:"server_cores,omitempty"`
	ServerRSSStart int64    `json:"server_rss_start_bytes,omitempty"`
	ServerRSSEnd   int64    `json:"server_rss_end_bytes,omitempty"`
}

// writeJSON prints the result as one indented JSON object.
func (res *Result) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// writeText prints the result as a table.
func (res *Result) writeText(w io.Writer) {
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-11s %s\n", label, fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(w, "herald bench %s: %s, %d channel%s, %d subscriber%s, %d publisher%s, %d-byte messages\n",
		res.Scenario, res.Transport, res.Channels, plural(res.Channels), res.Subscribers, plural(res.Subscribers),
		res.Publishers, plural(res.Publishers), res.MessageSize)
	line("pub", "%s", res.Pub)
	line("sub", "%s", res.Sub)
	line("channel", "%s%s", res.Channel, map[bool]string{true: " (and more)", false: ""}[res.Channels > 1])
	if len(res.SourceAddrs) > 0 {
		line("sources", "%s", strings.Join(res.SourceAddrs, " "))
	}
	c := res.Connect
	if c.Attempted > 0 {
		s := fmt.Sprintf("%d of %d established, %d failed in %.3fs (%.0f/s)", c.Established, c.Attempted, c.Failed, c.Seconds, c.PerSecond)
		if res.Churn != nil || res.Storm != nil {
			s = fmt.Sprintf("first %d in %.3fs (%.0f/s); %d of %d attempts in all established, %d failed",
				res.Subscribers, c.Seconds, c.PerSecond, c.Established, c.Attempted, c.Failed)
		}
		if c.ServerConfirmed >= 0 {
			s += fmt.Sprintf("; server counted %d", c.ServerConfirmed)
		}
		line("connect", "%s", s)
		line("", "latency %s", fmtPct(c.Latency))
	}
	p := res.Publish
	line("publish", "%d sent, %d ok, %d failed in %.3fs (%.0f/s); status %s", p.Sent, p.OK, p.Failed, p.Seconds, p.PerSecond, fmtStatus(p.Status))
	if p.Latency.Count > 0 {
		line("", "latency %s", fmtPct(p.Latency))
	}
	if d := res.Delivery; d != nil {
		line("delivery", "%d delivered of %d expected in %.3fs (%.0f/s)", d.Deliveries, d.Expected, d.Seconds, d.PerSecond)
		line("", "latency %s", fmtPct(d.Latency))
		order := fmt.Sprintf("%d out of order", d.OutOfOrder)
		if !d.OrderChecked {
			order = "order not checked (several publishers per channel)"
		}
		line("", "%d lost, %d duplicated, %s; %d of %d subscriber sessions complete", d.Lost, d.Duplicated, order, d.Complete, d.Subscribers)
		if d.Backlog > 0 || d.Malformed > 0 || d.StreamErrors > 0 {
			line("", "%d from the channel buffer (not timed), %d malformed, %d subscriber streams broken", d.Backlog, d.Malformed, d.StreamErrors)
		}
	}
	if b := res.Broadcast; b != nil {
		line("broadcast", "reached %d of %d subscribers, the last %.1fms after publishing", b.Reached, b.Subscribers, b.TimeToLastMs)
	}
	if ch := res.Churn; ch != nil {
		line("churn", "%d subscribers closed, %d opened in their place", ch.Disconnects, ch.Reconnects)
	}
	if st := res.Storm; st != nil {
		st.writeText(line)
	}
	if m := res.Memory; m != nil {
		after := make([]string, len(m.After))
		for i, a := range m.After {
			after[i] = fmtBytes(a.VmRSS)
		}
		line("memory", "server VmRSS %s before, %s after %d subscribers: %.0f bytes per subscriber",
			fmtBytes(m.Before.VmRSS), strings.Join(after, ", "), m.Subscribers, m.PerSubscriberVmRSS)
		if m.PerSubscriberRss != 0 && len(m.After) > 0 {
			line("", "server smaps Rss %s before, %s after: %.0f bytes per subscriber",
				fmtBytes(m.Before.SmapsRss), fmtBytes(m.After[len(m.After)-1].SmapsRss), m.PerSubscriberRss)
		}
	}
	u := res.CPU
	line("cpu", "bench %.2fs user + %.2fs sys = %.2f of %d cores over %.2fs; peak RSS %s",
		u.ToolUser, u.ToolSys, u.ToolCores, u.Cores, res.WallSeconds, fmtBytes(u.ToolMaxRSS))
	if u.ServerUser != nil {
		line("", "server %.2fs user + %.2fs sys = %.2f of %d cores; RSS %s at start, %s at end",
			*u.ServerUser, *u.ServerSys, *u.ServerCores, u.Cores, fmtBytes(u.ServerRSSStart), fmtBytes(u.ServerRSSEnd))
	}
	if len(res.Errors) > 0 {
		keys := make([]string, 0, len(res.Errors))
		for k := range res.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			line(map[bool]string{true: "errors", false: ""}[i == 0], "%d × %s", res.Errors[k], k)
		}
	}
	for i, wn := range res.Warnings {
		line(map[bool]string{true: "warnings", false: ""}[i == 0], "%s", wn)
	}
	for i, n := range res.Notes {
		line(map[bool]string{true: "notes", false: ""}[i == 0], "%s", n)
	}
	if res.Passed {
		line("result", "PASS")
	} else {
		line("result", "FAIL: %s", strings.Join(res.Failures, "; "))
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func fmtPct(p Percentiles) string {
	if p.Count == 0 {
		return "(none)"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s  (n=%d)", fmtMs(p.P50), fmtMs(p.P90), fmtMs(p.P99), fmtMs(p.Max), p.Count)
}

func fmtMs(ms float64) string {
	switch {
	case ms >= 1000:
		return fmt.Sprintf("%.2fs", ms/1000)
	case ms >= 100:
		return fmt.Sprintf("%.0fms", ms)
	case ms >= 1:
		return fmt.Sprintf("%.2fms", ms)
	}
	return fmt.Sprintf("%.0fµs", ms*1000)
}

func fmtBytes(b int64) string {
	switch {
	case b >= 1<<30 || b <= -1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20 || b <= -1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10 || b <= -1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return strconv.FormatInt(b, 10) + " B"
}

func fmtStatus(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
