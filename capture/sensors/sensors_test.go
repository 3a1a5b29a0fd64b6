package sensors

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/sensors/sensorstest"
	"github.com/doorward/doorward/device/clock/clocktest"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// noLeaks fails the test if it leaves more goroutines behind than it found.
func noLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("leaked goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// sink collects events with their time.
type sink struct {
	mu     sync.Mutex
	events []capture.Event
}

func (s *sink) event(ev capture.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
}

func (s *sink) got() []capture.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]capture.Event(nil), s.events...)
}

// at formats event times relative to t0, for comparisons.
func at(evs []capture.Event, kind capture.EventKind) []time.Duration {
	var ds []time.Duration
	for _, e := range evs {
		if e.Kind != kind {
			continue
		}
		ds = append(ds, e.Time.Sub(t0))
	}
	return ds
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// driver plays a script of edges and clock steps against a fake pin.
type driver struct {
	t   *testing.T
	clk *clocktest.Fake
	pin *sensorstest.Pin
}

func (d driver) edges(levels ...gpio.Level) {
	d.t.Helper()
	if err := d.pin.Edges(levels...); err != nil {
		d.t.Fatal(err)
	}
}

// bounce makes a contact bounce: level changes every ms, ending on final.
func (d driver) bounce(final gpio.Level, n int) {
	d.t.Helper()
	for i := range n {
		if (n-1-i)%2 == 0 {
			d.edges(final)
		} else {
			d.edges(!final)
		}
		if i < n-1 {
			d.clk.Advance(time.Millisecond)
		}
	}
}

// wait moves the fake clock forward in 1 s steps (bigger jumps work too;
// steps keep the test close to how time passes on a board).
func (d driver) wait(total time.Duration) {
	for total > 0 {
		step := min(total, time.Second)
		d.clk.Advance(step)
		total -= step
	}
}

func TestPIRBounceTrainIsOneEvent(t *testing.T) {
	noLeaks(t)
	clk := clocktest.New(t0)
	pin := sensorstest.New("GPIO17", gpio.Low, clk)
	var s sink
	pir, err := NewPIR(PIRConfig{Input: Input{Pin: pin, Clock: clk}, OnEvent: s.event})
	if err != nil {
		t.Fatal(err)
	}
	d := driver{t, clk, pin}
	d.bounce(gpio.High, 7) // t0 .. t0+6ms, ends High
	d.wait(20 * time.Millisecond)
	if got := s.got(); len(got) != 0 {
		t.Errorf("event before the debounce time passed: %v", got)
	}
	d.wait(time.Second)
	// A glitch: Low for 10 ms, shorter than the debounce.
	d.edges(gpio.Low)
	d.clk.Advance(10 * time.Millisecond)
	d.edges(gpio.High)
	d.wait(time.Second)
	if err := pir.Close(); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{56 * time.Millisecond} // last edge at 6 ms + 50 ms debounce
	if got := at(s.got(), capture.Motion); !equalDurations(got, want) {
		t.Errorf("motion at %v, want %v", got, want)
	}
	if pin.Pull() != gpio.PullDown {
		t.Errorf("pull = %v, want PullDown for an active-high input", pin.Pull())
	}
}

func TestPIRCooldown(t *testing.T) {
	noLeaks(t)
	clk := clocktest.New(t0)
	pin := sensorstest.New("GPIO17", gpio.Low, clk)
	var s sink
	pir, err := NewPIR(PIRConfig{Input: Input{Pin: pin, Clock: clk}, Cooldown: 10 * time.Second, OnEvent: s.event})
	if err != nil {
		t.Fatal(err)
	}
	d := driver{t, clk, pin}
	d.edges(gpio.High) // 0s: motion at 50 ms
	d.wait(time.Second)
	d.edges(gpio.Low) // 1s
	d.wait(2 * time.Second)
	d.edges(gpio.High) // 3s: inside the cooldown, and gone by 4s: nothing
	d.wait(time.Second)
	d.edges(gpio.Low) // 4s
	d.wait(8 * time.Second)
	d.edges(gpio.High) // 12s: motion at 12.05s
	d.wait(time.Second)
	d.edges(gpio.Low) // 13s
	d.wait(7 * time.Second)
	d.edges(gpio.High) // 20s, inside the cooldown until 22.05s; stays high until 45s
	d.wait(25 * time.Second)
	d.edges(gpio.Low) // 45s
	d.wait(30 * time.Second)
	if err := pir.Close(); err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	want := []time.Duration{50 * ms, 12050 * ms, 22050 * ms, 32050 * ms, 42050 * ms}
	if got := at(s.got(), capture.Motion); !equalDurations(got, want) {
		t.Errorf("motion at %v, want %v", got, want)
	}
}

func TestButtonHoldRingsOnceAndNeverResets(t *testing.T) {
	noLeaks(t)
	clk := clocktest.New(t0)
	button := sensorstest.New("GPIO27", gpio.High, clk) // active low, released
	reset := sensorstest.New("GPIO23", gpio.High, clk)
	var s sink
	resets := 0
	b, err := NewButton(ButtonConfig{Input: Input{Pin: button, ActiveLow: true, Clock: clk}, OnEvent: s.event})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewResetSwitch(ResetConfig{Input: Input{Pin: reset, ActiveLow: true, Clock: clk}, OnReset: func() { resets++ }})
	if err != nil {
		t.Fatal(err)
	}
	d := driver{t, clk, button}
	d.bounce(gpio.Low, 5) // press, 0..4 ms
	d.wait(60 * time.Second)
	d.bounce(gpio.High, 5) // release after a minute
	d.wait(time.Second)
	d.bounce(gpio.Low, 3) // and press again, as the reset gesture would
	d.wait(2 * time.Second)
	d.edges(gpio.High)
	d.wait(10 * time.Second)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	got := s.got()
	ms := time.Millisecond
	if rings := at(got, capture.Ring); !equalDurations(rings, []time.Duration{54 * ms, 61060 * ms}) || len(got) != 2 {
		t.Errorf("events %v, want two rings at 54ms and 61.06s and nothing else", got)
	}
	if resets != 0 {
		t.Errorf("%d resets from the doorbell button", resets)
	}
	if button.Pull() != gpio.PullUp {
		t.Errorf("pull = %v, want PullUp for an active-low input", button.Pull())
	}
}

func TestResetGesture(t *testing.T) {
	type step struct {
		level gpio.Level    // the switch: High = pressed (active high here)
		after time.Duration // then wait this long
	}
	press := func(d time.Duration) step { return step{gpio.High, d} }
	release := func(d time.Duration) step { return step{gpio.Low, d} }
	for name, tc := range map[string]struct {
		steps      []step
		resets     int
		confirming string
	}{
		"hold then confirm":           {[]step{press(10 * time.Second), release(2 * time.Second), press(time.Second), release(time.Second)}, 1, "on off"},
		"hold long then confirm":      {[]step{press(90 * time.Second), release(4900 * time.Millisecond), press(time.Second)}, 1, "on off"},
		"hold too short":              {[]step{press(9900 * time.Millisecond), release(2 * time.Second), press(time.Second), release(time.Second)}, 0, ""},
		"confirm too late":            {[]step{press(10 * time.Second), release(5100 * time.Millisecond), press(time.Second), release(time.Second)}, 0, "on off"},
		"no confirmation":             {[]step{press(10 * time.Second), release(30 * time.Second)}, 0, "on off"},
		"held again instead":          {[]step{press(11 * time.Second), release(6 * time.Second), press(11 * time.Second), release(time.Second)}, 0, "on off on"},
		"confirm then nothing more":   {[]step{press(10 * time.Second), release(time.Second), press(time.Second), release(time.Second), press(time.Second), release(time.Second)}, 1, "on off"},
		"never released":              {[]step{press(5 * time.Minute)}, 0, "on"},
		"short presses do not add up": {[]step{press(6 * time.Second), release(100 * time.Millisecond), press(6 * time.Second), release(time.Second), press(time.Second)}, 0, ""},
	} {
		t.Run(name, func(t *testing.T) {
			noLeaks(t)
			clk := clocktest.New(t0)
			pin := sensorstest.New("GPIO23", gpio.Low, clk)
			var (
				mu         sync.Mutex
				resets     int
				confirming []string
			)
			r, err := NewResetSwitch(ResetConfig{
				Input:   Input{Pin: pin, Clock: clk},
				OnReset: func() { mu.Lock(); resets++; mu.Unlock() },
				Confirming: func(on bool) {
					mu.Lock()
					defer mu.Unlock()
					confirming = append(confirming, map[bool]string{true: "on", false: "off"}[on])
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			d := driver{t, clk, pin}
			for _, s := range tc.steps {
				d.bounce(s.level, 3)
				d.wait(s.after)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if resets != tc.resets {
				t.Errorf("%d resets, want %d", resets, tc.resets)
			}
			if got := strings.Join(confirming, " "); got != tc.confirming {
				t.Errorf("confirming calls %q, want %q", got, tc.confirming)
			}
		})
	}
}

func TestResetCallbackComesWhileRunning(t *testing.T) {
	noLeaks(t)
	clk := clocktest.New(t0)
	pin := sensorstest.New("GPIO23", gpio.High, clk)
	done := make(chan struct{})
	r, err := NewResetSwitch(ResetConfig{Input: Input{Pin: pin, ActiveLow: true, Clock: clk}, OnReset: func() { close(done) }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d := driver{t, clk, pin}
	d.edges(gpio.Low)
	d.wait(11 * time.Second)
	d.edges(gpio.High)
	d.wait(time.Second)
	d.edges(gpio.Low)
	d.wait(time.Second)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("no reset request")
	}
}

func TestWithPeriphGPIOTestPin(t *testing.T) {
	// periph's own fake, on the real clock: edges go through EdgesChan.
	noLeaks(t)
	pin := &gpiotest.Pin{N: "GPIO17", EdgesChan: make(chan gpio.Level, 1)}
	events := make(chan capture.Event, 4)
	pir, err := NewPIR(PIRConfig{
		Input:   Input{Pin: pin, Debounce: time.Millisecond},
		OnEvent: func(ev capture.Event) { events <- ev },
	})
	if err != nil {
		t.Fatal(err)
	}
	pin.EdgesChan <- gpio.High
	select {
	case ev := <-events:
		if ev.Kind != capture.Motion || time.Since(ev.Time) > time.Minute {
			t.Errorf("event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no motion event")
	}
	start := time.Now()
	pir.Close()
	if d := time.Since(start); d > 2*pollTimeout {
		t.Errorf("Close took %v", d)
	}
}

// failingPin refuses to be configured.
type failingPin struct{ *gpiotest.Pin }

func (failingPin) In(gpio.Pull, gpio.Edge) error { return errors.New("line busy") }

// noPullPin refuses internal pulls, as sysfs does.
type noPullPin struct{ *sensorstest.Pin }

func (p noPullPin) In(pull gpio.Pull, e gpio.Edge) error {
	if pull != gpio.PullNoChange {
		return errors.New("pull not supported")
	}
	return p.Pin.In(pull, e)
}

func TestBadConfig(t *testing.T) {
	noLeaks(t)
	clk := clocktest.New(t0)
	pin := sensorstest.New("GPIO17", gpio.Low, clk)
	on := func(capture.Event) {}
	for name, tc := range map[string]struct {
		start func() (interface{ Close() error }, error)
		want  string
	}{
		"no pin": {func() (interface{ Close() error }, error) {
			return NewPIR(PIRConfig{OnEvent: on})
		}, "sensors: pir: no pin"},
		"debounce too long": {func() (interface{ Close() error }, error) {
			return NewButton(ButtonConfig{Input: Input{Pin: pin, Debounce: 2 * time.Second}, OnEvent: on})
		}, "sensors: button: debounce 2s is out of range (valid: 1ms to 1s)"},
		"negative debounce": {func() (interface{ Close() error }, error) {
			return NewButton(ButtonConfig{Input: Input{Pin: pin, Debounce: -time.Millisecond}, OnEvent: on})
		}, "sensors: button: debounce -1ms is out of range"},
		"cooldown too short": {func() (interface{ Close() error }, error) {
			return NewPIR(PIRConfig{Input: Input{Pin: pin}, Cooldown: time.Millisecond, OnEvent: on})
		}, "sensors: pir: cooldown 1ms is out of range (valid: 1s to 10m0s)"},
		"no OnEvent": {func() (interface{ Close() error }, error) {
			return NewButton(ButtonConfig{Input: Input{Pin: pin}})
		}, "sensors: button: no OnEvent function"},
		"no OnReset": {func() (interface{ Close() error }, error) {
			return NewResetSwitch(ResetConfig{Input: Input{Pin: pin}})
		}, "sensors: reset: no OnReset function"},
		"line busy": {func() (interface{ Close() error }, error) {
			return NewResetSwitch(ResetConfig{Input: Input{Pin: failingPin{&gpiotest.Pin{N: "GPIO23"}}}, OnReset: func() {}})
		}, "sensors: reset: configuring GPIO23(0) as an input with edge detection: line busy"},
		"no LED pin": {func() (interface{ Close() error }, error) {
			return NewLED(LEDConfig{})
		}, "sensors: led: no pin"},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := tc.start()
			if err == nil {
				c.Close()
				t.Fatalf("started, want error %q", tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q, want %q", err, tc.want)
			}
		})
	}
	// A driver without internal pulls still works, with a warning.
	b, err := NewButton(ButtonConfig{Input: Input{Pin: noPullPin{pin}, Clock: clk}, OnEvent: on})
	if err != nil {
		t.Fatalf("pin without pulls: %v", err)
	}
	b.Close()
}
