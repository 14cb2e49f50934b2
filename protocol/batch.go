package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
)

// A batch publish (publish_batch, docs/batch.md) is one HTTP request that
// publishes many messages to many channels: its body is a JSON array of
// messages, each with the fields of a herald.v1 publish frame,
//
//	[{"channel":"room1","data":"hello"},
//	 {"channel":"room2","data_b64":"AAH/","content_type":"application/octet-stream"},
//	 {"channel":"room1","data":"again","event":"chat"}]
//
// and its answer is a JSON object whose "results" array has one entry per
// message, in the same order: the message's id and the status an HTTP
// publish would have got (201, 202), or the status and reason it failed
// with (403, 404, 413, 507, ...):
//
//	{"results":[{"channel":"room1","id":"1795376591:0","status":202},
//	 {"channel":"room2","status":403,"reason":"Forbidden."},
//	 {"channel":"room1","id":"1795376591:1","status":202}]}

// BatchMessage is one message of a batch publish.
type BatchMessage struct {
	Channel     string
	Data        []byte
	ContentType string
	// Event is the message's EventSource event name, if any.
	Event string
	// Token is a signed token for the channel, tried before the request's.
	Token string
}

// BatchResult is the outcome of one message of a batch publish.
type BatchResult struct {
	Channel string
	// ID is the published message's id; "" when it failed.
	ID string
	// Status is 201 or 202 when the message was published (as an HTTP
	// publish's answer), 204 when an upstream application dropped it, or
	// the HTTP status it failed with.
	Status int
	// Reason says why it failed.
	Reason string
}

// BatchParseError is a batch body that is not a valid batch. Index is the
// message at fault (-1 for the body as a whole).
type BatchParseError struct {
	Index  int
	Reason string
}

func (e *BatchParseError) Error() string {
	if e.Index < 0 {
		return "batch: " + e.Reason
	}
	return "batch message " + strconv.Itoa(e.Index) + ": " + e.Reason
}

// batchWire is a batch message as JSON.
type batchWire struct {
	Channel     string  `json:"channel"`
	Data        *string `json:"data"`
	DataB64     *string `json:"data_b64"`
	ContentType string  `json:"content_type"`
	Event       string  `json:"event"`
	Token       string  `json:"token"`
}

// ParseBatch reads a batch body: a JSON array of at most max messages
// (max <= 0: any number), each a JSON object with a channel and data (or
// data_b64, not both). Unknown fields are ignored. A failure is a
// *BatchParseError, and then nothing of the batch is to be published.
func ParseBatch(body []byte, max int) ([]BatchMessage, error) {
	body = bytes.TrimSpace(body)
	if msgs, ok := parseBatchFast(body, max); ok {
		return msgs, nil
	}
	return parseBatchJSON(body, max)
}

// parseBatchJSON is ParseBatch with encoding/json, for every body: the one
// that decides what a batch means and how it fails. body is trimmed.
func parseBatchJSON(body []byte, max int) ([]BatchMessage, error) {
	if len(body) == 0 || body[0] != '[' {
		return nil, &BatchParseError{Index: -1, Reason: "not a JSON array"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // the '['
		return nil, &BatchParseError{Index: -1, Reason: jsonReason(err)}
	}
	var out []BatchMessage
	for i := 0; dec.More(); i++ {
		if max > 0 && i == max {
			return nil, &BatchParseError{Index: -1, Reason: "more than " + strconv.Itoa(max) + " messages"}
		}
		var w batchWire
		if err := dec.Decode(&w); err != nil {
			return nil, &BatchParseError{Index: i, Reason: "not a valid message: " + jsonReason(err)}
		}
		m := BatchMessage{Channel: w.Channel, ContentType: w.ContentType, Event: w.Event, Token: w.Token}
		switch {
		case w.Channel == "":
			return nil, &BatchParseError{Index: i, Reason: "no channel"}
		case w.Data != nil && w.DataB64 != nil:
			return nil, &BatchParseError{Index: i, Reason: "both data and data_b64"}
		case w.Data != nil:
			m.Data = []byte(*w.Data)
		case w.DataB64 != nil:
			b, err := base64.StdEncoding.DecodeString(*w.DataB64)
			if err != nil {
				return nil, &BatchParseError{Index: i, Reason: "data_b64 is not base64"}
			}
			m.Data = b
		default:
			return nil, &BatchParseError{Index: i, Reason: "no data or data_b64"}
		}
		out = append(out, m)
	}
	if _, err := dec.Token(); err != nil { // the ']'
		return nil, &BatchParseError{Index: -1, Reason: jsonReason(err)}
	}
	if _, err := dec.Token(); err == nil || dec.More() {
		return nil, &BatchParseError{Index: -1, Reason: "data after the array"}
	}
	return out, nil
}

// AppendBatchMessages appends msgs as a batch body: what ParseBatch reads
// back. A body that is valid UTF-8 goes as "data", any other as
// "data_b64".
func AppendBatchMessages(b []byte, msgs []BatchMessage) []byte {
	b = append(b, '[')
	for i := range msgs {
		m := &msgs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"channel":`...)
		b = AppendJSONString(b, m.Channel)
		b = appendMuxData(b, m.Data)
		b = appendStringField(b, "content_type", m.ContentType)
		b = appendStringField(b, "event", m.Event)
		b = appendStringField(b, "token", m.Token)
		b = append(b, '}')
	}
	return append(b, ']')
}

// AppendBatchResults appends the answer to a batch publish.
func AppendBatchResults(b []byte, results []BatchResult) []byte {
	b = append(b, `{"results":[`...)
	for i := range results {
		r := &results[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"channel":`...)
		b = AppendJSONString(b, r.Channel)
		b = appendStringField(b, "id", r.ID)
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(r.Status), 10)
		b = appendStringField(b, "reason", r.Reason)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// ParseBatchResults reads the answer to a batch publish.
func ParseBatchResults(body []byte) ([]BatchResult, error) {
	var w struct {
		Results []struct {
			Channel string `json:"channel"`
			ID      string `json:"id"`
			Status  int    `json:"status"`
			Reason  string `json:"reason"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, &BatchParseError{Index: -1, Reason: "not a batch answer: " + jsonReason(err)}
	}
	out := make([]BatchResult, len(w.Results))
	for i, r := range w.Results {
		out[i] = BatchResult{Channel: r.Channel, ID: r.ID, Status: r.Status, Reason: r.Reason}
	}
	return out, nil
}

// appendStringField appends `,"name":"v"` when v is not empty.
func appendStringField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, `,"`...)
	b = append(b, name...)
	b = append(b, `":`...)
	return AppendJSONString(b, v)
}
