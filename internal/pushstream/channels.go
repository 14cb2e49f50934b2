package pushstream

import (
	"math"
	"strings"
)

// Channel is one channel a subscriber asked for in the channels path: its
// id and how many of its stored messages to send first (".bN").
type Channel struct {
	ID        string
	Backtrack int
}

// MaxBacktrack is the largest backtrack kept; larger values (all stored
// messages in practice) are clamped to it.
const MaxBacktrack = math.MaxInt32

// ParseChannels splits a subscriber's channels path, such as
// "ch1.b3/ch2.b5/ch3", into channels, as the module reads it: channels are
// separated by "/", and a channel id followed by ".b" and digits at the
// end of its segment asks for that many old messages. A ".b" suffix
// followed by anything else is part of the id ("a.b2x"). Empty segments
// ("a//b", a trailing "/") name no channel. The result is nil when the path
// names none.
func ParseChannels(path string) []Channel {
	var out []Channel
	for len(path) > 0 {
		seg := path
		if i := strings.IndexByte(path, '/'); i >= 0 {
			seg, path = path[:i], path[i+1:]
		} else {
			path = ""
		}
		id, back := splitBacktrack(seg)
		if id == "" {
			continue
		}
		out = append(out, Channel{ID: id, Backtrack: back})
	}
	return out
}

// splitBacktrack splits a ".bN" suffix from one segment. The module's
// pattern finds the leftmost ".b<digits>" that ends the segment, so
// "a.b1.b2" is channel "a.b1" with backtrack 2.
func splitBacktrack(seg string) (string, int) {
	for i := 0; i+2 < len(seg); i++ {
		if seg[i] != '.' || seg[i+1] != 'b' || !allDigits(seg[i+2:]) {
			continue
		}
		n := 0
		for _, c := range seg[i+2:] {
			n = n*10 + int(c-'0')
			if n > MaxBacktrack {
				n = MaxBacktrack
				break
			}
		}
		return seg[:i], n
	}
	return seg, 0
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
