package client

import "testing"

// TestDedupe: a resent id is dropped, new ids pass, and the memory stays
// bounded while recent repeats are still caught.
func TestDedupe(t *testing.T) {
	var d Dedupe
	for _, c := range []struct {
		id    uint64
		first bool
	}{{5, true}, {5, false}, {6, true}, {4, true}, {6, false}, {4, false}} {
		if got := d.First(c.id); got != c.first {
			t.Errorf("First(%d) = %v, want %v", c.id, got, c.first)
		}
	}
	for id := uint64(7); id < 20000; id++ {
		if !d.First(id) {
			t.Fatalf("First(%d) = false for a new id", id)
		}
	}
	if n := len(d.seen); n > 4097 {
		t.Errorf("remembers %d ids, want at most 4097", n)
	}
	for _, id := range []uint64{19999, 19000, 16000} {
		if d.First(id) {
			t.Errorf("a resend of recent id %d passed", id)
		}
	}
}
