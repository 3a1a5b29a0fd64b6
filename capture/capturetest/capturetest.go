// Package capturetest holds test helpers shared by the capture, device and
// command tests: finding outside tools the way CI demands, reading clips with
// ffprobe, and scanning files for plaintext video.
package capturetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/device/atomicfile"
)

// Tool returns the path of an outside tool (ffprobe, age, ...). Without it
// the test is skipped on a developer's machine but fails in CI (CI=true),
// so a green CI run means the test ran.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found: .ci/run must install it", name)
		}
		t.Skipf("%s not found; install it to run this test", name)
	}
	return p
}

// Probe is what ffprobe reports about an MP4 file's first video stream.
type Probe struct {
	Codec         string
	Width, Height int
	Duration      float64 // seconds
	FirstKey      bool    // the first frame is a keyframe
	Frames        int     // frames decoded (only when counted)
}

// ProbeFile runs ffprobe on path and fails the test if it cannot read it.
// With countFrames it decodes every frame, proving the whole file plays.
func ProbeFile(t testing.TB, path string, countFrames bool) Probe {
	t.Helper()
	ffprobe := Tool(t, "ffprobe")
	args := []string{"-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height,nb_read_frames:format=duration:frame=key_frame",
		"-show_frames", "-of", "json"}
	if countFrames {
		args = append(args, "-count_frames")
	} else {
		args = append(args, "-read_intervals", "%+#1")
	}
	out, err := exec.Command(ffprobe, append(args, path)...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("ffprobe %s: %v\n%s", path, err, stderr)
	}
	var res struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
			Width     int    `json:"width"`
			Height    int    `json:"height"`
			Frames    string `json:"nb_read_frames"`
		} `json:"streams"`
		Frames []struct {
			KeyFrame int `json:"key_frame"`
		} `json:"frames"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("ffprobe output: %v\n%s", err, out)
	}
	if len(res.Streams) != 1 {
		t.Fatalf("ffprobe %s: %d video streams, want 1", path, len(res.Streams))
	}
	p := Probe{Codec: res.Streams[0].CodecName, Width: res.Streams[0].Width, Height: res.Streams[0].Height}
	p.Duration, _ = strconv.ParseFloat(res.Format.Duration, 64)
	p.Frames, _ = strconv.Atoi(res.Streams[0].Frames)
	p.FirstKey = len(res.Frames) > 0 && res.Frames[0].KeyFrame == 1
	return p
}

// ProbeBytes writes data to a temporary file and probes it.
func ProbeBytes(t testing.TB, data []byte, countFrames bool) Probe {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return ProbeFile(t, path, countFrames)
}

// Packet is one video packet as ffprobe -show_packets reports it, times in
// seconds.
type Packet struct {
	PTS, DTS, Duration float64
	Key                bool
}

// Packets lists the video packets of the MP4 file at path in file order.
func Packets(t testing.TB, path string) []Packet {
	t.Helper()
	ffprobe := Tool(t, "ffprobe")
	out, err := exec.Command(ffprobe, "-v", "error", "-select_streams", "v:0", "-show_packets",
		"-show_entries", "packet=pts_time,dts_time,duration_time,flags", "-of", "json", path).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("ffprobe -show_packets %s: %v\n%s", path, err, stderr)
	}
	var res struct {
		Packets []struct {
			PTS      string `json:"pts_time"`
			DTS      string `json:"dts_time"`
			Duration string `json:"duration_time"`
			Flags    string `json:"flags"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("ffprobe output: %v\n%s", err, out)
	}
	ps := make([]Packet, len(res.Packets))
	for i, p := range res.Packets {
		ps[i].PTS, _ = strconv.ParseFloat(p.PTS, 64)
		ps[i].DTS, _ = strconv.ParseFloat(p.DTS, 64)
		ps[i].Duration, _ = strconv.ParseFloat(p.Duration, 64)
		ps[i].Key = strings.HasPrefix(p.Flags, "K")
	}
	return ps
}

// CheckMonotonic fails the test unless the packets' PTS and DTS strictly
// increase (streams without B-frames, as doorbell cameras send), and
// returns the longest step between two packets, in seconds: a gap the
// stream was cut across shows there.
func CheckMonotonic(t testing.TB, ps []Packet) (longest float64) {
	t.Helper()
	if len(ps) == 0 {
		t.Fatal("no packets")
	}
	for i := 1; i < len(ps); i++ {
		if ps[i].PTS <= ps[i-1].PTS || ps[i].DTS <= ps[i-1].DTS {
			t.Fatalf("packet %d: pts %.4f dts %.4f after pts %.4f dts %.4f: timestamps go backwards",
				i, ps[i].PTS, ps[i].DTS, ps[i-1].PTS, ps[i-1].DTS)
		}
		longest = max(longest, ps[i].DTS-ps[i-1].DTS)
	}
	return longest
}

// plaintextSignatures are byte patterns that only unencrypted video has:
// MP4 boxes and H.264 sequence parameter sets behind start codes.
var plaintextSignatures = []struct {
	name string
	sig  []byte
}{
	{"ftyp box (iso5)", []byte("ftypiso5")},
	{"ftyp box (isom)", []byte("ftypisom")},
	{"ftyp box (mp41)", []byte("ftypmp41")},
	{"ftyp box (mp42)", []byte("ftypmp42")},
	{"ftyp box (avc1)", []byte("ftypavc1")},
	{"ftyp box (cmfc)", []byte("ftypcmfc")},
	{"ftyp box (dash)", []byte("ftypdash")},
	{"moof box", []byte("moof\x00\x00\x00\x10mfhd")},
	{"moov box", []byte("moov\x00\x00\x00\x6cmvhd")},
	{"H.264 SPS (4-byte start code)", []byte{0, 0, 0, 1, 0x67}},
	{"H.264 SPS (3-byte start code)", []byte{0, 0, 1, 0x67}},
}

// Finding is a plaintext signature found in a file.
type Finding struct {
	Path, What string
	Offset     int
}

// ScanPlaintext walks root and reports every file that holds plaintext
// video signatures. Unreadable files fail the test: a scan that could not
// look proves nothing.
func ScanPlaintext(t testing.TB, root string) []Finding {
	t.Helper()
	var found []Finding
	files := 0
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, s := range plaintextSignatures {
			if i := bytes.Index(data, s.sig); i >= 0 {
				found = append(found, Finding{Path: path, What: s.name, Offset: i})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scanning %s: %v", root, err)
	}
	if files == 0 {
		t.Fatalf("scanning %s: no files at all", root)
	}
	return found
}

// streams caches the H.264 files MakeStream generated in this process.
var streams sync.Map // spec string → path

// MakeStream returns the path of an Annex-B H.264 test stream (testsrc2,
// no B-frames, a keyframe every second, constant bitrate), generated with
// ffmpeg on first use and reused for the rest of the process. It lives in
// the system temp directory; the caller must not modify it.
func MakeStream(tb testing.TB, width, height, fps, seconds int, bitrate string) string {
	tb.Helper()
	ffmpeg := Tool(tb, "ffmpeg")
	spec := fmt.Sprintf("%dx%d-%dfps-%ds-%s", width, height, fps, seconds, bitrate)
	if p, ok := streams.Load(spec); ok {
		return p.(string)
	}
	path := filepath.Join(os.TempDir(), "doorward-test-"+spec+".h264")
	if _, err := os.Stat(path); err != nil {
		f, err := atomicfile.Create(path, 0o644)
		if err != nil {
			tb.Fatal(err)
		}
		defer f.Abort()
		var stderr bytes.Buffer
		cmd := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
			"-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", width, height, fps), "-t", fmt.Sprint(seconds),
			"-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "main", "-bf", "0",
			"-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate,
			"-x264-params", fmt.Sprintf("keyint=%d:min-keyint=%d:scenecut=0", fps, fps), "-f", "h264", "pipe:1")
		cmd.Stdout, cmd.Stderr = f, &stderr
		if err := cmd.Run(); err != nil {
			tb.Fatalf("ffmpeg: %v\n%s", err, stderr.Bytes())
		}
		if err := f.Commit(); err != nil {
			tb.Fatal(err)
		}
	}
	streams.Store(spec, path)
	return path
}

// HangingCamera returns a camera command for the exec source that behaves
// like an ffmpeg stuck at the end of its input: it writes seconds of real
// H.264 (MakeStream's 640x480 30 fps stream, a keyframe every second, paced
// in real time) to stdout and then sleeps forever without exiting or
// closing stdout. Every run appends its shell's pid, which the sleep keeps,
// to pidFile; runs after the first wait restartDelay before they write (a
// camera slow to come back).
func HangingCamera(tb testing.TB, seconds int, restartDelay time.Duration, pidFile string) []string {
	tb.Helper()
	ffmpeg := Tool(tb, "ffmpeg")
	sh := Tool(tb, "sh")
	stream := MakeStream(tb, 640, 480, 30, max(seconds+1, 4), "1M")
	script := fmt.Sprintf("echo $$ >> %q; if [ $(wc -l < %q) -gt 1 ]; then sleep %.3f; fi; "+
		"%q -hide_banner -loglevel error -f h264 -framerate 30 -re -i %q -t %d -c copy -f h264 -; exec sleep 1000000",
		pidFile, pidFile, restartDelay.Seconds(), ffmpeg, stream, seconds)
	return []string{sh, "-c", script}
}

// LogBuffer collects log output written from several goroutines, for
// assertions on what a component logged.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Count reports how many times s was logged.
func (l *LogBuffer) Count(s string) int { return strings.Count(l.String(), s) }

// NewLogger returns a text logger at level that writes into a new LogBuffer.
func NewLogger(level slog.Level) (*slog.Logger, *LogBuffer) {
	lb := &LogBuffer{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: level})), lb
}

// ReadFrames reads n frames from src, failing the test on an error or when
// they do not all arrive within timeout.
func ReadFrames(t testing.TB, src capture.Source, n int, timeout time.Duration) []capture.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []capture.Frame
	for len(out) < n {
		f, err := src.ReadFrame(ctx)
		if err != nil {
			t.Fatalf("ReadFrame after %d frames: %v", len(out), err)
		}
		out = append(out, f)
	}
	return out
}
