package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// MuxProtocol is the WebSocket subprotocol of Herald's multiplexed
// connection (negotiated with Sec-WebSocket-Protocol on a location with
// websocket_multiplex): one connection subscribes to and unsubscribes from
// any number of channels while it is open, and publishes to them. Every
// frame is a JSON object in a text message; docs/multiplex.md describes
// the protocol.
const MuxProtocol = "herald.v1"

// MuxOp names what a multiplexed frame does.
type MuxOp string

// The frames a client sends.
const (
	// MuxSubscribe joins a channel, from a position (From).
	MuxSubscribe MuxOp = "subscribe"
	// MuxUnsubscribe leaves a channel.
	MuxUnsubscribe MuxOp = "unsubscribe"
	// MuxPublish publishes Data to a channel.
	MuxPublish MuxOp = "publish"
	// MuxPing asks for a MuxPong, for clients that cannot send WebSocket
	// pings (browsers).
	MuxPing MuxOp = "ping"
)

// The frames the server sends.
const (
	// MuxAck answers a client frame that succeeded; for a publish it
	// carries the message's id.
	MuxAck MuxOp = "ack"
	// MuxError answers a client frame that failed, with an HTTP status
	// and a reason; the connection stays open.
	MuxError MuxOp = "error"
	// MuxMessage delivers a message of a channel the client joined.
	MuxMessage MuxOp = "message"
	// MuxUnsubscribed says the server ended a subscription (the channel
	// was deleted, the subscriber fell behind the buffer); Status and
	// Reason say why.
	MuxUnsubscribed MuxOp = "unsubscribed"
	// MuxPong answers a MuxPing.
	MuxPong MuxOp = "pong"
)

// Positions a subscribe frame may start from besides a message id.
const (
	// MuxFromStart starts at the oldest buffered message.
	MuxFromStart = "start"
	// MuxFromEnd starts with the next message published.
	MuxFromEnd = "end"
)

// MuxFrame is one frame of the multiplexed protocol, either way. Which
// fields a frame has depends on its Op (see docs/multiplex.md); the rest
// are zero.
type MuxFrame struct {
	Op MuxOp
	// Ref is the client's number for a frame, echoed in the answer to it;
	// 0 when the client gave none.
	Ref uint64
	// Channel is the channel id.
	Channel string
	// From is where a subscription starts: a message id, MuxFromStart or
	// MuxFromEnd; "" for the location's subscriber_first_message.
	From string
	// Token is a signed token for this frame's channel (subscribe,
	// publish), tried before any token of the handshake.
	Token string
	// ID is a message's id: the published message's in an ack, the
	// delivered message's in a message frame.
	ID string
	// Data is a message's body. On the wire it is "data", a JSON string,
	// when it is valid UTF-8, and "data_b64", standard base64, otherwise.
	Data []byte
	// ContentType is a message's content type.
	ContentType string
	// Event is a message's EventSource event name, if it has one.
	Event string
	// Status and Reason say why a frame failed (MuxError) or a
	// subscription ended (MuxUnsubscribed).
	Status int
	Reason string
}

// muxWire is a frame as JSON; Data is a pointer so that "data":"" is told
// from no data.
type muxWire struct {
	Op          MuxOp   `json:"op"`
	Ref         *uint64 `json:"ref,omitempty"`
	Channel     string  `json:"channel,omitempty"`
	From        string  `json:"from,omitempty"`
	Token       string  `json:"token,omitempty"`
	ID          string  `json:"id,omitempty"`
	Data        *string `json:"data,omitempty"`
	DataB64     *string `json:"data_b64,omitempty"`
	ContentType string  `json:"content_type,omitempty"`
	Event       string  `json:"event,omitempty"`
	Status      int     `json:"status,omitempty"`
	Reason      string  `json:"reason,omitempty"`
}

// MuxParseError is a frame that is not valid JSON or not a valid frame;
// Ref is the frame's ref when it could be read, so the error can answer it.
type MuxParseError struct {
	Ref    uint64
	Reason string
}

func (e *MuxParseError) Error() string { return "herald.v1 frame: " + e.Reason }

// ParseMuxFrame reads one frame (the payload of a text message). It checks
// that the frame is one JSON object, that its op is known, and that it has
// the fields its op needs: a channel for subscribe, unsubscribe, publish
// and message; data (or data_b64) for publish and message, not both. A
// failure is a *MuxParseError. Unknown fields are ignored, so later
// versions may add some.
func ParseMuxFrame(p []byte) (*MuxFrame, error) {
	var w muxWire
	if p = bytes.TrimSpace(p); len(p) == 0 || p[0] != '{' {
		return nil, &MuxParseError{Reason: "not a JSON object"}
	}
	if err := json.Unmarshal(p, &w); err != nil {
		return nil, &MuxParseError{Reason: "not a valid frame: " + jsonReason(err)}
	}
	f := &MuxFrame{Op: w.Op, Channel: w.Channel, From: w.From, Token: w.Token, ID: w.ID,
		ContentType: w.ContentType, Event: w.Event, Status: w.Status, Reason: w.Reason}
	if w.Ref != nil {
		f.Ref = *w.Ref
	}
	bad := func(reason string) (*MuxFrame, error) { return nil, &MuxParseError{Ref: f.Ref, Reason: reason} }
	switch {
	case w.Data != nil && w.DataB64 != nil:
		return bad("both data and data_b64")
	case w.Data != nil:
		f.Data = []byte(*w.Data)
	case w.DataB64 != nil:
		b, err := base64.StdEncoding.DecodeString(*w.DataB64)
		if err != nil {
			return bad("data_b64 is not base64")
		}
		f.Data = b
	}
	switch f.Op {
	case MuxSubscribe, MuxUnsubscribe, MuxUnsubscribed:
		if f.Channel == "" {
			return bad(string(f.Op) + " needs a channel")
		}
	case MuxPublish, MuxMessage:
		if f.Channel == "" {
			return bad(string(f.Op) + " needs a channel")
		}
		if w.Data == nil && w.DataB64 == nil {
			return bad(string(f.Op) + " needs data or data_b64")
		}
	case MuxAck, MuxError, MuxPing, MuxPong:
	case "":
		return bad("no op")
	default:
		return bad("unknown op " + strconv.Quote(string(f.Op)))
	}
	return f, nil
}

// jsonReason shortens a JSON error for a client.
func jsonReason(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return "field " + te.Field + " has the wrong type"
	}
	return "unreadable"
}

// AppendMuxFrame appends f as JSON, its fields in a fixed order and only
// those that are set: what ParseMuxFrame reads back.
func AppendMuxFrame(b []byte, f *MuxFrame) []byte {
	b = append(b, `{"op":`...)
	b = AppendJSONString(b, string(f.Op))
	if f.Ref != 0 {
		b = append(b, `,"ref":`...)
		b = strconv.AppendUint(b, f.Ref, 10)
	}
	str := func(b []byte, name, v string) []byte {
		if v == "" {
			return b
		}
		b = append(b, `,"`...)
		b = append(b, name...)
		b = append(b, `":`...)
		return AppendJSONString(b, v)
	}
	b = str(b, "channel", f.Channel)
	b = str(b, "from", f.From)
	b = str(b, "token", f.Token)
	b = str(b, "id", f.ID)
	if f.Data != nil || f.Op == MuxPublish || f.Op == MuxMessage {
		b = appendMuxData(b, f.Data)
	}
	b = str(b, "content_type", f.ContentType)
	b = str(b, "event", f.Event)
	if f.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(f.Status), 10)
	}
	b = str(b, "reason", f.Reason)
	return append(b, '}')
}

// appendMuxData appends a body as "data" when it is valid UTF-8, as
// "data_b64" otherwise.
func appendMuxData(b, data []byte) []byte {
	if utf8.Valid(data) {
		b = append(b, `,"data":`...)
		return appendJSONBytes(b, data)
	}
	b = append(b, `,"data_b64":"`...)
	b = base64.StdEncoding.AppendEncode(b, data)
	return append(b, '"')
}

// AppendMuxMessage appends a message frame: what the server sends for each
// message of a channel a client joined.
func AppendMuxMessage(b []byte, channel, id string, data []byte, contentType, event string) []byte {
	return AppendMuxFrame(b, &MuxFrame{Op: MuxMessage, Channel: channel, ID: id, Data: data, ContentType: contentType, Event: event})
}

// AppendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD; U+2028 and U+2029 are escaped so the result is valid
// JavaScript too.
func AppendJSONString(b []byte, s string) []byte {
	return appendJSON(b, s)
}

func appendJSONBytes(b, s []byte) []byte { return appendJSON(b, s) }

const hexDigits = "0123456789abcdef"

func appendJSON[T string | []byte](b []byte, s T) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		var r rune
		var size int
		switch v := any(s).(type) {
		case string:
			r, size = utf8.DecodeRuneInString(v[i:])
		case []byte:
			r, size = utf8.DecodeRune(v[i:])
		}
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
