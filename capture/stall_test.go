package capture_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/device/events"
)

// restartSource is a chanSource that counts Restart calls; the test
// plays the camera's start by adding to started.
type restartSource struct {
	chanSource
	restarts atomic.Int32
	started  atomic.Uint64
}

func (s *restartSource) Restart()        { s.restarts.Add(1) }
func (s *restartSource) Started() uint64 { return s.started.Load() }

var _ capture.Restarter = (*restartSource)(nil)

func nextEvent(t *testing.T, sub *events.Sub) events.Event {
	t.Helper()
	select {
	case e := <-sub.C():
		return e
	default:
		t.Fatal("no event")
		return events.Event{}
	}
}

func noEvent(t *testing.T, sub *events.Sub) {
	t.Helper()
	select {
	case e := <-sub.C():
		t.Fatalf("unexpected event %+v", e)
	default:
	}
}

// A source that stays open but sends nothing is found stalled after the
// timeout (not before), reported once, restarted after every further
// timeout, and reported back at its next frame; subscribers resume at a
// keyframe.
func TestHubStallWatchdog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log, logs := capturetest.NewLogger(slog.LevelInfo)
		bus := events.New()
		evs := bus.Subscribe("test", 16)
		hub := capture.NewHub(log)
		hub.Events, hub.StallTimeout = bus, 2*time.Second
		sub := hub.Subscribe(64)
		src := &restartSource{chanSource: chanSource{make(chan capture.Frame)}}
		ctx, cancel := context.WithCancel(context.Background())
		runErr := make(chan error, 1)
		go func() { runErr <- hub.Run(ctx, src) }()

		// Frames every 100 ms for 1 s: no stall.
		for n := range 10 {
			src.c <- frame(n, 5)
			time.Sleep(100 * time.Millisecond)
		}
		if got := drain(sub); !equalInts(got, seq(0, 9)) {
			t.Fatalf("frames %v", got)
		}
		// Silence. Just under the timeout after the last frame: nothing.
		time.Sleep(1700 * time.Millisecond)
		synctest.Wait()
		noEvent(t, evs)
		if hub.Stalled() || src.restarts.Load() != 0 {
			t.Fatal("stalled before the timeout")
		}
		// Within a tick past the timeout: stalled, restarted, logged once.
		time.Sleep(600 * time.Millisecond)
		synctest.Wait()
		e := nextEvent(t, evs)
		if e.Kind != events.CameraStalled || !strings.HasPrefix(e.Note, "no frame for 2") {
			t.Errorf("event %+v, want camera-stalled after about 2 s", e)
		}
		if !hub.Stalled() || src.restarts.Load() != 1 || hub.Stalls() != 1 {
			t.Fatalf("stalled %v, restarts %d, stalls %d", hub.Stalled(), src.restarts.Load(), hub.Stalls())
		}
		if n := logs.Count("camera stalled: no frame"); n != 1 {
			t.Errorf("stall logged %d times, want once:\n%s", n, logs)
		}
		if !strings.Contains(logs.String(), "since_last_frame=2") {
			t.Errorf("the stall log does not say how long since the last frame:\n%s", logs)
		}
		// The source is still backing off: no second request meanwhile.
		time.Sleep(20 * time.Second)
		synctest.Wait()
		noEvent(t, evs)
		if r := src.restarts.Load(); r != 1 {
			t.Errorf("restarts = %d before the camera started again, want 1", r)
		}
		// The camera starts but stays silent: it has StartGrace for its
		// first frame, then it is restarted again (no second event).
		src.started.Add(1)
		time.Sleep(capture.StartGrace - 300*time.Millisecond)
		synctest.Wait()
		if r := src.restarts.Load(); r != 1 {
			t.Errorf("restarts = %d within the start grace", r)
		}
		time.Sleep(600 * time.Millisecond)
		synctest.Wait()
		noEvent(t, evs)
		if r := src.restarts.Load(); r != 2 || logs.Count("camera still stalled after its restart") != 1 {
			t.Errorf("restarts = %d after the start grace, want 2\n%s", r, logs)
		}
		src.started.Add(1)
		// Frames return mid-GOP: back, and the subscriber resumes at the
		// keyframe.
		for n := 11; n < 20; n++ {
			src.c <- frame(n, 5)
		}
		synctest.Wait()
		if e := nextEvent(t, evs); e.Kind != events.CameraBack {
			t.Errorf("event %+v, want camera-back", e)
		}
		noEvent(t, evs)
		if hub.Stalled() {
			t.Error("still stalled after frames returned")
		}
		if got := drain(sub); !equalInts(got, seq(15, 19)) {
			t.Errorf("after the stall the subscriber got %v, want 15..19 (from the keyframe)", got)
		}
		if n := logs.Count("camera back"); n != 1 {
			t.Errorf("camera back logged %d times", n)
		}
		// Frames keep coming: no further stall.
		for n := 20; n < 60; n++ {
			src.c <- frame(n, 5)
			time.Sleep(100 * time.Millisecond)
		}
		synctest.Wait()
		noEvent(t, evs)
		cancel()
		if err := <-runErr; err != nil {
			t.Fatal(err)
		}
	})
}

// A source that cannot restart (a file) is still reported, once per stall.
func TestHubStallWithoutRestarter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := events.New()
		evs := bus.Subscribe("test", 16)
		hub := capture.NewHub(nil)
		hub.Events = bus // the default timeout, 5 s
		src := chanSource{make(chan capture.Frame)}
		runErr := make(chan error, 1)
		go func() { runErr <- hub.Run(context.Background(), src) }()
		src.c <- frame(0, 5)
		time.Sleep(4900 * time.Millisecond)
		synctest.Wait()
		noEvent(t, evs)
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if e := nextEvent(t, evs); e.Kind != events.CameraStalled {
			t.Errorf("event %+v", e)
		}
		noEvent(t, evs)
		src.c <- frame(1, 5)
		synctest.Wait()
		e := nextEvent(t, evs)
		d, err := time.ParseDuration(strings.TrimPrefix(e.Note, "no frame for "))
		if e.Kind != events.CameraBack || err != nil || d < 34700*time.Millisecond || d > 35*time.Second {
			t.Errorf("event %+v, want camera-back after 35 s (within the watchdog's 250 ms tick)", e)
		}
		close(src.c)
		if err := <-runErr; !errors.Is(err, capture.ErrSourceClosed) {
			t.Fatal(err)
		}
	})
}

func TestStallTimeoutFor(t *testing.T) {
	for _, c := range []struct {
		configured time.Duration
		fps        float64
		want       time.Duration
	}{
		{0, 30, 5 * time.Second},
		{time.Second, 30, time.Second},
		{time.Second, 1, 3 * time.Second},
		{2 * time.Second, 0, 2 * time.Second},
	} {
		if got := capture.StallTimeoutFor(c.configured, c.fps); got != c.want {
			t.Errorf("StallTimeoutFor(%v, %v) = %v, want %v", c.configured, c.fps, got, c.want)
		}
	}
}
