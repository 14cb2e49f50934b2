package protocol

import (
	"bytes"
	"errors"
	"fmt"
)

// WSMetaProtocol is the WebSocket subprotocol with which Nchan prefixes
// every message with a header block (AppendWSMeta).
const WSMetaProtocol = "ws+meta.nchan"

// ParseWSMeta splits a ws+meta.nchan message into its id, content type
// (empty when the block has none) and body: the header block is
// "name: value" lines ending with LF, "id" first, then "content-type"
// when the message has one, and a blank line. Header names are read
// without regard to case; unknown ones are skipped. The slices point into
// msg.
func ParseWSMeta(msg []byte) (id, contentType, body []byte, err error) {
	rest := msg
	hasID := false
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return nil, nil, nil, errors.New("ws+meta: header block without its blank line")
		}
		line := rest[:i]
		rest = rest[i+1:]
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return nil, nil, nil, fmt.Errorf("ws+meta: header line %q without a colon", line)
		}
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch {
		case bytes.EqualFold(name, []byte("id")):
			id, hasID = value, true
		case bytes.EqualFold(name, []byte("content-type")):
			contentType = value
		}
	}
	if !hasID {
		return nil, nil, nil, errors.New("ws+meta: header block without an id")
	}
	return id, contentType, rest, nil
}
