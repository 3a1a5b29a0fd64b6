// Package boards describes the boards Doorward runs on: for each one, the
// default camera source, the GPIO lines of the PIR sensor, doorbell button,
// LED and internal reset pin (with their header pin numbers on boards with
// the Raspberry Pi 40-pin header), the release builds that run on it, and
// the /proc/device-tree/model strings that identify it.
//
// Profiles are YAML files embedded from profiles/; adding a board is adding a
// file there (its name is the file name without .yaml). Every call parses the
// embedded files afresh, strictly (unknown fields are refused), so the package
// holds no mutable state.
package boards

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

//go:embed profiles/*.yaml
var profileFS embed.FS

// ErrNotDetected is returned (wrapped) by DetectFromFile when no profile
// matches the model string.
var ErrNotDetected = errors.New("boards: no profile matches this board")

// Camera sources a profile may name.
const (
	SourceFile = "file" // an Annex-B H.264 file, looped; "" = the embedded sim clip
	SourceV4L2 = "v4l2" // a V4L2 device that encodes H.264 itself
	SourceExec = "exec" // H.264 on a child process's standard output
)

// Profile is one board's description.
type Profile struct {
	// Name identifies the board (--board, the config's board field). It is
	// the profile file's name without .yaml.
	Name string `yaml:"name"`
	// Description is one line for `doorward boards`.
	Description string `yaml:"description"`
	// Models are substrings of /proc/device-tree/model that identify the
	// board. A profile with none is never detected, only chosen by name.
	Models []string `yaml:"models"`
	// Builds are the release builds that run on the board, named as
	// `make dist` names them (see ReleaseBuilds), the recommended one first;
	// BuildAny alone means every build.
	Builds []string `yaml:"builds"`
	// Camera is the default camera source.
	Camera Camera `yaml:"camera"`
	// Pins names the GPIO lines of the sensors; an empty name means none.
	Pins Pins `yaml:"pins"`
	// GPIOChip is the GPIO character device holding the pins (for example
	// "gpiochip0"); "" means find each line by name on any chip.
	GPIOChip string `yaml:"gpio_chip,omitempty"`
	// Header is the board's pin header: HeaderRPi40 for the Raspberry Pi
	// 40-pin header, which gives each GPIO line its header pin number
	// (HeaderPin); "" when the board has no header with known numbering.
	Header string `yaml:"header,omitempty"`
	// Sim marks the simulated board: fake sensors fed by the control socket,
	// the embedded camera clip, and the only board that may override the
	// clock-sync check.
	Sim bool `yaml:"sim,omitempty"`
}

// Camera is a board's default camera source.
type Camera struct {
	// Source is "file", "v4l2" or "exec".
	Source string `yaml:"source"`
	// File is the Annex-B H.264 file the "file" source loops; "" means the
	// clip embedded in the binary.
	File string `yaml:"file,omitempty"`
	// Device is the V4L2 device of the "v4l2" source, e.g. /dev/video0.
	Device string `yaml:"device,omitempty"`
	// Command is the program and arguments of the "exec" source; it writes
	// H.264 (Annex-B) to its standard output.
	Command []string `yaml:"command,omitempty"`
	// Width and Height are the frame size in pixels.
	Width  int `yaml:"width"`
	Height int `yaml:"height"`
	// FPS is the frame rate.
	FPS int `yaml:"fps"`
}

// Pins names the GPIO lines (e.g. "GPIO17") of a board's sensors; an empty
// name means the board has none.
type Pins struct {
	// PIR is the motion sensor's input.
	PIR string `yaml:"pir,omitempty"`
	// Button is the doorbell button's input.
	Button string `yaml:"button,omitempty"`
	// LED is the status LED's output.
	LED string `yaml:"led,omitempty"`
	// Reset is the factory-reset input inside the enclosure; it is never the
	// doorbell button, which anyone at the door can press.
	Reset string `yaml:"reset,omitempty"`
}

var (
	nameRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	lineRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// BuildAny in a profile's builds means every release build runs on the board.
const BuildAny = "any"

// ReleaseBuilds returns the names of the release builds, as the Makefile's
// cross and dist targets name them: armv6 (GOARCH=arm GOARM=6: the Pi 1 and
// Pi Zero), armv7 (GOARCH=arm GOARM=7: a 32-bit OS on a Pi 2 or later),
// arm64 and amd64.
func ReleaseBuilds() []string { return []string{"armv6", "armv7", "arm64", "amd64"} }

// Validate reports every problem with the profile, joined.
func (p Profile) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("boards: profile %q: "+format, append([]any{p.Name}, args...)...))
	}
	if !nameRE.MatchString(p.Name) {
		bad("name: %q is not valid (valid: lower-case letters, digits and inner dashes)", p.Name)
	}
	if strings.TrimSpace(p.Description) == "" {
		bad("description: empty")
	}
	for i, m := range p.Models {
		if strings.TrimSpace(m) == "" {
			bad("models[%d]: empty", i)
		}
	}
	if p.Sim && len(p.Models) > 0 {
		bad("models: the sim board is never detected, so it has no models")
	}
	validBuilds := strings.Join(ReleaseBuilds(), ", ") + ", or " + BuildAny + " alone"
	if len(p.Builds) == 0 {
		bad("builds: empty (valid: one or more of %s)", validBuilds)
	}
	for i, b := range p.Builds {
		switch {
		case b == BuildAny && len(p.Builds) > 1:
			bad("builds[%d]: %q stands alone (it means every build; valid: one or more of %s)", i, b, validBuilds)
		case b != BuildAny && !slices.Contains(ReleaseBuilds(), b):
			bad("builds[%d]: %q is not valid (valid: one or more of %s)", i, b, validBuilds)
		case slices.Index(p.Builds, b) < i:
			bad("builds[%d]: %q is listed twice", i, b)
		}
	}
	switch {
	case p.Header == "":
	case p.Header != HeaderRPi40:
		bad("header: %q is not valid (valid: %s, or none)", p.Header, HeaderRPi40)
	case p.Sim:
		bad("header: the sim board has no pin header")
	}

	c := p.Camera
	switch c.Source {
	case SourceFile:
	case SourceV4L2:
		if !strings.HasPrefix(c.Device, "/") {
			bad("camera.device: %q is not valid (valid: an absolute path such as /dev/video0)", c.Device)
		}
	case SourceExec:
		if len(c.Command) == 0 || c.Command[0] == "" {
			bad("camera.command: empty (the exec source needs a program)")
		}
	default:
		bad("camera.source: %q is not valid (valid: file, v4l2, exec)", c.Source)
	}
	if c.Source != SourceFile && c.File != "" {
		bad("camera.file: set but camera.source is %q (file is only for the file source)", c.Source)
	}
	if c.Source != SourceV4L2 && c.Device != "" {
		bad("camera.device: set but camera.source is %q (device is only for the v4l2 source)", c.Source)
	}
	if c.Source != SourceExec && len(c.Command) > 0 {
		bad("camera.command: set but camera.source is %q (command is only for the exec source)", c.Source)
	}
	if c.Width < 16 || c.Width > 7680 || c.Width%2 != 0 {
		bad("camera.width: %d is not valid (valid: an even number from 16 to 7680)", c.Width)
	}
	if c.Height < 16 || c.Height > 4320 || c.Height%2 != 0 {
		bad("camera.height: %d is not valid (valid: an even number from 16 to 4320)", c.Height)
	}
	if c.FPS < 1 || c.FPS > 240 {
		bad("camera.fps: %d is not valid (valid: 1 to 240)", c.FPS)
	}

	seen := map[string]string{}
	for _, pin := range []struct{ field, line string }{
		{"pins.pir", p.Pins.PIR},
		{"pins.button", p.Pins.Button},
		{"pins.led", p.Pins.LED},
		{"pins.reset", p.Pins.Reset},
	} {
		if pin.line == "" {
			continue
		}
		if p.Sim {
			bad("%s: the sim board has no GPIO lines", pin.field)
			continue
		}
		if !lineRE.MatchString(pin.line) {
			bad("%s: %q is not a GPIO line name (valid: e.g. GPIO17)", pin.field, pin.line)
			continue
		}
		if other, ok := seen[pin.line]; ok {
			bad("%s: %q is already used by %s", pin.field, pin.line, other)
			continue
		}
		seen[pin.line] = pin.field
	}
	if p.GPIOChip != "" && (p.Sim || !lineRE.MatchString(p.GPIOChip)) {
		bad("gpio_chip: %q is not valid (valid: a chip name such as gpiochip0, none on the sim board)", p.GPIOChip)
	}
	return errors.Join(errs...)
}

// HeaderRPi40 is the Raspberry Pi 40-pin header (every Pi since the 1 B+,
// and the Pi 400 and 500 at the back); the 26-pin header of a Pi 1 A or B
// (revision 2) is its first 26 pins.
const HeaderRPi40 = "rpi40"

// rpi40Pins returns what each pin of the Raspberry Pi 40-pin header carries,
// pin 1 at index 0: GPIO lines by their BCM number, as the official pinout
// gives them.
func rpi40Pins() [40]string {
	return [40]string{
		"3V3", "5V", // 1, 2
		"GPIO2", "5V", // 3, 4
		"GPIO3", "GND", // 5, 6
		"GPIO4", "GPIO14", // 7, 8
		"GND", "GPIO15", // 9, 10
		"GPIO17", "GPIO18", // 11, 12
		"GPIO27", "GND", // 13, 14
		"GPIO22", "GPIO23", // 15, 16
		"3V3", "GPIO24", // 17, 18
		"GPIO10", "GND", // 19, 20
		"GPIO9", "GPIO25", // 21, 22
		"GPIO11", "GPIO8", // 23, 24
		"GND", "GPIO7", // 25, 26
		"GPIO0", "GPIO1", // 27, 28 (ID EEPROM)
		"GPIO5", "GND", // 29, 30
		"GPIO6", "GPIO12", // 31, 32
		"GPIO13", "GND", // 33, 34
		"GPIO19", "GPIO16", // 35, 36
		"GPIO26", "GPIO20", // 37, 38
		"GND", "GPIO21", // 39, 40
	}
}

// HeaderPin returns the physical header pin (1 to 40) that carries the GPIO
// line named line (BCM numbering, e.g. "GPIO17") on the board, or 0 when the
// board has no header with known numbering or the line is not on it.
func (p Profile) HeaderPin(line string) int {
	if p.Header != HeaderRPi40 || !strings.HasPrefix(line, "GPIO") {
		return 0
	}
	pins := rpi40Pins()
	if i := slices.Index(pins[:], line); i >= 0 {
		return i + 1
	}
	return 0
}

// PinLabel names a GPIO line with its header pin, "GPIO17 (pin 11)", or
// returns line unchanged when its pin is not known (and "" for no line).
func (p Profile) PinLabel(line string) string {
	if n := p.HeaderPin(line); n > 0 {
		return fmt.Sprintf("%s (pin %d)", line, n)
	}
	return line
}

// Names returns the names of the embedded profiles, sorted.
func Names() []string {
	entries, err := fs.ReadDir(profileFS, "profiles")
	if err != nil {
		panic("boards: embedded profiles: " + err.Error()) // the embed pattern guarantees the directory
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok && !e.IsDir() {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// Load returns the profile called name.
func Load(name string) (Profile, error) {
	names := Names()
	if !slices.Contains(names, name) {
		return Profile{}, fmt.Errorf("boards: unknown board %q (valid: %s)", name, strings.Join(names, ", "))
	}
	return parseFile(name)
}

// All returns every embedded profile, sorted by name. The embedded profiles
// are checked by the package's tests; All panics if one is invalid.
func All() []Profile {
	var all []Profile
	for _, n := range Names() {
		p, err := parseFile(n)
		if err != nil {
			panic(err)
		}
		all = append(all, p)
	}
	return all
}

// Detect returns the profile whose models match model, the contents of
// /proc/device-tree/model (trailing NUL bytes and white space are ignored).
// When several match, the one with the longest matching model string wins.
func Detect(model string) (Profile, bool) {
	return detect(model, All())
}

// detect is Detect over the given profiles.
func detect(model string, profiles []Profile) (Profile, bool) {
	model = strings.TrimRight(model, "\x00 \t\r\n")
	if model == "" {
		return Profile{}, false
	}
	var best Profile
	bestLen := 0
	for _, p := range profiles {
		for _, m := range p.Models {
			if len(m) > bestLen && strings.Contains(model, m) {
				best, bestLen = p, len(m)
			}
		}
	}
	return best, bestLen > 0
}

// DetectFromFile reads a device-tree model file (normally
// /proc/device-tree/model) and detects the board from it. When no profile
// matches, the error wraps ErrNotDetected and names the model.
func DetectFromFile(path string) (Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Profile{}, fmt.Errorf("boards: detect: %w", err)
	}
	p, ok := Detect(string(b))
	if !ok {
		return Profile{}, fmt.Errorf("%w (model %q from %s)", ErrNotDetected, strings.TrimRight(string(b), "\x00 \t\r\n"), path)
	}
	return p, nil
}

// parseFile decodes and validates the embedded profile called name.
func parseFile(name string) (Profile, error) {
	file := path.Join("profiles", name+".yaml")
	data, err := profileFS.ReadFile(file)
	if err != nil {
		return Profile{}, fmt.Errorf("boards: %w", err)
	}
	p, err := parse(data)
	if err != nil {
		return Profile{}, fmt.Errorf("boards: %s: %w", file, err)
	}
	if p.Name != name {
		return Profile{}, fmt.Errorf("boards: %s: name %q differs from the file name", file, p.Name)
	}
	if err := p.Validate(); err != nil {
		return Profile{}, err
	}
	return p, nil
}

// parse decodes one profile document strictly: unknown fields, a field
// set twice, an empty document and trailing documents are refused. Errors
// name the line and column ("[3:5] unknown field ...").
func parse(data []byte) (Profile, error) {
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return Profile{}, errors.New(yaml.FormatError(err, false, false))
	}
	var body ast.Node
	for _, doc := range file.Docs {
		if doc.Body == nil || doc.Body.Type() == ast.CommentType {
			continue
		}
		if body != nil {
			return Profile{}, errors.New("more than one YAML document")
		}
		body = doc.Body
	}
	if body == nil {
		return Profile{}, errors.New("empty profile")
	}
	var p Profile
	if err := yaml.NodeToValue(body, &p, yaml.DisallowUnknownField()); err != nil {
		return Profile{}, errors.New(yaml.FormatError(err, false, false))
	}
	return p, nil
}
