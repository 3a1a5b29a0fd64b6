package capture

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/doorward/doorward/device/clock"
	"github.com/doorward/doorward/device/events"
)

// Hub reads one Source and fans its frames out to any number of
// subscribers (the recorder, live viewers) without copying: every
// subscriber receives the same Frame, whose Data nobody may modify.
//
// The Hub never waits for a subscriber. When a subscriber's buffer is full,
// the frame is dropped for that subscriber alone, and so is every following
// frame until the next keyframe, so that the subscriber resumes where a
// decoder can. Each subscription also starts at a keyframe.
//
// Publishing a frame takes no allocation: the subscriber list is a
// copy-on-write slice behind an atomic pointer, and Frames travel by value
// through each subscriber's channel.
//
// The Hub is also the one stall watchdog for every source (see
// StallTimeout): a camera that stays open but sends nothing is reported and,
// when the source can, restarted.
type Hub struct {
	// Events receives camera-stalled and camera-back (nil: no events).
	Events *events.Bus
	// StallTimeout is how long without a frame counts as a stalled camera
	// (DefaultStallTimeout when 0; see StallTimeoutFor).
	StallTimeout time.Duration
	// Clock paces the stall watchdog (clock.Real when nil).
	Clock clock.Clock
	// Set the fields above before Run.

	log     *slog.Logger
	running atomic.Bool
	dropped atomic.Uint64
	frames  atomic.Uint64 // frames read: the watchdog's sign of life
	bytes   atomic.Uint64 // their size (status: the measured bitrate)
	stalled atomic.Bool   // written under stallMu
	stalls  atomic.Uint64

	stallMu   sync.Mutex // orders camera-stalled before camera-back
	stalledAt time.Time  // under stallMu: about when the last frame came

	mu     sync.Mutex // serialises changes to subs
	nextID uint64     // under mu
	subs   atomic.Pointer[[]*Subscription]

	gop gopCache // the current GOP and parameter sets, for late subscribers (hubgop.go)
}

// NewHub returns a Hub that logs to log (nil discards the logs).
func NewHub(log *slog.Logger) *Hub {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{log: log}
}

// Run reads frames from src and hands each to every subscriber until ctx is
// done (it then returns nil) or src fails (it returns src's error, for
// example ErrSourceClosed). Run does not close src. Only one Run may be
// active at a time; a Hub may be run again, with the same or a new source,
// after Run returns, and its subscriptions carry over (each resumes at the
// new run's first keyframe).
//
// While Run reads, the stall watchdog checks that frames keep coming (see
// Restarter).
func (h *Hub) Run(ctx context.Context, src Source) error {
	if !h.running.CompareAndSwap(false, true) {
		return errors.New("capture: hub is already running (one Run at a time)")
	}
	defer h.running.Store(false)
	h.resetGOP()
	if p := h.subs.Load(); p != nil {
		for _, s := range *p {
			s.restart()
		}
	}
	wctx, stop := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		h.watch(wctx, src, StallTimeoutFor(h.StallTimeout, 0))
	}()
	defer func() {
		stop()
		<-watched
		h.stallMu.Lock()
		h.stalled.Store(false) // the next Run starts afresh
		h.stallMu.Unlock()
	}()
	for {
		f, err := src.ReadFrame(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		h.frames.Add(1)
		h.bytes.Add(uint64(len(f.Data)))
		if h.stalled.Load() {
			h.back()
		}
		h.publish(f)
	}
}

// publish hands f to every current subscriber without blocking.
func (h *Hub) publish(f Frame) {
	p := h.keep(f)
	if p == nil {
		return
	}
	for _, s := range *p {
		s.deliver(f)
	}
}

// Frames returns how many frames Run has read from its sources.
func (h *Hub) Frames() uint64 { return h.frames.Load() }

// Bytes returns the size of every frame Run has read.
func (h *Hub) Bytes() uint64 { return h.bytes.Load() }

// Dropped returns how many frames have been dropped for subscribers that
// fell behind, over all subscriptions (frames a new subscription skips
// while it waits for its first keyframe are not counted).
func (h *Hub) Dropped() uint64 { return h.dropped.Load() }

// Subscribe registers a subscriber whose channel buffers up to buffer frames
// (at least 1). Its first frame is a keyframe. Call Close when done.
func (h *Hub) Subscribe(buffer int) *Subscription {
	s := &Subscription{hub: h, ch: make(chan Frame, max(buffer, 1))}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextID++
	s.id = h.nextID
	var old []*Subscription
	if p := h.subs.Load(); p != nil {
		old = *p
	}
	subs := append(slices.Clip(old), s)
	h.subs.Store(&subs)
	return s
}

// remove takes s out of the subscriber list.
func (h *Hub) remove(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.subs.Load()
	if p == nil {
		return
	}
	subs := slices.DeleteFunc(slices.Clone(*p), func(x *Subscription) bool { return x == s })
	h.subs.Store(&subs)
}

// Subscription state, under Subscription.mu.
const (
	waitKey  = iota // new or restarted: wait for a keyframe, not counted as drops
	live            // delivering every frame
	skipping        // fell behind: dropping (and counting) until a keyframe fits
)

// Subscription is one subscriber's view of a Hub.
type Subscription struct {
	hub     *Hub
	id      uint64
	ch      chan Frame
	dropped atomic.Uint64

	mu     sync.Mutex // held by the Hub for one non-blocking send at a time
	state  int
	closed bool

	closeOnce sync.Once
}

// C returns the channel that delivers frames. It is closed by Close.
func (s *Subscription) C() <-chan Frame { return s.ch }

// Dropped returns how many frames this subscriber missed by falling behind.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close unsubscribes and closes the channel returned by C; frames still
// buffered in it can be drained. It never waits for the Hub's Run for longer
// than one non-blocking send, and is safe to call more than once and from
// any goroutine.
func (s *Subscription) Close() {
	s.closeOnce.Do(func() {
		s.hub.remove(s)
		s.mu.Lock()
		s.closed = true
		close(s.ch)
		s.mu.Unlock()
	})
}

// restart makes s wait for a keyframe (a new run of the Hub).
func (s *Subscription) restart() {
	s.mu.Lock()
	s.state = waitKey
	s.mu.Unlock()
}

// deliver sends f to s unless s is closed, full, or waiting for a keyframe.
func (s *Subscription) deliver(f Frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.state != live && !f.Key {
		if s.state == skipping {
			s.drop()
		}
		return
	}
	select {
	case s.ch <- f:
		s.state = live
	default:
		if s.state == live && s.hub.log.Enabled(context.Background(), slog.LevelWarn) {
			s.hub.log.Warn("capture: subscriber fell behind, skipping to the next keyframe",
				"subscriber", s.id, "buffer", cap(s.ch), "dropped_before", s.dropped.Load())
		}
		if s.state != waitKey {
			s.state = skipping
			s.drop()
		}
	}
}

func (s *Subscription) drop() {
	s.dropped.Add(1)
	s.hub.dropped.Add(1)
}
