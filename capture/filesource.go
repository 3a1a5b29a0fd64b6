package capture

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/doorward/doorward/device/clock"
)

// MaxFileFPS is the highest frame rate a FileSource plays at.
const MaxFileFPS = 240

var _ Source = (*FileSource)(nil)

// FileSource loops the access units of an H.264 Annex-B stream forever at a
// fixed frame rate: the sim board's camera, and a way to replay recorded
// camera output in tests.
//
// Frame n is due at start + n/fps, where start is the time of the first
// ReadFrame, so pacing does not drift however late the reader calls. A reader
// that falls behind gets the overdue frames back to back. PTS is n/fps and
// keeps growing across loops; every loop starts at the first access unit,
// which is a keyframe.
//
// Frame.Data points into the data given to NewFileSource: no copy is made.
// ReadFrame must not be called from several goroutines at once; Close may be
// called from any goroutine.
type FileSource struct {
	aus   []AccessUnit
	fps   float64
	clk   clock.Clock
	timer *time.Timer // reused for clock.Real, so steady state allocates nothing

	closeOnce sync.Once
	closed    chan struct{}

	// Owned by the goroutine calling ReadFrame.
	n     int64
	start time.Time
}

// NewFileSource returns a FileSource that plays data, an H.264 Annex-B
// stream (see SplitAccessUnits, whose errors it returns as they are), at fps
// frames per second, paced by clk. fps must be above 0 and at most
// MaxFileFPS. The first access unit must be a keyframe, so that every loop
// starts where a decoder can. data must not be modified afterwards.
func NewFileSource(data []byte, fps float64, clk clock.Clock) (*FileSource, error) {
	if !(fps > 0 && fps <= MaxFileFPS) {
		return nil, fmt.Errorf("capture: file source frame rate %v fps is out of range (valid: above 0 and at most %d)", fps, MaxFileFPS)
	}
	if clk == nil {
		return nil, fmt.Errorf("capture: file source has no clock (pass clock.Real{})")
	}
	aus, err := SplitAccessUnits(data)
	if err != nil {
		return nil, err
	}
	if !aus[0].Key {
		first := 0
		for first < len(aus) && !aus[first].Key {
			first++
		}
		return nil, fmt.Errorf("capture: file source must start with a keyframe, but the first IDR picture is access unit %d; "+
			"re-encode it to start with one, e.g. ffmpeg -i in.h264 -an -c:v libx264 -bsf:v h264_mp4toannexb -f h264 out.h264", first)
	}
	return &FileSource{aus: aus, fps: fps, clk: clk, closed: make(chan struct{})}, nil
}

// OpenFileSource reads the H.264 Annex-B file at path and returns a
// FileSource that loops it (see NewFileSource). Errors name the file.
func OpenFileSource(path string, fps float64, clk clock.Clock) (*FileSource, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("capture: file source: %w", err)
	}
	s, err := NewFileSource(data, fps, clk)
	if err != nil {
		return nil, &pathError{path: path, err: err}
	}
	return s, nil
}

// pathError puts a file name into a capture error: "capture: <path>: ...".
type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string {
	return "capture: " + e.path + ": " + strings.TrimPrefix(e.err.Error(), "capture: ")
}

func (e *pathError) Unwrap() error { return e.err }

// AccessUnits returns how many access units one loop of the stream holds.
func (s *FileSource) AccessUnits() int { return len(s.aus) }

// pts is the presentation time of frame n.
func (s *FileSource) pts(n int64) time.Duration {
	return time.Duration(math.Round(float64(n) * float64(time.Second) / s.fps))
}

// ReadFrame waits until the next frame is due and returns it. It returns
// ctx.Err() when ctx is done first, and ErrSourceClosed once Close has been
// called (also when Close interrupts the wait).
func (s *FileSource) ReadFrame(ctx context.Context) (Frame, error) {
	select {
	case <-s.closed:
		return Frame{}, ErrSourceClosed
	case <-ctx.Done():
		return Frame{}, ctx.Err()
	default:
	}
	if s.n == 0 {
		s.start = s.clk.Now()
	}
	pts := s.pts(s.n)
	if wait := s.start.Add(pts).Sub(s.clk.Now()); wait > 0 {
		select {
		case <-s.after(wait):
		case <-s.closed:
			return Frame{}, ErrSourceClosed
		case <-ctx.Done():
			return Frame{}, ctx.Err()
		}
	}
	au := s.aus[s.n%int64(len(s.aus))]
	s.n++
	return Frame{Data: au.Data, PTS: pts, Time: s.clk.Now(), Key: au.Key}, nil
}

// after is s.clk.After(d), with one reusable timer for the real clock.
func (s *FileSource) after(d time.Duration) <-chan time.Time {
	if _, ok := s.clk.(clock.Real); !ok {
		return s.clk.After(d)
	}
	if s.timer == nil {
		s.timer = time.NewTimer(d)
	} else {
		s.timer.Reset(d) // since Go 1.23 no stale value can be received after Reset
	}
	return s.timer.C
}

// Close stops the source: a blocked ReadFrame returns ErrSourceClosed, as do
// all later calls. Close is safe to call more than once and from any
// goroutine.
func (s *FileSource) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}
