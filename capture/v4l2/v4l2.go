// Package v4l2 is the camera source for V4L2 devices that encode H.264
// themselves: many USB webcams, and the legacy Raspberry Pi camera stack
// (bcm2835-v4l2). It uses github.com/blackjack/webcam, which is pure Go
// (ioctls through golang.org/x/sys/unix), so it builds with CGO_ENABLED=0
// for linux/arm (GOARM 6 and 7) and arm64.
//
// The source negotiates H.264 at the supported size and frame rate nearest
// to the configured ones, cuts the driver's buffers into complete Annex-B
// access units (parameter sets in a buffer of their own join the next
// picture), flags keyframes from the NAL types, and reconnects with a capped
// exponential backoff when the device disappears, or when the capture.Hub's
// stall watchdog finds it silent (Restart), logging each change of state
// once. A camera without H.264 is refused with a message that shows
// the exec-source configuration that encodes its video instead.
//
// Frame.Time is the clock's time when the driver handed the buffer over:
// webcam v0.6.1 does not expose the driver's buffer timestamp (it drops the
// v4l2_buffer it dequeues). PTS counts from the first frame and strictly
// increases, also across reconnects.
package v4l2

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/blackjack/webcam"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/austream"
	"github.com/doorward/doorward/device/backoff"
	"github.com/doorward/doorward/device/clock"
)

var (
	_ capture.Source    = (*Source)(nil)
	_ capture.Restarter = (*Source)(nil)
)

// Device is the part of *webcam.Webcam the source uses; v4l2test fakes it.
type Device interface {
	GetSupportedFormats() map[webcam.PixelFormat]string
	GetSupportedFrameSizes(webcam.PixelFormat) []webcam.FrameSize
	GetSupportedFramerates(webcam.PixelFormat, uint32, uint32) []webcam.FrameRate
	SetImageFormat(f webcam.PixelFormat, width, height uint32) (webcam.PixelFormat, uint32, uint32, error)
	SetFramerate(fps float32) error
	StartStreaming() error
	// WaitForFrame waits up to timeout seconds; *webcam.Timeout when none.
	WaitForFrame(timeout uint32) error
	// GetFrame returns a driver buffer, to be given back with ReleaseFrame.
	GetFrame() ([]byte, uint32, error)
	ReleaseFrame(index uint32) error
	Close() error
}

// OpenWebcam opens a real V4L2 device.
func OpenWebcam(path string) (Device, error) {
	w, err := webcam.Open(path)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// Defaults for the zero fields of Config.
const (
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
	// BackoffJitter is the random fraction taken off each wait (see
	// device/backoff).
	BackoffJitter = 0.2
)

// Config describes the device and how to run it.
type Config struct {
	// Device is the V4L2 device path, e.g. /dev/video0.
	Device string
	// Want is the configured size and frame rate.
	Want Want
	Log  *slog.Logger
	// Clock stamps frames and paces reconnects.
	Clock clock.Clock
	// Open opens the device; OpenWebcam when nil.
	Open func(path string) (Device, error)
	// MinBackoff and MaxBackoff bound the wait between reconnect attempts.
	MinBackoff, MaxBackoff time.Duration
	// MaxAU limits one access unit (austream.DefaultMaxAU when 0).
	MaxAU int
}

// Source reads H.264 access units from a V4L2 device. ReadFrame must not be
// called from several goroutines at once; Close may be called from any.
type Source struct {
	cfg Config
	log *slog.Logger
	clk clock.Clock

	*capture.Feed // ReadFrame, and the hand-off to it
	done          chan struct{}
	restart       chan struct{} // Restart's request
	started       atomic.Uint64 // connections made

	// Owned by the run goroutine.
	split *austream.Splitter
}

// New opens the device, negotiates the mode and starts streaming. A device
// that cannot be opened yet is not an error: the source keeps trying with
// backoff (a camera plugged in later works). A camera that offers no H.264
// is an error (*NoH264Error).
func New(cfg Config) (*Source, error) {
	if cfg.Device == "" {
		return nil, errors.New("v4l2: camera.device is empty (valid: a V4L2 device such as /dev/video0)")
	}
	if cfg.Clock == nil {
		return nil, errors.New("v4l2: no clock (pass clock.Real{})")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Open == nil {
		cfg.Open = OpenWebcam
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	s := &Source{
		cfg: cfg, log: cfg.Log.With("source", "v4l2", "device", cfg.Device), clk: cfg.Clock,
		Feed:    capture.NewFeed(4),
		done:    make(chan struct{}),
		restart: make(chan struct{}, 1),
		split:   austream.New(cfg.MaxAU),
	}
	dev, err := s.connect()
	var noH264 *NoH264Error
	if errors.As(err, &noH264) {
		return nil, err
	}
	go s.run(dev, err)
	return s, nil
}

// Close stops streaming, closes the device and waits for the source's
// goroutine (at most about one second, the driver wait).
func (s *Source) Close() error {
	s.Feed.Close()
	<-s.done
	return nil
}

// Restart drops the device and reconnects with the backoff, as for a
// camera that was unplugged: the Hub calls it when no frame came for its
// stall timeout. A request while no device is open is dropped.
func (s *Source) Restart() {
	select {
	case s.restart <- struct{}{}:
	default:
	}
}

// Started counts the times the device was opened and started streaming.
func (s *Source) Started() uint64 { return s.started.Load() }

// errStalled ends a stream that the Hub found silent.
var errStalled = errors.New("no frame for the stall timeout (camera.stall_timeout)")

// connect opens the device, negotiates and starts streaming.
func (s *Source) connect() (Device, error) {
	dev, err := s.cfg.Open(s.cfg.Device)
	if err != nil {
		return nil, fmt.Errorf("v4l2: open %s: %w", s.cfg.Device, err)
	}
	m, err := Negotiate(dev, s.cfg.Device, s.cfg.Want)
	if err == nil {
		err = s.apply(dev, m)
	}
	if err != nil {
		dev.Close()
		return nil, err
	}
	return dev, nil
}

// apply sets the mode and starts streaming, logging what the driver chose.
func (s *Source) apply(dev Device, m Mode) error {
	f, w, h, err := dev.SetImageFormat(m.Format, m.Width, m.Height)
	if err != nil {
		return fmt.Errorf("v4l2: %s: set format %s: %w", s.cfg.Device, m, err)
	}
	if f != FormatH264 {
		return &NoH264Error{Device: s.cfg.Device, Formats: dev.GetSupportedFormats(), Want: s.cfg.Want}
	}
	m.Width, m.Height = w, h
	if m.FPS > 0 {
		if err := dev.SetFramerate(float32(m.FPS)); err != nil {
			return fmt.Errorf("v4l2: %s: set frame rate %g: %w", s.cfg.Device, m.FPS, err)
		}
	}
	if err := dev.StartStreaming(); err != nil {
		return fmt.Errorf("v4l2: %s: start streaming: %w", s.cfg.Device, err)
	}
	want := s.cfg.Want
	s.log.Info("camera mode", "mode", m.String(), "wanted", fmt.Sprintf("%dx%d @ %d fps", want.Width, want.Height, want.FPS),
		"exact", int(m.Width) == want.Width && int(m.Height) == want.Height && (want.FPS == 0 || m.FPS == float64(want.FPS)))
	return nil
}

// run owns the device: stream, and on loss reconnect with backoff. State
// changes (streaming, lost, unavailable, back) are logged once each.
func (s *Source) run(dev Device, err error) {
	defer close(s.done)
	wait := backoff.New(backoff.Policy{Min: s.cfg.MinBackoff, Max: s.cfg.MaxBackoff, Jitter: BackoffJitter, Clock: s.clk})
	lastErr := ""
	for {
		if dev != nil {
			if lastErr != "" {
				s.log.Info("camera back", "after", lastErr)
			} else {
				s.log.Info("camera streaming")
			}
			lastErr = ""
			wait.Reset()
			select {
			case <-s.restart: // asked while no device was open
			default:
			}
			s.started.Add(1)
			err = s.stream(dev)
			dev.Close()
			if err == nil {
				return // closed
			}
			if fatal := (*NoH264Error)(nil); errors.As(err, &fatal) || errors.Is(err, austream.ErrNoStartCode) || errors.Is(err, austream.ErrTooLarge) {
				s.log.Error("camera stopped", "err", err)
				s.Fail(err)
				return
			}
			s.log.Warn("camera lost; reconnecting", "err", err, "backoff_max", s.cfg.MaxBackoff)
			lastErr = err.Error()
		} else {
			var noH264 *NoH264Error
			if errors.As(err, &noH264) {
				s.log.Error("camera stopped", "err", err)
				s.Fail(err)
				return
			}
			if lastErr == "" {
				s.log.Warn("camera unavailable; retrying", "err", err, "backoff_max", s.cfg.MaxBackoff)
			}
			lastErr = err.Error()
		}
		select {
		case <-s.Closed():
			return
		case <-s.clk.After(wait.Next()):
		}
		dev, err = s.connect()
	}
}

// stream reads buffers until the device fails (its error) or the source
// closes (nil).
func (s *Source) stream(dev Device) error {
	s.split.Reset()
	for {
		select {
		case <-s.Closed():
			return nil
		case <-s.restart:
			return fmt.Errorf("v4l2: %s: %w", s.cfg.Device, errStalled)
		default:
		}
		// A one-second wait, so that Close and Restart are seen within
		// about a second; the Hub's watchdog judges silence.
		err := dev.WaitForFrame(1)
		var timeout *webcam.Timeout
		if errors.As(err, &timeout) {
			continue
		}
		if err != nil {
			return fmt.Errorf("v4l2: %s: wait for frame: %w", s.cfg.Device, err)
		}
		buf, idx, err := dev.GetFrame()
		if errors.Is(err, syscall.EAGAIN) {
			continue
		}
		if err != nil {
			return fmt.Errorf("v4l2: %s: read frame: %w", s.cfg.Device, err)
		}
		now := s.clk.Now()
		// Copy out before the buffer goes back to the driver.
		werr := s.split.Write(buf)
		if rerr := dev.ReleaseFrame(idx); rerr != nil && werr == nil {
			return fmt.Errorf("v4l2: %s: release frame: %w", s.cfg.Device, rerr)
		}
		if werr != nil {
			return fmt.Errorf("v4l2: %s: %w", s.cfg.Device, werr)
		}
		s.split.Flush()
		for au, ok := s.split.Next(); ok; au, ok = s.split.Next() {
			if !s.emit(au, now) {
				return nil
			}
		}
	}
}

// emit hands one access unit to ReadFrame; false when the source closed.
func (s *Source) emit(au austream.AU, now time.Time) bool { return s.Put(au.Data, au.Key, now) }
