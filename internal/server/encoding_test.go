package server

import (
	"bytes"
	"strings"
	"testing"
	"unsafe"

	"github.com/heraldpush/herald/protocol"
)

// inBody reports whether p is a slice of body's memory.
func inBody(p, body []byte) bool {
	if len(p) == 0 || len(body) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(body)))
	at := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	return at >= start && at < start+uintptr(len(body))
}

// TestAppendEventPieces: an event written in pieces is byte for byte the
// event protocol.AppendEvent writes; a body of up to esMaxLines lines is
// referenced, not copied, and a longer one is one piece of its own.
func TestAppendEventPieces(t *testing.T) {
	many := strings.Repeat("line\n", esMaxLines) + "last"
	tests := []struct {
		name   string
		event  string
		body   string
		pieces int // 0: the whole event in one piece
	}{
		{"one line", "", "hello", 3},
		{"named", "chat", "hello", 3},
		{"empty", "", "", 3},
		{"LF", "", "a\nb", 5},
		{"CRLF", "", "a\r\nb", 5},
		{"lone CR", "", "a\rb", 5},
		{"CR then LF apart", "", "a\rb\nc", 7},
		{"trailing LF", "", "a\n", 5},
		{"blank lines", "", "\n\n", 7},
		{"CRLF at the end", "", "x\r\n", 5},
		{"as many lines as referenced", "", strings.Repeat("l\r\n", esMaxLines-1) + "end", maxParts},
		{"more lines: copied", "", many, 0},
		{"more lines, named", "e", many + "\r", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			parts := appendEvent([][]byte{[]byte("before")}, tt.event, "1:2", body)
			want := protocol.AppendEvent(nil, tt.event, "1:2", body)
			if got := bytes.Join(parts[1:], nil); !bytes.Equal(got, want) {
				t.Fatalf("pieces make %q, want %q", got, want)
			}
			if string(parts[0]) != "before" {
				t.Fatalf("the pieces before were changed: %q", parts[0])
			}
			n := len(parts) - 1
			if n > maxParts {
				t.Fatalf("%d pieces, more than maxParts (%d)", n, maxParts)
			}
			if tt.pieces == 0 {
				if n != 1 {
					t.Fatalf("%d pieces, want the event in one", n)
				}
				return
			}
			if n != tt.pieces {
				t.Fatalf("%d pieces, want %d", n, tt.pieces)
			}
			for _, p := range parts[1:] {
				if len(p) > 0 && !inBody(p, body) && !bytes.Equal(p, esDataBreak) && !bytes.Equal(p, esEnd) && &p[0] != &parts[1][0] {
					t.Fatalf("piece %q is neither the head, a slice of the body nor a separator", p)
				}
			}
		})
	}
}

// FuzzAppendEventPieces: whatever the body, the pieces make AppendEvent's
// bytes, in at most maxParts pieces.
func FuzzAppendEventPieces(f *testing.F) {
	for _, s := range []string{"", "a", "a\nb", "\r\n\r", strings.Repeat("x\r", 20)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		parts := appendEvent(nil, "ev", "1:0", []byte(body))
		if len(parts) > maxParts {
			t.Fatalf("%d pieces", len(parts))
		}
		if got, want := bytes.Join(parts, nil), protocol.AppendEvent(nil, "ev", "1:0", []byte(body)); !bytes.Equal(got, want) {
			t.Fatalf("pieces make %q, want %q", got, want)
		}
	})
}
