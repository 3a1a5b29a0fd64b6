// Package v4l2test fakes a V4L2 camera for the v4l2 source's tests: it lists
// formats, sizes and frame rates, records what the source set, and replays
// recorded H.264 access units as driver buffers. It can make the device
// vanish mid-stream (ENODEV), refuse to open (unplugged), stall, or offer
// only MJPEG and YUYV.
package v4l2test

import (
	_ "embed"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/blackjack/webcam"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/v4l2"
)

var _ v4l2.Device = (*Camera)(nil)

// recorded is 20 frames of 160x120 testsrc2 from libx264 (Constrained
// Baseline, an IDR every 10 frames, SPS and PPS before each IDR); see
// testdata/README.md.
//
//go:embed testdata/frames.h264
var recorded []byte

// Frames returns the recorded access units, one per driver buffer, as a
// UVC H.264 camera delivers them. Each call returns fresh copies.
func Frames() [][]byte {
	aus, err := capture.SplitAccessUnits(recorded)
	if err != nil {
		panic(fmt.Sprintf("v4l2test: recorded frames: %v", err)) // embedded data, checked by the tests
	}
	out := make([][]byte, len(aus))
	for i, au := range aus {
		out[i] = append([]byte(nil), au.Data...)
	}
	return out
}

// H264Camera returns a camera offering H.264 and MJPEG at 640x480, 1280x720
// and 1920x1080, at 15 and 30 fps, replaying Frames.
func H264Camera() *Camera {
	sizes := []webcam.FrameSize{discrete(640, 480), discrete(1280, 720), discrete(1920, 1080)}
	return &Camera{
		Formats: map[webcam.PixelFormat]string{v4l2.FormatH264: "H.264", v4l2.FormatMJPG: "Motion-JPEG"},
		Sizes:   map[webcam.PixelFormat][]webcam.FrameSize{v4l2.FormatH264: sizes, v4l2.FormatMJPG: sizes},
		Rates:   []webcam.FrameRate{rate(30), rate(15)},
		Buffers: Frames(),
	}
}

// MJPEGCamera returns a camera that offers only MJPEG and YUYV.
func MJPEGCamera() *Camera {
	sizes := []webcam.FrameSize{discrete(640, 480), discrete(1280, 720)}
	return &Camera{
		Formats: map[webcam.PixelFormat]string{v4l2.FormatMJPG: "Motion-JPEG", v4l2.FormatYUYV: "YUYV 4:2:2"},
		Sizes:   map[webcam.PixelFormat][]webcam.FrameSize{v4l2.FormatMJPG: sizes, v4l2.FormatYUYV: sizes},
		Rates:   []webcam.FrameRate{rate(30)},
	}
}

func discrete(w, h uint32) webcam.FrameSize {
	return webcam.FrameSize{MinWidth: w, MaxWidth: w, MinHeight: h, MaxHeight: h}
}

func rate(fps uint32) webcam.FrameRate {
	return webcam.FrameRate{MinNumerator: 1, MaxNumerator: 1, MinDenominator: fps, MaxDenominator: fps}
}

// Camera is a fake V4L2 device. Set its fields before use; it is safe for
// concurrent use afterwards.
type Camera struct {
	Formats map[webcam.PixelFormat]string
	Sizes   map[webcam.PixelFormat][]webcam.FrameSize
	// Rates are listed for every format and size.
	Rates []webcam.FrameRate
	// Buffers are replayed in order, looping.
	Buffers [][]byte
	// VanishAfter makes GetFrame fail with ENODEV after that many buffers
	// (0: never).
	VanishAfter int
	// Stall makes WaitForFrame time out forever (after 10 ms, standing in
	// for the driver's wait).
	Stall bool

	mu        sync.Mutex
	format    webcam.PixelFormat
	w, h      uint32
	fps       float32
	streaming bool
	closed    bool
	served    int
	held      int // buffers handed out and not released
}

// Set returns the format, size and frame rate the source set.
func (c *Camera) Set() (webcam.PixelFormat, uint32, uint32, float32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.format, c.w, c.h, c.fps
}

// Closed reports whether Close was called.
func (c *Camera) Closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Served returns how many buffers were handed out.
func (c *Camera) Served() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.served
}

func (c *Camera) GetSupportedFormats() map[webcam.PixelFormat]string {
	out := make(map[webcam.PixelFormat]string, len(c.Formats))
	for k, v := range c.Formats {
		out[k] = v
	}
	return out
}

func (c *Camera) GetSupportedFrameSizes(f webcam.PixelFormat) []webcam.FrameSize {
	return append([]webcam.FrameSize(nil), c.Sizes[f]...)
}

func (c *Camera) GetSupportedFramerates(f webcam.PixelFormat, w, h uint32) []webcam.FrameRate {
	return append([]webcam.FrameRate(nil), c.Rates...)
}

// SetImageFormat accepts an offered format; like a driver, it falls back to
// the first offered size when the size is not listed.
func (c *Camera) SetImageFormat(f webcam.PixelFormat, w, h uint32) (webcam.PixelFormat, uint32, uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.Formats[f]; !ok {
		return 0, 0, 0, syscall.EINVAL
	}
	ok := false
	for _, s := range c.Sizes[f] {
		if w >= s.MinWidth && w <= s.MaxWidth && h >= s.MinHeight && h <= s.MaxHeight {
			ok = true
		}
	}
	if !ok && len(c.Sizes[f]) > 0 {
		w, h = c.Sizes[f][0].MaxWidth, c.Sizes[f][0].MaxHeight
	}
	c.format, c.w, c.h = f, w, h
	return f, w, h, nil
}

func (c *Camera) SetFramerate(fps float32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fps = fps
	return nil
}

func (c *Camera) StartStreaming() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.streaming {
		return fmt.Errorf("already streaming")
	}
	c.streaming = true
	return nil
}

// WaitForFrame returns at once: a frame is always ready, unless Stall.
func (c *Camera) WaitForFrame(timeout uint32) error {
	c.mu.Lock()
	closed, stall := c.closed, c.Stall || len(c.Buffers) == 0
	c.mu.Unlock()
	if closed {
		return syscall.EBADF
	}
	if stall {
		time.Sleep(10 * time.Millisecond)
		return new(webcam.Timeout)
	}
	return nil
}

// GetFrame hands out the next recorded buffer (a copy, as from mmap'd
// driver memory that the source must not keep).
func (c *Camera) GetFrame() ([]byte, uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.streaming || c.closed {
		return nil, 0, syscall.EINVAL
	}
	if c.VanishAfter > 0 && c.served >= c.VanishAfter {
		return nil, 0, syscall.ENODEV
	}
	if c.held > 0 {
		return nil, 0, fmt.Errorf("v4l2test: GetFrame with a buffer not released")
	}
	b := append([]byte(nil), c.Buffers[c.served%len(c.Buffers)]...)
	idx := uint32(c.served % 4)
	c.served++
	c.held++
	return b, idx, nil
}

func (c *Camera) ReleaseFrame(index uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held--
	return nil
}

func (c *Camera) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed, c.streaming = true, false
	return nil
}

// Opener hands out cameras in turn and can make the device path vanish.
type Opener struct {
	mu      sync.Mutex
	cams    []*Camera
	opens   int
	missing int
}

// NewOpener returns an Opener that hands out cams in order (the last one
// again when they run out).
func NewOpener(cams ...*Camera) *Opener { return &Opener{cams: cams} }

// Unplug makes the next n opens fail with ENOENT, as for a device node that
// is gone.
func (o *Opener) Unplug(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.missing = n
}

// Opens returns how many times Open was called.
func (o *Opener) Opens() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.opens
}

// Open is a v4l2.Config.Open.
func (o *Opener) Open(path string) (v4l2.Device, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.opens++
	if o.missing > 0 {
		o.missing--
		return nil, fmt.Errorf("open %s: %w", path, syscall.ENOENT)
	}
	if len(o.cams) == 0 {
		return nil, fmt.Errorf("open %s: %w", path, syscall.ENOENT)
	}
	c := o.cams[0]
	if len(o.cams) > 1 {
		o.cams = o.cams[1:]
	}
	return c, nil
}
