package logrepl

import (
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/logstore"
)

func TestKey(t *testing.T) {
	k := Key(1700000000123, "s1", 7, 2)
	if k != "logbatches/1700000000123/s1/7/2" {
		t.Fatalf("key %q", k)
	}
	if ms, ok := KeyTime(k); !ok || ms != 1700000000123 {
		t.Fatalf("KeyTime = %d, %v", ms, ok)
	}
	if _, ok := KeyTime("servers/x"); ok {
		t.Fatal("KeyTime of a foreign key")
	}
	// Keys sort by time, whatever the origin.
	if !(Key(999, "zz", 1, 0) < Key(1000, "aa", 1, 0)) {
		t.Fatal("keys do not sort by time")
	}
}

func TestChunks(t *testing.T) {
	ev := func(n int) logstore.Event { return logstore.Event{Message: strings.Repeat("x", n)} }
	cases := []struct {
		in   []int
		max  int
		want []int // chunk lengths
	}{
		{nil, 10, nil},
		{[]int{3, 3, 3}, 10, []int{3}},
		{[]int{5, 5, 5}, 10, []int{2, 1}},
		{[]int{20, 1}, 10, []int{1, 1}},
		{[]int{1, 20, 1}, 10, []int{1, 1, 1}},
	}
	for _, c := range cases {
		var in []logstore.Event
		for _, n := range c.in {
			in = append(in, ev(n))
		}
		got := Chunks(in, c.max)
		var lens []int
		total := 0
		for _, ch := range got {
			lens = append(lens, len(ch))
			total += len(ch)
		}
		if total != len(in) || len(lens) != len(c.want) {
			t.Fatalf("Chunks(%v, %d) lengths %v, want %v", c.in, c.max, lens, c.want)
		}
		for i := range lens {
			if lens[i] != c.want[i] {
				t.Fatalf("Chunks(%v, %d) lengths %v, want %v", c.in, c.max, lens, c.want)
			}
		}
	}
}

func TestExpired(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	if !Expired(Key(1_000_000-60_001, "a", 1, 0), now, time.Minute) {
		t.Fatal("old key not expired")
	}
	if Expired(Key(1_000_000-59_999, "a", 1, 0), now, time.Minute) {
		t.Fatal("young key expired")
	}
	if Expired("logbatches/garbage", now, time.Minute) {
		t.Fatal("unparsable key expired")
	}
}
