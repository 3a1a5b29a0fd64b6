package capture

import (
	"bytes"
	"context"
	"sync"
	"time"
)

// Feed hands access units from a live source's own goroutine (a camera, a
// child process) to ReadFrame. It stamps them with a PTS that never goes
// backwards, carries the one error that ends the source, and closes once.
// The v4l2 and exec sources embed one.
type Feed struct {
	frames chan Frame
	fatal  chan error
	closed chan struct{}
	once   sync.Once

	// Owned by the one goroutine that calls Put.
	first   time.Time
	lastPTS time.Duration
	started bool
}

// NewFeed returns a feed that holds up to buffer frames.
func NewFeed(buffer int) *Feed {
	return &Feed{frames: make(chan Frame, buffer), fatal: make(chan error, 1), closed: make(chan struct{})}
}

// Put copies an access unit that was complete at now into a Frame and waits
// for ReadFrame to have room for it; it returns false once the feed is
// closed. PTS counts from the first frame and strictly increases: arrival
// times can stall (several access units in one read) or step back (a clock
// change), so a frame is never stamped before the previous one.
func (f *Feed) Put(data []byte, key bool, now time.Time) bool {
	var pts time.Duration
	if !f.started {
		f.first, f.started = now, true
	} else {
		pts = max(now.Sub(f.first), f.lastPTS+time.Millisecond)
	}
	f.lastPTS = pts
	fr := Frame{Data: bytes.Clone(data), PTS: pts, Time: now, Key: key}
	select {
	case f.frames <- fr:
		return true
	case <-f.closed:
		return false
	}
}

// Fail ends the source: ReadFrame returns err from now on. Only the first
// error is kept.
func (f *Feed) Fail(err error) {
	select {
	case f.fatal <- err:
	default:
	}
}

// Close closes the feed; it may be called more than once.
func (f *Feed) Close() { f.once.Do(func() { close(f.closed) }) }

// Closed is closed by Close.
func (f *Feed) Closed() <-chan struct{} { return f.closed }

// ReadFrame returns the next frame. It returns ctx.Err() when ctx is done,
// ErrSourceClosed after Close, and the error given to Fail.
func (f *Feed) ReadFrame(ctx context.Context) (Frame, error) {
	select {
	case <-f.closed:
		return Frame{}, ErrSourceClosed
	default:
	}
	select {
	case fr := <-f.frames:
		return fr, nil
	case err := <-f.fatal:
		f.fatal <- err // keep it for the next call
		return Frame{}, err
	case <-f.closed:
		return Frame{}, ErrSourceClosed
	case <-ctx.Done():
		return Frame{}, ctx.Err()
	}
}
