package store

import (
	"fmt"
	"slices"
	"testing"
)

func TestChannelKey(t *testing.T) {
	tests := []struct {
		s    string
		key  ChannelKey
		fail bool
	}{
		{s: "/ch", key: ChannelKey{ID: "ch"}},
		{s: "g/ch", key: ChannelKey{Group: "g", ID: "ch"}},
		{s: "g/a/b", key: ChannelKey{Group: "g", ID: "a/b"}},
		{s: "g/", key: ChannelKey{Group: "g"}},
		{s: "/", key: ChannelKey{}},
		{s: "nogroup", fail: true},
		{s: "", fail: true},
	}
	for _, tt := range tests {
		k, err := ParseChannelKey(tt.s)
		if (err != nil) != tt.fail || k != tt.key {
			t.Errorf("ParseChannelKey(%q) = %+v, %v", tt.s, k, err)
		}
		if !tt.fail && k.String() != tt.s {
			t.Errorf("%+v.String() = %q, want %q", k, k.String(), tt.s)
		}
	}
	order := []ChannelKey{{ID: "a"}, {ID: "b"}, {Group: "a", ID: ""}, {Group: "a", ID: "a"}, {Group: "a-", ID: "a"}, {Group: "b", ID: "0"}}
	for i := range order {
		for j := range order {
			if got, want := order[i].Compare(order[j]), cmpInt(i, j); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestPager: the page is the least keys the options select, in order,
// however the keys are offered, and the pages in turn list every key once.
func TestPager(t *testing.T) {
	var all []ChannelKey
	for _, g := range []string{"", "g", "h"} {
		for i := range 25 {
			all = append(all, ChannelKey{Group: g, ID: fmt.Sprintf("%c%02d", 'a'+i%2, i)})
		}
	}
	tests := []struct {
		name string
		o    ListOptions
		want func(ChannelKey) bool
	}{
		{"default group", ListOptions{Limit: 7}, func(k ChannelKey) bool { return k.Group == "" }},
		{"a group", ListOptions{Group: "g", Limit: 4}, func(k ChannelKey) bool { return k.Group == "g" }},
		{"a prefix", ListOptions{Group: "h", Prefix: "b", Limit: 5}, func(k ChannelKey) bool { return k.Group == "h" && k.ID[0] == 'b' }},
		{"every group", ListOptions{AllGroups: true, Limit: 10}, func(ChannelKey) bool { return true }},
		{"every group, a prefix", ListOptions{AllGroups: true, Prefix: "a1", Limit: 3}, func(k ChannelKey) bool { return k.ID[:2] == "a1" }},
		{"one page", ListOptions{Group: "g"}, func(k ChannelKey) bool { return k.Group == "g" }},
		{"no such group", ListOptions{Group: "x"}, func(ChannelKey) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []ChannelKey
			for _, k := range all {
				if tt.want(k) {
					want = append(want, k)
				}
			}
			slices.SortFunc(want, ChannelKey.Compare)
			var got []ChannelKey
			o := tt.o
			for pages := 0; ; pages++ {
				p, err := NewPager(o)
				if err != nil {
					t.Fatal(err)
				}
				for i := range all { // backwards and twice: order and repeats do not matter
					p.Offer(all[len(all)-1-i])
					p.Offer(all[i])
				}
				keys, next := p.Page()
				if len(keys) > p.Limit() || !slices.IsSortedFunc(keys, ChannelKey.Compare) {
					t.Fatalf("page %d: %v", pages, keys)
				}
				got = append(got, keys...)
				if next == "" {
					break
				}
				if next != keys[len(keys)-1].String() || pages > 100 {
					t.Fatalf("page %d: next %q after %v", pages, next, keys)
				}
				o.After = next
			}
			if !slices.Equal(got, want) {
				t.Fatalf("listed %v, want %v", got, want)
			}
		})
	}

	limits := []struct{ limit, want int }{{0, DefaultListLimit}, {-3, DefaultListLimit}, {5, 5}, {MaxListLimit + 1, MaxListLimit}}
	for _, l := range limits {
		if p, _ := NewPager(ListOptions{Limit: l.limit}); p.Limit() != l.want {
			t.Errorf("Limit %d: page size %d, want %d", l.limit, p.Limit(), l.want)
		}
	}
	if _, err := NewPager(ListOptions{After: "no-slash"}); err == nil {
		t.Error("a bad cursor was accepted")
	}
}
