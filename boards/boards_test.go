package boards

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestEmbeddedProfilesLoadAndValidate(t *testing.T) {
	names := Names()
	if len(names) == 0 {
		t.Fatal("no embedded profiles")
	}
	if !slices.IsSorted(names) {
		t.Errorf("Names() = %v, not sorted", names)
	}
	for _, want := range []string{"generic-linux", "rpi-zero", "rpi-zero2w", "rpi1", "rpi2", "rpi3", "rpi4", "rpi5", "sim"} {
		if !slices.Contains(names, want) {
			t.Errorf("Names() = %v, missing %q", names, want)
		}
	}
	models := map[string]string{}
	for _, n := range names {
		p, err := Load(n)
		if err != nil {
			t.Errorf("Load(%q): %v", n, err)
			continue
		}
		if p.Name != n {
			t.Errorf("Load(%q).Name = %q", n, p.Name)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("Load(%q).Validate(): %v", n, err)
		}
		for _, m := range p.Models {
			if other, ok := models[m]; ok {
				t.Errorf("model %q is claimed by both %s and %s", m, other, n)
			}
			models[m] = n
		}
	}
	all := All()
	if len(all) != len(names) {
		t.Fatalf("All() has %d profiles, Names() %d", len(all), len(names))
	}
	sims := 0
	for i, p := range all {
		if p.Name != names[i] {
			t.Errorf("All()[%d].Name = %q, want %q", i, p.Name, names[i])
		}
		if p.Sim {
			sims++
		}
	}
	if sims != 1 {
		t.Errorf("%d sim profiles, want exactly 1", sims)
	}
}

func TestProfileValues(t *testing.T) {
	sim, err := Load("sim")
	if err != nil {
		t.Fatal(err)
	}
	if !sim.Sim || sim.Camera.Source != SourceFile || sim.Camera.File != "" ||
		sim.Camera.Width != 640 || sim.Camera.Height != 480 || sim.Camera.FPS != 30 ||
		sim.Pins != (Pins{}) || !slices.Equal(sim.Builds, []string{BuildAny}) || sim.Header != "" || len(sim.Models) != 0 {
		t.Errorf("sim = %+v", sim)
	}
	gl, err := Load("generic-linux")
	if err != nil {
		t.Fatal(err)
	}
	if gl.Sim || gl.Camera.Source != SourceV4L2 || gl.Camera.Device != "/dev/video0" ||
		gl.Camera.Width != 1280 || gl.Camera.Height != 720 || gl.Camera.FPS != 30 ||
		gl.Pins != (Pins{}) || !slices.Equal(gl.Builds, []string{BuildAny}) || gl.Header != "" {
		t.Errorf("generic-linux = %+v", gl)
	}
}

func TestLoadUnknown(t *testing.T) {
	for _, name := range []string{"foo", "", "../boards", "SIM", "sim.yaml"} {
		_, err := Load(name)
		if err == nil {
			t.Errorf("Load(%q) succeeded", name)
			continue
		}
		want := `boards: unknown board "` + name + `" (valid: ` + strings.Join(Names(), ", ") + ")"
		if err.Error() != want {
			t.Errorf("Load(%q) error = %q, want %q", name, err, want)
		}
	}
	if _, err := Load("foo"); !strings.Contains(err.Error(), "generic-linux, rpi-zero, rpi-zero2w, rpi1, rpi2, rpi3, rpi4, rpi5, sim") {
		t.Errorf("error %q does not list the valid names", err)
	}
}

func TestParseStrict(t *testing.T) {
	good := "name: x\ndescription: d\nbuilds: [any]\ncamera: {source: file, width: 640, height: 480, fps: 30}\n"
	if _, err := parse([]byte(good)); err != nil {
		t.Fatalf("parse(good): %v", err)
	}
	for name, tc := range map[string]struct{ data, want string }{
		"unknown field":   {good + "colour: red\n", `[5:1] unknown field "colour"`},
		"unknown nested":  {strings.Replace(good, "fps: 30", "fps: 30, zoom: 2", 1), `[4:58] unknown field "zoom"`},
		"wrong type":      {strings.Replace(good, "fps: 30", "fps: fast", 1), "cannot unmarshal"},
		"empty":           {"", "empty profile"},
		"two documents":   {good + "---\n" + good, "more than one YAML document"},
		"syntax error":    {"name: [x\n", "[1:7] sequence end token"},
		"not a mapping":   {"- a\n- b\n", "[1:1] sequence was used where mapping is expected"},
		"duplicate field": {good + "name: y\n", "already defined"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parse([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parse error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func validProfile() Profile {
	return Profile{
		Name:        "rpi-test",
		Description: "test board",
		Models:      []string{"Raspberry Pi Test"},
		Builds:      []string{"armv7", "armv6"},
		Camera:      Camera{Source: SourceExec, Command: []string{"rpicam-vid", "-o", "-"}, Width: 1920, Height: 1080, FPS: 30},
		Pins:        Pins{PIR: "GPIO17", Button: "GPIO27", LED: "GPIO22", Reset: "GPIO5"},
		GPIOChip:    "gpiochip0",
		Header:      HeaderRPi40,
	}
}

func TestValidate(t *testing.T) {
	if err := validProfile().Validate(); err != nil {
		t.Fatalf("valid profile: %v", err)
	}
	for name, tc := range map[string]struct {
		edit func(*Profile)
		want string
	}{
		"bad name":         {func(p *Profile) { p.Name = "Rpi 4" }, "name:"},
		"no description":   {func(p *Profile) { p.Description = " " }, "description: empty"},
		"empty model":      {func(p *Profile) { p.Models = []string{""} }, "models[0]: empty"},
		"sim with models":  {func(p *Profile) { p.Sim = true; p.Pins = Pins{}; p.GPIOChip = ""; p.Header = "" }, "sim board is never detected"},
		"sim with pins":    {func(p *Profile) { p.Sim = true; p.Models = nil; p.Header = "" }, "pins.pir: the sim board has no GPIO lines"},
		"no builds":        {func(p *Profile) { p.Builds = nil }, "builds: empty (valid: one or more of armv6, armv7, arm64, amd64, or any alone)"},
		"unknown build":    {func(p *Profile) { p.Builds = []string{"arm64", "armhf"} }, `builds[1]: "armhf" is not valid (valid: one or more of armv6, armv7, arm64, amd64, or any alone)`},
		"goarch as build":  {func(p *Profile) { p.Builds = []string{"arm"} }, `builds[0]: "arm" is not valid`},
		"build twice":      {func(p *Profile) { p.Builds = []string{"arm64", "armv7", "arm64"} }, `builds[2]: "arm64" is listed twice`},
		"any with others":  {func(p *Profile) { p.Builds = []string{"arm64", "any"} }, `builds[1]: "any" stands alone (it means every build;`},
		"unknown header":   {func(p *Profile) { p.Header = "rpi26" }, `header: "rpi26" is not valid (valid: rpi40, or none)`},
		"sim with header":  {func(p *Profile) { p.Sim, p.Models, p.Pins, p.GPIOChip = true, nil, Pins{}, "" }, "header: the sim board has no pin header"},
		"bad source":       {func(p *Profile) { p.Camera.Source = "rtsp" }, `camera.source: "rtsp" is not valid (valid: file, v4l2, exec)`},
		"exec no command":  {func(p *Profile) { p.Camera.Command = nil }, "camera.command: empty"},
		"v4l2 no device":   {func(p *Profile) { p.Camera.Source = SourceV4L2; p.Camera.Command = nil }, `camera.device: "" is not valid`},
		"device on exec":   {func(p *Profile) { p.Camera.Device = "/dev/video0" }, "camera.device: set but camera.source is \"exec\""},
		"file on exec":     {func(p *Profile) { p.Camera.File = "a.h264" }, "camera.file: set but camera.source is \"exec\""},
		"command on file":  {func(p *Profile) { p.Camera.Source = SourceFile }, "camera.command: set but camera.source is \"file\""},
		"odd width":        {func(p *Profile) { p.Camera.Width = 641 }, "camera.width: 641 is not valid (valid: an even number from 16 to 7680)"},
		"zero height":      {func(p *Profile) { p.Camera.Height = 0 }, "camera.height: 0 is not valid"},
		"fps too high":     {func(p *Profile) { p.Camera.FPS = 241 }, "camera.fps: 241 is not valid (valid: 1 to 240)"},
		"bad pin name":     {func(p *Profile) { p.Pins.LED = "GPIO 22" }, `pins.led: "GPIO 22" is not a GPIO line name`},
		"reset is button":  {func(p *Profile) { p.Pins.Reset = p.Pins.Button }, `pins.reset: "GPIO27" is already used by pins.button`},
		"bad chip":         {func(p *Profile) { p.GPIOChip = "/dev/gpiochip0" }, `gpio_chip: "/dev/gpiochip0" is not valid`},
		"several problems": {func(p *Profile) { p.Camera.FPS = 0; p.Camera.Width = 0 }, "camera.width: 0 is not valid (valid: an even number from 16 to 7680)\nboards: profile \"rpi-test\": camera.fps"},
	} {
		t.Run(name, func(t *testing.T) {
			p := validProfile()
			tc.edit(&p)
			err := p.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	pi4 := validProfile()
	pi4.Name, pi4.Models = "rpi4", []string{"Raspberry Pi 4 Model B", "Raspberry Pi Compute Module 4"}
	pi := validProfile()
	pi.Name, pi.Models = "rpi-any", []string{"Raspberry Pi"}
	profiles := []Profile{pi, pi4, {Name: "sim", Sim: true}}
	for _, tc := range []struct {
		model, want string
	}{
		{"Raspberry Pi 4 Model B Rev 1.4\x00", "rpi4"},
		{"Raspberry Pi 4 Model B Rev 1.4\x00\x00\n", "rpi4"},
		{"Raspberry Pi Compute Module 4 Rev 1.0", "rpi4"},
		{"Raspberry Pi 3 Model B Plus Rev 1.3\x00", "rpi-any"},
		{"Pine64 RockPro64\x00", ""},
		{"\x00", ""},
		{"", ""},
	} {
		p, ok := detect(tc.model, profiles)
		if got := map[bool]string{true: p.Name, false: ""}[ok]; got != tc.want {
			t.Errorf("detect(%q) = %q, %v; want %q", tc.model, p.Name, ok, tc.want)
		}
	}
	// The embedded sim and generic-linux boards are never detected.
	if p, ok := Detect("Raspberry Pi 4 Model B Rev 1.4\x00"); ok && (p.Sim || p.Name == "generic-linux") {
		t.Errorf("Detect chose %q", p.Name)
	}
}

func TestDetectFromFile(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	if err := os.WriteFile(model, []byte("Pine64 RockPro64\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := DetectFromFile(model)
	if !errors.Is(err, ErrNotDetected) || !strings.Contains(err.Error(), `"Pine64 RockPro64"`) {
		t.Errorf("DetectFromFile(unknown model) = %v, want ErrNotDetected naming the model", err)
	}
	_, err = DetectFromFile(filepath.Join(dir, "missing"))
	if !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrNotDetected) {
		t.Errorf("DetectFromFile(missing) = %v, want a not-exist error", err)
	}
	// Every model string of every embedded profile detects its profile.
	for _, p := range All() {
		for _, m := range p.Models {
			if err := os.WriteFile(model, []byte(m+" Rev 1.0\x00"), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := DetectFromFile(model)
			if err != nil || got.Name != p.Name {
				t.Errorf("DetectFromFile(%q) = %q, %v; want %q", m, got.Name, err, p.Name)
			}
		}
	}
}
