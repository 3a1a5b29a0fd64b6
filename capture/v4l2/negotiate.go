package v4l2

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/blackjack/webcam"
)

// Pixel formats (V4L2 fourcc codes) the source knows by name.
const (
	FormatH264 = webcam.PixelFormat('H' | '2'<<8 | '6'<<16 | '4'<<24)
	FormatMJPG = webcam.PixelFormat('M' | 'J'<<8 | 'P'<<16 | 'G'<<24)
	FormatYUYV = webcam.PixelFormat('Y' | 'U'<<8 | 'Y'<<16 | 'V'<<24)
)

// FourCC returns a pixel format's four-character code, e.g. "H264".
func FourCC(f webcam.PixelFormat) string {
	b := []byte{byte(f), byte(f >> 8), byte(f >> 16), byte(f >> 24)}
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return strings.TrimRight(string(b), " ")
}

// Mode is what the source asks the driver for.
type Mode struct {
	Format        webcam.PixelFormat
	Width, Height uint32
	// FPS is the frame rate to set; 0 when the driver lists none (the rate
	// is then requested as configured and left to the driver).
	FPS float64
}

func (m Mode) String() string {
	return fmt.Sprintf("%s %dx%d @ %g fps", FourCC(m.Format), m.Width, m.Height, m.FPS)
}

// Want is the configured size and frame rate; zero fields take the
// camera's largest size and highest rate.
type Want struct {
	Width, Height int
	FPS           int
}

// NoH264Error is returned when the camera offers no H.264 format. Its
// message tells how to run the camera through the exec source with an
// encoder instead.
type NoH264Error struct {
	Device  string
	Formats map[webcam.PixelFormat]string
	Want    Want
}

func (e *NoH264Error) Error() string {
	var offered []string
	for f, desc := range e.Formats {
		offered = append(offered, fmt.Sprintf("%s (%s)", FourCC(f), desc))
	}
	slices.Sort(offered)
	if len(offered) == 0 {
		offered = []string{"none"}
	}
	input := "yuyv422"
	if _, ok := e.Formats[FormatMJPG]; ok {
		input = "mjpeg"
	}
	w, h, fps := e.Want.Width, e.Want.Height, e.Want.FPS
	if w == 0 || h == 0 {
		w, h = 1280, 720
	}
	if fps == 0 {
		fps = 30
	}
	cmd := func(enc string) string {
		return fmt.Sprintf(`[ffmpeg, -f, v4l2, -input_format, %s, -video_size, %dx%d, -framerate, "%d", -i, %s, -c:v, %s, -g, "%d", -f, h264, "-"]`,
			input, w, h, fps, e.Device, enc, fps)
	}
	return fmt.Sprintf("v4l2: %s offers no H.264 format (it offers: %s); the v4l2 source records only cameras that encode H.264 themselves. "+
		"Encode this camera's video with the exec source instead. On a Raspberry Pi 3 or 4 (hardware encoder):\n"+
		"  camera:\n    source: exec\n    command: %s\n"+
		"On a Raspberry Pi 5, which has no H.264 encoder, encode in software:\n"+
		"  camera:\n    source: exec\n    command: %s",
		e.Device, strings.Join(offered, ", "), cmd("h264_v4l2m2m"), cmd("libx264, -preset, ultrafast, -tune, zerolatency"))
}

// Negotiate picks the mode to ask dev for: H.264 (the only format the
// source takes), the supported size nearest to want, and the supported frame
// rate nearest to want at that size. It returns a *NoH264Error when the
// camera offers no H.264.
func Negotiate(dev Device, path string, want Want) (Mode, error) {
	formats := dev.GetSupportedFormats()
	if _, ok := formats[FormatH264]; !ok {
		return Mode{}, &NoH264Error{Device: path, Formats: formats, Want: want}
	}
	m := Mode{Format: FormatH264}
	sizes := dev.GetSupportedFrameSizes(FormatH264)
	if len(sizes) == 0 {
		if want.Width == 0 {
			return Mode{}, fmt.Errorf("v4l2: %s lists no H.264 frame sizes; set camera.width and camera.height", path)
		}
		m.Width, m.Height = uint32(want.Width), uint32(want.Height)
	} else {
		m.Width, m.Height = nearestSize(sizes, want)
	}
	rates := dev.GetSupportedFramerates(FormatH264, m.Width, m.Height)
	m.FPS = nearestRate(rates, want.FPS)
	if m.FPS == 0 && want.FPS > 0 {
		m.FPS = float64(want.FPS)
	}
	return m, nil
}

// nearestSize returns the size closest to want (by area, then by width);
// with no wish, the largest.
func nearestSize(sizes []webcam.FrameSize, want Want) (uint32, uint32) {
	ww, wh := int64(want.Width), int64(want.Height)
	if ww == 0 || wh == 0 {
		ww, wh = math.MaxInt32, math.MaxInt32
	}
	var bw, bh uint32
	best := int64(math.MaxInt64)
	for _, s := range sizes {
		w := clampStep(ww, s.MinWidth, s.MaxWidth, s.StepWidth)
		h := clampStep(wh, s.MinHeight, s.MaxHeight, s.StepHeight)
		d := abs(int64(w)*int64(h)-ww*wh)*4 + abs(int64(w)-ww)
		if want.Width == 0 {
			d = -int64(w) * int64(h)
		}
		if d < best {
			best, bw, bh = d, w, h
		}
	}
	return bw, bh
}

// clampStep puts v into [lo, hi] on the step grid from lo.
func clampStep(v int64, lo, hi, step uint32) uint32 {
	if v <= int64(lo) || hi <= lo {
		return lo
	}
	if v >= int64(hi) {
		return hi
	}
	if step == 0 {
		return uint32(v)
	}
	n := (v - int64(lo) + int64(step)/2) / int64(step)
	return min(hi, lo+uint32(n)*step)
}

// nearestRate returns the listed frame rate closest to fps (the highest
// when fps is 0), or 0 when none is listed.
func nearestRate(rates []webcam.FrameRate, fps int) float64 {
	best, bestD := 0.0, math.Inf(1)
	for _, r := range rates {
		// A FrameRate is a frame interval: numerator/denominator seconds.
		lo, hi := interval(r.MaxNumerator, r.MaxDenominator), interval(r.MinNumerator, r.MinDenominator)
		if r.StepNumerator == 0 && r.StepDenominator == 0 {
			lo = hi
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		if hi == 0 {
			continue
		}
		c := math.Max(lo, math.Min(hi, float64(fps)))
		d := math.Abs(c - float64(fps))
		if fps == 0 {
			c, d = hi, -hi
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// interval turns the frame interval num/den seconds into frames per second.
func interval(num, den uint32) float64 {
	if num == 0 {
		return 0
	}
	return float64(den) / float64(num)
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
