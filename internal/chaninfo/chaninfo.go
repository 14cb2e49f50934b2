// Package chaninfo writes channel info the way Nchan does, in plain text
// (CRLF lines), JSON, XML or YAML chosen by the request's Accept header.
package chaninfo

import (
	"strconv"
	"strings"
	"time"

	"github.com/heraldpush/herald/internal/store"
)

// Format is a channel info format.
type Format uint8

// The formats, with their response content types.
const (
	Plain Format = iota // text/plain
	JSON                // text/json
	XML                 // text/xml
	YAML                // text/yaml
)

// ContentType returns the response Content-Type for f.
func (f Format) ContentType() string {
	switch f {
	case JSON:
		return "text/json"
	case XML:
		return "text/xml"
	case YAML:
		return "text/yaml"
	}
	return "text/plain"
}

// Negotiate picks the format from an Accept header: the first of text/ or
// application/ plain, json, x-json, yaml, x-yaml or xml; plain by default.
func Negotiate(accept string) Format {
	for part := range strings.SplitSeq(accept, ",") {
		mt, _, _ := strings.Cut(part, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		sub, ok := strings.CutPrefix(mt, "text/")
		if !ok {
			if sub, ok = strings.CutPrefix(mt, "application/"); !ok {
				continue
			}
		}
		switch sub {
		case "plain":
			return Plain
		case "json", "x-json":
			return JSON
		case "yaml", "x-yaml":
			return YAML
		case "xml":
			return XML
		}
	}
	return Plain
}

// Append writes info in format f to b.
func Append(b []byte, f Format, info store.Info, now time.Time) []byte {
	var id [32]byte
	return appendInfo(b, f, info, info.LastMessageID.AppendTo(id[:0]), now)
}

// AppendSum writes in format f the info of several channels, as Nchan
// answers a publish to or a delete of several channels at once: sum is
// their infos added up with Add, and the last message id is "0" (there is
// no one id for them).
func AppendSum(b []byte, f Format, sum store.Info, now time.Time) []byte {
	return appendInfo(b, f, sum, []byte("0"), now)
}

// Add adds a channel's info to a sum over several channels (see
// AppendSum), as Nchan adds them up: the most messages any channel has,
// the subscribers of all of them, and the latest time a subscriber touched
// any.
func Add(sum *store.Info, i store.Info) {
	sum.Messages = max(sum.Messages, i.Messages)
	sum.Subscribers += i.Subscribers
	if i.LastRequested.After(sum.LastRequested) {
		sum.LastRequested = i.LastRequested
	}
}

func appendInfo(b []byte, f Format, info store.Info, id []byte, now time.Time) []byte {
	req := info.Requested(now)
	switch f {
	case JSON:
		b = append(b, `{"messages": `...)
		b = strconv.AppendInt(b, int64(info.Messages), 10)
		b = append(b, `, "requested": `...)
		b = strconv.AppendInt(b, req, 10)
		b = append(b, `, "subscribers": `...)
		b = strconv.AppendInt(b, int64(info.Subscribers), 10)
		b = append(b, `, "last_message_id": "`...)
		b = append(b, id...)
		return append(b, `" }`...)
	case XML:
		b = append(b, "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\r\n<channel>\r\n  <messages>"...)
		b = strconv.AppendInt(b, int64(info.Messages), 10)
		b = append(b, "</messages>\r\n  <requested>"...)
		b = strconv.AppendInt(b, req, 10)
		b = append(b, "</requested>\r\n  <subscribers>"...)
		b = strconv.AppendInt(b, int64(info.Subscribers), 10)
		b = append(b, "</subscribers>\r\n  <last_message_id>"...)
		b = append(b, id...)
		return append(b, "</last_message_id>\r\n</channel>"...)
	case YAML:
		b = append(b, "---\r\nmessages: "...)
		b = strconv.AppendInt(b, int64(info.Messages), 10)
		b = append(b, "\r\nrequested: "...)
		b = strconv.AppendInt(b, req, 10)
		b = append(b, "\r\nsubscribers: "...)
		b = strconv.AppendInt(b, int64(info.Subscribers), 10)
		b = append(b, "\r\nlast_message_id: \""...)
		b = append(b, id...)
		return append(b, "\"\r\n\r\n"...)
	}
	b = append(b, "queued messages: "...)
	b = strconv.AppendInt(b, int64(info.Messages), 10)
	b = append(b, "\r\nlast requested: "...)
	b = strconv.AppendInt(b, req, 10)
	b = append(b, " sec. ago\r\nactive subscribers: "...)
	b = strconv.AppendInt(b, int64(info.Subscribers), 10)
	b = append(b, "\r\nlast message id: "...)
	return append(b, id...)
}

// AppendGroup writes in format f a channel group's counts and limits, as
// Nchan's group location answers (nchan_group_location). Disk space used is
// always 0: Herald keeps no messages on disk.
func AppendGroup(b []byte, f Format, st store.GroupStats, l store.GroupLimits) []byte {
	vals := [...]int64{int64(st.Channels), int64(st.Subscribers), int64(st.Messages), st.MessageBytes, 0,
		l.Channels, l.Subscribers, l.Messages, l.MessageBytes, l.DiskBytes}
	parts := groupParts(f)
	for i, v := range vals {
		b = append(b, parts[i]...)
		b = strconv.AppendInt(b, v, 10)
	}
	return append(b, parts[len(vals)]...)
}

// groupParts returns group format f: the text before each of the ten
// numbers, and after the last.
func groupParts(f Format) [11]string {
	switch f {
	case JSON:
		return [...]string{
			"{\r\n  \"channels\": ",
			",\r\n  \"subscribers\": ",
			",\r\n  \"messages\": ",
			",\r\n  \"messages_memory\": ",
			",\r\n  \"messages_disk\": ",
			",\r\n  \"limits\": {\r\n    \"channels\": ",
			",\r\n    \"subscribers\": ",
			",\r\n    \"messages\": ",
			",\r\n    \"messages_memory\": ",
			",\r\n    \"messages_disk\": ",
			"\r\n  }\r\n}",
		}
	case YAML:
		return [...]string{
			"---\r\nchannels: ",
			"\r\nsubscribers: ",
			"\r\nmessages: ",
			"\r\nmessages_memory: ",
			"\r\nmessages_disk: ",
			"\r\nlimits:\r\n  channels: ",
			"\r\n  subscribers: ",
			"\r\n  messages: ",
			"\r\n  messages_memory: ",
			"\r\n  messages_disk: ",
			"\r\n\r\n",
		}
	case XML:
		return [...]string{
			"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\r\n<group>\r\n  <channels>",
			"</channels>\r\n  <subscribers>",
			"</subscribers>\r\n  <messages>",
			"</messages>\r\n  <messages_memory>",
			"</messages_memory>\r\n  <messages_disk>",
			"</messages_disk>\r\n  <limits>\r\n    <channels>",
			"</channels>\r\n    <subscribers>",
			"</subscribers>\r\n    <messages>",
			"</messages>\r\n    <messages_memory>",
			"</messages_memory>\r\n    <messages_disk>",
			"</messages_disk>\r\n  </limits>\r\n</group>",
		}
	}
	return [...]string{
		"channels: ",
		"\r\nsubscribers: ",
		"\r\nmessages: ",
		"\r\nshared memory used by messages: ",
		" bytes\r\ndisk space used by messages: ",
		" bytes\r\nlimits:\r\n  max channels: ",
		"\r\n  max subscribers: ",
		"\r\n  max messages: ",
		"\r\n  max messages shared memory: ",
		"\r\n  max messages disk space: ",
		"\r\n",
	}
}
