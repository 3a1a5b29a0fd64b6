package capture_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/simcam"
	"github.com/doorward/doorward/device/clock"
	"github.com/doorward/doorward/device/clock/clocktest"
)

func readTiny(t testing.TB) ([]byte, []capture.AccessUnit) {
	t.Helper()
	data, err := os.ReadFile("testdata/tiny-noaud.h264")
	if err != nil {
		t.Fatal(err)
	}
	aus, err := capture.SplitAccessUnits(data)
	if err != nil {
		t.Fatal(err)
	}
	return data, aus
}

type result struct {
	f   capture.Frame
	err error
}

// reader calls ReadFrame in a goroutine, one call per receive from next, so
// the test decides when the source may be asked for the next frame.
func reader(t *testing.T, ctx context.Context, src capture.Source) (next chan<- struct{}, out <-chan result) {
	nc, oc := make(chan struct{}), make(chan result)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range nc {
			f, err := src.ReadFrame(ctx)
			oc <- result{f, err}
		}
	}()
	t.Cleanup(func() { close(nc); <-done })
	return nc, oc
}

// waitBlocked waits until the source waits on the fake clock.
func waitBlocked(t *testing.T, clk *clocktest.Fake) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for clk.Waiters() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("source never waited on the clock")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func pts(n int, fps float64) time.Duration {
	return time.Duration(math.Round(float64(n) * float64(time.Second) / fps))
}

func TestFileSourcePacingAndLoop(t *testing.T) {
	data, aus := readTiny(t)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := clocktest.New(t0)
	const fps = 30.0
	src, err := capture.NewFileSource(data, fps, clk)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	next, out := reader(t, context.Background(), src)

	const frames = 3*4 + 2 // three loops and a bit
	for n := 0; n < frames; n++ {
		next <- struct{}{}
		if n > 0 {
			// Not before it is due: advance to 1ns short, the source keeps waiting.
			waitBlocked(t, clk)
			clk.Advance(pts(n, fps) - pts(n-1, fps) - 1)
			if clk.Waiters() != 1 {
				t.Fatalf("frame %d: released 1ns before it was due", n)
			}
			clk.Advance(1)
		}
		r := <-out
		if r.err != nil {
			t.Fatalf("frame %d: %v", n, r.err)
		}
		au := aus[n%len(aus)]
		if &r.f.Data[0] != &au.Data[0] || len(r.f.Data) != len(au.Data) {
			t.Errorf("frame %d: Data is not access unit %d of the input", n, n%len(aus))
		}
		if r.f.Key != au.Key {
			t.Errorf("frame %d: Key = %v, want %v", n, r.f.Key, au.Key)
		}
		if want := pts(n, fps); r.f.PTS != want {
			t.Errorf("frame %d: PTS = %v, want %v", n, r.f.PTS, want)
		}
		if want := t0.Add(pts(n, fps)); !r.f.Time.Equal(want) {
			t.Errorf("frame %d: Time = %v, want %v", n, r.f.Time, want)
		}
	}
}

// A late reader gets the overdue frames at once, and the schedule stays
// anchored at start + n/fps (no drift from late wake-ups).
func TestFileSourceNoDrift(t *testing.T) {
	data, _ := readTiny(t)
	t0 := time.Unix(1_700_000_000, 0)
	clk := clocktest.New(t0)
	const fps = 10.0 // 100ms per frame
	src, err := capture.NewFileSource(data, fps, clk)
	if err != nil {
		t.Fatal(err)
	}
	next, out := reader(t, context.Background(), src)
	read := func() capture.Frame {
		t.Helper()
		next <- struct{}{}
		r := <-out
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.f
	}

	read() // frame 0 at t0
	next <- struct{}{}
	waitBlocked(t, clk)
	clk.Advance(350 * time.Millisecond) // wakes late, 3.5 frames on
	for n := 1; n <= 3; n++ {
		var f capture.Frame
		if n == 1 {
			r := <-out
			f = r.f
		} else {
			f = read()
		}
		if f.PTS != time.Duration(n)*100*time.Millisecond || !f.Time.Equal(t0.Add(350*time.Millisecond)) {
			t.Errorf("frame %d: PTS %v Time +%v, want PTS %v at +350ms", n, f.PTS, f.Time.Sub(t0), time.Duration(n)*100*time.Millisecond)
		}
	}
	// Frame 4 is due at +400ms, 50ms from now, not 100ms.
	next <- struct{}{}
	waitBlocked(t, clk)
	clk.Advance(50 * time.Millisecond)
	r := <-out
	if r.err != nil || r.f.PTS != 400*time.Millisecond || !r.f.Time.Equal(t0.Add(400*time.Millisecond)) {
		t.Errorf("frame 4: PTS %v Time +%v err %v, want 400ms at +400ms", r.f.PTS, r.f.Time.Sub(t0), r.err)
	}
}

func TestFileSourceCloseUnblocksReadFrame(t *testing.T) {
	data, _ := readTiny(t)
	clk := clocktest.New(time.Unix(0, 0))
	src, err := capture.NewFileSource(data, 30, clk)
	if err != nil {
		t.Fatal(err)
	}
	next, out := reader(t, context.Background(), src)
	next <- struct{}{}
	if r := <-out; r.err != nil {
		t.Fatal(r.err)
	}
	next <- struct{}{}
	waitBlocked(t, clk)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if r := <-out; !errors.Is(r.err, capture.ErrSourceClosed) {
		t.Fatalf("blocked ReadFrame after Close: %v, want ErrSourceClosed", r.err)
	}
	if err := src.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := src.ReadFrame(context.Background()); !errors.Is(err, capture.ErrSourceClosed) {
		t.Fatalf("ReadFrame after Close: %v, want ErrSourceClosed", err)
	}
}

func TestFileSourceHonoursContext(t *testing.T) {
	data, _ := readTiny(t)
	clk := clocktest.New(time.Unix(0, 0))
	src, err := capture.NewFileSource(data, 30, clk)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	done, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.ReadFrame(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadFrame with a done context: %v, want context.Canceled", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	next, out := reader(t, ctx, src)
	next <- struct{}{}
	if r := <-out; r.err != nil {
		t.Fatal(r.err)
	}
	next <- struct{}{}
	waitBlocked(t, clk)
	cancel()
	if r := <-out; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("blocked ReadFrame after cancel: %v, want context.Canceled", r.err)
	}
}

func TestNewFileSourceErrors(t *testing.T) {
	data, aus := readTiny(t)
	clk := clocktest.New(time.Unix(0, 0))
	for _, fps := range []float64{0, -30, 240.5, 1000, math.NaN(), math.Inf(1)} {
		_, err := capture.NewFileSource(data, fps, clk)
		if err == nil {
			t.Errorf("fps %v: no error", fps)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "capture: ") || !strings.Contains(msg, fmt.Sprintf("rate %v fps", fps)) || !strings.Contains(msg, "valid") {
			t.Errorf("fps %v: error %q should name the value and the valid range", fps, msg)
		}
	}
	for _, fps := range []float64{0.5, 30, 240} {
		if _, err := capture.NewFileSource(data, fps, clk); err != nil {
			t.Errorf("fps %v: %v", fps, err)
		}
	}
	if _, err := capture.NewFileSource(data, 30, nil); err == nil || !strings.Contains(err.Error(), "clock") {
		t.Errorf("nil clock: %v, want an error about the clock", err)
	}

	// SplitAccessUnits errors come back as they are.
	_, want := capture.SplitAccessUnits([]byte("not video"))
	if _, err := capture.NewFileSource([]byte("not video"), 30, clk); err == nil || err.Error() != want.Error() {
		t.Errorf("garbage: %v, want %v", err, want)
	}

	// A stream that starts mid-GOP cannot loop cleanly.
	fromP := data[len(data)-len(aus[1].Data)-len(aus[2].Data)-len(aus[3].Data):]
	if _, err := capture.NewFileSource(fromP, 30, clk); err == nil || !strings.Contains(err.Error(), "start with a keyframe") ||
		!strings.Contains(err.Error(), "access unit 1") {
		t.Errorf("stream starting with a P frame: %v, want an error naming the first keyframe", err)
	}
}

func TestOpenFileSource(t *testing.T) {
	clk := clocktest.New(time.Unix(0, 0))
	dir := t.TempDir()

	missing := filepath.Join(dir, "missing.h264")
	_, err := capture.OpenFileSource(missing, 30, clk)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) || !strings.HasPrefix(err.Error(), "capture: ") {
		t.Errorf("missing file: %v, want a capture: error naming %s that wraps fs.ErrNotExist", err, missing)
	}

	bad := filepath.Join(dir, "clip.mp4")
	if err := os.WriteFile(bad, []byte("\x00\x00\x00\x20ftypisom\x00\x00\x02\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = capture.OpenFileSource(bad, 30, clk)
	if err == nil || !strings.HasPrefix(err.Error(), "capture: "+bad+": no Annex-B start code") || !strings.Contains(err.Error(), "MP4") {
		t.Errorf("MP4 file: %v, want \"capture: %s: no Annex-B start code ... MP4 ...\"", err, bad)
	}
	if _, err := capture.OpenFileSource("testdata/tiny-noaud.h264", 0, clk); err == nil || !strings.Contains(err.Error(), "testdata/tiny-noaud.h264: file source frame rate 0") {
		t.Errorf("bad fps: %v, want an error naming the file and the rate", err)
	}

	src, err := capture.OpenFileSource("testdata/tiny-noaud.h264", 30, clk)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, err := src.ReadFrame(context.Background())
	if err != nil || !f.Key || f.PTS != 0 {
		t.Fatalf("first frame: key %v PTS %v err %v, want a keyframe at 0", f.Key, f.PTS, err)
	}
}

// The sim clip plays on the real clock, and the steady state allocates
// nothing: the timer is reused.
func TestFileSourceSimClipRealClock(t *testing.T) {
	src, err := capture.NewFileSource(simcam.Clip(), 240, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if n := src.AccessUnits(); n != 180 {
		t.Fatalf("sim clip has %d access units, want 180", n)
	}
	ctx := context.Background()
	start := time.Now()
	var last time.Duration = -1
	allocs := testing.AllocsPerRun(24, func() {
		f, err := src.ReadFrame(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f.PTS <= last {
			t.Fatalf("PTS %v after %v", f.PTS, last)
		}
		last = f.PTS
	})
	if allocs != 0 {
		t.Errorf("ReadFrame on the real clock allocates %v times per frame, want 0", allocs)
	}
	// 25 frames at 240 fps: frame 24 is due 100ms after the first.
	if el := time.Since(start); el < 95*time.Millisecond {
		t.Errorf("25 frames at 240 fps took %v, want at least 100ms", el)
	}
}

// lateClock is a clock on which every frame is already due, so that the
// benchmark measures the source alone.
type lateClock struct{ t time.Time }

func (c *lateClock) Now() time.Time                         { c.t = c.t.Add(time.Hour); return c.t }
func (c *lateClock) After(d time.Duration) <-chan time.Time { panic("lateClock: After") }

func BenchmarkFileSourceReadFrame(b *testing.B) {
	src, err := capture.NewFileSource(simcam.Clip(), simcam.FPS, &lateClock{})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.ReadFrame(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
