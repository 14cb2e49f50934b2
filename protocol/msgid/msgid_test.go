package msgid

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		want Multi
	}{
		{"single", "1450755280:0", 1, Multi{Time: 1450755280, Tags: []int32{0}, Active: 0}},
		{"single tag 12", "1450755280:12", 1, Multi{Time: 1450755280, Tags: []int32{12}, Active: 0}},
		{"single dash", "1450755280:-", 1, Multi{Time: 1450755280, Tags: []int32{-1}, Active: 0}},
		{"single bracketed", "1450755280:[7]", 1, Multi{Time: 1450755280, Tags: []int32{7}, Active: 0}},
		{"single max tag", "1:32767", 1, Multi{Time: 1, Tags: []int32{MaxTag}, Active: 0}},
		{"zero time", "0:0", 1, Multi{Time: 0, Tags: []int32{0}, Active: 0}},
		{"leading zeros", "0001450755280:00003", 1, Multi{Time: 1450755280, Tags: []int32{3}, Active: 0}},
		{"multi first active", "1450755280:[0],-,-", 3, Multi{Time: 1450755280, Tags: []int32{0, -1, -1}, Active: 0}},
		{"multi middle active", "1450755280:0,[3],-", 3, Multi{Time: 1450755280, Tags: []int32{0, 3, -1}, Active: 1}},
		{"multi last active", "1450755280:-,-,[5]", 3, Multi{Time: 1450755280, Tags: []int32{-1, -1, 5}, Active: 2}},
		{"multi active dash", "1450755280:1,[-]", 2, Multi{Time: 1450755280, Tags: []int32{1, -1}, Active: 1}},
		{"missing trailing tags", "1450755280:[0]", 3, Multi{Time: 1450755280, Tags: []int32{0, -1, -1}, Active: 0}},
		{"missing one trailing tag", "1450755280:2,[4]", 3, Multi{Time: 1450755280, Tags: []int32{2, 4, -1}, Active: 1}},
		{"max channels", "5:[1]" + strings.Repeat(",-", MaxChannels-1), MaxChannels, Multi{Time: 5, Tags: append([]int32{1}, repeat(-1, MaxChannels-1)...), Active: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in, tt.n)
			if err != nil {
				t.Fatalf("Parse(%q, %d): %v", tt.in, tt.n, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse(%q, %d) = %+v, want %+v", tt.in, tt.n, got, tt.want)
			}
		})
	}
}

func repeat(v int32, n int) []int32 {
	s := make([]int32, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
	}{
		{"empty", "", 1},
		{"no colon", "1450755280", 1},
		{"no colon multi", "[0],-,-", 3},
		{"empty time", ":0", 1},
		{"empty tags", "1450755280:", 1},
		{"negative time", "-1:0", 1},
		{"time not digits", "14x:0", 1},
		{"time plus sign", "+1:0", 1},
		{"time overflows int64", "99999999999999999999:0", 1},
		{"time 19 digits overflow", "9999999999999999999:0", 1},
		{"tag not digits", "1:a", 1},
		{"tag hex", "1:0x1", 1},
		{"tag with space", "1: 1", 1},
		{"negative tag", "1:-1", 1},
		{"negative tag multi", "1:[-2],-", 2},
		{"tag too large", "1:32768", 1},
		{"tag 99999", "1:99999", 1},
		{"tag six digits", "1:100000", 1},
		{"more tags than channels", "1:[0],-", 1},
		{"more tags than channels multi", "1:[0],-,-,-", 3},
		{"several tags no brackets", "1:0,1", 2},
		{"several dashes no brackets", "1:-,-,-", 3},
		{"two bracketed tags", "1:[0],[1]", 2},
		{"empty brackets", "1:[]", 1},
		{"unclosed bracket", "1:[0,-", 2},
		{"empty tag in list", "1:[0],,-", 3},
		{"trailing comma", "1:[0],", 2},
		{"zero channels", "1:0", 0},
		{"negative channels", "1:0", -1},
		{"256 channels", "1:0", MaxChannels + 1},
		{"second colon", "1:2:3", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.in, tt.n)
			if err == nil {
				t.Fatalf("Parse(%q, %d) = %+v, want an error", tt.in, tt.n, m)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q, %d) error %v does not wrap ErrInvalid", tt.in, tt.n, err)
			}
		})
	}
}

func TestParseTags(t *testing.T) {
	tests := []struct {
		in      string
		n       int
		want    Multi
		wantErr bool
	}{
		{in: "0", n: 1, want: Multi{Tags: []int32{0}, Active: 0}},
		{in: "-", n: 1, want: Multi{Tags: []int32{-1}, Active: 0}},
		{in: "[2],-", n: 2, want: Multi{Tags: []int32{2, -1}, Active: 0}},
		{in: "-,[2]", n: 2, want: Multi{Tags: []int32{-1, 2}, Active: 1}},
		{in: "[2]", n: 4, want: Multi{Tags: []int32{2, -1, -1, -1}, Active: 0}},
		{in: "", n: 1, wantErr: true},
		{in: "0,0", n: 2, wantErr: true},
		{in: "[0],[0]", n: 2, wantErr: true},
		{in: "[0],0,0", n: 2, wantErr: true},
		{in: "32768", n: 1, wantErr: true},
		{in: "1:0", n: 1, wantErr: true},
		{in: "0", n: 256, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in+"/"+strconv.Itoa(tt.n), func(t *testing.T) {
			got, err := ParseTags(tt.in, tt.n)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseTags(%q, %d) = %+v, want an error", tt.in, tt.n, got)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("error %v does not wrap ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTags(%q, %d): %v", tt.in, tt.n, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseTags(%q, %d) = %+v, want %+v", tt.in, tt.n, got, tt.want)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "0", want: 0},
		{in: "1450755280", want: 1450755280},
		{in: "007", want: 7},
		{in: "9223372036854775807", want: 9223372036854775807},
		{in: "", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "+1", wantErr: true},
		{in: " 1", wantErr: true},
		{in: "1.5", wantErr: true},
		{in: "9223372036854775808", wantErr: true},
		{in: "12345678901234567890", wantErr: true},
		{in: "abc", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTime(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseTime(%q) = %d, want an error", tt.in, got)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("error %v does not wrap ErrInvalid", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseTime(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestIDString(t *testing.T) {
	tests := []struct {
		id        ID
		str, tags string
	}{
		{ID{1450755280, 0}, "1450755280:0", "0"},
		{ID{1450755280, 31}, "1450755280:31", "31"},
		{ID{1450755280, MaxTag}, "1450755280:32767", "32767"},
		{ID{1450755280, -1}, "1450755280:-", "-"},
		{ID{}, "0:0", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.str, func(t *testing.T) {
			if got := tt.id.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
			if got := tt.id.TagString(); got != tt.tags {
				t.Errorf("TagString() = %q, want %q", got, tt.tags)
			}
			if got := string(tt.id.AppendTo([]byte("x="))); got != "x="+tt.str {
				t.Errorf("AppendTo = %q, want %q", got, "x="+tt.str)
			}
			m, err := Parse(tt.str, 1)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.str, err)
			}
			if back := m.Cursor(0); back != tt.id {
				t.Errorf("round trip: %+v, want %+v", back, tt.id)
			}
		})
	}
}

func TestMultiStringRoundTrip(t *testing.T) {
	tests := []struct {
		m         Multi
		str, tags string
	}{
		{Multi{Time: 1450755280, Tags: []int32{0}, Active: 0}, "1450755280:0", "0"},
		{Multi{Time: 1450755280, Tags: []int32{-1}, Active: 0}, "1450755280:-", "-"},
		{Multi{Time: 1450755280, Tags: []int32{0, -1, -1}, Active: 0}, "1450755280:[0],-,-", "[0],-,-"},
		{Multi{Time: 1450755280, Tags: []int32{0, 0, -1}, Active: 1}, "1450755280:0,[0],-", "0,[0],-"},
		{Multi{Time: 1450755280, Tags: []int32{-1, 3, 32767}, Active: 2}, "1450755280:-,3,[32767]", "-,3,[32767]"},
		{Multi{Time: 7, Tags: []int32{2, -1}, Active: 1}, "7:2,[-]", "2,[-]"},
	}
	for _, tt := range tests {
		t.Run(tt.str, func(t *testing.T) {
			if got := tt.m.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
			if got := tt.m.TagString(); got != tt.tags {
				t.Errorf("TagString() = %q, want %q", got, tt.tags)
			}
			back, err := Parse(tt.str, len(tt.m.Tags))
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.str, err)
			}
			if !reflect.DeepEqual(back, tt.m) {
				t.Errorf("Parse(String()) = %+v, want %+v", back, tt.m)
			}
			tm, err := ParseTags(tt.tags, len(tt.m.Tags))
			if err != nil {
				t.Fatalf("ParseTags(%q): %v", tt.tags, err)
			}
			tm.Time = tt.m.Time
			if !reflect.DeepEqual(tm, tt.m) {
				t.Errorf("ParseTags(TagString()) = %+v, want %+v", tm, tt.m)
			}
		})
	}
}

// TestParseSingleTagForSeveralChannels: "t:5" for a 3-channel subscription is
// accepted (missing trailing tags are "-"), so what it parses to must format
// back to an id that parses again.
func TestParseSingleTagForSeveralChannels(t *testing.T) {
	for _, in := range []string{"1450755280:5", "1450755280:-"} {
		m, err := Parse(in, 3)
		if err != nil {
			t.Fatalf("Parse(%q, 3): %v", in, err)
		}
		if m.Tags[1] != -1 || m.Tags[2] != -1 {
			t.Fatalf("Parse(%q, 3) = %+v: trailing tags not filled with -1", in, m)
		}
		s := m.String()
		back, err := Parse(s, 3)
		if err != nil {
			t.Fatalf("Parse(%q, 3) = %+v, whose String() %q does not parse: %v", in, m, s, err)
		}
		if !reflect.DeepEqual(back, m) {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v", in, m, s, back)
		}
	}
}

func TestNext(t *testing.T) {
	tests := []struct {
		name string
		prev ID
		now  int64
		want ID
	}{
		{"first message", ID{}, 1450755280, ID{1450755280, 0}},
		{"same second", ID{1450755280, 0}, 1450755280, ID{1450755280, 1}},
		{"same second later tag", ID{1450755280, 41}, 1450755280, ID{1450755280, 42}},
		{"new second", ID{1450755280, 5}, 1450755281, ID{1450755281, 0}},
		{"much later", ID{1450755280, 5}, 1450759999, ID{1450759999, 0}},
		{"clock stepped back", ID{1450755280, 3}, 1450755200, ID{1450755280, 4}},
		{"clock stepped back at max tag", ID{1450755280, MaxTag}, 1450755200, ID{1450755281, 0}},
		{"tag overflow", ID{1450755280, MaxTag}, 1450755280, ID{1450755281, 0}},
		{"tag just below max", ID{1450755280, MaxTag - 1}, 1450755280, ID{1450755280, MaxTag}},
		{"overflow then clock catches up", ID{1450755281, 0}, 1450755281, ID{1450755281, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Next(tt.prev, tt.now)
			if got != tt.want {
				t.Fatalf("Next(%v, %d) = %v, want %v", tt.prev, tt.now, got, tt.want)
			}
			if !got.After(tt.prev) {
				t.Fatalf("Next(%v, %d) = %v is not after prev", tt.prev, tt.now, got)
			}
		})
	}
}

func TestNextMonotonic(t *testing.T) {
	// A clock that jumps around, including a whole second of overflowing tags.
	clock := []int64{100, 100, 99, 101, 50, 101, 102}
	prev := ID{}
	for i, now := range clock {
		id := Next(prev, now)
		if !id.After(prev) {
			t.Fatalf("step %d: Next(%v, %d) = %v, not after", i, prev, now, id)
		}
		prev = id
	}
	prev = ID{Time: 10}
	for range 2 * (MaxTag + 1) {
		id := Next(prev, 10)
		if !id.After(prev) || id.Tag < 0 || id.Tag > MaxTag {
			t.Fatalf("Next(%v, 10) = %v", prev, id)
		}
		prev = id
	}
	if want := (ID{Time: 12, Tag: 0}); prev != want {
		t.Fatalf("after 2*(MaxTag+1) messages from 10:0: %v, want %v", prev, want)
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b ID
		want int
	}{
		{ID{1, 0}, ID{1, 0}, 0},
		{ID{1, 0}, ID{1, 1}, -1},
		{ID{1, 1}, ID{1, 0}, 1},
		{ID{1, MaxTag}, ID{2, 0}, -1},
		{ID{2, 0}, ID{1, MaxTag}, 1},
		{ID{1, -1}, ID{1, 0}, -1},
		{ID{0, 0}, ID{0, 0}, 0},
		{ID{}, ID{1450755280, 0}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.a.String()+"_vs_"+tt.b.String(), func(t *testing.T) {
			if got := tt.a.Compare(tt.b); got != tt.want {
				t.Errorf("%v.Compare(%v) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := tt.b.Compare(tt.a); got != -tt.want {
				t.Errorf("%v.Compare(%v) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
			if got := tt.a.After(tt.b); got != (tt.want > 0) {
				t.Errorf("%v.After(%v) = %v", tt.a, tt.b, got)
			}
		})
	}
	if !(ID{}).IsZero() || (ID{Tag: 1}).IsZero() || (ID{Time: 1}).IsZero() {
		t.Error("IsZero wrong")
	}
}

func TestFromCursors(t *testing.T) {
	tests := []struct {
		name    string
		cursors []ID
		active  int
		want    Multi
		str     string
	}{
		{
			"one channel published",
			[]ID{{1450755280, 0}, {}, {}}, 0,
			Multi{Time: 1450755280, Tags: []int32{0, -1, -1}, Active: 0},
			"1450755280:[0],-,-",
		},
		{
			"second channel same second keeps first tag",
			[]ID{{1450755280, 0}, {1450755280, 0}, {}}, 1,
			Multi{Time: 1450755280, Tags: []int32{0, 0, -1}, Active: 1},
			"1450755280:0,[0],-",
		},
		{
			"newer second resets others",
			[]ID{{1450755280, 4}, {1450755281, 0}, {1450755280, 2}}, 1,
			Multi{Time: 1450755281, Tags: []int32{-1, 0, -1}, Active: 1},
			"1450755281:-,[0],-",
		},
		{
			"cursor with dash tag in same second",
			[]ID{{1450755280, -1}, {1450755280, 3}}, 1,
			Multi{Time: 1450755280, Tags: []int32{-1, 3}, Active: 1},
			"1450755280:-,[3]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromCursors(tt.cursors, tt.active)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("FromCursors = %+v, want %+v", got, tt.want)
			}
			if s := got.String(); s != tt.str {
				t.Fatalf("String() = %q, want %q", s, tt.str)
			}
		})
	}
}

func TestCursor(t *testing.T) {
	m, err := Parse("1450755280:0,[3],-", 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []ID{{1450755280, 0}, {1450755280, 3}, {1450755280, -1}}
	if got := m.Cursors(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Cursors() = %v, want %v", got, want)
	}
	// AppendCursors keeps what dst held and fills its room first.
	dst := make([]ID, 1, 4)
	dst[0] = ID{7, 7}
	got := m.AppendCursors(dst)
	if !reflect.DeepEqual(got, append([]ID{{7, 7}}, want...)) || &got[0] != &dst[0] {
		t.Fatalf("AppendCursors = %v, want %v after {7 7}, in dst's array", got, want)
	}
	// Out of range channel: as if "-".
	if got := m.Cursor(5); got != (ID{1450755280, -1}) {
		t.Fatalf("Cursor(5) = %v", got)
	}

	// A "-" tag with time T means anything at or after second T is new: every
	// message of second T (tag 0 included) and later comes after the cursor,
	// nothing of an earlier second does.
	dash := m.Cursor(2)
	for _, tt := range []struct {
		id  ID
		new bool
	}{
		{ID{1450755280, 0}, true},
		{ID{1450755280, MaxTag}, true},
		{ID{1450755281, 0}, true},
		{ID{1450755279, MaxTag}, false},
		{ID{1450755279, 0}, false},
	} {
		if got := tt.id.After(dash); got != tt.new {
			t.Errorf("%v.After(dash cursor %v) = %v, want %v", tt.id, dash, got, tt.new)
		}
	}
	// A tag cursor: only later tags of that second are new.
	c := m.Cursor(1)
	if (ID{1450755280, 3}).After(c) || !(ID{1450755280, 4}).After(c) || (ID{1450755280, 0}).After(c) {
		t.Errorf("tag cursor %v orders wrongly", c)
	}
}

func FuzzParse(f *testing.F) {
	seeds := []struct {
		s string
		n int
	}{
		{"1450755280:0", 1},
		{"1450755280:[0],-,-", 3},
		{"1450755280:0,[3],-", 3},
		{"1450755280:-", 1},
		{"1450755280:[0]", 3},
		{"1:32767", 1},
		{"1:32768", 1},
		{"1:[0],[1]", 2},
		{"", 1},
		{":", 255},
		{"9223372036854775807:[1]", 255},
	}
	for _, s := range seeds {
		f.Add(s.s, s.n)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 1 || n > MaxChannels {
			n = int(uint(n)%MaxChannels) + 1
		}
		m, err := Parse(s, n)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q, %d) error %v does not wrap ErrInvalid", s, n, err)
			}
			return
		}
		if len(m.Tags) != n {
			t.Fatalf("Parse(%q, %d) = %+v: %d tags", s, n, m, len(m.Tags))
		}
		for _, tag := range m.Tags {
			if tag < -1 || tag > MaxTag {
				t.Fatalf("Parse(%q, %d) = %+v: tag %d out of range", s, n, m, tag)
			}
		}
		str := m.String()
		back, err := Parse(str, n)
		if err != nil {
			t.Fatalf("Parse(%q, %d) = %+v; its String() %q does not parse: %v", s, n, m, str, err)
		}
		if !reflect.DeepEqual(back, m) {
			t.Fatalf("Parse(%q, %d) = %+v; String() %q parses to %+v", s, n, m, str, back)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("1450755280:12,[3],-", 3); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendTo(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 32)
	id := ID{Time: 1450755280, Tag: 12}
	for b.Loop() {
		buf = id.AppendTo(buf[:0])
	}
}
