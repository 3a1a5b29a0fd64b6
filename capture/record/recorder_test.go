package record

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/capture/simcam"
	"github.com/doorward/doorward/device/events"
)

// memStore keeps a clip's pieces in memory, in plaintext: a test double for
// the vault that lets the test inspect exactly what the recorder produced.
type memStore struct {
	mu    sync.Mutex
	clips map[string]*memClip
	order []string
	n     int
	noted []noted
}

type noted struct {
	t          time.Time
	kind, note string
}

type memClip struct {
	trigger string
	start   time.Time
	pieces  map[int]*memPiece
	ended   bool
}

type memPiece struct {
	bytes.Buffer
	mu         *sync.Mutex // the store's: a test may look while Run records
	start, end time.Time
	committed  bool
	aborted    bool
}

func (p *memPiece) Commit(start, end time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start, p.end, p.committed = start, end, true
	return nil
}

func (p *memPiece) Abort() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.aborted = true
	return nil
}

var _ Store = (*memStore)(nil)

func newMemStore() *memStore { return &memStore{clips: map[string]*memClip{}} }

func (s *memStore) BeginClip(start time.Time, trigger string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	id := fmt.Sprintf("clip%d", s.n)
	s.clips[id] = &memClip{trigger: trigger, start: start, pieces: map[int]*memPiece{}}
	s.order = append(s.order, id)
	return id, nil
}

func (s *memStore) CreatePiece(id string, seq int) (Piece, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &memPiece{mu: &s.mu}
	s.clips[id].pieces[seq] = p
	return p, nil
}

func (s *memStore) EndClip(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clips[id].ended = true
	return nil
}

func (s *memStore) NoteEvent(t time.Time, kind, note string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noted = append(s.noted, noted{t, kind, note})
	return nil
}

// mp4 concatenates a clip's committed pieces in order.
func (s *memStore) mp4(t *testing.T, id string) []byte {
	t.Helper()
	c := s.clips[id]
	var seqs []int
	for seq, p := range c.pieces {
		if p.committed {
			seqs = append(seqs, seq)
		}
	}
	sort.Ints(seqs)
	if len(seqs) == 0 || seqs[0] != 0 {
		t.Fatalf("clip %s has no init segment (pieces %v)", id, seqs)
	}
	var out []byte
	for _, seq := range seqs {
		out = append(out, c.pieces[seq].Bytes()...)
	}
	return out
}

func (s *memStore) segments(id string) []*memPiece {
	c := s.clips[id]
	var out []*memPiece
	for seq := 1; ; seq++ {
		p, ok := c.pieces[seq]
		if !ok {
			return out
		}
		if p.committed {
			out = append(out, p)
		}
	}
}

// simFrames returns n frames of the sim clip, looped, at 30 fps from t0.
func simFrames(t testing.TB, n int, t0 time.Time) []capture.Frame {
	t.Helper()
	aus, err := capture.SplitAccessUnits(simcam.Clip())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]capture.Frame, n)
	for i := range out {
		au := aus[i%len(aus)]
		pts := time.Duration(i) * time.Second / 30
		out[i] = capture.Frame{Data: au.Data, Key: au.Key, PTS: pts, Time: t0.Add(pts)}
	}
	return out
}

func newTestRecorder(t testing.TB, cfg Config) (*Recorder, *memStore) {
	t.Helper()
	st := newMemStore()
	r, err := New(cfg, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r, st
}

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func TestRecorderPreRollIsGOPAligned(t *testing.T) {
	r, st := newTestRecorder(t, DefaultConfig())
	frames := simFrames(t, 30*30, t0)
	// 7.5 s of footage, then motion: the clip must start at the keyframe at
	// or before 2.5 s, i.e. at 2 s.
	event := 225
	for i, f := range frames {
		if i == event {
			r.handleEvent(capture.Event{Kind: capture.Motion, Time: f.Time})
		}
		r.handleFrame(f)
	}
	r.finish()
	if len(st.order) != 1 {
		t.Fatalf("clips = %d, want 1", len(st.order))
	}
	c := st.clips[st.order[0]]
	if want := t0.Add(2 * time.Second); !c.start.Equal(want) {
		t.Errorf("clip starts at %v, want %v (GOP-aligned pre-roll)", c.start.Sub(t0), want.Sub(t0))
	}
	if c.trigger != "motion" || !c.ended {
		t.Errorf("trigger %q ended %v", c.trigger, c.ended)
	}
	segs := st.segments(st.order[0])
	// post-roll ends at 7.5+10 = 17.5 s: the clip spans 2 s .. 17.5 s.
	last := segs[len(segs)-1]
	if got, want := last.end.Sub(t0), 17500*time.Millisecond; got != want {
		t.Errorf("clip ends at %v, want %v", got, want)
	}
	for i, s := range segs[:len(segs)-1] {
		if d := s.end.Sub(s.start); d < 4*time.Second || d > 5*time.Second {
			t.Errorf("segment %d spans %v, want about 4 s cut at a keyframe", i+1, d)
		}
	}
	probe(t, st.mp4(t, st.order[0]), 15.5)
}

func TestRecorderEventExtendsClip(t *testing.T) {
	r, st := newTestRecorder(t, DefaultConfig())
	frames := simFrames(t, 40*30, t0)
	for i, f := range frames {
		if i == 6*30 || i == 12*30 { // second event within the post-roll
			r.handleEvent(capture.Event{Kind: capture.Ring, Time: f.Time})
		}
		r.handleFrame(f)
	}
	r.finish()
	if len(st.order) != 1 {
		t.Fatalf("clips = %d, want 1 longer clip", len(st.order))
	}
	segs := st.segments(st.order[0])
	if got, want := segs[len(segs)-1].end.Sub(t0), 22*time.Second; got != want {
		t.Errorf("clip ends at %v, want %v", got, want)
	}
}

func TestRecorderSplitsAtMaxClip(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxClip = 10 * time.Second
	cfg.PostRoll = 30 * time.Second
	r, st := newTestRecorder(t, cfg)
	for i, f := range simFrames(t, 40*30, t0) {
		if i == 0 {
			r.handleEvent(capture.Event{Kind: capture.Motion, Time: f.Time})
		}
		r.handleFrame(f)
	}
	r.finish()
	if len(st.order) != 3 {
		t.Fatalf("clips = %d, want 3 (10 s + 10 s + 10 s of a 30 s post-roll)", len(st.order))
	}
	for i, id := range st.order {
		c := st.clips[id]
		if want := t0.Add(time.Duration(i) * 10 * time.Second); !c.start.Equal(want) {
			t.Errorf("clip %d starts at %v, want %v", i, c.start.Sub(t0), want.Sub(t0))
		}
	}
}

func TestRecorderEventBeforeKeyframeArms(t *testing.T) {
	r, st := newTestRecorder(t, DefaultConfig())
	frames := simFrames(t, 20*30, t0)
	r.handleEvent(capture.Event{Kind: capture.Motion, Time: t0})
	for _, f := range frames[10:] { // start mid-GOP: no keyframe until frame 30
		r.handleFrame(f)
	}
	r.finish()
	if len(st.order) != 1 {
		t.Fatalf("clips = %d, want 1", len(st.order))
	}
	if c := st.clips[st.order[0]]; !c.start.Equal(t0.Add(time.Second)) {
		t.Errorf("clip starts at %v, want the first keyframe at 1s", c.start.Sub(t0))
	}
}

func TestRecorderRunStopsAndClosesClip(t *testing.T) {
	r, st := newTestRecorder(t, DefaultConfig())
	frames := make(chan capture.Frame)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx, frames) }()
	all := simFrames(t, 8*30, t0)
	r.Trigger(capture.Event{Kind: capture.Motion, Time: t0})
	for _, f := range all {
		frames <- f
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r.Recording() {
		t.Error("still recording after Run returned")
	}
	segs := st.segments(st.order[0])
	if got := segs[len(segs)-1].end.Sub(t0); got.Round(time.Millisecond) != 8*time.Second {
		t.Errorf("clip closed at %v, want 8s (the last frame, no post-roll)", got)
	}
	probe(t, st.mp4(t, st.order[0]), 8)
}

func TestRecorderSmallBufferShortensPreRoll(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Buffer = 64 << 10 // about 1.5 s of the sim clip
	r, st := newTestRecorder(t, cfg)
	frames := simFrames(t, 20*30, t0)
	for i, f := range frames {
		if i == 8*30 {
			r.handleEvent(capture.Event{Kind: capture.Motion, Time: f.Time})
		}
		r.handleFrame(f)
	}
	r.finish()
	if len(st.order) != 1 {
		t.Fatalf("clips = %d, want 1", len(st.order))
	}
	data := st.mp4(t, st.order[0])
	c := st.clips[st.order[0]]
	if pre := t0.Add(8 * time.Second).Sub(c.start); pre > 2*time.Second || pre < 0 {
		t.Errorf("pre-roll %v with a 64 KiB buffer", pre)
	}
	probe(t, data, 0)
}

func TestRecorderSkipsInvalidParameterSets(t *testing.T) {
	r, st := newTestRecorder(t, DefaultConfig())
	bad := capture.Frame{Data: []byte{0, 0, 0, 1, 0x67, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0x68, 0xff, 0, 0, 0, 1, 0x65, 0x88, 0x84}, Key: true, Time: t0}
	r.handleFrame(bad)
	r.handleEvent(capture.Event{Kind: capture.Motion, Time: t0})
	if len(st.order) != 0 {
		t.Fatalf("started a clip from invalid parameter sets")
	}
}

// probe checks data with ffprobe: H.264, first frame a keyframe, every
// frame decodes, and the duration within one GOP (1 s) of want (0: any).
func probe(t *testing.T, data []byte, want float64) {
	t.Helper()
	p := capturetest.ProbeBytes(t, data, true)
	if p.Codec != "h264" || !p.FirstKey || p.Width != 640 || p.Height != 480 {
		t.Errorf("ffprobe: %+v, want h264 640x480 starting with a keyframe", p)
	}
	if want > 0 && (p.Duration < want-1 || p.Duration > want+1) {
		t.Errorf("duration %.2f s, want %.1f ± 1 s", p.Duration, want)
	}
	if fps := float64(p.Frames) / p.Duration; p.Frames == 0 || fps < 29 || fps > 31 {
		t.Errorf("%d frames decoded in %.2f s", p.Frames, p.Duration)
	}
}

// busEvents drains what sub has queued.
func busEvents(sub *events.Sub) []events.Event {
	var out []events.Event
	for {
		select {
		case e := <-sub.C():
			out = append(out, e)
		default:
			return out
		}
	}
}

func TestRecorderPublishesClipEvents(t *testing.T) {
	bus := events.New()
	sub := bus.Subscribe("test", 64)
	defer sub.Close()
	cfg := DefaultConfig()
	cfg.Events = bus
	r, st := newTestRecorder(t, cfg)
	frames := simFrames(t, 30*30, t0)
	for i, f := range frames {
		if i == 3*30 {
			r.handleEvent(capture.Event{Kind: capture.Ring, Time: f.Time})
		}
		r.handleFrame(f)
	}
	r.finish()
	if len(st.order) != 1 {
		t.Fatalf("clips = %d, want 1", len(st.order))
	}
	id := st.order[0]
	got := busEvents(sub)
	if len(got) != 2 {
		t.Fatalf("events = %+v, want clip-started and clip-closed only (nothing per frame or segment)", got)
	}
	if e := got[0]; e.Kind != events.ClipStarted || e.Clip != id || e.Trigger != "ring" || !e.Time.Equal(st.clips[id].start) {
		t.Errorf("first event %+v, want clip-started of %s by ring at %v", e, id, st.clips[id].start)
	}
	segs := st.segments(id)
	if e := got[1]; e.Kind != events.ClipClosed || e.Clip != id || e.Segment != len(segs) || e.Note != "" || !e.Time.Equal(segs[len(segs)-1].end) {
		t.Errorf("last event %+v, want clip-closed of %s after segment %d at %v", e, id, len(segs), segs[len(segs)-1].end)
	}
}
