package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// gobwasFrame encodes a frame with gobwas/ws, as a reference.
func gobwasFrame(t testing.TB, f ws.Frame) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := ws.WriteFrame(&b, f); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestAppendFrame(t *testing.T) {
	tests := []struct {
		name  string
		op    OpCode
		flags FrameFlags
		size  int
	}{
		{"empty text", OpText, Fin, 0},
		{"7-bit length", OpText, Fin, 125},
		{"16-bit length", OpBinary, Fin, 126},
		{"16-bit max", OpText, Fin, 0xffff},
		{"64-bit length", OpBinary, Fin, 0x10000},
		{"compressed", OpText, Fin | RSV1, 10},
		{"first fragment", OpText, 0, 5},
		{"continuation", OpContinuation, Fin, 5},
		{"ping", OpPing, Fin, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := bytes.Repeat([]byte{'p'}, tt.size)
			h := ws.Header{Fin: tt.flags&Fin != 0, Rsv: byte(tt.flags>>4) & 7, OpCode: ws.OpCode(tt.op), Length: int64(tt.size)}
			want := gobwasFrame(t, ws.Frame{Header: h, Payload: payload})
			half := len(payload) / 2
			got := AppendFrame([]byte("x"), tt.op, tt.flags, payload[:half], nil, payload[half:])
			if !bytes.Equal(got[1:], want) || got[0] != 'x' {
				t.Fatalf("got % x, want % x", got[:min(len(got), 16)], want[:min(len(want), 16)])
			}
			key := [4]byte{1, 2, 3, 4}
			h.Masked, h.Mask = true, key
			masked := append([]byte(nil), payload...)
			ws.Cipher(masked, key, 0)
			want = gobwasFrame(t, ws.Frame{Header: h, Payload: masked})
			if got := AppendMaskedFrame(nil, tt.op, tt.flags, key, payload[:half], payload[half:]); !bytes.Equal(got, want) {
				t.Fatalf("masked: got % x, want % x", got[:min(len(got), 20)], want[:min(len(want), 20)])
			}
		})
	}
}

func TestControlFrames(t *testing.T) {
	long := strings.Repeat("r", 200)
	utf := strings.Repeat("é", 62) // 124 bytes: a cut at 123 would split the last one
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"close", AppendCloseFrame(nil, CloseGoingAway, "410 Gone"), []byte("\x88\x0a\x03\xe9410 Gone")},
		{"close without reason", AppendCloseFrame(nil, CloseNormal, ""), []byte("\x88\x02\x03\xe8")},
		{"close without code", AppendCloseFrame(nil, 0, "ignored"), []byte("\x88\x00")},
		{"close reason cut", AppendCloseFrame(nil, CloseTryAgainLater, long), append([]byte("\x88\x7d\x03\xf5"), long[:123]...)},
		{"close reason cut at a rune", AppendCloseFrame(nil, CloseNormal, utf), append([]byte("\x88\x7c\x03\xe8"), utf[:122]...)},
		{"close payload", AppendClosePayload(nil, CloseProtocolError, "x"), []byte("\x03\xeax")},
		{"ping", AppendPingFrame(nil, nil), []byte("\x89\x00")},
		{"pong", AppendPongFrame(nil, []byte("abc")), []byte("\x8a\x03abc")},
		{"pong cut", AppendPongFrame(nil, []byte(long)), append([]byte("\x8a\x7d"), long[:125]...)},
	}
	for _, tt := range tests {
		if !bytes.Equal(tt.got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	code, reason := ParseClosePayload([]byte("\x03\xe9bye"))
	if code != CloseGoingAway || string(reason) != "bye" {
		t.Errorf("ParseClosePayload: %d %q", code, reason)
	}
	if code, _ := ParseClosePayload(nil); code != CloseNoStatus {
		t.Errorf("empty close payload: %d", code)
	}
}

func TestMask(t *testing.T) {
	key := [4]byte{0xde, 0xad, 0xbe, 0xef}
	for _, n := range []int{0, 1, 3, 7, 8, 9, 31, 64, 1000} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i * 13)
		}
		want := append([]byte(nil), data...)
		ws.Cipher(want, key, 0)
		for _, split := range []int{1, 3, 5, 8} {
			got := append([]byte(nil), data...)
			for pos := 0; pos < n; pos += split {
				Mask(got[pos:min(n, pos+split)], key, pos)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%d bytes in pieces of %d: got % x, want % x", n, split, got, want)
			}
		}
	}
}

// wsDecodeAll feeds stream to d in pieces of step bytes (0: at once) and
// renders what it returns, ending with the error.
func wsDecodeAll(d *WSDecoder, stream []byte, step int) ([]string, error) {
	if step <= 0 {
		step = max(1, len(stream))
	}
	var out []string
	for len(stream) > 0 {
		n := min(step, len(stream))
		d.Feed(stream[:n])
		stream = stream[n:]
		for {
			m, err := d.Next()
			if err != nil {
				return out, err
			}
			if m == nil {
				break
			}
			s := fmt.Sprintf("%v %q", m.Op, m.Data)
			if m.Op == OpClose {
				code, reason := ParseClosePayload(m.Data)
				s = fmt.Sprintf("close %d %q", code, reason)
			}
			if m.Compressed {
				s += " compressed"
			}
			if m.Truncated {
				s += " truncated"
			}
			out = append(out, s)
		}
	}
	return out, nil
}

func frames(fs ...[]byte) []byte { return bytes.Join(fs, nil) }

// checkWSState checks what Idle and Buffered report after Next asked for
// more input: the decoder holds at most its limit, and nothing when idle.
func checkWSState(d *WSDecoder) error {
	lim := d.MaxMessage
	if lim <= 0 {
		lim = DefaultMaxMessage
	}
	switch b := d.Buffered(); {
	case b < 0 || b > lim:
		return fmt.Errorf("Buffered() = %d with MaxMessage %d", b, lim)
	case d.Idle() && b != 0:
		return fmt.Errorf("idle decoder holds %d bytes", b)
	}
	return nil
}

// wsDecodeState is wsDecodeAll that checks the decoder's state after each
// piece (checkWSState) and also returns whether it ended idle.
func wsDecodeState(d *WSDecoder, stream []byte, step int) ([]string, bool, error) {
	var out []string
	for len(stream) > 0 {
		n := min(max(step, 1), len(stream))
		got, err := wsDecodeAll(d, stream[:n], 0)
		out = append(out, got...)
		if err != nil {
			return out, d.Idle(), err
		}
		if err := checkWSState(d); err != nil {
			return out, false, err
		}
		stream = stream[n:]
	}
	return out, d.Idle(), nil
}

// TestWSDecoderState: Idle and Buffered through messages that arrive
// whole, in pieces, in fragments and too long.
func TestWSDecoderState(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	text := AppendMaskedFrame(nil, OpText, Fin, key, []byte("0123456789"))
	frag1 := AppendMaskedFrame(nil, OpText, 0, key, []byte("abcd"))
	ping := AppendMaskedFrame(nil, OpPing, Fin, key, []byte("p"))
	last := AppendMaskedFrame(nil, OpContinuation, Fin, key, []byte("ef"))
	type state struct {
		idle     bool
		buffered int
	}
	tests := []struct {
		name   string
		dec    WSDecoder
		pieces [][]byte
		want   []state // after each piece
	}{
		{"whole message", WSDecoder{}, [][]byte{text}, []state{{true, 0}}},
		{"header in pieces", WSDecoder{}, [][]byte{text[:1], text[1:4], text[4:]}, []state{{false, 0}, {false, 0}, {true, 0}}},
		{"payload in pieces", WSDecoder{}, [][]byte{text[:8], text[8:13], text[13:]},
			[]state{{false, 2}, {false, 7}, {true, 0}}},
		{"fragments with a ping between", WSDecoder{}, [][]byte{frag1, ping, last[:7], last[7:]},
			[]state{{false, 4}, {false, 4}, {false, 5}, {true, 0}}},
		{"two messages, the second started", WSDecoder{}, [][]byte{frames(text, text[:9])}, []state{{false, 3}}},
		{"truncated", WSDecoder{MaxMessage: 4, Truncate: true}, [][]byte{text[:10], text[10:]},
			[]state{{false, 4}, {true, 0}}},
		{"control frame in pieces", WSDecoder{}, [][]byte{ping[:6], ping[6:]}, []state{{false, 0}, {true, 0}}},
		{"broken stream", WSDecoder{RequireMasked: true}, [][]byte{AppendFrame(nil, OpText, Fin, []byte("x"))}, []state{{false, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.dec
			if !d.Idle() || d.Buffered() != 0 {
				t.Fatalf("new decoder: Idle %v, Buffered %d", d.Idle(), d.Buffered())
			}
			for i, p := range tt.pieces {
				wsDecodeAll(&d, slices.Clone(p), 0)
				if got := (state{d.Idle(), d.Buffered()}); got != tt.want[i] {
					t.Fatalf("after piece %d: Idle %v, Buffered %d; want %+v", i, got.idle, got.buffered, tt.want[i])
				}
			}
		})
	}
}

func TestWSDecoder(t *testing.T) {
	key := [4]byte{9, 8, 7, 6}
	long := strings.Repeat("x", 300)
	huge := strings.Repeat("y", 70_000)
	tests := []struct {
		name   string
		dec    WSDecoder
		stream []byte
		want   []string
	}{
		{"text and binary", WSDecoder{}, frames(AppendFrame(nil, OpText, Fin, []byte("hello")), AppendFrame(nil, OpBinary, Fin, []byte{1, 2})),
			[]string{`text "hello"`, `binary "\x01\x02"`}},
		{"empty message", WSDecoder{}, AppendFrame(nil, OpText, Fin), []string{`text ""`}},
		{"long messages", WSDecoder{}, frames(AppendFrame(nil, OpText, Fin, []byte(long)), AppendFrame(nil, OpText, Fin, []byte(huge))),
			[]string{fmt.Sprintf("text %q", long), fmt.Sprintf("text %q", huge)}},
		{"truncated", WSDecoder{MaxMessage: 8, Truncate: true}, frames(
			AppendFrame(nil, OpText, Fin, []byte(huge)),
			AppendFrame(nil, OpText, 0, []byte("abcdef")), AppendFrame(nil, OpContinuation, Fin, []byte("ghijkl")),
			AppendFrame(nil, OpText, Fin, []byte("short"))),
			[]string{`text "yyyyyyyy" truncated`, `text "abcdefgh" truncated`, `text "short"`}},
		{"fragmented, a ping between", WSDecoder{}, frames(
			AppendFrame(nil, OpText, 0, []byte("frag")),
			AppendPingFrame(nil, []byte("mid")),
			AppendFrame(nil, OpContinuation, 0, []byte("men")),
			AppendFrame(nil, OpContinuation, Fin, []byte("ted"))),
			[]string{`ping "mid"`, `text "fragmented"`}},
		{"masked", WSDecoder{RequireMasked: true}, frames(
			AppendMaskedFrame(nil, OpText, Fin, key, []byte(long)),
			AppendMaskedFrame(nil, OpBinary, 0, key, []byte("ab")),
			AppendMaskedFrame(nil, OpContinuation, Fin, [4]byte{1, 1, 1, 1}, []byte("cdefghijk")),
			AppendMaskedFrame(nil, OpPing, Fin, key, []byte("p"))),
			[]string{fmt.Sprintf("text %q", long), `binary "abcdefghijk"`, `ping "p"`}},
		{"pong", WSDecoder{}, AppendPongFrame(nil, []byte("x")), []string{`pong "x"`}},
		{"compressed", WSDecoder{AllowCompressed: true}, frames(AppendFrame(nil, OpText, RSV1, []byte("a")), AppendFrame(nil, OpContinuation, Fin, []byte("b"))),
			[]string{`text "ab" compressed`}},
		{"close", WSDecoder{}, frames(AppendFrame(nil, OpText, Fin, []byte("last")), AppendCloseFrame(nil, CloseGoingAway, "bye"), AppendCloseFrame(nil, 0, "")),
			[]string{`text "last"`, `close 1001 "bye"`, `close 1005 ""`}},
	}
	for _, tt := range tests {
		for _, step := range []int{0, 1, 2, 3, 7, 100, 4096} {
			t.Run(fmt.Sprintf("%s/step %d", tt.name, step), func(t *testing.T) {
				d := tt.dec
				got, err := wsDecodeAll(&d, slices.Clone(tt.stream), step)
				if err != nil || !slices.Equal(got, tt.want) {
					t.Fatalf("got %.200q, %v; want %.200q", got, err, tt.want)
				}
			})
		}
	}
}

func TestWSDecoderErrors(t *testing.T) {
	ping := AppendPingFrame(nil, []byte("p"))
	tests := []struct {
		name   string
		dec    WSDecoder
		stream []byte
		code   CloseCode
	}{
		{"reserved opcode", WSDecoder{}, []byte{0x83, 0}, CloseProtocolError},
		{"reserved control opcode", WSDecoder{}, []byte{0x8b, 0}, CloseProtocolError},
		{"long control frame", WSDecoder{}, AppendFrame(nil, OpPing, Fin, make([]byte, 126)), CloseProtocolError},
		{"fragmented control frame", WSDecoder{}, AppendFrame(nil, OpPing, 0), CloseProtocolError},
		{"unmasked", WSDecoder{RequireMasked: true}, ping, CloseProtocolError},
		{"RSV1 not negotiated", WSDecoder{}, AppendFrame(nil, OpText, Fin|RSV1), CloseProtocolError},
		{"RSV1 on a continuation", WSDecoder{AllowCompressed: true}, frames(AppendFrame(nil, OpText, 0), AppendFrame(nil, OpContinuation, Fin|RSV1)), CloseProtocolError},
		{"RSV1 on a control frame", WSDecoder{AllowCompressed: true}, AppendFrame(nil, OpPing, Fin|RSV1), CloseProtocolError},
		{"RSV2", WSDecoder{AllowCompressed: true}, AppendFrame(nil, OpText, Fin|RSV2), CloseProtocolError},
		{"continuation without a message", WSDecoder{}, AppendFrame(nil, OpContinuation, Fin), CloseProtocolError},
		{"message inside a message", WSDecoder{}, frames(AppendFrame(nil, OpText, 0), AppendFrame(nil, OpText, Fin)), CloseProtocolError},
		{"close with one byte", WSDecoder{}, AppendFrame(nil, OpClose, Fin, []byte{3}), CloseProtocolError},
		{"length with its top bit", WSDecoder{}, []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, CloseProtocolError},
		{"too big", WSDecoder{MaxMessage: 4}, AppendFrame(nil, OpText, Fin, []byte("hello")), CloseMessageTooBig},
		{"too big in fragments", WSDecoder{MaxMessage: 4}, frames(AppendFrame(nil, OpText, 0, []byte("abc")), AppendFrame(nil, OpContinuation, Fin, []byte("de"))), CloseMessageTooBig},
		{"too big, only declared", WSDecoder{}, []byte{0x82, 127, 0, 0, 1, 0, 0, 0, 0, 0}, CloseMessageTooBig},
	}
	for _, tt := range tests {
		for _, step := range []int{0, 1} {
			t.Run(fmt.Sprintf("%s/step %d", tt.name, step), func(t *testing.T) {
				d := tt.dec
				_, err := wsDecodeAll(&d, tt.stream, step)
				var we *WSError
				if !errors.As(err, &we) || we.Code != tt.code {
					t.Fatalf("error %v, want close code %d", err, tt.code)
				}
				if (tt.code == CloseMessageTooBig) != errors.Is(err, ErrTooLong) {
					t.Fatalf("error %v: ErrTooLong %v", err, errors.Is(err, ErrTooLong))
				}
				if _, again := d.Next(); again != err {
					t.Fatalf("error not kept: %v", again)
				}
			})
		}
	}
}

// TestWSDecoderDeclaredLength: a header announcing a large payload
// allocates nothing before the bytes arrive.
func TestWSDecoderDeclaredLength(t *testing.T) {
	d := WSDecoder{MaxMessage: 1 << 30}
	hdr := []byte{0x82, 127, 0, 0, 0, 0, 0x20, 0, 0, 0} // 512 MiB
	d.Feed(append(hdr, "abc"...))
	if m, err := d.Next(); m != nil || err != nil {
		t.Fatalf("Next: %v %v", m, err)
	}
	if cap(d.msg) > 64 {
		t.Fatalf("buffer of %d bytes for 3 bytes received", cap(d.msg))
	}
}

func TestOpCode(t *testing.T) {
	tests := []struct {
		op                OpCode
		control, reserved bool
		name              string
	}{
		{OpContinuation, false, false, "continuation"},
		{OpText, false, false, "text"},
		{OpBinary, false, false, "binary"},
		{3, false, true, "opcode 3"},
		{OpClose, true, false, "close"},
		{OpPing, true, false, "ping"},
		{OpPong, true, false, "pong"},
		{0xb, true, true, "opcode 11"},
	}
	for _, tt := range tests {
		if tt.op.IsControl() != tt.control || tt.op.IsReserved() != tt.reserved || tt.op.String() != tt.name {
			t.Errorf("%d: control %v reserved %v name %q", tt.op, tt.op.IsControl(), tt.op.IsReserved(), tt.op.String())
		}
	}
}

// FuzzWSDecoder: any input decodes, or fails, the same way whatever the
// pieces it arrives in.
func FuzzWSDecoder(f *testing.F) {
	f.Add(frames(AppendFrame(nil, OpText, Fin, []byte("hello")), AppendPingFrame(nil, []byte("p"))), uint8(3), false)
	f.Add(AppendMaskedFrame(nil, OpText, Fin, [4]byte{1, 2, 3, 4}, []byte(strings.Repeat("z", 200))), uint8(1), true)
	f.Add(frames(AppendFrame(nil, OpText, 0, []byte("a")), AppendFrame(nil, OpContinuation, Fin, []byte("b"))), uint8(2), false)
	f.Add([]byte{0x81, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint8(5), false)
	f.Fuzz(func(t *testing.T, stream []byte, step uint8, truncate bool) {
		newDec := func() *WSDecoder { return &WSDecoder{MaxMessage: 64, Truncate: truncate, AllowCompressed: true} }
		m1, idle1, e1 := wsDecodeState(newDec(), slices.Clone(stream), len(stream))
		m2, idle2, e2 := wsDecodeState(newDec(), slices.Clone(stream), int(step%16)+1)
		if !slices.Equal(m1, m2) || fmt.Sprint(e1) != fmt.Sprint(e2) || idle1 != idle2 {
			t.Fatalf("whole: %q %v idle %v; in pieces: %q %v idle %v", m1, e1, idle1, m2, e2, idle2)
		}
	})
}

// FuzzWSRoundTrip: a message framed in fragments, masked or not, decodes
// to itself.
func FuzzWSRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), uint8(0), false, uint8(1))
	f.Add([]byte(strings.Repeat("w", 300)), uint8(3), true, uint8(7))
	f.Add([]byte{}, uint8(1), true, uint8(2))
	f.Fuzz(func(t *testing.T, payload []byte, frags uint8, masked bool, step uint8) {
		op := OpText
		if frags&0x80 != 0 {
			op = OpBinary
		}
		n := int(frags&7) + 1
		var stream []byte
		for i := range n {
			part := payload[len(payload)*i/n : len(payload)*(i+1)/n]
			fop, flags := OpContinuation, FrameFlags(0)
			if i == 0 {
				fop = op
			}
			if i == n-1 {
				flags = Fin
			}
			if masked {
				stream = AppendMaskedFrame(stream, fop, flags, [4]byte{byte(i), 0x5a, 0xa5, byte(len(part))}, part)
			} else {
				stream = AppendFrame(stream, fop, flags, part)
			}
			if i == 0 && n > 1 {
				// A control frame between fragments.
				if masked {
					stream = AppendMaskedFrame(stream, OpPing, Fin, [4]byte{7, 7, 7, 7}, payload[:min(len(payload), 5)])
				} else {
					stream = AppendPingFrame(stream, payload[:min(len(payload), 5)])
				}
			}
		}
		d := WSDecoder{RequireMasked: masked}
		got, err := wsDecodeAll(&d, stream, int(step%32)+1)
		want := []string{fmt.Sprintf("%v %q", op, payload)}
		if n > 1 {
			want = append([]string{fmt.Sprintf("ping %q", payload[:min(len(payload), 5)])}, want...)
		}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	})
}
