// Package record turns a stream of access units and sensor events into
// clips: it keeps a RAM-only pre-roll ring (locked into memory where the
// kernel allows), starts a clip at the keyframe that covers the pre-roll when
// an event arrives, extends it while events keep coming, and writes it as an
// fMP4 init segment plus media segments of about Config.Segment, each cut at a
// keyframe and handed to a Store that encrypts it as it is written.
//
// Plaintext only ever exists in the ring and in the encrypting writer's
// buffer; the recorder never writes to a file itself.
package record

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/mux"
	"github.com/doorward/doorward/device/clock"
	"github.com/doorward/doorward/device/events"
)

// Config sets the recorder's timing and memory.
type Config struct {
	PreRoll  time.Duration // footage kept from before the event (GOP-aligned, so up to one GOP more)
	PostRoll time.Duration // footage kept after the last event
	MaxClip  time.Duration // a longer recording is split into clips of at most this length
	Segment  time.Duration // target length of each encrypted media segment
	Buffer   int           // bytes of RAM for the pre-roll ring

	// Events receives clip-started and clip-closed (nil: no events). They
	// are published once per clip, never per frame. The recorder also
	// follows camera-stalled and camera-back on it (see Recorder).
	Events *events.Bus
	// Clock times a clip's post-roll while the camera is stalled
	// (clock.Real when nil).
	Clock clock.Clock
}

// DefaultConfig is what the agent uses unless configured otherwise.
func DefaultConfig() Config {
	return Config{PreRoll: 5 * time.Second, PostRoll: 10 * time.Second, MaxClip: 120 * time.Second, Segment: 4 * time.Second, Buffer: 16 << 20}
}

// maxFragment bounds how much footage is held before it is written out as a
// fragment, when keyframes are further apart than this.
const maxFragment = time.Second

// Store receives a clip's encrypted pieces. Declared here, implemented by the
// vault.
type Store interface {
	// BeginClip allocates a clip that starts at start.
	BeginClip(start time.Time, trigger string) (id string, err error)
	// CreatePiece opens piece seq of clip id for writing: 0 is the init
	// segment, 1, 2, ... the media segments.
	CreatePiece(id string, seq int) (Piece, error)
	// EndClip marks the clip finished.
	EndClip(id string) error
	// NoteEvent records a sensor event at t that has no video, with a note
	// saying why (the camera was stalled).
	NoteEvent(t time.Time, kind, note string) error
}

// Piece is one encrypted file being written.
type Piece interface {
	io.Writer
	// Commit finishes, syncs and indexes the piece with the time span it holds.
	Commit(start, end time.Time) error
	// Abort discards the piece.
	Abort() error
}

// TypedStore is a Store whose CreatePiece returns its own concrete piece
// type, as the vault's does (*vault.Piece).
type TypedStore[P Piece] interface {
	BeginClip(start time.Time, trigger string) (id string, err error)
	CreatePiece(id string, seq int) (P, error)
	EndClip(id string) error
	NoteEvent(t time.Time, kind, note string) error
}

// StoreOf adapts a TypedStore to Store.
func StoreOf[P Piece](s TypedStore[P]) Store { return storeOf[P]{s} }

type storeOf[P Piece] struct{ TypedStore[P] }

func (a storeOf[P]) CreatePiece(id string, seq int) (Piece, error) {
	p, err := a.TypedStore.CreatePiece(id, seq)
	if err != nil {
		return nil, err // never a typed nil inside the interface
	}
	return p, nil
}

// Recorder is the clip state machine. Run owns all of its state.
//
// When the Hub reports the camera stalled (camera-stalled on
// Config.Events), a clip in progress keeps what it has: its pending frames
// are written and its segment committed. It continues, in a new segment
// from the first keyframe after the stall, if the camera is back within its
// post-roll, and closes at the end of its post-roll otherwise, so no segment
// spans the gap and timestamps only ever move forward. A sensor event during
// the stall is noted in the Store as an event without video, and its clip
// starts at the first keyframe after the stall if that is still within its
// post-roll.
type Recorder struct {
	cfg   Config
	store Store
	log   *slog.Logger
	clk   clock.Clock

	events  chan capture.Event
	camera  *events.Sub // camera-stalled, camera-back
	ring    *ring
	release func()

	stalled  bool             // the camera is stalled (since camera-stalled)
	stallAt  time.Time        // when the Hub reported it
	stallFor string           // how long without a frame, as the Hub said
	afterGap bool             // the next frame from after stallAt starts anew
	postRoll <-chan time.Time // a stalled clip's post-roll ends

	sps, pps     []byte
	params       *mux.Params
	warnedBuffer bool

	clip    *clip
	armed   time.Time // an event arrived before any usable keyframe: record until then
	armedBy string    // that event's kind

	samples []mux.Sample
	runs    [2][]byte
	nalus   [][]byte // the NAL units of the frame being stored, from scan

	recording atomic.Bool
	clips     atomic.Uint64
}

type clip struct {
	id       string
	trigger  string
	params   *mux.Params
	start    time.Time
	startPTS time.Duration
	deadline time.Time

	fw       mux.FragmentWriter
	seg      Piece
	segSeq   int
	segStart time.Time
	segPTS   time.Duration
	segBytes int
	kept     int // the last media segment committed

	pending    uint64 // first frame not yet written
	pendingPTS time.Duration
	lastDur    time.Duration
	lastEnd    time.Time
}

// New returns a recorder. Its pre-roll buffer is allocated (and locked) now;
// Close releases it.
func New(cfg Config, store Store, log *slog.Logger) (*Recorder, error) {
	switch {
	case cfg.PreRoll < 0, cfg.PostRoll <= 0, cfg.Segment <= 0, cfg.MaxClip <= 0:
		return nil, fmt.Errorf("record: invalid timing %+v", cfg)
	case cfg.Buffer < 64<<10:
		return nil, fmt.Errorf("record: buffer of %d bytes is too small (valid: at least 64 KiB)", cfg.Buffer)
	}
	buf, locked, release := newArena(cfg.Buffer)
	if locked {
		log.Debug("pre-roll buffer locked in RAM", "bytes", cfg.Buffer)
	} else {
		log.Warn("pre-roll buffer could not be locked in RAM; plaintext video could reach swap (raise LimitMEMLOCK)", "bytes", cfg.Buffer)
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	return &Recorder{
		cfg:     cfg,
		store:   store,
		log:     log,
		clk:     clk,
		events:  make(chan capture.Event, 16),
		camera:  cfg.Events.Subscribe("recorder", 8, events.CameraStalled, events.CameraBack),
		ring:    newRing(buf),
		release: release,
	}, nil
}

// Trigger queues a sensor event. It never blocks: events that arrive while
// the queue is full are dropped, which is harmless since a queued event
// already extends the recording.
func (r *Recorder) Trigger(ev capture.Event) {
	select {
	case r.events <- ev:
	default:
	}
}

// Recording reports whether a clip is being written.
func (r *Recorder) Recording() bool { return r.recording.Load() }

// ClipsStarted reports how many clips were started since New.
func (r *Recorder) ClipsStarted() uint64 { return r.clips.Load() }

// Run records from frames until ctx is done or frames is closed, then closes
// the clip in progress at the last frame received (no post-roll) and returns.
func (r *Recorder) Run(ctx context.Context, frames <-chan capture.Frame) error {
	defer r.finish()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-r.events:
			r.handleEvent(ev)
		case e := <-r.camera.C():
			r.handleCamera(e)
		case <-r.postRoll:
			r.postRollEnded()
		case f, ok := <-frames:
			if !ok {
				return nil
			}
			r.handleFrame(f)
		}
	}
}

// Close wipes and releases the pre-roll buffer. Call it after Run returned.
func (r *Recorder) Close() {
	r.camera.Close()
	if r.release != nil {
		r.release()
		r.release = nil
	}
}

func (r *Recorder) finish() {
	if r.clip != nil {
		r.endClip(nil)
	}
}

func (r *Recorder) handleEvent(ev capture.Event) {
	deadline := ev.Time.Add(r.cfg.PostRoll)
	if r.stalled {
		r.eventInStall(ev, deadline)
		return
	}
	if c := r.clip; c != nil {
		if deadline.After(c.deadline) {
			c.deadline = deadline
		}
		return
	}
	// Start at the oldest usable keyframe: the ring is trimmed so that it is
	// the one at or before the pre-roll.
	for i := 0; i < r.ring.len(); i++ {
		e := r.ring.at(i)
		if e.key && e.params != nil {
			if r.startClip(e, string(ev.Kind), deadline) {
				r.replayFrom(e.seq + 1)
			}
			return
		}
	}
	r.log.Info("event before the first usable keyframe; recording starts at the next one", "event", ev.Kind)
	r.arm(ev, deadline)
}

// arm makes the next usable keyframe before deadline start a clip.
func (r *Recorder) arm(ev capture.Event, deadline time.Time) {
	if deadline.After(r.armed) {
		r.armed, r.armedBy = deadline, string(ev.Kind)
	}
}

// handleCamera follows the Hub's word on the camera.
func (r *Recorder) handleCamera(e events.Event) {
	switch e.Kind {
	case events.CameraStalled:
		if r.stalled {
			return
		}
		r.stalled, r.stallAt, r.stallFor, r.afterGap = true, e.Time, e.Note, true
		if c := r.clip; c != nil {
			if c.seg != nil {
				r.hold()
			}
			if r.clip != nil {
				r.log.Warn("camera stalled: the clip keeps what it has, and goes on if the camera is back within its post-roll",
					"clip", r.clip.id, "post_roll_ends", r.clip.deadline)
				r.timePostRoll()
			}
		}
	case events.CameraBack:
		r.stalled, r.postRoll = false, nil
	}
}

// hold writes what the clip in progress has pending and commits its
// segment; the clip goes on at a keyframe (resume).
func (r *Recorder) hold() {
	r.flush(nil)
	c := r.clip
	if c == nil || c.seg == nil {
		return
	}
	if c.segBytes == 0 {
		c.seg.Abort()
		c.seg = nil
		c.segSeq-- // reused by the next segment
		return
	}
	r.commitSegment()
}

// timePostRoll arms the timer for the end of a stalled clip's post-roll.
func (r *Recorder) timePostRoll() {
	r.postRoll = r.clk.After(max(r.clip.deadline.Sub(r.clk.Now()), 0))
}

// postRollEnded closes a clip whose post-roll ended while the camera was
// stalled, at the last frame it has.
func (r *Recorder) postRollEnded() {
	r.postRoll = nil
	c := r.clip
	if c == nil || c.seg != nil {
		return
	}
	if r.clk.Now().Before(c.deadline) { // an event extended it
		r.timePostRoll()
		return
	}
	r.log.Info("post-roll ended while the camera was stalled", "clip", c.id)
	r.endClip(nil)
}

// eventInStall notes an event the camera could not see and makes the clip
// go on, or start, at the first keyframe after the stall.
func (r *Recorder) eventInStall(ev capture.Event, deadline time.Time) {
	note := "camera stalled (" + r.stallFor + " when it was noticed): no video of this moment; " +
		"recording resumes with the camera's first frame if it is back within the post-roll"
	r.log.Warn("event while the camera is stalled: noted without video", "event", ev.Kind)
	if err := r.store.NoteEvent(ev.Time, string(ev.Kind), note); err != nil {
		r.log.Error("cannot note the event", "event", ev.Kind, "err", err)
	}
	if c := r.clip; c != nil {
		if deadline.After(c.deadline) {
			c.deadline = deadline
			if c.seg == nil {
				r.timePostRoll()
			}
		}
		return
	}
	r.arm(ev, deadline)
}

// gap handles the first frame from after a stall: frames from before it
// are dropped from the ring (a clip never reaches back across the gap),
// after the clip in progress, if any, wrote what it has.
func (r *Recorder) gap() {
	r.afterGap, r.stalled, r.postRoll = false, false, nil
	if c := r.clip; c != nil && c.seg != nil {
		r.hold()
	}
	for r.ring.len() > 0 {
		r.ring.dropOldest()
	}
}

// replayFrom runs the recording logic over frames already in the ring.
func (r *Recorder) replayFrom(seq uint64) {
	for ; r.clip != nil; seq++ {
		e, ok := r.ring.bySeq(seq)
		if !ok {
			return
		}
		r.recordFrame(e)
	}
}

func (r *Recorder) handleFrame(f capture.Frame) {
	if r.afterGap && !f.Time.Before(r.stallAt) {
		r.gap()
	}
	size, key := r.scan(f)
	if size == 0 {
		return // parameter sets or delimiters only
	}
	if r.ring.len() == 0 && !key {
		return // nothing decodable until the first keyframe
	}
	off, ok := r.makeRoom(size)
	if !ok {
		r.log.Error("access unit larger than the pre-roll buffer; dropped", "bytes", size, "buffer", len(r.ring.buf))
		return
	}
	writeAVCC(r.ring.buf[off:off+size], r.nalus)
	e := r.ring.push(entry{off: off, size: size, pts: f.PTS, time: f.Time, key: key, params: r.params})
	if !e.key {
		e.params = nil
	}

	if r.clip == nil && !r.armed.IsZero() && e.key && e.params != nil {
		deadline := r.armed
		r.armed = time.Time{}
		if f.Time.Before(deadline) {
			r.startClip(e, r.armedBy, deadline)
		}
	} else if r.clip != nil {
		r.recordFrame(e)
	}
	r.trim()
}

// recordFrame advances the clip in progress by one frame, e, which is
// already in the ring.
func (r *Recorder) recordFrame(e *entry) {
	c := r.clip
	if c.seg == nil {
		r.resume(e)
		return
	}
	if c.pending == e.seq {
		return // e opened the clip
	}
	if !e.time.Before(c.deadline) {
		r.endClip(e)
		return
	}
	if !e.key {
		if e.pts-c.pendingPTS >= maxFragment {
			r.flush(e)
		}
		return
	}
	r.flush(e)
	if r.clip == nil {
		return
	}
	switch {
	case !e.params.Equal(c.params) || e.time.Sub(c.start) >= r.cfg.MaxClip:
		trigger, deadline := c.trigger, c.deadline
		r.endClip(e)
		if e.params != nil {
			r.startClip(e, trigger, deadline)
		}
	case e.pts-c.segPTS >= r.cfg.Segment:
		r.nextSegment(e)
	}
}

// resume continues a clip held at a stall with e, the first frame from
// after it, or the next: a keyframe within the post-roll opens a new
// segment; frames before it are not recorded.
func (r *Recorder) resume(e *entry) {
	c := r.clip
	switch {
	case !e.time.Before(c.deadline):
		r.log.Info("the camera came back after the clip's post-roll; clip closed", "clip", c.id)
		r.endClip(e)
	case !e.key || e.params == nil:
		c.pending = e.seq + 1 // not decodable from here: skipped
	case !e.params.Equal(c.params) || e.time.Sub(c.start) >= r.cfg.MaxClip:
		trigger, deadline := c.trigger, c.deadline
		r.endClip(e)
		r.startClip(e, trigger, deadline)
	default:
		r.log.Info("camera back: the clip goes on", "clip", c.id, "segment", c.segSeq+1)
		r.openSegment(e)
	}
}

func (r *Recorder) startClip(e *entry, trigger string, deadline time.Time) bool {
	id, err := r.store.BeginClip(e.time, trigger)
	if err != nil {
		r.log.Error("cannot start clip", "err", err)
		return false
	}
	c := &clip{id: id, trigger: trigger, params: e.params, start: e.time, startPTS: e.pts, deadline: deadline, lastDur: time.Second / 30}
	init, err := r.store.CreatePiece(id, 0)
	if err == nil {
		if err = mux.WriteInit(init, c.params); err == nil {
			err = init.Commit(e.time, e.time)
		} else {
			init.Abort()
		}
	}
	if err != nil {
		r.log.Error("cannot write init segment", "clip", id, "err", err)
		return false
	}
	r.clip = c
	r.recording.Store(true)
	r.clips.Add(1)
	r.log.Info("recording", "clip", id, "trigger", trigger, "preroll", deadline.Sub(e.time)-r.cfg.PostRoll)
	r.cfg.Events.Publish(events.Event{Kind: events.ClipStarted, Time: e.time, Clip: id, Trigger: trigger})
	return r.openSegment(e)
}

func (r *Recorder) openSegment(e *entry) bool {
	c := r.clip
	c.segSeq++
	seg, err := r.store.CreatePiece(c.id, c.segSeq)
	if err != nil {
		r.fail(fmt.Errorf("opening segment %d: %w", c.segSeq, err))
		return false
	}
	c.seg, c.segStart, c.segPTS, c.segBytes = seg, e.time, e.pts, 0
	c.pending, c.pendingPTS = e.seq, e.pts
	return true
}

func (r *Recorder) nextSegment(e *entry) {
	if r.commitSegment() {
		r.openSegment(e)
	}
}

func (r *Recorder) commitSegment() bool {
	c := r.clip
	seg := c.seg
	if seg == nil {
		return true // held at a stall: committed then
	}
	c.seg = nil
	if c.segBytes == 0 {
		seg.Abort()
		return true
	}
	if err := seg.Commit(c.segStart, c.lastEnd); err != nil {
		r.fail(fmt.Errorf("committing segment %d: %w", c.segSeq, err))
		return false
	}
	c.kept = c.segSeq
	return true
}

// endClip writes the frames before next (all pending frames when next is
// nil) and closes the clip.
func (r *Recorder) endClip(next *entry) {
	r.flush(next)
	c := r.clip
	if c == nil {
		return
	}
	ok := r.commitSegment()
	r.clip = nil
	r.recording.Store(false)
	if err := r.store.EndClip(c.id); err != nil {
		r.log.Error("cannot close clip", "clip", c.id, "err", err)
	}
	if ok {
		r.log.Info("clip closed", "clip", c.id, "duration", c.lastEnd.Sub(c.start).Round(time.Millisecond), "segments", c.kept)
		r.closed(c, "")
	}
}

func (r *Recorder) fail(err error) {
	c := r.clip
	r.log.Error("recording failed; clip closed", "clip", c.id, "err", err)
	if c.seg != nil {
		c.seg.Abort()
	}
	r.clip = nil
	r.recording.Store(false)
	_ = r.store.EndClip(c.id)
	r.closed(c, "recording failed: "+err.Error())
}

// closed publishes clip-closed for c. Segment is the last media segment
// kept; 0 means the clip had none and the store discarded it.
func (r *Recorder) closed(c *clip, note string) {
	if c.kept == 0 && note == "" {
		note = "no complete segment: discarded"
	}
	r.cfg.Events.Publish(events.Event{Kind: events.ClipClosed, Time: c.lastEnd, Clip: c.id, Segment: c.kept, Trigger: c.trigger, Note: note})
}

// flush writes the pending frames before next (or all of them when next is
// nil) as one fragment of the current segment.
func (r *Recorder) flush(next *entry) {
	c := r.clip
	if c == nil || c.seg == nil {
		return
	}
	end := r.ring.nextSeq
	if next != nil {
		end = next.seq
	}
	if end <= c.pending {
		return
	}
	r.samples = r.samples[:0]
	base := ticks(c.pendingPTS - c.startPTS)
	prev := base
	total := 0
	var last *entry
	for seq := c.pending; seq < end; seq++ {
		e, _ := r.ring.bySeq(seq)
		if last != nil {
			t := ticks(e.pts - c.startPTS)
			r.samples[len(r.samples)-1].Duration = uint32(t - prev)
			c.lastDur = e.pts - last.pts
			prev = t
		}
		r.samples = append(r.samples, mux.Sample{Size: uint32(e.size), Key: e.key})
		total += e.size
		last = e
	}
	endPTS := last.pts + c.lastDur
	if next != nil && next.pts > last.pts {
		endPTS = next.pts
	}
	r.samples[len(r.samples)-1].Duration = uint32(ticks(endPTS-c.startPTS) - prev)
	if err := c.fw.WriteFragment(c.seg, base, r.samples, r.ring.runs(c.pending, end, &r.runs)...); err != nil {
		r.fail(fmt.Errorf("writing fragment: %w", err))
		return
	}
	c.segBytes += total
	c.lastEnd = last.time.Add(endPTS - last.pts)
	c.pending, c.pendingPTS = end, endPTS
}

// ticks converts a duration to the 90 kHz media timescale.
func ticks(d time.Duration) uint64 {
	if d < 0 {
		return 0
	}
	return uint64(d) * mux.Timescale / uint64(time.Second)
}

// makeRoom reserves size bytes in the ring, evicting the oldest footage that
// is not waiting to be written.
func (r *Recorder) makeRoom(size int) (int, bool) {
	for {
		if off, ok := r.ring.reserve(size); ok {
			return off, true
		}
		if r.ring.len() == 0 {
			return 0, false
		}
		if c := r.clip; c != nil && r.ring.at(0).seq >= c.pending {
			r.flush(nil) // write out what is pending so it can be evicted
			if r.clip == nil {
				continue
			}
		}
		if !r.warnedBuffer {
			r.warnedBuffer = true
			r.log.Warn("pre-roll buffer is too small for this stream; pre-roll shortened (raise recording.buffer)", "bytes", len(r.ring.buf))
		}
		r.dropGOP()
	}
}

// dropGOP evicts the oldest frame and everything up to the next keyframe.
func (r *Recorder) dropGOP() {
	r.ring.dropOldest()
	for r.ring.len() > 0 && !r.ring.at(0).key {
		if c := r.clip; c != nil && r.ring.at(0).seq >= c.pending {
			return
		}
		r.ring.dropOldest()
	}
}

// trim drops frames older than the pre-roll, keeping the ring starting at the
// latest keyframe at or before newest-PreRoll, and never dropping frames the
// clip in progress has not written yet.
func (r *Recorder) trim() {
	if r.ring.len() == 0 {
		return
	}
	cutoff := r.ring.newest().time.Add(-r.cfg.PreRoll)
	keep := -1
	for i := 0; i < r.ring.len(); i++ {
		e := r.ring.at(i)
		if e.time.After(cutoff) {
			break
		}
		if e.key {
			keep = i
		}
	}
	if c := r.clip; c != nil {
		if p := int(c.pending - r.ring.at(0).seq); p < keep {
			keep = p
		}
	}
	for ; keep > 0; keep-- {
		r.ring.dropOldest()
	}
}

// scan notes the parameter sets f carries and returns the size of its AVCC
// form (without SPS, PPS and access unit delimiters, which the init segment
// and sample boundaries replace) and whether it holds an IDR slice.
func (r *Recorder) scan(f capture.Frame) (size int, key bool) {
	var sps, pps []byte
	r.nalus = r.nalus[:0]
	for b := f.Data; ; {
		nalu, rest, ok := capture.NextNALU(b)
		if !ok {
			break
		}
		b = rest
		switch capture.NALType(nalu) {
		case capture.NALSPS:
			sps = nalu
		case capture.NALPPS:
			pps = nalu
		case capture.NALAUD:
		case capture.NALIDR:
			key = true
			size += 4 + len(nalu)
			r.nalus = append(r.nalus, nalu)
		default:
			size += 4 + len(nalu)
			r.nalus = append(r.nalus, nalu)
		}
	}
	if (sps != nil && string(sps) != string(r.sps)) || (pps != nil && string(pps) != string(r.pps)) {
		if sps != nil {
			r.sps = append(r.sps[:0:0], sps...)
		}
		if pps != nil {
			r.pps = append(r.pps[:0:0], pps...)
		}
		r.params = nil
		if r.sps != nil && r.pps != nil {
			p, err := mux.ParseParams(r.sps, r.pps)
			if err != nil {
				r.log.Error("camera sent invalid parameter sets; not recording until valid ones arrive", "err", err)
			} else {
				r.params = p
				r.log.Info("stream parameters", "width", p.Width, "height", p.Height, "profile", p.Profile, "level", p.Level)
			}
		}
	}
	return size, key
}

// writeAVCC writes NAL units (those scan kept: not SPS, PPS or AUD) with
// 4-byte length prefixes into dst, which scan sized.
func writeAVCC(dst []byte, nalus [][]byte) {
	n := 0
	for _, nalu := range nalus {
		l := len(nalu)
		dst[n], dst[n+1], dst[n+2], dst[n+3] = byte(l>>24), byte(l>>16), byte(l>>8), byte(l)
		n += 4 + copy(dst[n+4:], nalu)
	}
}
