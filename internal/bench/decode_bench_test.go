package bench

import (
	"fmt"
	"testing"

	"github.com/heraldpush/herald/protocol"
)

// benchStreams is how many messages one op of the decoding benchmarks
// reads.
const benchStreams = 256

// esStream is benchStreams EventSource events with bodies of size bytes,
// as a server writes them.
func esStream(size int) []byte {
	var b []byte
	for i := range benchStreams {
		b = protocol.AppendEvent(b, "", "1796233127:0", appendBody(nil, uint64(i), 1000, size))
	}
	return b
}

// wsStream is benchStreams WebSocket text frames with bodies of size
// bytes.
func wsStream(size int) []byte {
	var b []byte
	for i := range benchStreams {
		b = protocol.AppendFrame(b, protocol.OpText, protocol.Fin, appendBody(nil, uint64(i), 1000, size))
	}
	return b
}

// feedAll feeds stream in the 64 KiB reads of the reactor.
func feedAll(b *testing.B, stream []byte, feed func([]byte) error) {
	for p := stream; len(p) > 0; {
		k := min(len(p), 64<<10)
		if err := feed(p[:k]); err != nil {
			b.Fatal(err)
		}
		p = p[k:]
	}
}

// BenchmarkDecodeEventSource is a subscriber reading EventSource events:
// one op is benchStreams events.
func BenchmarkDecodeEventSource(b *testing.B) {
	for _, size := range []int{64, 4096} {
		stream := esStream(size)
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			n := 0
			h := &streamHandler{es: true, deliver: func([]byte) { n++ }}
			setupESDecoder(&h.sse, bodyPrefix)
			b.SetBytes(int64(len(stream)))
			b.ReportAllocs()
			for b.Loop() {
				feedAll(b, stream, h.data)
			}
			if n != benchStreams*b.N {
				b.Fatalf("%d events of %d", n, benchStreams*b.N)
			}
		})
	}
}

// BenchmarkDecodeWebSocket is a subscriber reading WebSocket messages: one
// op is benchStreams messages.
func BenchmarkDecodeWebSocket(b *testing.B) {
	for _, size := range []int{64, 4096} {
		stream := wsStream(size)
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			n := 0
			w := &wsReader{deliver: func([]byte) { n++ }}
			setupWSDecoder(&w.dec, bodyPrefix)
			b.SetBytes(int64(len(stream)))
			b.ReportAllocs()
			for b.Loop() {
				feedAll(b, stream, w.feed)
			}
			if n != benchStreams*b.N {
				b.Fatalf("%d messages of %d", n, benchStreams*b.N)
			}
		})
	}
}
