// Package capture turns a camera into a stream of H.264 access units and
// fans them out to the consumers that need them (the recorder, and later live
// viewers) without copying per consumer.
//
// A Source yields Frames: one Annex-B access unit each, with its presentation
// time and a keyframe flag. The Hub reads one Source and hands every Frame to
// each subscriber; a subscriber that falls behind skips ahead to the next
// keyframe instead of stalling the others. Sub-packages hold the recorder
// (record), the fragmented-MP4 muxer (mux) and the encrypted clip store
// (vault).
package capture

import (
	"context"
	"errors"
	"time"
)

// Frame is one H.264 access unit.
//
// Data holds the access unit in Annex-B form (start-code delimited NAL units)
// and must not be modified once the Frame has been published: the Hub hands
// the same slice to every subscriber.
type Frame struct {
	Data []byte
	// PTS is the presentation time relative to the source's first frame.
	// It never goes backwards, also when a file source loops.
	PTS time.Duration
	// Time is the wall-clock time at which the frame was captured.
	Time time.Time
	// Key is true for an IDR access unit, where decoding can start.
	Key bool
}

// Source yields access units from a camera, a child process or a file.
type Source interface {
	// ReadFrame blocks until the next access unit is available, ctx is done
	// or the source fails. It returns ErrSourceClosed after Close.
	ReadFrame(ctx context.Context) (Frame, error)
	// Close releases the device or process behind the source.
	Close() error
}

// ErrSourceClosed is returned by ReadFrame after Close.
var ErrSourceClosed = errors.New("capture: source closed")

// EventKind names what a sensor saw.
type EventKind string

// The events that start or extend a recording.
const (
	Motion EventKind = "motion"
	Ring   EventKind = "ring"
)

// Event is a sensor reading that should be recorded.
type Event struct {
	Kind EventKind
	Time time.Time
}

// ParseEventKind returns the event kind named s, or an error naming the valid
// kinds.
func ParseEventKind(s string) (EventKind, error) {
	switch EventKind(s) {
	case Motion, Ring:
		return EventKind(s), nil
	}
	return "", errors.New(`capture: unknown event "` + s + `" (valid: motion, ring)`)
}
