package selftest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/device/clock"
)

// CameraCheck captures frames through the board's camera source and
// measures the frame rate (by arrival time), the keyframe interval (by
// presentation time) and the bitrate.
type CameraCheck struct {
	// Source names the camera for the detail, e.g. "file (sim clip)".
	Source string
	// Present says at once whether the camera is there to open: nil, or
	// an error naming what is missing and what to check (e.g. "/dev/video0
	// does not exist: is the camera connected and enabled?"). Open may
	// retry a missing camera for as long as the capture may take, as the
	// agent does while a camera is unplugged; the selftest fails at once
	// instead. Nil means no such test.
	Present func() error
	// Open opens the camera.
	Open func(ctx context.Context) (capture.Source, error)
	// Frames is how many frames to capture; at least 2, and enough to span
	// two keyframes for the keyframe interval.
	Frames int
	// FPS is the expected frame rate; below 80% of it warns.
	FPS float64
	// MaxKeyInterval: a longer keyframe interval warns (clips are cut and
	// pre-roll is aligned at keyframes).
	MaxKeyInterval time.Duration
	// Timeout bounds the capture; 0 means twice the expected duration plus
	// 10 s (cameras take a while to start).
	Timeout time.Duration
	// Clock times the frames; nil means the real clock.
	Clock clock.Clock
}

// Check returns the camera capture check.
func (c CameraCheck) Check() Check {
	return Check{Name: "camera capture", Required: true, Run: c.run}
}

// CaptureStats are the figures of a capture.
type CaptureStats struct {
	Frames      int
	Keyframes   int
	Bytes       int
	FPS         float64       // by arrival time
	KeyInterval time.Duration // mean, by PTS; 0 with fewer than 2 keyframes
	BitrateKbps float64       // by PTS span
}

// captured is one frame's measurements.
type captured struct {
	arrived time.Time
	pts     time.Duration
	key     bool
	size    int
}

// stats computes the figures of a capture.
func stats(frames []captured) CaptureStats {
	s := CaptureStats{Frames: len(frames)}
	var keys []time.Duration
	for _, f := range frames {
		s.Bytes += f.size
		if f.key {
			keys = append(keys, f.pts)
		}
	}
	s.Keyframes = len(keys)
	if len(frames) >= 2 {
		if d := frames[len(frames)-1].arrived.Sub(frames[0].arrived); d > 0 {
			s.FPS = float64(len(frames)-1) / d.Seconds()
		}
		if span := frames[len(frames)-1].pts - frames[0].pts; span > 0 {
			// The span covers n-1 frame durations; the bytes cover n frames.
			perFrame := span / time.Duration(len(frames)-1)
			s.BitrateKbps = float64(s.Bytes) * 8 / (span + perFrame).Seconds() / 1000
		}
	}
	if len(keys) >= 2 {
		s.KeyInterval = (keys[len(keys)-1] - keys[0]) / time.Duration(len(keys)-1)
	}
	return s
}

func (c CameraCheck) run(ctx context.Context) Result {
	if c.Open == nil {
		return Result{Status: Fail, Detail: "no camera source to open"}
	}
	if c.Frames < 2 {
		return Result{Status: Fail, Detail: fmt.Sprintf("selftest: frames %d is too few (valid: 2 or more)", c.Frames)}
	}
	if c.Present != nil {
		if err := c.Present(); err != nil {
			return Result{Status: Fail, Detail: fmt.Sprintf("camera %s: %v", c.Source, err)}
		}
	}
	clk := c.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	timeout := c.Timeout
	if timeout == 0 {
		fps := c.FPS
		if fps <= 0 {
			fps = 1
		}
		timeout = 2*time.Duration(float64(c.Frames)/fps*float64(time.Second)) + 10*time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	src, err := c.Open(ctx)
	if err != nil {
		return Result{Status: Fail, Detail: fmt.Sprintf("opening camera %s: %v", c.Source, err)}
	}
	defer src.Close()
	frames := make([]captured, 0, c.Frames)
	for len(frames) < c.Frames {
		f, err := src.ReadFrame(ctx)
		if err != nil {
			what := err.Error()
			if errors.Is(err, context.DeadlineExceeded) {
				what = fmt.Sprintf("no frame within %s", timeout)
			}
			return Result{Status: Fail, Figures: map[string]float64{"frames": float64(len(frames))},
				Detail: fmt.Sprintf("camera %s: got %d of %d frames: %s", c.Source, len(frames), c.Frames, what)}
		}
		frames = append(frames, captured{arrived: clk.Now(), pts: f.PTS, key: f.Key, size: len(f.Data)})
	}
	return c.judge(stats(frames))
}

// judge turns capture figures into a result.
func (c CameraCheck) judge(s CaptureStats) Result {
	figs := map[string]float64{
		"frames": float64(s.Frames), "keyframes": float64(s.Keyframes),
		"fps": s.FPS, "bitrate_kbps": s.BitrateKbps,
	}
	if s.KeyInterval > 0 {
		figs["keyframe_interval_s"] = s.KeyInterval.Seconds()
	}
	detail := fmt.Sprintf("%s: %d frames at %.1f fps, %.0f kbit/s", c.Source, s.Frames, s.FPS, s.BitrateKbps)
	var warns []string
	switch {
	case s.Keyframes == 0:
		return Result{Status: Fail, Figures: figs, Detail: detail + fmt.Sprintf("; no keyframe in %d frames: clips need IDR frames (set the encoder's keyframe interval, e.g. rpicam-vid --intra 30)", s.Frames)}
	case s.Keyframes == 1:
		warns = append(warns, fmt.Sprintf("only one keyframe in %d frames, keyframe interval unknown (capture more with --frames)", s.Frames))
	default:
		detail += fmt.Sprintf(", a keyframe every %.2f s", s.KeyInterval.Seconds())
		if c.MaxKeyInterval > 0 && s.KeyInterval > c.MaxKeyInterval {
			warns = append(warns, fmt.Sprintf("keyframe interval %.1f s is over %s: pre-roll and clip cuts align to keyframes", s.KeyInterval.Seconds(), c.MaxKeyInterval))
		}
	}
	if c.FPS > 0 && s.FPS < 0.8*c.FPS {
		warns = append(warns, fmt.Sprintf("frame rate %.1f is below 80%% of the expected %.0f", s.FPS, c.FPS))
	}
	if len(warns) > 0 {
		return Result{Status: Warn, Figures: figs, Detail: detail + "; " + strings.Join(warns, "; ")}
	}
	return Result{Status: Pass, Figures: figs, Detail: detail}
}

// FormatsCheck lists the formats a camera offers (V4L2 devices); for other
// sources it is skipped.
type FormatsCheck struct {
	// Source names the camera source ("v4l2", "exec", "file").
	Source string
	// Present says at once whether the camera is there (see CameraCheck);
	// nil means no such test.
	Present func() error
	// Formats lists the camera's formats; nil means the source has none to
	// list.
	Formats func(ctx context.Context) ([]string, error)
	// WhyNot says why Formats is nil, for the skip detail.
	WhyNot string
}

// Check returns the camera formats check.
func (c FormatsCheck) Check() Check {
	return Check{Name: "camera formats", Run: func(ctx context.Context) Result {
		if c.Formats == nil {
			return Result{Status: Skip, Detail: c.WhyNot}
		}
		if c.Present != nil {
			if err := c.Present(); err != nil {
				return Result{Status: Fail, Detail: fmt.Sprintf("camera %s: %v", c.Source, err)}
			}
		}
		formats, err := c.Formats(ctx)
		if err != nil {
			return Result{Status: Fail, Detail: fmt.Sprintf("camera %s: listing formats: %v", c.Source, err)}
		}
		figs := map[string]float64{"formats": float64(len(formats))}
		if !containsH264(formats) {
			return Result{Status: Warn, Figures: figs, Detail: fmt.Sprintf(
				"no native H.264 among %s: use the exec source with a hardware encoder (ffmpeg -c:v h264_v4l2m2m on Pi 3/4)", strings.Join(formats, ", "))}
		}
		return Result{Status: Pass, Figures: figs, Detail: strings.Join(formats, ", ")}
	}}
}

func containsH264(formats []string) bool {
	for _, f := range formats {
		if strings.Contains(strings.ToUpper(f), "H264") || strings.Contains(strings.ToUpper(f), "H.264") {
			return true
		}
	}
	return false
}
