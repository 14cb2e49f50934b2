package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Scenarios, in the order the usage text lists them.
const (
	ScenarioFanout   = "fanout"
	ScenarioPublish  = "publish"
	ScenarioIdle     = "idle"
	ScenarioChannels = "channels"
	ScenarioChurn    = "churn"
	ScenarioStorm    = "storm"
)

// Scenarios names every scenario.
var Scenarios = []string{ScenarioFanout, ScenarioPublish, ScenarioIdle, ScenarioChannels, ScenarioChurn, ScenarioStorm}

// Subscriber transports.
const (
	TransportEventSource = "eventsource"
	TransportWebSocket   = "websocket"
	TransportLongPoll    = "longpoll"
	TransportChunked     = "chunked"
	// TransportIntervalPoll asks with the last answer's Etag and
	// Last-Modified like long-poll, from an interval-poll location: a 304
	// (nothing new) is asked again after PollInterval, a message at once.
	TransportIntervalPoll = "intervalpoll"
)

// Config is one benchmark run. DefaultConfig fills it for a scenario; the
// command line changes what it is told to.
type Config struct {
	Scenario  string
	Pub       string // publisher URL template with {ch}
	Sub       string // subscriber URL template with {ch}
	Transport string // eventsource, websocket, longpoll, chunked, intervalpoll

	// PollInterval is how long an interval-poll subscriber waits after a
	// 304 before it asks again.
	PollInterval time.Duration

	Subscribers           int     // fanout, idle, churn, storm: subscribers in all
	SubscribersPerChannel int     // publish: subscribers on each channel
	Channels              int     // publish, channels, churn, storm: how many channels
	Publishers            int     // publish, channels, storm: concurrent publishers
	Messages              int     // fanout: messages; publish, churn: most messages (0: until --duration); channels: per channel
	Size                  int     // message body size in bytes
	Rate                  float64 // messages per second over all publishers; 0: as fast as they go (with Pace)
	Pace                  time.Duration
	ChurnRate             float64 // churn: subscribers replaced per second

	// StormPublishAt is the fraction of storm's reconnections established
	// when the mid-storm message is published (0: right after the drop, 1:
	// once all are back).
	StormPublishAt float64

	// Batch, when over 0, publishes this many messages per request as a
	// batch publish (docs/batch.md) to BatchURL; each publisher then
	// publishes to its own share of the channels.
	Batch    int
	BatchURL string

	Duration    time.Duration // cap on the publishing phase (churn, publish: its length)
	Timeout     time.Duration // per connection and request; also the connect phase's overrun (storm: the reconnect phase's bound) and the final drain
	Ramp        time.Duration // spread connecting over this long
	Concurrency int           // most connection attempts in flight
	Settle      time.Duration // idle: wait this long after connecting before reading memory

	ServerPIDs  []int  // server processes whose memory and CPU are read
	Channel     string // channel name prefix; empty: "bench-<random>"
	SourceAddrs int    // source addresses to spread over; 0: as many as the connections need
	PushStream  bool   // messages come in a push-stream JSON message template (--pushstream)
	JSON        bool   // print the result as JSON
	NoProgress  bool   // no progress line on stderr
}

// DefaultConfig returns the defaults for a scenario.
func DefaultConfig(scenario string) (Config, error) {
	c := Config{
		Scenario:     scenario,
		Pub:          "http://127.0.0.1:8080/pub/{ch}",
		Sub:          "http://127.0.0.1:8080/sub/{ch}",
		Transport:    TransportEventSource,
		PollInterval: time.Second,
		Size:         64,
		Duration:     60 * time.Second,
		Timeout:      10 * time.Second,
		Concurrency:  256,
		Settle:       2 * time.Second,
		ChurnRate:    10,
		Channels:     1,
		Publishers:   1,
	}
	switch scenario {
	case ScenarioFanout:
		c.Subscribers = 100
		c.Messages = 100
		c.Pace = 10 * time.Millisecond
	case ScenarioPublish:
		c.Publishers = 4
		c.Channels = 10
		c.Duration = 10 * time.Second
	case ScenarioIdle:
		c.Subscribers = 1000
	case ScenarioChannels:
		c.Channels = 1000
		c.Publishers = 4
		c.Messages = 1
	case ScenarioChurn:
		c.Subscribers = 100
		c.Rate = 10
		c.Duration = 10 * time.Second
	case ScenarioStorm:
		c.Subscribers = 1000
		c.StormPublishAt = 0.5
	default:
		return c, fmt.Errorf("unknown scenario %q (want %s)", scenario, strings.Join(Scenarios, ", "))
	}
	return c, nil
}

// Validate checks the configuration and the URL templates (loopback only).
func (c *Config) Validate() error {
	if !slices.Contains(Scenarios, c.Scenario) {
		return fmt.Errorf("unknown scenario %q (want %s)", c.Scenario, strings.Join(Scenarios, ", "))
	}
	transports := []string{TransportEventSource, TransportWebSocket, TransportLongPoll, TransportChunked, TransportIntervalPoll}
	switch c.Scenario {
	case ScenarioIdle:
		transports = transports[:3]
	case ScenarioStorm:
		// Resuming from a message id needs a stream that carries on.
		transports = transports[:2]
	}
	if !slices.Contains(transports, c.Transport) {
		return fmt.Errorf("--transport %q: want one of %s", c.Transport, strings.Join(transports, ", "))
	}
	if _, err := parseEndpoint("pub", c.Pub); err != nil {
		return err
	}
	if _, err := parseEndpoint("sub", c.Sub); err != nil {
		return err
	}
	if c.Batch > 0 {
		if c.Scenario != ScenarioPublish && c.Scenario != ScenarioFanout {
			return fmt.Errorf("--batch: only for the publish and fanout scenarios")
		}
		if err := checkBatchURL(c.BatchURL); err != nil {
			return err
		}
		if c.Channels < c.Publishers {
			return fmt.Errorf("--batch: each publisher publishes to its own channels, so --channels (%d) must be at least --publishers (%d)", c.Channels, c.Publishers)
		}
	}
	type check struct {
		ok   bool
		what string
	}
	for _, ck := range []check{
		{c.Subscribers >= 0, "-n must not be negative"},
		{c.Subscribers > 0 || (c.Scenario != ScenarioFanout && c.Scenario != ScenarioIdle && c.Scenario != ScenarioChurn && c.Scenario != ScenarioStorm), "-n must be at least 1"},
		{c.SubscribersPerChannel >= 0, "--subscribers-per-channel must not be negative"},
		{c.Channels >= 1, "--channels must be at least 1"},
		{c.Publishers >= 1, "--publishers must be at least 1"},
		{c.Messages >= 0, "--messages must not be negative"},
		{c.Messages >= 1 || (c.Scenario != ScenarioFanout && c.Scenario != ScenarioChannels), "--messages must be at least 1"},
		{c.Size >= 0, "--size must not be negative"},
		{c.Rate >= 0, "--rate must not be negative"},
		{c.Batch >= 0, "--batch must not be negative"},
		{c.Batch == 0 || c.Rate == 0, "--batch publishes back to back: --rate goes without it"},
		{c.Pace >= 0, "--pace must not be negative"},
		{c.PollInterval > 0 || c.Transport != TransportIntervalPoll, "--poll-interval must be positive"},
		{c.ChurnRate > 0 || c.Scenario != ScenarioChurn, "--churn-rate must be positive"},
		{c.StormPublishAt >= 0 && c.StormPublishAt <= 1, "--storm-publish-at must be between 0 and 1"},
		{c.Channels <= max(c.Subscribers, 1) || c.Scenario != ScenarioStorm, "--channels must not exceed -n: every channel needs a subscriber"},
		{c.Duration > 0, "--duration must be positive"},
		{c.Timeout > 0, "--timeout must be positive"},
		{c.Ramp >= 0, "--ramp must not be negative"},
		{c.Concurrency >= 1, "--concurrency must be at least 1"},
		{c.Settle >= 0, "--settle must not be negative"},
		{c.SourceAddrs >= 0, "--source-addrs must not be negative"},
	} {
		if !ck.ok {
			return fmt.Errorf("%s", ck.what)
		}
	}
	if c.PushStream && c.Transport != TransportEventSource && c.Transport != TransportWebSocket {
		return fmt.Errorf("--pushstream needs --transport eventsource or websocket (the others keep too little of a message to find its text)")
	}
	for _, pid := range c.ServerPIDs {
		if pid <= 0 {
			return fmt.Errorf("--server-pid %d: not a process id", pid)
		}
	}
	return nil
}

// pushStreamEnvelope is how much of a push-stream message may come before
// its text: the JSON message template's fields before "text" (the module's
// sample: id and channel).
const pushStreamEnvelope = 256

// keep is how much of each message an EventSource or WebSocket subscriber
// keeps: a body's prefix, and with PushStream the template's envelope
// before it.
func (c *Config) keep() int {
	if c.PushStream {
		return bodyPrefix + pushStreamEnvelope
	}
	return bodyPrefix
}

// subscriberCount is how many subscribers the scenario opens at the start.
func (c *Config) subscriberCount() int {
	switch c.Scenario {
	case ScenarioPublish:
		return c.Channels * c.SubscribersPerChannel
	case ScenarioChannels:
		return c.Channels
	}
	return c.Subscribers
}

// channelCount is how many channels the scenario uses.
func (c *Config) channelCount() int {
	switch c.Scenario {
	case ScenarioFanout, ScenarioIdle:
		return 1
	}
	return c.Channels
}
