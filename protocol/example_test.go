package protocol_test

import (
	"fmt"

	"github.com/heraldpush/herald/protocol"
)

// A subscriber reads an EventSource stream as it arrives, in pieces of any
// size, until Nchan's closing status comment.
func ExampleEventSourceDecoder() {
	var d protocol.EventSourceDecoder
	for _, piece := range []string{": hi\n\nid: 1:0\ndata: hel", "lo\n\nevent: ping\n\n:410: 410 Gone\n\n"} {
		d.Feed([]byte(piece))
		for {
			e, err := d.Next()
			if err != nil || e == nil {
				break
			}
			switch e.Kind {
			case protocol.KindEvent:
				fmt.Printf("message %s: %s\n", e.ID, e.Data)
			case protocol.KindComment:
				if status, text, ok := e.Status(); ok {
					fmt.Printf("closed: %d (%s)\n", status, text)
				}
			}
		}
	}
	// Output:
	// message 1:0: hello
	// closed: 410 (410 Gone)
}

// A client reads a server's WebSocket frames, answering pings and
// stopping at the close frame.
func ExampleWSDecoder() {
	stream := protocol.AppendFrame(nil, protocol.OpText, protocol.Fin, []byte("hello"))
	stream = protocol.AppendPingFrame(stream, []byte("p"))
	stream = protocol.AppendCloseFrame(stream, protocol.CloseGoingAway, "410 Gone")
	d := protocol.WSDecoder{MaxMessage: 1 << 20}
	d.Feed(stream)
	for {
		m, err := d.Next()
		if err != nil || m == nil {
			break
		}
		switch m.Op {
		case protocol.OpText, protocol.OpBinary:
			fmt.Printf("message: %s\n", m.Data)
		case protocol.OpPing:
			pong := protocol.AppendMaskedFrame(nil, protocol.OpPong, protocol.Fin, [4]byte{1, 2, 3, 4}, m.Data)
			fmt.Printf("pong of %d bytes\n", len(pong))
		case protocol.OpClose:
			code, reason := protocol.ParseClosePayload(m.Data)
			fmt.Printf("closed: %d %s\n", code, reason)
		}
	}
	// Output:
	// message: hello
	// pong of 7 bytes
	// closed: 1001 410 Gone
}

// A ws+meta.nchan message carries its id and content type before the body.
func ExampleParseWSMeta() {
	msg := append(protocol.AppendWSMeta(nil, "1:[0],-", "text/plain"), "hello"...)
	id, contentType, body, err := protocol.ParseWSMeta(msg)
	fmt.Printf("%s %s %s %v\n", id, contentType, body, err)
	// Output: 1:[0],- text/plain hello <nil>
}
