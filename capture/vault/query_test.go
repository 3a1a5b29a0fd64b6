package vault

import (
	"errors"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func TestOverlapping(t *testing.T) {
	f := newFixture(t)
	v := f.open(t, 0, 0)
	a := writeClip(t, v, t0, 3, 100, true)                     // segments 0-1 s, 1-2 s, 2-3 s
	b := writeClip(t, v, t0.Add(10*time.Second), 2, 100, true) // 10-11 s, 11-12 s
	cases := []struct {
		from, until time.Duration
		want        []string
	}{
		{1500 * time.Millisecond, 2500 * time.Millisecond, []string{a + "/2", a + "/3"}},
		{2 * time.Second, 3 * time.Second, []string{a + "/3"}}, // touching ends do not overlap
		{3 * time.Second, 10 * time.Second, nil},
		{2500 * time.Millisecond, 10500 * time.Millisecond, []string{a + "/3", b + "/1"}},
		{-time.Hour, time.Hour, []string{a + "/1", a + "/2", a + "/3", b + "/1", b + "/2"}},
	}
	for _, c := range cases {
		refs, err := v.Overlapping(t0.Add(c.from), t0.Add(c.until))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range refs {
			got = append(got, r.Clip.ID+"/"+string(rune('0'+r.Segment.Seq)))
		}
		if len(got) != len(c.want) {
			t.Errorf("[%v, %v): got %v, want %v", c.from, c.until, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("[%v, %v): got %v, want %v", c.from, c.until, got, c.want)
			}
		}
	}
}

func TestHeldSegmentsSurviveRetention(t *testing.T) {
	f := newFixture(t)
	v := f.open(t, time.Hour, 0)
	writeClip(t, v, t0, 3, 1000, true)
	refs, _ := v.Overlapping(t0, t0.Add(1500*time.Millisecond)) // segments 1 and 2
	until := t0.Add(48 * time.Hour)
	if err := f.db.Update(func(tx *bbolt.Tx) error { return PlaceHoldsTx(tx, refs, until, "token jti-1") }); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(2 * time.Hour)
	if n, err := v.Enforce(); err != nil || n != 1 {
		t.Fatalf("deleted %d, %v: want only the unheld segment", n, err)
	}
	clips, _ := v.Clips()
	if len(clips) != 1 || clips[0].Segments != 2 {
		t.Fatalf("held segments evicted: %+v", clips)
	}
	// Held segments alone above max_bytes: nothing evicted, an error raised.
	v.opts.MaxBytes = 100
	if _, err := v.Enforce(); !errors.Is(err, ErrHeldOverLimit) {
		t.Errorf("err = %v, want ErrHeldOverLimit", err)
	}
	if held, _ := v.HeldBytes(f.clk.Now()); held == 0 {
		t.Error("HeldBytes = 0")
	}
	// Once the hold ends, retention applies again.
	f.clk.Advance(47 * time.Hour)
	if n, err := v.Enforce(); err != nil || n != 2 {
		t.Fatalf("after the hold: deleted %d, %v", n, err)
	}
	if clips, _ := v.Clips(); len(clips) != 0 {
		t.Errorf("clips left: %+v", clips)
	}
}
