package store

import (
	"fmt"
	"hash/maphash"
	"strings"
)

// ChannelKey names a channel: Nchan's channel group ("" is the default
// group) and the channel's id within it. A group never contains "/" (the
// server refuses such groups), so the string form "group/id" names a
// channel unambiguously; an id may contain "/".
type ChannelKey struct {
	Group string
	ID    string
}

// String returns the key as "group/id" ("/id" in the default group), the
// form Redis keys and logs use.
func (k ChannelKey) String() string { return k.Group + "/" + k.ID }

// Compare orders keys by group, then by id (bytewise): -1, 0 or +1.
func (k ChannelKey) Compare(o ChannelKey) int {
	if c := strings.Compare(k.Group, o.Group); c != 0 {
		return c
	}
	return strings.Compare(k.ID, o.ID)
}

// ParseChannelKey parses the "group/id" form of String: the group is what
// comes before the first "/".
func ParseChannelKey(s string) (ChannelKey, error) {
	group, id, ok := strings.Cut(s, "/")
	if !ok {
		return ChannelKey{}, fmt.Errorf("channel key %q: no \"/\" between group and id", s)
	}
	return ChannelKey{Group: group, ID: id}, nil
}

// Hash returns a hash of the key under seed, as engines spread channels
// over the shards of a registry.
func (k ChannelKey) Hash(seed maphash.Seed) uint64 {
	h := maphash.String(seed, k.ID)
	if k.Group != "" {
		h = h*31 + maphash.String(seed, k.Group)
	}
	return h
}
