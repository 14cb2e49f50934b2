package msgring

import (
	"testing"

	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

func msg(t int64, tag int32) Entry {
	return Entry{Msg: &store.Message{ID: msgid.ID{Time: t, Tag: tag}}}
}

// TestLogOrder pushes and pops across the growth and compaction of the
// log and checks order and cursor search after every step.
func TestLogOrder(t *testing.T) {
	var r Log
	next := int64(1)
	var want []int64
	check := func(step string) {
		t.Helper()
		if r.Len() != len(want) {
			t.Fatalf("%s: len %d, want %d", step, r.Len(), len(want))
		}
		for i, w := range want {
			if got := r.At(i).Msg.ID.Time; got != w {
				t.Fatalf("%s: at(%d) = %d, want %d", step, i, got, w)
			}
		}
		for i, w := range want {
			if got := r.FirstAfter(msgid.ID{Time: w, Tag: -1}); got != i {
				t.Fatalf("%s: FirstAfter(before %d) = %d, want %d", step, w, got, i)
			}
		}
		if got := r.FirstAfter(msgid.ID{Time: next}); got != r.Len() {
			t.Fatalf("%s: FirstAfter(newest) = %d, want %d", step, got, r.Len())
		}
	}
	for _, step := range []struct {
		push, pop int
	}{{3, 0}, {0, 2}, {5, 0}, {0, 3}, {10, 1}, {0, 12}, {1, 0}, {40, 0}, {0, 30}, {5, 5}, {0, 11}} {
		for range step.push {
			r.Push(msg(next, 0))
			want = append(want, next)
			next++
		}
		for range step.pop {
			e := r.PopFront()
			if e.Msg.ID.Time != want[0] {
				t.Fatalf("PopFront = %d, want %d", e.Msg.ID.Time, want[0])
			}
			want = want[1:]
		}
		check("after push/pop")
	}
	r.Clear()
	want = nil
	check("after Clear")
}

// TestLogSnapshots: a snapshot keeps seeing exactly what it saw while the
// log appends, drops from the front and compacts.
func TestLogSnapshots(t *testing.T) {
	var l Log
	type snap struct {
		entries []Entry
		times   []int64
	}
	var snaps []snap
	next := int64(1)
	take := func() {
		s := l.Snapshot()
		var times []int64
		for _, e := range s {
			times = append(times, e.Msg.ID.Time)
		}
		snaps = append(snaps, snap{s, times})
	}
	for round := range 200 {
		l.Push(msg(next, 0))
		next++
		if round%3 == 0 {
			l.PopFront()
		}
		if round%7 == 0 {
			take()
		}
		if l.Len() > 0 && FirstAfter(l.Snapshot(), msgid.ID{Time: l.Front().Msg.ID.Time, Tag: -1}) != 0 {
			t.Fatalf("FirstAfter(before front) is not 0")
		}
	}
	for i, s := range snaps {
		for j, e := range s.entries {
			if e.Msg.ID.Time != s.times[j] {
				t.Fatalf("snapshot %d entry %d changed from %d to %d", i, j, s.times[j], e.Msg.ID.Time)
			}
		}
	}
	for i := 1; i < l.Len(); i++ {
		if !l.At(i).Msg.ID.After(l.At(i - 1).Msg.ID) {
			t.Fatalf("log out of order at %d", i)
		}
	}
}
