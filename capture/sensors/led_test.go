package sensors

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/doorward/doorward/capture/sensors/sensorstest"
	"github.com/doorward/doorward/device/clock/clocktest"
)

// ledRig runs an LED on a fake pin and samples it step by step.
type ledRig struct {
	t   *testing.T
	clk *clocktest.Fake
	pin *sensorstest.Pin
	led *LED
}

func newLEDRig(t *testing.T, activeLow bool) *ledRig {
	t.Helper()
	clk := clocktest.New(t0)
	pin := sensorstest.New("GPIO22", gpio.Low, clk)
	led, err := NewLED(LEDConfig{Pin: pin, ActiveLow: activeLow, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return &ledRig{t, clk, pin, led}
}

// sample returns the LED's state ('#' lit, '.' dark) now and after each of
// n-1 further steps.
func (r *ledRig) sample(n int, activeLow bool) string {
	r.t.Helper()
	var b strings.Builder
	for i := range n {
		if i > 0 {
			r.clk.Advance(LEDStep)
		}
		// The LED's goroutine has handled the step once it waits for the
		// next one.
		if !r.clk.BlockUntil(1, 5*time.Second) {
			r.t.Fatal("the LED does not wait for its next step")
		}
		if (r.pin.Read() == gpio.High) != activeLow {
			b.WriteByte('#')
		} else {
			b.WriteByte('.')
		}
	}
	return b.String()
}

func (r *ledRig) set(p Pattern) {
	r.t.Helper()
	if err := r.led.Set(context.Background(), p); err != nil {
		r.t.Fatal(err)
	}
}

func (r *ledRig) override(p Pattern, on bool) {
	r.t.Helper()
	if err := r.led.SetOverride(context.Background(), p, on); err != nil {
		r.t.Fatal(err)
	}
}

func TestLEDPatterns(t *testing.T) {
	for _, activeLow := range []bool{false, true} {
		noLeaks(t)
		r := newLEDRig(t, activeLow)
		if got := r.sample(5, activeLow); got != "....." {
			t.Errorf("before Set: %s", got)
		}
		for _, tc := range []struct {
			p    Pattern
			want string
		}{
			{Idle, "#" + strings.Repeat(".", 29) + "#" + strings.Repeat(".", 9)},
			{Recording, strings.Repeat("#", 12)},
			{Pairing, "##..##..##.."},
			{Error, "#.#.......#.#......."},
			{Off, "........"},
		} {
			r.set(tc.p)
			if got := r.sample(len(tc.want), activeLow); got != tc.want {
				t.Errorf("activeLow=%v %v:\n got %s\nwant %s", activeLow, tc.p, got, tc.want)
			}
		}
		// An override hides the status and gives it back.
		r.set(Recording)
		r.override(ResetConfirm, true)
		if got := r.sample(6, activeLow); got != "#.#.#." {
			t.Errorf("reset-confirm override: %s", got)
		}
		r.set(Pairing) // the status changes under the override
		if got := r.sample(4, activeLow); got != "#.#." {
			t.Errorf("override after status change: %s", got)
		}
		r.override(Error, false) // not the override shown: no change
		if got := r.sample(2, activeLow); got != "#." {
			t.Errorf("removing another override: %s", got)
		}
		r.override(ResetConfirm, false)
		if got := r.sample(4, activeLow); got != "##.." {
			t.Errorf("after the override: %s", got)
		}
		if err := r.led.Close(); err != nil {
			t.Fatal(err)
		}
		if lit := (r.pin.Read() == gpio.High) != activeLow; lit {
			t.Error("LED lit after Close")
		}
		if err := r.led.Set(context.Background(), Idle); !errors.Is(err, ErrClosed) {
			t.Errorf("Set after Close = %v, want ErrClosed", err)
		}
	}
}

func TestLEDWritesOnlyChanges(t *testing.T) {
	noLeaks(t)
	r := newLEDRig(t, false)
	defer r.led.Close()
	r.set(Recording)
	r.sample(50, false)
	r.set(Pairing)
	r.sample(8, false) // 4 changes
	h := r.pin.History()
	// Off at start, on for Recording, then Pairing: on (no write), off, on, off.
	var levels []bool
	for _, c := range h {
		levels = append(levels, bool(c.L))
	}
	want := []bool{false, true, false, true, false}
	if len(levels) != len(want) {
		t.Fatalf("writes %v, want %v", levels, want)
	}
	for i := range want {
		if levels[i] != want[i] {
			t.Fatalf("writes %v, want %v", levels, want)
		}
	}
	// The Pairing changes come on the 100 ms grid.
	if d := h[3].At.Sub(h[2].At); d != 2*LEDStep {
		t.Errorf("pairing half-period %v, want %v", d, 2*LEDStep)
	}
}

func TestLEDSetHonoursContext(t *testing.T) {
	noLeaks(t)
	r := newLEDRig(t, false)
	defer r.led.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// A cancelled context may still win the race against a ready LED, but
	// it must never block.
	if err := r.led.Set(ctx, Idle); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Set = %v", err)
	}
}

func TestPatternNames(t *testing.T) {
	for p, want := range map[Pattern]string{Off: "off", Idle: "idle", Recording: "recording", Pairing: "pairing", Error: "error", ResetConfirm: "reset-confirm", 42: "Pattern(42)"} {
		if p.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(p), p, want)
		}
	}
}
