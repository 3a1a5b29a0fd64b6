package consent

import (
	"testing"
	"time"
)

func TestCheckClock(t *testing.T) {
	floor := testNow.Add(-time.Hour)
	cases := []struct {
		name   string
		now    time.Time
		synced bool
		want   Reason
	}{
		{"synced, above floor", testNow, true, ""},
		{"synced, at floor", floor, true, ""},
		{"synced, zero floor", testNow, true, ""},
		{"unsynced", testNow, false, ReasonClockUnsynced},
		{"unsynced and below floor", floor.Add(-time.Hour), false, ReasonClockUnsynced},
		{"below floor by a second", floor.Add(-time.Second), true, ReasonClockBelowFloor},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := floor
			if tc.name == "synced, zero floor" {
				f = time.Time{}
			}
			if got := ReasonOf(CheckClock(tc.now, tc.synced, f)); got != tc.want {
				t.Errorf("reason %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRaiseFloor(t *testing.T) {
	if got := RaiseFloor(testNow, testNow.Add(time.Second)); !got.Equal(testNow.Add(time.Second)) {
		t.Errorf("later iat: %v", got)
	}
	if got := RaiseFloor(testNow, testNow.Add(-time.Hour)); !got.Equal(testNow) {
		t.Errorf("earlier iat lowered the floor: %v", got)
	}
}

func TestClockJumped(t *testing.T) {
	mono := 10 * time.Minute
	cases := []struct {
		wall time.Time
		mono time.Duration
		want bool
	}{
		{testNow.Add(time.Minute), mono + time.Minute, false},
		{testNow.Add(time.Hour), mono, false},                   // exactly the limit
		{testNow.Add(time.Hour + time.Second), mono, true},      // forward
		{testNow.Add(-time.Hour - time.Second), mono, true},     // back
		{testNow.Add(5 * time.Hour), mono + 5*time.Hour, false}, // time passed
		{testNow, mono + 2*time.Hour, true},                     // wall clock stopped
	}
	for i, tc := range cases {
		if got := ClockJumped(testNow, mono, tc.wall, tc.mono); got != tc.want {
			t.Errorf("case %d: %v, want %v", i, got, tc.want)
		}
	}
}
