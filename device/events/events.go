// Package events is the agent's bus of typed events: motion and ring,
// clips and segments, consent decisions, notices, disclosure job states,
// recording and clock state, camera stalls. Publishers (the recorder, the
// vault, the gate, the sensors, the camera watchdog) never block: every
// subscriber has a bounded queue, and an event that does not fit is dropped
// for that subscriber alone and counted. A slow LED, uplink or viewer can
// therefore never hold up recording.
//
// Events carry metadata only, never media. An event about a disclosure
// whose owner notice is still delayed carries no more than the audit log's
// commitment shows: the publisher leaves Authority and Recipient empty.
package events

import (
	"sync"
	"sync/atomic"
	"time"
)

// Kind names what happened.
type Kind string

// The kinds of event.
const (
	Motion           Kind = "motion"            // the PIR (or a sim trigger) saw motion
	Ring             Kind = "ring"              // the doorbell button was pressed
	ClipStarted      Kind = "clip-started"      // Clip, Trigger
	SegmentCommitted Kind = "segment-committed" // Clip, Segment, Bytes: the piece is durable and indexed
	ClipClosed       Kind = "clip-closed"       // Clip, Segment (the last one)
	Decision         Kind = "decision"          // Decision, Outcome, Authority (empty while a notice is delayed)
	NoticeReleased   Kind = "notice-released"   // Notice
	JobState         Kind = "job-state"         // Job, State, Authority (empty while delayed), Note
	RecordingStopped Kind = "recording-stopped" // Note says why (legal holds fill the store, unpaired)
	RecordingResumed Kind = "recording-resumed"
	ClockState       Kind = "clock"          // Synced; Note says why
	CameraStalled    Kind = "camera-stalled" // Note: how long since the last frame
	CameraBack       Kind = "camera-back"
)

// Event is one thing that happened. The fields a kind does not use are
// zero. It is a value: subscribers may keep it.
type Event struct {
	Kind Kind      `json:"kind"`
	Time time.Time `json:"time"`

	Clip    string `json:"clip,omitempty"`
	Segment int    `json:"segment,omitempty"`
	Bytes   int64  `json:"bytes,omitempty"`
	Trigger string `json:"trigger,omitempty"` // motion | ring

	// Decision is the decision's kind (grant, revoke, legal, policy,
	// enroll, reset, backup, live, pairing); Outcome is "accepted" or a
	// consent reason code.
	Decision  string `json:"decision,omitempty"`
	Outcome   string `json:"outcome,omitempty"`
	Authority string `json:"authority,omitempty"` // "grant:<jti>", "legal:<jti>", an owner kid

	Job    string `json:"job,omitempty"`
	State  string `json:"state,omitempty"` // pending | running | delivered | failed
	Notice uint64 `json:"notice,omitempty"`

	Synced bool   `json:"synced,omitempty"`
	Note   string `json:"note,omitempty"`
}

// Bus fans events out to subscribers. The zero value is not usable; a nil
// *Bus accepts and drops everything, so components work without one.
type Bus struct {
	mu   sync.RWMutex
	subs map[*Sub]struct{}
}

// New returns an empty bus.
func New() *Bus { return &Bus{subs: map[*Sub]struct{}{}} }

// Publish hands e to every subscriber that wants its kind, without ever
// blocking: a full queue drops e for that subscriber and counts the loss.
func (b *Bus) Publish(e Event) {
	if b == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.subs {
		if !s.wants(e.Kind) {
			continue
		}
		select {
		case s.c <- e:
		default:
			s.dropped.Add(1)
		}
	}
}

// Subscribe returns a subscription with a queue of size events (at least
// 1) that receives the given kinds, or every kind when none are given.
// Name identifies it in Stats.
func (b *Bus) Subscribe(name string, size int, kinds ...Kind) *Sub {
	if size < 1 {
		size = 1
	}
	s := &Sub{name: name, bus: b, c: make(chan Event, size)}
	if len(kinds) > 0 {
		s.kinds = map[Kind]bool{}
		for _, k := range kinds {
			s.kinds[k] = true
		}
	}
	if b == nil {
		return s
	}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Stats are one subscriber's counters.
type Stats struct {
	Name    string `json:"name"`
	Queued  int    `json:"queued"`
	Dropped uint64 `json:"dropped"`
}

// Stats returns every live subscriber's counters.
func (b *Bus) Stats() []Stats {
	if b == nil {
		return nil
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]Stats, 0, len(b.subs))
	for s := range b.subs {
		out = append(out, Stats{Name: s.name, Queued: len(s.c), Dropped: s.dropped.Load()})
	}
	return out
}

// Sub is one subscriber's queue.
type Sub struct {
	name    string
	bus     *Bus
	c       chan Event
	kinds   map[Kind]bool // nil: every kind
	dropped atomic.Uint64
	once    sync.Once
}

func (s *Sub) wants(k Kind) bool { return s.kinds == nil || s.kinds[k] }

// C delivers the events; it is closed by Close.
func (s *Sub) C() <-chan Event { return s.c }

// Dropped counts the events this subscriber lost to a full queue.
func (s *Sub) Dropped() uint64 { return s.dropped.Load() }

// Close unsubscribes and closes C. It is safe to call more than once.
func (s *Sub) Close() {
	s.once.Do(func() {
		if s.bus != nil {
			s.bus.mu.Lock()
			delete(s.bus.subs, s)
			s.bus.mu.Unlock()
		}
		close(s.c)
	})
}
