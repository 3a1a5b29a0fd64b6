package record

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/device/clock/clocktest"
	"github.com/doorward/doorward/device/events"
)

// at is the time s seconds into the test stream.
func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// near reports whether a and b are within a millisecond (frame times are
// n/30 s, rounded).
func near(a, b time.Time) bool { return a.Sub(b).Abs() < time.Millisecond }

// checkClipAcrossGap decodes the clip with ffprobe, checks that its
// timestamps only move forward, and returns the longest step between two
// frames.
func checkClipAcrossGap(t *testing.T, st *memStore, id string, frames int) float64 {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(path, st.mp4(t, id), 0o600); err != nil {
		t.Fatal(err)
	}
	p := capturetest.ProbeFile(t, path, true)
	if p.Codec != "h264" || !p.FirstKey || p.Frames != frames {
		t.Errorf("ffprobe: %+v, want h264 from a keyframe with %d frames decoded", p, frames)
	}
	return capturetest.CheckMonotonic(t, capturetest.Packets(t, path))
}

// noSegmentSpans fails if a segment of clip id covers any of (from, to).
func noSegmentSpans(t *testing.T, st *memStore, id string, from, to time.Time) {
	t.Helper()
	for i, s := range st.segments(id) {
		if s.start.Before(to) && s.end.After(from) {
			t.Errorf("segment %d spans %v..%v, across the stall %v..%v", i+1, s.start.Sub(t0), s.end.Sub(t0), from.Sub(t0), to.Sub(t0))
		}
	}
}

// A stall in the middle of a clip, through Run and the bus: the clip
// commits what it has at the stall, goes on from the first keyframe after
// it (within the post-roll), and plays with timestamps that only move
// forward and jump across the gap.
func TestRecorderClipContinuesAfterStall(t *testing.T) {
	bus := events.New()
	clips := bus.Subscribe("test", 16, events.ClipStarted, events.ClipClosed)
	clk := clocktest.New(t0)
	cfg := DefaultConfig()
	cfg.Events, cfg.Clock = bus, clk
	r, st := newTestRecorder(t, cfg)
	frames := make(chan capture.Frame)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx, frames) }()

	all := simFrames(t, 16*30, t0)
	for i, f := range all[:6*30] { // 0 .. 6 s, a ring at 3 s: post-roll to 13 s
		if i == 3*30 {
			r.Trigger(capture.Event{Kind: capture.Ring, Time: f.Time})
		}
		frames <- f
	}
	clk.Advance(at(7).Sub(clk.Now()))
	bus.Publish(events.Event{Kind: events.CameraStalled, Time: at(7), Note: "no frame for 1s"})
	waitFor(t, "the segment in progress committed at the stall", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.order) == 1 && len(st.segments(st.order[0])) == 2
	})
	clk.Advance(at(10.4).Sub(clk.Now()))
	bus.Publish(events.Event{Kind: events.CameraBack, Time: at(10.4)})
	for _, f := range all[10*30+12:] { // back at 10.4 s, mid-GOP: the next keyframe is at 11 s
		frames <- f
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	if len(st.order) != 1 {
		t.Fatalf("clips = %d, want the one clip that spanned the stall", len(st.order))
	}
	id := st.order[0]
	segs := st.segments(id)
	if len(segs) != 3 || !near(segs[1].end, at(6)) || !near(segs[2].start, at(11)) || !near(segs[2].end, at(13)) {
		for _, s := range segs {
			t.Logf("segment %v .. %v", s.start.Sub(t0), s.end.Sub(t0))
		}
		t.Fatalf("want segments 0-4 s, 4-6 s (committed at the stall) and 11-13 s (from the keyframe after it to the end of the post-roll)")
	}
	noSegmentSpans(t, st, id, at(6), at(11))
	if gap := checkClipAcrossGap(t, st, id, 8*30); gap < 4.9 || gap > 5.1 {
		t.Errorf("longest step between frames %.3f s, want the 5 s gap (6 s to 11 s)", gap)
	}
	var got []events.Event
	for len(clips.C()) > 0 {
		got = append(got, <-clips.C())
	}
	if len(got) != 2 || got[0].Kind != events.ClipStarted || got[1].Kind != events.ClipClosed || got[1].Segment != 3 {
		t.Errorf("events %+v, want clip-started and clip-closed after segment 3", got)
	}
	if len(st.noted) != 0 {
		t.Errorf("noted %v: the ring came before the stall", st.noted)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// The camera stays away past the post-roll: the clip closes at the end of
// its post-roll, during the stall, with what it had; frames coming back
// later start nothing.
func TestRecorderClipClosesAtPostRollDuringStall(t *testing.T) {
	clk := clocktest.New(t0)
	cfg := DefaultConfig()
	cfg.Clock = clk
	r, st := newTestRecorder(t, cfg)
	all := simFrames(t, 30*30, t0)
	for i, f := range all[:6*30] {
		if i == 3*30 {
			r.handleEvent(capture.Event{Kind: capture.Motion, Time: f.Time})
		}
		r.handleFrame(f)
	}
	clk.Advance(at(7).Sub(clk.Now()))
	r.handleCamera(events.Event{Kind: events.CameraStalled, Time: at(7), Note: "no frame for 1s"})
	id := st.order[0]
	if st.clips[id].ended || len(st.segments(id)) != 2 {
		t.Fatalf("at the stall: ended %v, segments %d; want open with 2 committed", st.clips[id].ended, len(st.segments(id)))
	}
	clk.Advance(5900 * time.Millisecond) // 12.9 s: within the post-roll
	select {
	case <-r.postRoll:
		t.Fatal("post-roll timer fired early")
	default:
	}
	clk.Advance(100 * time.Millisecond)
	select {
	case <-r.postRoll:
		r.postRollEnded()
	case <-time.After(5 * time.Second):
		t.Fatal("post-roll timer did not fire at 13 s")
	}
	if !st.clips[id].ended || r.Recording() {
		t.Fatal("clip still open after its post-roll ended during the stall")
	}
	segs := st.segments(id)
	if len(segs) != 2 || !near(segs[1].end, at(6)) {
		t.Errorf("segments %d, last ends %v; want 2, at 6 s", len(segs), segs[len(segs)-1].end.Sub(t0))
	}
	checkClipAcrossGap(t, st, id, 6*30)
	r.handleCamera(events.Event{Kind: events.CameraBack, Time: at(20)})
	for _, f := range all[20*30:] {
		r.handleFrame(f)
	}
	r.finish()
	if len(st.order) != 1 {
		t.Errorf("clips = %d after the camera came back with no event", len(st.order))
	}
}

// A ring while the camera is stalled is noted without video, and its clip
// starts at the first keyframe after the stall when that is within its
// post-roll; past the post-roll, there is only the note.
func TestRecorderRingDuringStall(t *testing.T) {
	for _, tc := range []struct {
		name string
		back float64 // seconds
		clip bool
	}{
		{"back within the post-roll", 10.4, true},
		{"back after the post-roll", 19, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktest.New(t0)
			cfg := DefaultConfig()
			cfg.Clock = clk
			r, st := newTestRecorder(t, cfg)
			all := simFrames(t, 30*30, t0)
			for _, f := range all[:6*30] {
				r.handleFrame(f)
			}
			r.handleCamera(events.Event{Kind: events.CameraStalled, Time: at(7), Note: "no frame for 1s"})
			r.handleEvent(capture.Event{Kind: capture.Ring, Time: at(8)}) // post-roll to 18 s
			if len(st.order) != 0 {
				t.Fatal("a clip started from footage before the stall")
			}
			if len(st.noted) != 1 || !st.noted[0].t.Equal(at(8)) || st.noted[0].kind != "ring" ||
				!strings.Contains(st.noted[0].note, "no video") || !strings.Contains(st.noted[0].note, "no frame for 1s") {
				t.Fatalf("noted %+v, want the ring at 8 s with a note that there is no video", st.noted)
			}
			r.handleCamera(events.Event{Kind: events.CameraBack, Time: at(tc.back)})
			for _, f := range all[int(tc.back*30):] {
				r.handleFrame(f)
			}
			r.finish()
			if !tc.clip {
				if len(st.order) != 0 {
					t.Errorf("clips = %d, want none: the camera came back after the post-roll", len(st.order))
				}
				return
			}
			if len(st.order) != 1 {
				t.Fatalf("clips = %d, want 1", len(st.order))
			}
			c := st.clips[st.order[0]]
			segs := st.segments(st.order[0])
			if !near(c.start, at(11)) || c.trigger != "ring" || !near(segs[len(segs)-1].end, at(18)) {
				t.Errorf("clip %s from %v to %v, want ring from 11 s (the first keyframe after the stall) to 18 s",
					c.trigger, c.start.Sub(t0), segs[len(segs)-1].end.Sub(t0))
			}
			checkClipAcrossGap(t, st, st.order[0], 7*30)
		})
	}
}
