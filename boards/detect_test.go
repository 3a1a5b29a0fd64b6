package boards

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDetectRecordedModels detects each board from /proc/device-tree/model
// files recorded on real boards (testdata/models, NUL byte included).
func TestDetectRecordedModels(t *testing.T) {
	want := map[string]string{
		"rpi4-model-b-1.4":      "rpi4",
		"rpi4-model-b-1.5":      "rpi4",
		"rpi4-cm4-1.0":          "rpi4",
		"rpi4-400-1.0":          "rpi4",
		"rpi5-model-b-1.0":      "rpi5",
		"rpi5-500-1.0":          "rpi5",
		"rpi5-cm5-1.0":          "rpi5",
		"rpi3-model-b-plus-1.3": "rpi3",
		"rpi3-model-b-1.2":      "rpi3",
		"rpi3-model-a-plus-1.0": "rpi3",
		"rpi3-cm3-plus-1.0":     "rpi3",
		"rpi-zero2w-1.0":        "rpi-zero2w",
		// Boards without a profile: `--board auto` falls back to
		// generic-linux on them.
		"none-zero-w-1.1":    "",
		"none-model-b-2":     "",
		"none-2-model-b-1.1": "",
		"none-rockpro64":     "",
	}
	files, err := filepath.Glob(filepath.Join("testdata", "models", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Errorf("%d recorded models, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		name := filepath.Base(f)
		exp, ok := want[name]
		if !ok {
			t.Errorf("%s: no expectation", name)
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(raw), "\x00") {
			t.Errorf("%s: a recorded model ends in a NUL byte", name)
		}
		p, err := DetectFromFile(f)
		switch {
		case exp == "" && !errors.Is(err, ErrNotDetected):
			t.Errorf("%s (%q): detected %q, %v; want ErrNotDetected", name, raw, p.Name, err)
		case exp != "" && (err != nil || p.Name != exp):
			t.Errorf("%s (%q): detected %q, %v; want %q", name, raw, p.Name, err, exp)
		}
	}
}

func TestRaspberryPiProfiles(t *testing.T) {
	for _, name := range []string{"rpi-zero2w", "rpi3", "rpi4", "rpi5"} {
		p, err := Load(name)
		if err != nil {
			t.Fatal(err)
		}
		if p.Pins != (Pins{PIR: "GPIO17", Button: "GPIO27", LED: "GPIO22", Reset: "GPIO23"}) {
			t.Errorf("%s: pins %+v", name, p.Pins)
		}
		if p.GOARCH != "arm64" || p.GOARM != "" {
			t.Errorf("%s: goarch %q goarm %q", name, p.GOARCH, p.GOARM)
		}
		if p.GPIOChip != "" {
			t.Errorf("%s: gpio_chip %q; lines are found by name", name, p.GPIOChip)
		}
		c := p.Camera
		cmd := strings.Join(c.Command, " ")
		if c.Source != SourceExec || c.Command[0] != "rpicam-vid" ||
			!strings.Contains(cmd, "--codec h264 --inline") || !strings.HasSuffix(cmd, "-o -") ||
			!strings.Contains(cmd, "--width 1280 --height 720 --framerate 30") ||
			c.Width != 1280 || c.Height != 720 || c.FPS != 30 {
			t.Errorf("%s: camera %+v", name, c)
		}
	}
}
