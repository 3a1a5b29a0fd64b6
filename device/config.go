package device

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/big"
	"net"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/doorward/doorward/boards"
	"github.com/doorward/doorward/consent"
	"gopkg.in/yaml.v3"
)

// Config is the agent's configuration file. Every field has a default (see
// DefaultConfig); a file names only what it changes.
type Config struct {
	// Board is the board profile's name, "auto" to detect it, or "" to leave
	// the choice to the --board flag (and then detection).
	Board string `yaml:"board"`
	// OwnerRecipients are the owners' age recipients proposed at first run.
	OwnerRecipients []string `yaml:"owner_recipients,omitempty"`
	// Camera overrides the board's default camera.
	Camera CameraConfig `yaml:"camera"`
	// Recording sets how clips are cut.
	Recording RecordingConfig `yaml:"recording"`
	// Retention sets when clips are deleted.
	Retention RetentionConfig `yaml:"retention"`
	// Vault is VaultDevice (the device can re-wrap clips for a grant or
	// token) or VaultNone (strict mode: only the owners can open clips).
	Vault VaultMode `yaml:"vault"`
	// Log sets the agent's logging.
	Log LogConfig `yaml:"log"`
	// GPIO overrides the board's sensor lines and sets their polarity and
	// timing.
	GPIO GPIOConfig `yaml:"gpio"`
	// Legal is the trust policy for legal-process tokens that the device
	// proposes at pairing; the owner approves it (or not) and changes it
	// later with signed policy statements, never through this file. With no
	// issuers, the device accepts no legal process at all.
	Legal consent.Policy `yaml:"legal"`
	// Listen is the LAN API's address (pairing, grants, tokens, notices,
	// audit).
	Listen string `yaml:"listen"`
	// MQTT is the uplink's broker session; off while its broker is empty.
	MQTT MQTTConfig `yaml:"mqtt"`
}

// GPIOConfig overrides the board profile's GPIO lines ("" keeps the board's,
// "none" disconnects one) and sets polarity and timing.
type GPIOConfig struct {
	// PIR, Button, LED and Reset are line names such as GPIO17.
	PIR    string `yaml:"pir"`
	Button string `yaml:"button"`
	LED    string `yaml:"led"`
	Reset  string `yaml:"reset"`
	// ActiveLow says, per line, that it reads Low when active (a switch to
	// ground with a pull-up) or, for the LED, that Low lights it.
	ActiveLow GPIOActiveLow `yaml:"active_low"`
	// PIRCooldown is the least time between two motion events.
	PIRCooldown Duration `yaml:"pir_cooldown"`
	// Debounce is how long an input level must hold to count.
	Debounce Duration `yaml:"debounce"`
}

// GPIOActiveLow is the polarity of each GPIO line.
type GPIOActiveLow struct {
	PIR    bool `yaml:"pir"`
	Button bool `yaml:"button"`
	LED    bool `yaml:"led"`
	Reset  bool `yaml:"reset"`
}

// GPIONone in a GPIO line field disconnects that sensor.
const GPIONone = "none"

// CameraConfig overrides the board's camera; zero values keep the board's.
type CameraConfig struct {
	// Source is "" (the board's), "file", "v4l2" or "exec".
	Source string `yaml:"source"`
	// File is the Annex-B H.264 file the file source loops; "" means the
	// clip embedded in the binary.
	File string `yaml:"file"`
	// Device is the V4L2 device, e.g. /dev/video0; "" means the board's.
	Device string `yaml:"device"`
	// Command is the exec source's program and arguments; empty means the
	// board's.
	Command []string `yaml:"command,omitempty"`
	// Width and Height are the frame size in pixels; 0 means the board's.
	Width  int `yaml:"width"`
	Height int `yaml:"height"`
	// FPS is the frame rate; 0 means the board's.
	FPS int `yaml:"fps"`
}

// RecordingConfig sets how motion and rings become clips.
type RecordingConfig struct {
	// PreRoll is how much video from before the event a clip starts with.
	PreRoll Duration `yaml:"pre_roll"`
	// PostRoll is how long recording goes on after the last event.
	PostRoll Duration `yaml:"post_roll"`
	// MaxClip caps one clip's length; a longer event starts a new clip.
	MaxClip Duration `yaml:"max_clip"`
	// Segment is the target length of one encrypted media segment.
	Segment Duration `yaml:"segment"`
	// Buffer is the size of the pre-roll ring buffer, held in RAM only.
	Buffer ByteSize `yaml:"buffer"`
}

// RetentionConfig sets when stored clips are deleted.
type RetentionConfig struct {
	// MaxAge deletes segments older than this.
	MaxAge Duration `yaml:"max_age"`
	// MaxBytes deletes the oldest segments while the clips take more.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// Interval is how often retention runs.
	Interval Duration `yaml:"interval"`
	// HoldMargin is how long after a preserving token expires its legal
	// hold still keeps the footage from retention.
	HoldMargin Duration `yaml:"hold_margin"`
}

// LogConfig sets the agent's logging.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// VaultMode says whether the device keeps a vault key for its clips.
type VaultMode string

// The vault modes.
const (
	// VaultDevice encrypts clips to the owners and to the device's vault
	// key, so the device can re-wrap them for a grant or a legal token.
	VaultDevice VaultMode = "device"
	// VaultNone (strict mode) encrypts clips to the owners alone; the device
	// can disclose only ciphertext the owners alone can open.
	VaultNone VaultMode = "none"
)

// DefaultConfig returns the configuration used for every field a file does
// not set.
func DefaultConfig() Config {
	return Config{
		Listen: "127.0.0.1:8080",
		Recording: RecordingConfig{
			PreRoll:  Duration(5 * time.Second),
			PostRoll: Duration(10 * time.Second),
			MaxClip:  Duration(120 * time.Second),
			Segment:  Duration(4 * time.Second),
			Buffer:   16 * MiB,
		},
		Retention: RetentionConfig{
			MaxAge:     Duration(7 * day),
			MaxBytes:   4 * GiB,
			Interval:   Duration(10 * time.Minute),
			HoldMargin: Duration(30 * day),
		},
		Vault: VaultDevice,
		MQTT:  defaultMQTT(),
		Log:   LogConfig{Level: "info", Format: "text"},
		GPIO: GPIOConfig{
			ActiveLow:   GPIOActiveLow{Button: true, Reset: true},
			PIRCooldown: Duration(10 * time.Second),
			Debounce:    Duration(50 * time.Millisecond),
		},
	}
}

// maxConfigSize bounds the configuration file LoadConfig reads.
const maxConfigSize = 1 << 20

// LoadConfig reads and parses the configuration file at path; its errors
// name the path.
func LoadConfig(path string) (Config, error) {
	prefix := "device: config " + path + ": "
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("device: config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return Config{}, fmt.Errorf("device: config: %w", err)
	}
	if len(data) > maxConfigSize {
		return Config{}, fmt.Errorf("%sfile is larger than %v", prefix, ByteSize(maxConfigSize))
	}
	return parseConfig(data, prefix)
}

// ParseConfig parses a configuration file's contents over the defaults and
// validates the result. Unknown fields, duplicate fields, empty values of a
// section and more than one YAML document are refused; an error names the
// field, its line and what would be valid. An empty document gives the
// defaults.
func ParseConfig(data []byte) (Config, error) {
	return parseConfig(data, "device: config: ")
}

func parseConfig(data []byte, prefix string) (Config, error) {
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return cfg, joinConfigErrors(prefix, cfg.problems())
	case err != nil:
		return Config{}, fmt.Errorf("%s%w", prefix, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("%smore than one YAML document (line %d)", prefix, extra.Line)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if !isNull(root) {
		if errs := decodeConfigNode(root, reflect.ValueOf(&cfg).Elem(), ""); len(errs) > 0 {
			return Config{}, joinConfigErrors(prefix, errs)
		}
		// A second, stock strict decode: it must agree with the walk above
		// that nothing is unknown or mistyped.
		strict := yaml.NewDecoder(bytes.NewReader(data))
		strict.KnownFields(true)
		var check Config
		if err := strict.Decode(&check); err != nil {
			return Config{}, fmt.Errorf("%s%w", prefix, err)
		}
	}
	return cfg, joinConfigErrors(prefix, cfg.problems())
}

// decodeConfigNode decodes the mapping n into the struct v field by field,
// so that each error names its field path and line. An empty (null) value
// keeps the default.
func decodeConfigNode(n *yaml.Node, v reflect.Value, path string) []error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		what := "the file"
		if path != "" {
			what = path
		}
		return []error{fmt.Errorf("line %d: %s: %s is not a mapping of fields", n.Line, what, nodeKind(n))}
	}
	t := v.Type()
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		fields[name] = i
		names = append(names, name)
	}
	slices.Sort(names)
	var errs []error
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := k.Value
		field := key
		if path != "" {
			field = path + "." + key
		}
		if k.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("line %d: %s: a field name must be a plain string", k.Line, orFile(path)))
			continue
		}
		if line, dup := seen[key]; dup {
			errs = append(errs, fmt.Errorf("line %d: %s: already set on line %d", k.Line, field, line))
			continue
		}
		seen[key] = k.Line
		idx, ok := fields[key]
		if !ok {
			errs = append(errs, fmt.Errorf("line %d: %s: unknown field (valid in %s: %s)", k.Line, field, orFile(path), strings.Join(names, ", ")))
			continue
		}
		if isNull(val) {
			continue // keep the default
		}
		fv := v.Field(idx)
		if fv.Kind() == reflect.Struct && !reflect.PointerTo(fv.Type()).Implements(reflect.TypeFor[yaml.Unmarshaler]()) {
			errs = append(errs, decodeConfigNode(val, fv, field)...)
			continue
		}
		p := reflect.New(fv.Type())
		if err := val.Decode(p.Interface()); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %s: %s", val.Line, field, yamlErrorText(err)))
			continue
		}
		if k := p.Elem().Kind(); (k == reflect.Slice || k == reflect.Map) && p.Elem().Len() == 0 {
			continue // an empty list is the default (none)
		}
		fv.Set(p.Elem())
	}
	return errs
}

func orFile(path string) string {
	if path == "" {
		return "the file"
	}
	return path
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	default:
		return "this value"
	}
}

// yamlErrorText strips yaml.v3's "yaml: unmarshal errors: line N:" framing,
// since the caller names the line itself.
func yamlErrorText(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			if _, rest, ok := strings.Cut(m, ": "); ok && strings.HasPrefix(m, "line ") {
				m = rest
			}
			msgs[i] = m
		}
		return strings.Join(msgs, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

func joinConfigErrors(prefix string, errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	wrapped := make([]error, len(errs))
	for i, e := range errs {
		wrapped[i] = fmt.Errorf("%s%w", prefix, e)
	}
	return errors.Join(wrapped...)
}

// Validate reports every problem with c, one per line (errors.Join), each
// naming the field, the bad value and what would be valid.
func (c Config) Validate() error {
	return joinConfigErrors("device: config: ", c.problems())
}

func (c Config) problems() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if len(c.Legal.Issuers) > 0 || len(c.Legal.Quorum) > 0 {
		if err := c.Legal.Validate(); err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				bad("legal: %s", strings.TrimPrefix(line, "consent: policy: "))
			}
		}
	}
	if _, _, err := net.SplitHostPort(c.Listen); c.Listen != "" && err != nil {
		bad("listen: %q is not a host:port address (for example 127.0.0.1:8080, or :8080 for every interface)", c.Listen)
	}
	oneOf := func(field, value string, valid ...string) {
		if !slices.Contains(valid, value) {
			bad("%s: %q is not valid (valid: %s)", field, value, strings.Join(valid, ", "))
		}
	}
	durRange := func(field string, d Duration, lo, hi time.Duration) {
		if time.Duration(d) < lo || (hi > 0 && time.Duration(d) > hi) {
			valid := Duration(lo).String() + " to " + Duration(hi).String()
			if hi == 0 {
				valid = Duration(lo).String() + " or more"
			}
			bad("%s: %q is out of range (valid: %s)", field, d, valid)
		}
	}
	sizeRange := func(field string, s, lo, hi ByteSize) {
		if s < lo || (hi > 0 && s > hi) {
			valid := lo.String() + " to " + hi.String()
			if hi == 0 {
				valid = lo.String() + " or more"
			}
			bad("%s: %q is out of range (valid: %s)", field, s, valid)
		}
	}

	if c.Board != "" {
		oneOf("board", c.Board, append([]string{"auto"}, boards.Names()...)...)
	}
	for i, r := range c.OwnerRecipients {
		if strings.TrimSpace(r) == "" {
			bad("owner_recipients[%d]: %q is empty (valid: an age recipient such as age1...)", i, r)
		} else if hasControl(r) {
			bad("owner_recipients[%d]: %q contains a control character (valid: an age recipient such as age1...)", i, r)
		}
	}

	cam := c.Camera
	if cam.Source != "" && cam.Source != boards.SourceFile && cam.Source != boards.SourceV4L2 && cam.Source != boards.SourceExec {
		bad("camera.source: %q is not valid (valid: file, v4l2, exec, or empty for the board's)", cam.Source)
	}
	if hasControl(cam.File) {
		bad("camera.file: %q contains a control character (valid: a file path)", cam.File)
	}
	if cam.File != "" && (cam.Source == boards.SourceV4L2 || cam.Source == boards.SourceExec) {
		bad("camera.file: %q is set but camera.source is %q (valid: file only with source file)", cam.File, cam.Source)
	}
	if cam.Device != "" {
		if !strings.HasPrefix(cam.Device, "/") || hasControl(cam.Device) {
			bad("camera.device: %q is not valid (valid: an absolute path such as /dev/video0)", cam.Device)
		} else if cam.Source == boards.SourceFile || cam.Source == boards.SourceExec {
			bad("camera.device: %q is set but camera.source is %q (valid: device only with source v4l2)", cam.Device, cam.Source)
		}
	}
	for i, arg := range cam.Command {
		if hasControl(arg) {
			bad("camera.command[%d]: %q contains a control character (valid: printable text)", i, arg)
		}
	}
	if len(cam.Command) > 0 {
		if cam.Command[0] == "" {
			bad("camera.command[0]: \"\" is empty (valid: the program to run, e.g. rpicam-vid)")
		} else if cam.Source == boards.SourceFile || cam.Source == boards.SourceV4L2 {
			bad("camera.command: %q is set but camera.source is %q (valid: command only with source exec)", cam.Command[0], cam.Source)
		}
	}
	intRange := func(field string, v, lo, hi int) {
		if v != 0 && (v < lo || v > hi) {
			bad("%s: %d is out of range (valid: 0 for the board's, or %d to %d)", field, v, lo, hi)
		}
	}
	intRange("camera.width", cam.Width, 16, 7680)
	intRange("camera.height", cam.Height, 16, 4320)
	intRange("camera.fps", cam.FPS, 1, 240)
	if (cam.Width == 0) != (cam.Height == 0) {
		bad("camera.width, camera.height: %dx%d sets only one (valid: both, or neither for the board's)", cam.Width, cam.Height)
	}

	rec := c.Recording
	durRange("recording.pre_roll", rec.PreRoll, 0, time.Minute)
	durRange("recording.post_roll", rec.PostRoll, time.Second, 10*time.Minute)
	durRange("recording.max_clip", rec.MaxClip, 10*time.Second, time.Hour)
	if rec.PreRoll >= 0 && rec.MaxClip >= 10*Duration(time.Second) && rec.MaxClip < rec.PreRoll+Duration(time.Second) {
		bad("recording.max_clip: %q is shorter than recording.pre_roll plus 1s (valid: %v or more)", rec.MaxClip, rec.PreRoll+Duration(time.Second))
	}
	durRange("recording.segment", rec.Segment, time.Second, 30*time.Second)
	sizeRange("recording.buffer", rec.Buffer, MiB, 512*MiB)

	ret := c.Retention
	durRange("retention.max_age", ret.MaxAge, time.Hour, 0)
	sizeRange("retention.max_bytes", ret.MaxBytes, 64*MiB, 0)
	durRange("retention.interval", ret.Interval, 10*time.Second, 24*time.Hour)
	durRange("retention.hold_margin", ret.HoldMargin, 0, 365*day)

	g := c.GPIO
	lines := map[string]string{}
	for _, l := range []struct{ field, line string }{
		{"gpio.pir", g.PIR}, {"gpio.button", g.Button}, {"gpio.led", g.LED}, {"gpio.reset", g.Reset},
	} {
		switch {
		case l.line == "" || l.line == GPIONone:
		case len(l.line) > 64 || !gpioLineRE.MatchString(l.line):
			bad("%s: %q is not a GPIO line name (valid: a name such as GPIO17, \"none\", or empty for the board's)", l.field, l.line)
		case lines[l.line] != "":
			bad("%s: %q is already used by %s (valid: a line of its own)", l.field, l.line, lines[l.line])
		default:
			lines[l.line] = l.field
		}
	}
	durRange("gpio.pir_cooldown", g.PIRCooldown, time.Second, 10*time.Minute)
	durRange("gpio.debounce", g.Debounce, time.Millisecond, time.Second)

	oneOf("vault", string(c.Vault), string(VaultDevice), string(VaultNone))
	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf("log.format", c.Log.Format, "text", "json")
	errs = append(errs, c.MQTT.problems()...)
	return errs
}

// gpioLineRE matches GPIO line names as the kernel reports them.
var gpioLineRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// hasControl reports whether s holds a control character (tab excepted) or
// is not valid UTF-8: neither belongs in a path, command or recipient.
func hasControl(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	return strings.ContainsFunc(s, func(r rune) bool { return r != '\t' && unicode.IsControl(r) })
}

// SlogLevel returns the slog level for l.Level (info when it is not valid).
func (l LogConfig) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

const day = 24 * time.Hour

// Duration is a time.Duration written in the configuration as a string:
// Go's units ("90s", "1h30m", "500ms") plus d for days of 24 hours ("7d",
// "1d12h").
type Duration time.Duration

// ParseDuration parses s as a Duration.
func ParseDuration(s string) (Duration, error) {
	if !strings.Contains(s, "d") {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (valid: e.g. 90s, 10m, 7d)", s)
		}
		return Duration(d), nil
	}
	bad := fmt.Errorf("%q is not a duration (valid: e.g. 90s, 10m, 7d)", s)
	rest, neg := s, false
	if r, ok := strings.CutPrefix(rest, "-"); ok {
		rest, neg = r, true
	} else {
		rest = strings.TrimPrefix(rest, "+")
	}
	if rest == "" {
		return 0, bad
	}
	var total time.Duration
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] == '.' || '0' <= rest[i] && rest[i] <= '9') {
			i++
		}
		j := i
		for j < len(rest) && rest[j] != '.' && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		rest = rest[j:]
		if num == "" || unit == "" {
			return 0, bad
		}
		var d time.Duration
		if unit == "d" {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || f*float64(day) >= math.MaxInt64 {
				return 0, bad
			}
			d = time.Duration(f * float64(day))
		} else {
			var err error
			if d, err = time.ParseDuration(num + unit); err != nil {
				return 0, bad
			}
		}
		if total > math.MaxInt64-d {
			return 0, bad
		}
		total += d
	}
	if neg {
		total = -total
	}
	return Duration(total), nil
}

// String formats d the way the configuration writes it: whole numbers of
// days (two or more) as "7d", otherwise like time.Duration without zero
// units ("10m", "1h30m", "1.5s").
func (d Duration) String() string {
	td := time.Duration(d)
	switch {
	case td == 0:
		return "0s"
	case td < 0:
		if td == math.MinInt64 {
			return td.String()
		}
		return "-" + Duration(-td).String()
	case td%time.Second != 0:
		return td.String()
	case td >= 2*day && td%day == 0:
		return strconv.FormatInt(int64(td/day), 10) + "d"
	}
	var b strings.Builder
	for _, u := range []struct {
		unit string
		d    time.Duration
	}{{"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if n := td / u.d; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10) + u.unit)
			td -= n * u.d
		}
	}
	return b.String()
}

// UnmarshalYAML decodes a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%s is not a duration (valid: e.g. 90s, 10m, 7d)", nodeKind(n))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML encodes d as its String form.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// ByteSize is a number of bytes, written in the configuration as a plain
// integer or with a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB,
// GiB, TiB (powers of 1024), e.g. "16MiB", "500MB", "1.5GiB".
type ByteSize int64

// Byte size units.
const (
	KB ByteSize = 1000
	MB          = 1000 * KB
	GB          = 1000 * MB
	TB          = 1000 * GB

	KiB ByteSize = 1 << 10
	MiB          = 1 << 20
	GiB          = 1 << 30
	TiB          = 1 << 40
)

// byteUnits lists the units, largest first, as String prefers them.
func byteUnits() []struct {
	name string
	size ByteSize
} {
	return []struct {
		name string
		size ByteSize
	}{
		{"TiB", TiB}, {"TB", TB}, {"GiB", GiB}, {"GB", GB},
		{"MiB", MiB}, {"MB", MB}, {"KiB", KiB}, {"KB", KB}, {"B", 1},
	}
}

// ParseByteSize parses s, a plain number of bytes or a number with a unit.
func ParseByteSize(s string) (ByteSize, error) {
	bad := func() (ByteSize, error) {
		return 0, fmt.Errorf("%q is not a size (valid: bytes, or a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, e.g. 16MiB)", s)
	}
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] == '.' || '0' <= t[i] && t[i] <= '9') {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	mult := ByteSize(0)
	if unit == "" {
		mult = 1
	} else if unit == "kB" {
		mult = KB
	}
	for _, u := range byteUnits() {
		if u.name == unit {
			mult = u.size
		}
	}
	whole, frac, _ := strings.Cut(num, ".")
	if mult == 0 || whole == "" || strings.Contains(frac, ".") || (unit == "" && strings.Contains(num, ".")) {
		return bad()
	}
	n, ok := new(big.Int).SetString(whole+frac, 10)
	if !ok {
		return bad()
	}
	n.Mul(n, big.NewInt(int64(mult)))
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil)
	q, r := new(big.Int).QuoRem(n, scale, new(big.Int))
	if r.Sign() != 0 || !q.IsInt64() {
		return bad()
	}
	return ByteSize(q.Int64()), nil
}

// String formats b with the largest unit that divides it exactly, binary
// units first ("16MiB", "500MB", "1000B").
func (b ByteSize) String() string {
	if b <= 0 {
		return strconv.FormatInt(int64(b), 10) + "B"
	}
	for _, u := range byteUnits() {
		if b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.name
		}
	}
	panic("unreachable") // the unit B divides everything
}

// UnmarshalYAML decodes a plain integer or a size string.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%s is not a size (valid: e.g. 16MiB, 500MB, 1048576)", nodeKind(n))
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalYAML encodes b as its String form.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }
