package redis

import (
	"strconv"
	"strings"
)

// chanKeys are the Redis keys of one channel. They share the hash tag
// {<channel key>}, so on a Redis Cluster they live in one slot and one
// script can touch them all; the pubsub channel hashes to the same slot, so
// SPUBLISH from the script stays on the shard.
type chanKeys struct {
	meta, stream, counts, floor, pubsub string
}

func (s *Store) keys(channel string) chanKeys {
	base := s.ns + "{" + channel + "}"
	return chanKeys{
		meta:   base + ":m",
		stream: base + ":s",
		counts: base + ":n",
		floor:  base + ":f",
		pubsub: base + s.psSuffix,
	}
}

// channelOf returns the channel key of a pubsub channel name.
func (s *Store) channelOf(pubsub string) (string, bool) {
	rest, ok := strings.CutPrefix(pubsub, s.ns+"{")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "}"+s.psSuffix)
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
