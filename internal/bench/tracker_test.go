package bench

import "testing"

func TestBitsetCountRange(t *testing.T) {
	var b bitset
	for _, i := range []uint64{0, 1, 63, 64, 65, 127, 128, 500} {
		b.set(i)
	}
	var not bitset
	not.set(64)
	not.set(500)
	tests := []struct {
		from, to uint64
		not      bitset
		want     uint64
	}{
		{0, 0, nil, 1},
		{0, 1000, nil, 8},
		{1, 63, nil, 2},
		{63, 64, nil, 2},
		{64, 127, nil, 3},
		{2, 62, nil, 0},
		{129, 499, nil, 0},
		{0, 1000, not, 6},
		{64, 64, not, 0},
		{10, 5, nil, 0},
		{600, 700, nil, 0},
	}
	for _, tt := range tests {
		if got := b.countRangeAndNot(tt.not, tt.from, tt.to); got != tt.want {
			t.Errorf("[%d,%d] not=%v: got %d, want %d", tt.from, tt.to, tt.not != nil, got, tt.want)
		}
	}
}

func TestSeqTracker(t *testing.T) {
	all := func(n uint64) bitset {
		var b bitset
		for i := range n {
			b.set(i)
		}
		return b
	}
	except := func(n uint64, skip ...uint64) bitset {
		var b bitset
	next:
		for i := range n {
			for _, s := range skip {
				if i == s {
					continue next
				}
			}
			b.set(i)
		}
		return b
	}
	tests := []struct {
		name     string
		got      []uint64
		ordered  bool
		acked    bitset
		floor    uint64
		final    bool // held to the channel's last acknowledged message
		last     uint64
		lost     uint64
		dup, ooo uint64
		expected uint64
	}{
		{name: "all in order", got: []uint64{0, 1, 2, 3, 4}, ordered: true, acked: all(5), final: true, last: 4, expected: 5},
		{name: "nothing", got: nil, ordered: true, acked: all(5), final: true, last: 4, lost: 5, expected: 5},
		{name: "gap", got: []uint64{0, 1, 3, 4}, ordered: true, acked: all(5), final: true, last: 4, lost: 1, expected: 5},
		{name: "tail missing", got: []uint64{0, 1, 2}, ordered: true, acked: all(5), final: true, last: 4, lost: 2, expected: 5},
		{name: "head missing", got: []uint64{2, 3, 4}, ordered: true, acked: all(5), final: true, last: 4, lost: 2, expected: 5},
		{name: "duplicate", got: []uint64{0, 1, 1, 2}, ordered: true, acked: all(3), final: true, last: 2, dup: 1, expected: 3},
		{name: "duplicate after later", got: []uint64{0, 1, 2, 1}, ordered: true, acked: all(3), final: true, last: 2, dup: 1, expected: 3},
		{name: "swap", got: []uint64{0, 2, 1, 3}, ordered: true, acked: all(4), final: true, last: 3, ooo: 1, expected: 4},
		{name: "reversed", got: []uint64{3, 2, 1, 0}, ordered: true, acked: all(4), final: true, last: 3, ooo: 3, expected: 4},
		{name: "swap unordered channel", got: []uint64{0, 2, 1, 3}, ordered: false, acked: all(4), final: true, last: 3, expected: 4},
		{name: "unacknowledged not lost", got: []uint64{0, 1, 3}, ordered: true, acked: except(4, 2), final: true, last: 3, expected: 3},
		{name: "unacknowledged but delivered", got: []uint64{0, 1, 2, 3}, ordered: true, acked: except(4, 2), final: true, last: 3, expected: 3},
		{name: "late joiner from floor", got: []uint64{5, 6, 7}, ordered: true, acked: all(8), floor: 5, final: true, last: 7, expected: 3},
		{name: "late joiner with backlog", got: []uint64{3, 4, 5, 6, 7}, ordered: true, acked: all(8), floor: 5, final: true, last: 7, expected: 5},
		{name: "late joiner backlog gap", got: []uint64{3, 5, 6, 7}, ordered: true, acked: all(8), floor: 5, final: true, last: 7, lost: 1, expected: 5},
		{name: "late joiner missed one", got: []uint64{5, 7}, ordered: true, acked: all(8), floor: 5, final: true, last: 7, lost: 1, expected: 3},
		{name: "left early: held to its last", got: []uint64{2, 3, 5}, ordered: true, acked: all(10), floor: 2, last: 5, lost: 1, expected: 4},
		{name: "left early with nothing", got: nil, ordered: true, acked: all(10), floor: 2, expected: 0},
		{name: "nothing published", got: nil, ordered: true, acked: nil, final: true, expected: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr seqTracker
			for _, s := range tt.got {
				tr.add(s, tt.ordered)
			}
			end, endOK := tt.last, tt.acked != nil
			if !tt.final {
				end, endOK = tr.max, tr.any
			}
			lost, expected := tr.lost(tt.acked, tr.expect(tt.floor, end, endOK))
			if lost != tt.lost || tr.duplicated != tt.dup || tr.outOfOrder != tt.ooo || expected != tt.expected {
				t.Fatalf("lost %d dup %d ooo %d expected %d; want %d %d %d %d",
					lost, tr.duplicated, tr.outOfOrder, expected, tt.lost, tt.dup, tt.ooo, tt.expected)
			}
			if tr.received != uint64(len(tt.got)) {
				t.Fatalf("received %d, want %d", tr.received, len(tt.got))
			}
		})
	}
}

func TestSeqTrackerClassifies(t *testing.T) {
	var tr seqTracker
	want := []delivery{deliveryNew, deliveryNew, deliveryOutOfOrder, deliveryDuplicate, deliveryNew}
	for i, s := range []uint64{0, 2, 1, 2, 3} {
		if got := tr.add(s, true); got != want[i] {
			t.Fatalf("delivery %d (seq %d): got %d, want %d", i, s, got, want[i])
		}
	}
}
