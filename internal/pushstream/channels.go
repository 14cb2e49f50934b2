// Package pushstream holds the wire formats of nginx-push-stream-module's
// protocol that Herald's push-stream locations speak: the channels path
// grammar (channels.go), channel statistics in each of the module's
// formats and their negotiation (stats.go), the events channel's messages,
// and the module's header names and explanations.
package pushstream

// Channel is one channel a channels path names.
type Channel struct {
	// ID is the channel's id.
	ID string
	// Backtrack is the N of a ".bN" suffix: how many of the channel's
	// stored messages a subscriber asks for first; 0 without one, -1 when
	// N is too large to read.
	Backtrack int
}

// maxBacktrackDigits bounds the digits of a backtrack read as a number.
const maxBacktrackDigits = 9

// ParseChannels splits a channels path into its channels, as the module
// reads push_stream_channels_path's value: each channel ends at a "/" or
// at the end of the path, optionally just after a ".bN" backtrack
// (digits N). "a/b.b3" is channel a, then b with backtrack 3; "a//b" names
// a channel with an empty id between them; a trailing "/" ends the last
// channel and names no other. An empty path names no channel. A ".bN" not
// followed by "/" or the end is part of the id ("a.b3x" is one channel).
func ParseChannels(path string) []Channel {
	var out []Channel
	for rest := path; rest != ""; {
		end, next, bt := nextChannel(rest)
		out = append(out, Channel{ID: rest[:end], Backtrack: bt})
		rest = rest[next:]
	}
	return out
}

// nextChannel finds where the first channel of s ends: its id is s[:end],
// the next channel starts at s[next:], and bt is its backtrack.
func nextChannel(s string) (end, next, bt int) {
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '/' {
			next = i
			if i < len(s) {
				next++
			}
			return i, next, 0
		}
		if s[i] != '.' || i+2 >= len(s) || s[i+1] != 'b' || !isDigit(s[i+2]) {
			continue
		}
		j := i + 2
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j == len(s) || s[j] == '/' {
			next = j
			if j < len(s) {
				next++
			}
			return i, next, backtrack(s[i+2 : j])
		}
	}
	return len(s), len(s), 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// backtrack reads the digits of a ".bN", -1 when there are too many.
func backtrack(digits string) int {
	for len(digits) > 1 && digits[0] == '0' {
		digits = digits[1:]
	}
	if len(digits) > maxBacktrackDigits {
		return -1
	}
	n := 0
	for i := 0; i < len(digits); i++ {
		n = n*10 + int(digits[i]-'0')
	}
	return n
}
