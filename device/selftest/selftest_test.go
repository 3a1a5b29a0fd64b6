package selftest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/doorward/doorward/boards"
	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/device/clock/clocktest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestRunnerReport(t *testing.T) {
	checks := []Check{
		{Name: "ok", Required: true, Run: func(context.Context) Result {
			return Result{Status: Pass, Detail: "fine", Figures: map[string]float64{"fps": 30, "nan": math.NaN()}}
		}},
		{Name: "optional failure", Run: func(context.Context) Result { return Result{Status: Fail, Detail: "meh"} }},
		{Name: "skipped", Required: true, Run: func(context.Context) Result { return Result{Status: Skip, Detail: "no pin"} }},
		{Name: "overridden", Required: true, Run: func(context.Context) Result { return Result{Status: Overridden, Detail: "sim"} }},
		{Name: "warned", Required: true, Run: func(context.Context) Result { return Result{Status: Warn, Detail: "slow"} }},
	}
	var progress bytes.Buffer
	r := Runner{Progress: &progress, Clock: clocktest.New(t0)}
	rep := r.Run(context.Background(), "sim", "v1", checks)
	if !rep.OK {
		t.Fatalf("report not OK: %+v", rep)
	}
	if !strings.Contains(progress.String(), "[1/5] ok ...") || !strings.Contains(progress.String(), "[5/5] warned: warn") {
		t.Errorf("progress:\n%s", progress.String())
	}

	// A required failure, a panic and a bad status fail the report.
	checks = append(checks,
		Check{Name: "required failure", Required: true, Run: func(context.Context) Result { return Result{Status: Fail, Detail: "broken"} }},
		Check{Name: "panics", Required: true, Run: func(context.Context) Result { panic("oops") }},
		Check{Name: "bad status", Required: true, Run: func(context.Context) Result { return Result{Status: "great"} }},
	)
	rep = r.Run(context.Background(), "sim", "v1", checks)
	if rep.OK {
		t.Fatal("report OK despite a failed required check")
	}
	if got := strings.Join(rep.Failed(), ","); got != "required failure,panics,bad status" {
		t.Errorf("Failed() = %q", got)
	}
	if d := rep.Checks[6].Detail; !strings.Contains(d, "panicked: oops") {
		t.Errorf("panic detail %q", d)
	}
	if d := rep.Checks[7].Detail; !strings.Contains(d, `"great"`) || !strings.Contains(d, "valid: pass, warn") {
		t.Errorf("bad status detail %q", d)
	}

	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ok ", "PASS", "OVERRIDDEN", "[fps=30]", "FAIL: required checks failed: required failure, panics, bad status"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Board != "sim" || back.Version != "v1" || !back.Time.Equal(t0) || back.OK || len(back.Checks) != 8 {
		t.Errorf("JSON round trip: %+v", back)
	}
	if figs := back.Checks[0].Figures; figs["fps"] != 30 || len(figs) != 1 {
		t.Errorf("figures %v, want fps only (NaN dropped)", figs)
	}
	if back.Checks[1].Figures == nil {
		t.Error("figures of a check without any are null, want {}")
	}
}

func TestRunnerStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ran := false
	rep := Runner{}.Run(ctx, "sim", "v1", []Check{
		{Name: "first", Run: func(context.Context) Result { cancel(); return Result{Status: Pass} }},
		{Name: "second", Required: true, Run: func(context.Context) Result { ran = true; return Result{Status: Pass} }},
	})
	if ran || rep.Checks[1].Status != Skip || !strings.Contains(rep.Checks[1].Detail, "interrupted") {
		t.Errorf("after cancel: ran=%v %+v", ran, rep.Checks[1])
	}
}

func TestBoardCheck(t *testing.T) {
	sim, err := boards.Load("sim")
	if err != nil {
		t.Fatal(err)
	}
	generic, err := boards.Load("generic-linux")
	if err != nil {
		t.Fatal(err)
	}
	const cfg = "/etc/doorward/config.yaml"
	for _, tc := range []struct {
		name       string
		board      boards.Profile
		requested  string
		configFile string
		model      string
		status     Status
		detail     string
	}{
		{"sim by flag", sim, "sim", "", "model-rpi4", Overridden,
			`sim board chosen with --board sim, so no real camera or GPIO is used (model "Raspberry Pi 4 Model B Rev 1.4")`},
		{"sim by config", sim, "sim", cfg, "absent", Overridden,
			"sim board chosen by board: sim in /etc/doorward/config.yaml, so no real camera or GPIO is used (no testdata/absent)"},
		{"by flag", generic, "generic-linux", "", "absent", Overridden,
			"board generic-linux chosen with --board generic-linux (no testdata/absent)"},
		{"by config", generic, "generic-linux", cfg, "model-other", Overridden,
			`board generic-linux chosen by board: generic-linux in /etc/doorward/config.yaml (model "QEMU Virt Machine")`},
		{"auto, no model file", generic, "auto", "", "absent", Warn,
			"no testdata/absent matches no Raspberry Pi profile, so board generic-linux is used (valid boards: "},
		{"auto from the config, unknown model", generic, "auto", cfg, "model-other", Warn,
			`model "QEMU Virt Machine" matches no Raspberry Pi profile, so board generic-linux is used`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := BoardCheck{Board: tc.board, Requested: tc.requested, ConfigFile: tc.configFile, ModelPath: filepath.Join("testdata", tc.model)}.Check().Run(context.Background())
			if res.Status != tc.status || !strings.HasPrefix(res.Detail, tc.detail) {
				t.Fatalf("got %s %q,\nwant %s %q", res.Status, res.Detail, tc.status, tc.detail)
			}
		})
	}
	// A detected Raspberry Pi passes.
	p, ok := boards.Detect("Raspberry Pi 4 Model B Rev 1.4")
	if !ok {
		t.Fatal("no board profile detects a Raspberry Pi 4")
	}
	res := BoardCheck{Board: p, Requested: "auto", ModelPath: "testdata/model-rpi4"}.Check().Run(context.Background())
	if want := fmt.Sprintf(`board %s detected from testdata/model-rpi4 (model "Raspberry Pi 4 Model B Rev 1.4")`, p.Name); res.Status != Pass || res.Detail != want {
		t.Errorf("rpi4 detected: %s %q, want pass %q", res.Status, res.Detail, want)
	}
	res = BoardCheck{Board: p, Requested: p.Name, ConfigFile: cfg, ModelPath: "testdata/model-rpi4"}.Check().Run(context.Background())
	if want := fmt.Sprintf(`board %s chosen by board: %s in %s, which matches model "Raspberry Pi 4 Model B Rev 1.4"`, p.Name, p.Name, cfg); res.Status != Overridden || res.Detail != want {
		t.Errorf("rpi4 by config on an rpi4: %s %q, want %q", res.Status, res.Detail, want)
	}
	for _, tc := range []struct{ configFile, chosen, where string }{
		{"", "with --board generic-linux", "check --board"},
		{cfg, "by board: generic-linux in " + cfg, "check board: in " + cfg},
	} {
		res = BoardCheck{Board: generic, Requested: "generic-linux", ConfigFile: tc.configFile, ModelPath: "testdata/model-rpi4"}.Check().Run(context.Background())
		want := fmt.Sprintf(`board generic-linux chosen %s, but this is board %s (model "Raspberry Pi 4 Model B Rev 1.4"): %s`, tc.chosen, p.Name, tc.where)
		if res.Status != Warn || res.Detail != want {
			t.Errorf("generic-linux on an rpi4: %s %q, want warn %q", res.Status, res.Detail, want)
		}
	}
}

// fakeSource yields frames at a fixed rate, advancing a fake clock.
type fakeSource struct {
	clk   *clocktest.Fake
	fps   float64
	gop   int
	size  int
	n     int
	limit int // frames before it fails; 0 = none
}

var _ capture.Source = (*fakeSource)(nil)

func (s *fakeSource) ReadFrame(ctx context.Context) (capture.Frame, error) {
	if s.limit > 0 && s.n >= s.limit {
		<-ctx.Done()
		return capture.Frame{}, ctx.Err()
	}
	if s.n > 0 {
		s.clk.Advance(time.Duration(float64(time.Second) / s.fps))
	}
	f := capture.Frame{Data: make([]byte, s.size), PTS: time.Duration(float64(s.n) * float64(time.Second) / s.fps), Time: s.clk.Now(), Key: s.gop > 0 && s.n%s.gop == 0}
	s.n++
	return f, nil
}

func (s *fakeSource) Close() error { return nil }

func TestCameraCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		src     fakeSource
		frames  int
		status  Status
		detail  string
		fps     float64
		keyInt  float64
		bitrate float64
	}{
		{"sim-like", fakeSource{fps: 30, gop: 30, size: 1250}, 90, Pass, "a keyframe every 1.00 s", 30, 1, 300},
		{"slow camera", fakeSource{fps: 15, gop: 15, size: 1250}, 60, Warn, "frame rate 15.0 is below 80% of the expected 30", 15, 1, 150},
		{"long GOP", fakeSource{fps: 30, gop: 300, size: 1250}, 301, Warn, "keyframe interval 10.0 s is over 4s", 30, 10, 300},
		{"one keyframe", fakeSource{fps: 30, gop: 300, size: 1250}, 90, Warn, "only one keyframe in 90 frames", 30, 0, 300},
		{"no keyframe", fakeSource{fps: 30, size: 1250}, 30, Fail, "no keyframe in 30 frames", 30, 0, 300},
		{"stalls", fakeSource{fps: 30, gop: 30, size: 1250, limit: 10}, 30, Fail, "got 10 of 30 frames: no frame within 50ms", 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktest.New(t0)
			src := tc.src
			src.clk = clk
			c := CameraCheck{
				Source: "fake", Frames: tc.frames, FPS: 30, MaxKeyInterval: 4 * time.Second, Clock: clk,
				Open:    func(context.Context) (capture.Source, error) { return &src, nil },
				Timeout: 50 * time.Millisecond,
			}
			res := c.Check().Run(context.Background())
			if res.Status != tc.status || !strings.Contains(res.Detail, tc.detail) {
				t.Fatalf("got %s %q, want %s containing %q", res.Status, res.Detail, tc.status, tc.detail)
			}
			if tc.fps == 0 {
				return
			}
			near := func(name string, got, want float64) {
				if math.Abs(got-want) > want*0.01 {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
			near("fps", res.Figures["fps"], tc.fps)
			near("bitrate_kbps", res.Figures["bitrate_kbps"], tc.bitrate)
			if tc.keyInt > 0 {
				near("keyframe_interval_s", res.Figures["keyframe_interval_s"], tc.keyInt)
			} else if _, ok := res.Figures["keyframe_interval_s"]; ok {
				t.Errorf("keyframe interval reported with fewer than two keyframes")
			}
		})
	}
}

func TestCameraCheckBadInput(t *testing.T) {
	res := CameraCheck{Source: "fake", Frames: 1, Open: func(context.Context) (capture.Source, error) { return nil, nil }}.Check().Run(context.Background())
	if res.Status != Fail || !strings.Contains(res.Detail, "valid: 2 or more") {
		t.Errorf("frames 1: %s %q", res.Status, res.Detail)
	}
	res = CameraCheck{Source: "v4l2 /dev/video0", Frames: 10, Open: func(context.Context) (capture.Source, error) {
		return nil, &capturePathErr{}
	}}.Check().Run(context.Background())
	if res.Status != Fail || !strings.Contains(res.Detail, "opening camera v4l2 /dev/video0: no such device") {
		t.Errorf("open error: %s %q", res.Status, res.Detail)
	}
}

type capturePathErr struct{}

func (*capturePathErr) Error() string { return "no such device" }

func TestFormatsCheck(t *testing.T) {
	res := FormatsCheck{Source: "file", WhyNot: "file sources have no formats"}.Check().Run(context.Background())
	if res.Status != Skip || res.Detail != "file sources have no formats" {
		t.Errorf("nil Formats: %s %q", res.Status, res.Detail)
	}
	list := func(f ...string) func(context.Context) ([]string, error) {
		return func(context.Context) ([]string, error) { return f, nil }
	}
	if res := (FormatsCheck{Source: "v4l2", Formats: list("H264 1920x1080@30", "MJPG 1920x1080@30")}).Check().Run(context.Background()); res.Status != Pass {
		t.Errorf("with H264: %s %q", res.Status, res.Detail)
	}
	if res := (FormatsCheck{Source: "v4l2", Formats: list("YUYV 640x480@30")}).Check().Run(context.Background()); res.Status != Warn || !strings.Contains(res.Detail, "h264_v4l2m2m") {
		t.Errorf("without H264: %s %q", res.Status, res.Detail)
	}
}

func TestStorageAndAgeChecks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	res := StorageCheck{Dir: dir, WriteBytes: 3<<20 + 5, Syncs: 3}.Check().Run(context.Background())
	if res.Status != Pass && res.Status != Warn {
		t.Fatalf("storage: %s %q", res.Status, res.Detail)
	}
	for _, k := range []string{"free_gib", "size_gib", "write_mb_per_s", "fsync_ms_p50", "fsync_ms_max"} {
		if _, ok := res.Figures[k]; !ok {
			t.Errorf("storage figures %v lack %s", res.Figures, k)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("storage check left files behind: %v", left)
	}
	res = StorageCheck{Dir: dir, WriteBytes: 1 << 20, Syncs: 1, MinFreeBytes: math.MaxUint64}.Check().Run(context.Background())
	if res.Status != Warn || !strings.Contains(res.Detail, "retention will delete clips early") {
		t.Errorf("low space: %s %q", res.Status, res.Detail)
	}
	res = StorageCheck{Dir: "/proc/doorward-selftest", WriteBytes: 1 << 20}.Check().Run(context.Background())
	if res.Status != Fail || !strings.Contains(res.Detail, "/proc/doorward-selftest") {
		t.Errorf("unwritable dir: %s %q", res.Status, res.Detail)
	}

	res = AgeCheck{Bytes: 2 << 20}.Check().Run(context.Background())
	if res.Status != Pass || res.Figures["mb_per_s"] <= 0 {
		t.Errorf("age: %s %q %v", res.Status, res.Detail, res.Figures)
	}
}

// fakeLine is a GPIO line a test drives.
type fakeLine struct {
	mu    sync.Mutex
	level gpio.Level
	edges chan gpio.Level
	outs  []gpio.Level
	edge  gpio.Edge
}

var _ Line = (*fakeLine)(nil)

func (l *fakeLine) In(_ gpio.Pull, e gpio.Edge) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.edge = e
	return nil
}
func (l *fakeLine) Read() gpio.Level { l.mu.Lock(); defer l.mu.Unlock(); return l.level }
func (l *fakeLine) WaitForEdge(timeout time.Duration) bool {
	select {
	case lv := <-l.edges:
		l.mu.Lock()
		l.level = lv
		l.mu.Unlock()
		return true
	case <-time.After(timeout):
		return false
	}
}
func (l *fakeLine) Out(lv gpio.Level) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.outs = append(l.outs, lv)
	return nil
}
func (l *fakeLine) Halt() error { return nil }

func TestGPIOChecks(t *testing.T) {
	board := boards.Profile{Name: "testboard", Pins: boards.Pins{PIR: "GPIO17", Button: "GPIO27", LED: "GPIO22", Reset: "GPIO23"}}
	lines := map[string]*fakeLine{}
	for _, n := range []string{"GPIO17", "GPIO27", "GPIO22"} {
		lines[n] = &fakeLine{edges: make(chan gpio.Level, 1)}
	}
	open := func(name string) (Line, error) {
		if l, ok := lines[name]; ok {
			return l, nil
		}
		return nil, &capturePathErr{}
	}
	var prompt bytes.Buffer
	lines["GPIO17"].edges <- gpio.High // the tester waves
	clk := clocktest.New(t0)
	g := GPIOChecks{Board: board, Open: open, Interactive: true, Prompt: &prompt, Wait: 300 * time.Millisecond, Blinks: 2, Clock: clk}
	checks := g.Checks()
	names := []string{}
	for _, c := range checks {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "gpio pir line,gpio button line,gpio led line,gpio reset line,pir reacts,button reacts,led blinks" {
		t.Fatalf("checks %s", got)
	}
	want := []struct {
		status Status
		detail string
	}{
		{Pass, "PIR sensor GPIO17 opens as an input, reads Low"},
		{Pass, "doorbell button GPIO27 opens"},
		{Pass, "status LED GPIO22 opens as an output"},
		{Fail, "internal reset switch GPIO23: no such device"},
		{Pass, "PIR sensor GPIO17 changed to High"},
		{Fail, "doorbell button GPIO27 saw no edge within 300ms"},
		{Pass, "driven on and off 2 times"},
	}
	// The blink check waits on the fake clock: advance it as it waits.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if clk.BlockUntil(1, 10*time.Millisecond) {
				clk.Advance(250 * time.Millisecond)
			}
		}
	}()
	for i, c := range checks {
		res := c.Run(context.Background())
		if res.Status != want[i].status || !strings.Contains(res.Detail, want[i].detail) {
			t.Errorf("%s: got %s %q, want %s containing %q", c.Name, res.Status, res.Detail, want[i].status, want[i].detail)
		}
		if !c.Required {
			t.Errorf("%s is not required on a wired board in interactive mode", c.Name)
		}
	}
	if !strings.Contains(prompt.String(), ">>> Wave at the sensor (GPIO17)") || !strings.Contains(prompt.String(), ">>> Press the doorbell button (GPIO27)") {
		t.Errorf("prompts:\n%s", prompt.String())
	}
	led := lines["GPIO22"]
	led.mu.Lock()
	outs := led.outs
	led.mu.Unlock()
	if len(outs) < 5 || outs[len(outs)-1] != gpio.Low {
		t.Errorf("LED outputs %v, want low, then high/low twice, ending low", outs)
	}
	if lines["GPIO17"].edge != gpio.BothEdges {
		t.Errorf("PIR edge detection %v, want both edges", lines["GPIO17"].edge)
	}

	// Not interactive: the reading checks are skipped, saying how to run them.
	g.Interactive = false
	res := g.Checks()[4].Run(context.Background())
	if res.Status != Skip || !strings.Contains(res.Detail, "run with --interactive to wave at the sensor") {
		t.Errorf("non-interactive pir: %s %q", res.Status, res.Detail)
	}
	// No GPIO driver: a wired pin fails saying so.
	g.Open = nil
	if res := g.Checks()[0].Run(context.Background()); res.Status != Fail || !strings.Contains(res.Detail, "no GPIO driver") {
		t.Errorf("no driver: %s %q", res.Status, res.Detail)
	}
}

func TestChecksOnSim(t *testing.T) {
	sim, err := boards.Load("sim")
	if err != nil {
		t.Fatal(err)
	}
	checks := Checks(Options{Board: sim, Requested: "sim", StateDir: t.TempDir()})
	required := map[string]bool{}
	for _, c := range checks {
		required[c.Name] = c.Required
	}
	for name, want := range map[string]bool{
		"board": true, "gpio pir line": false, "pir reacts": false, "led blinks": false,
		"camera capture": true, "storage": true, "age encryption": true, "swap": false,
		"memlock limit": false, "core dumps": false, "clock synchronized": true, "broker reachable": false,
	} {
		if got, ok := required[name]; !ok || got != want {
			t.Errorf("check %q: present=%v required=%v, want required=%v", name, ok, got, want)
		}
	}
	// Every check of the sim board's GPIO says why it is skipped.
	for _, c := range checks[1:8] {
		if res := c.Run(context.Background()); res.Status != Skip || !strings.Contains(res.Detail, "board sim has no") {
			t.Errorf("%s on sim: %s %q", c.Name, res.Status, res.Detail)
		}
	}
	if res := checks[len(checks)-1].Run(context.Background()); res.Status != Skip || res.Detail != "no broker configured (mqtt.broker in the config)" {
		t.Errorf("broker without mqtt.broker: %s %q", res.Status, res.Detail)
	}
}
