package redis

import (
	"strconv"
	"strings"

	"github.com/heraldpush/herald/internal/store"
)

// chanKeys are the Redis keys of one channel. They share the hash tag
// {<channel key>}, so on a Redis Cluster they live in one slot and one
// script can touch them all; the pubsub channel hashes to the same slot, so
// SPUBLISH from the script stays on the shard.
type chanKeys struct {
	meta, stream, counts, floor, pubsub string
}

func (s *Store) keys(channel store.ChannelKey) chanKeys {
	// The five names are formatted one after another and sliced out of
	// one string: one allocation for all of them.
	var scratch [320]byte
	b := scratch[:0]
	var end [5]int
	for i, suffix := range [...]string{":m", ":s", ":n", ":f", s.psSuffix} {
		b = append(b, s.ns...)
		b = append(b, '{')
		b = append(b, channel.Group...)
		b = append(b, '/')
		b = append(b, channel.ID...)
		b = append(b, '}')
		b = append(b, suffix...)
		end[i] = len(b)
	}
	all := string(b)
	return chanKeys{
		meta:   all[:end[0]],
		stream: all[end[0]:end[1]],
		counts: all[end[1]:end[2]],
		floor:  all[end[2]:end[3]],
		pubsub: all[end[3]:end[4]],
	}
}

// channelOf returns the channel key of a pubsub channel name.
func (s *Store) channelOf(pubsub string) (store.ChannelKey, bool) {
	return s.keyOf(pubsub, "}"+s.psSuffix)
}

// channelOfMeta returns the channel key of a meta key.
func (s *Store) channelOfMeta(meta string) (store.ChannelKey, bool) {
	return s.keyOf(meta, "}:m")
}

func (s *Store) keyOf(name, suffix string) (store.ChannelKey, bool) {
	rest, ok := strings.CutPrefix(name, s.ns+"{")
	if !ok {
		return store.ChannelKey{}, false
	}
	if rest, ok = strings.CutSuffix(rest, suffix); !ok {
		return store.ChannelKey{}, false
	}
	key, err := store.ParseChannelKey(rest)
	return key, err == nil
}

// metaPattern is the SCAN pattern of the meta keys of the channels a
// listing may want: those of its group (or any) whose id starts with its
// prefix.
func (s *Store) metaPattern(o store.ListOptions) string {
	group := "*"
	if !o.AllGroups {
		group = globEscape(o.Group)
	}
	return globEscape(s.ns) + "{" + group + "/" + globEscape(o.Prefix) + "*}:m"
}

// globEscape quotes the characters Redis's glob patterns give a meaning.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`*?[]\`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// pubsubSuffix ends pubsub channel names. Pubsub ignores the database
// number, so channels of a database other than 0 carry it: the same
// channel in two databases stays two channels.
func pubsubSuffix(db int) string {
	if db == 0 {
		return ":p"
	}
	return ":p" + strconv.Itoa(db)
}

// keySlot is the Redis Cluster hash slot of a key: CRC16 (XMODEM) of its
// hash tag, or of the whole key when it has none, modulo 16384.
func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16(key) % 16384)
}

func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
