package pushstream

import (
	"strconv"
	"strings"
	"time"
)

// Format is one of the module's statistics formats: what a channel's
// statistics, a group of channels' and the summary of every channel look
// like in it, byte for byte, lines ending in CRLF.
type Format struct {
	// Name is the subtype the Accept header names it by ("plain", "json",
	// "yaml", "xml", "x-json", "x-yaml").
	Name string
	// ContentType is the answer's Content-Type.
	ContentType string
	kind        formatKind
}

type formatKind uint8

const (
	plainKind formatKind = iota
	jsonKind
	yamlKind
	xmlKind
)

// The formats, in the order the Accept header is matched against them.
var formats = [...]Format{
	{"plain", "text/plain", plainKind},
	{"json", "application/json", jsonKind},
	{"yaml", "application/yaml", yamlKind},
	{"xml", "application/xml", xmlKind},
	{"x-json", "text/x-json", jsonKind},
	{"x-yaml", "text/x-yaml", yamlKind},
}

// JSON is the default format.
var JSON = &formats[1]

// Negotiate picks the format an Accept header asks for, as the module
// does: after each "/" in the header, in order, the first format whose
// name the text there starts with; JSON when none matches (or no Accept).
// "text/plain" is plain, "application/xml, */*" XML, "*/*" JSON.
func Negotiate(accept string) *Format {
	for rest := accept; ; {
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return JSON
		}
		rest = rest[i+1:]
		for k := range formats {
			if strings.HasPrefix(rest, formats[k].Name) {
				return &formats[k]
			}
		}
	}
}

// ChannelStats are one channel's statistics.
type ChannelStats struct {
	ID string
	// Published counts the messages ever published to the channel (its
	// newest message's number); Stored the messages it keeps now;
	// Subscribers those connected now.
	Published, Stored, Subscribers uint64
}

// Header is what a group of channels' statistics (several channels, ALL,
// a prefix) and the summary begin with.
type Header struct {
	Hostname string
	// Time is written as an ISO 8601 UTC time to the second.
	Time time.Time
	// Channels counts the channels that are not wildcard channels (the
	// events channel included), WildcardChannels the others.
	Channels, WildcardChannels uint64
	// Uptime is how long the server has run.
	Uptime time.Duration
}

// Summary is the summary of every channel (a statistics request that
// names no channel).
type Summary struct {
	Header
	// Published counts the messages published (the events channel's
	// left out), Stored those stored now.
	Published, Stored uint64
	// MessagesInTrash, ChannelsInDelete and ChannelsInTrash are the
	// module's counts of what waits to be freed; Herald frees at once and
	// reports 0.
	MessagesInTrash, ChannelsInDelete, ChannelsInTrash uint64
	Subscribers                                        uint64
	// Workers are the by_worker entries: the module has one per nginx
	// worker process, Herald one for its process.
	Workers []Worker
}

// Worker is one by_worker entry of the summary.
type Worker struct {
	PID         int
	Subscribers uint64
	Uptime      time.Duration
}

const crlf = "\r\n"

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05") }

func secs(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }

func u(n uint64) string { return strconv.FormatUint(n, 10) }

// appendChannel writes one channel's fields in the format's item layout,
// without the line end after the last field.
func (f *Format) appendChannel(b []byte, c ChannelStats) []byte {
	switch f.kind {
	case plainKind:
		return append(b, "channel: "+c.ID+crlf+"published_messages: "+u(c.Published)+crlf+"stored_messages: "+u(c.Stored)+crlf+"active_subscribers: "+u(c.Subscribers)...)
	case yamlKind:
		return append(b, "  channel: "+c.ID+crlf+"  published_messages: "+u(c.Published)+crlf+"  stored_messages: "+u(c.Stored)+crlf+"  subscribers: "+u(c.Subscribers)...)
	case xmlKind:
		return append(b, "<channel>"+crlf+"  <name>"+c.ID+"</name>"+crlf+"  <published_messages>"+u(c.Published)+"</published_messages>"+crlf+
			"  <stored_messages>"+u(c.Stored)+"</stored_messages>"+crlf+"  <subscribers>"+u(c.Subscribers)+"</subscribers>"+crlf+"</channel>"+crlf...)
	}
	return append(b, `{"channel": "`+c.ID+`", "published_messages": `+u(c.Published)+`, "stored_messages": `+u(c.Stored)+`, "subscribers": `+u(c.Subscribers)+"}"...)
}

// AppendChannel writes one channel's statistics: the answer to a
// publish, or to a request that names one channel that exists.
func (f *Format) AppendChannel(b []byte, c ChannelStats) []byte {
	if f.kind == xmlKind {
		b = append(b, `<?xml version="1.0" encoding="UTF-8" ?>`+crlf...)
		b = f.appendChannel(b, c)
		return append(b, crlf...)
	}
	return append(f.appendChannel(b, c), crlf...)
}

// AppendGroup writes several channels' statistics under the header: the
// answer to a request that names several channels, ALL or a prefix (an
// empty list when none matches).
func (f *Format) AppendGroup(b []byte, h Header, cs []ChannelStats) []byte {
	t, up := isoTime(h.Time), secs(h.Uptime)
	switch f.kind {
	case plainKind:
		b = append(b, "hostname: "+h.Hostname+", time: "+t+", channels: "+u(h.Channels)+", wildcard_channels: "+u(h.WildcardChannels)+", uptime: "+up+", infos: "+crlf...)
	case yamlKind:
		b = append(b, "hostname: "+h.Hostname+crlf+"time: "+t+crlf+"channels: "+u(h.Channels)+crlf+"wildcard_channels: "+u(h.WildcardChannels)+crlf+"uptime: "+up+crlf+"infos: "+crlf...)
	case xmlKind:
		b = append(b, `<?xml version="1.0" encoding="UTF-8" ?>`+crlf+"<root>"+crlf+"  <hostname>"+h.Hostname+"</hostname>"+crlf+"  <time>"+t+"</time>"+crlf+
			"  <channels>"+u(h.Channels)+"</channels>"+crlf+"  <wildcard_channels>"+u(h.WildcardChannels)+"</wildcard_channels>"+crlf+"  <uptime>"+up+"</uptime>"+crlf+"  <infos>"+crlf...)
	default:
		b = append(b, `{"hostname": "`+h.Hostname+`", "time": "`+t+`", "channels": `+u(h.Channels)+`, "wildcard_channels": `+u(h.WildcardChannels)+`, "uptime": `+up+`, "infos": [`+crlf...)
	}
	for i, c := range cs {
		last := i == len(cs)-1
		if f.kind == yamlKind {
			b = append(b, " -"+crlf...)
		}
		b = f.appendChannel(b, c)
		switch {
		case f.kind == xmlKind:
		case !last && (f.kind == plainKind || f.kind == jsonKind):
			b = append(b, ","+crlf...)
		case !last || f.kind == jsonKind:
			b = append(b, crlf...)
		}
	}
	switch f.kind {
	case xmlKind:
		return append(b, "  </infos>"+crlf+"</root>"+crlf...)
	case jsonKind:
		return append(b, "]}"+crlf...)
	}
	return append(b, crlf...)
}

// appendWorker writes one by_worker entry; last is the final one.
func (f *Format) appendWorker(b []byte, w Worker, last bool) []byte {
	pid, subs, up := strconv.Itoa(w.PID), u(w.Subscribers), secs(w.Uptime)
	switch f.kind {
	case plainKind:
		b = append(b, "  pid: "+pid+crlf+"  subscribers: "+subs+crlf+"  uptime: "+up...)
		if !last {
			b = append(b, ","+crlf...)
		}
	case yamlKind:
		b = append(b, "   -"+crlf+"    pid: "+pid+crlf+"    subscribers: "+subs+crlf+"    uptime: "+up...)
		if !last {
			b = append(b, crlf...)
		}
	case xmlKind:
		b = append(b, "<worker>"+crlf+"  <pid>"+pid+"</pid>"+crlf+"  <subscribers>"+subs+"</subscribers>"+crlf+"  <uptime>"+up+"</uptime>"+crlf+"</worker>"+crlf...)
	default:
		b = append(b, `{"pid": "`+pid+`", "subscribers": `+subs+`, "uptime": `+up+"}"...)
		if !last {
			b = append(b, ","+crlf...)
		}
	}
	return b
}

// AppendSummary writes the summary of every channel.
func (f *Format) AppendSummary(b []byte, s Summary) []byte {
	t, up := isoTime(s.Time), secs(s.Uptime)
	fields := [...]struct{ name, value string }{
		{"hostname", s.Hostname}, {"time", t}, {"channels", u(s.Channels)}, {"wildcard_channels", u(s.WildcardChannels)},
		{"published_messages", u(s.Published)}, {"stored_messages", u(s.Stored)}, {"messages_in_trash", u(s.MessagesInTrash)},
		{"channels_in_delete", u(s.ChannelsInDelete)}, {"channels_in_trash", u(s.ChannelsInTrash)}, {"subscribers", u(s.Subscribers)},
		{"uptime", up},
	}
	workers := func(b []byte) []byte {
		for i, w := range s.Workers {
			b = f.appendWorker(b, w, i == len(s.Workers)-1)
		}
		return b
	}
	switch f.kind {
	case plainKind, yamlKind:
		indent := ""
		if f.kind == yamlKind {
			indent = "  "
		}
		for _, fl := range fields {
			b = append(b, indent+fl.name+": "+fl.value+crlf...)
		}
		b = append(b, indent+"by_worker:"+crlf...)
		return append(workers(b), crlf...)
	case xmlKind:
		b = append(b, `<?xml version="1.0" encoding="UTF-8" ?>`+crlf+"<infos>"+crlf...)
		for _, fl := range fields {
			b = append(b, "  <"+fl.name+">"+fl.value+"</"+fl.name+">"+crlf...)
		}
		b = append(b, "  <by_worker>"...)
		return append(workers(b), "</by_worker>"+crlf+"</infos>"+crlf...)
	}
	b = append(b, '{')
	for i, fl := range fields {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, `"`+fl.name+`": `...)
		if i < 2 {
			b = append(b, `"`+fl.value+`"`...)
		} else {
			b = append(b, fl.value...)
		}
	}
	b = append(b, `, "by_worker": [`+crlf...)
	return append(workers(b), crlf+"]}"+crlf...)
}
