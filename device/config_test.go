package device

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestConfigDefaults(t *testing.T) {
	want := Config{
		Board:  "",
		Listen: "127.0.0.1:8080",
		Recording: RecordingConfig{
			PreRoll:  Duration(5 * time.Second),
			PostRoll: Duration(10 * time.Second),
			MaxClip:  Duration(120 * time.Second),
			Segment:  Duration(4 * time.Second),
			Buffer:   16 << 20,
		},
		Retention: RetentionConfig{
			MaxAge:     Duration(7 * 24 * time.Hour),
			MaxBytes:   4 << 30,
			Interval:   Duration(10 * time.Minute),
			HoldMargin: Duration(30 * 24 * time.Hour),
		},
		Vault: "device",
		Log:   LogConfig{Level: "info", Format: "text"},
		MQTT:  MQTTConfig{OutboxMax: 16 << 20},
		GPIO: GPIOConfig{
			ActiveLow:   GPIOActiveLow{Button: true, Reset: true},
			PIRCooldown: Duration(10 * time.Second),
			Debounce:    Duration(50 * time.Millisecond),
		},
	}
	if got := DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultConfig() = %+v, want %+v", got, want)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v", err)
	}
	for _, data := range []string{"", "\n", "# only a comment\n", "---\n", "~\n", "null\n"} {
		got, err := ParseConfig([]byte(data))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseConfig(%q) = %+v, %v; want the defaults", data, got, err)
		}
	}
}

func TestExampleConfigIsDefaults(t *testing.T) {
	got, err := LoadConfig(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("testdata/example.yaml = %+v, want the defaults %+v", got, want)
	}
}

func TestParseConfigGood(t *testing.T) {
	for _, tc := range []struct {
		yaml  string
		check func(Config) bool
	}{
		{"board: sim", func(c Config) bool { return c.Board == "sim" }},
		{"board: generic-linux", func(c Config) bool { return c.Board == "generic-linux" }},
		{"board: auto", func(c Config) bool { return c.Board == "auto" }},
		{"board: rpi5", func(c Config) bool { return c.Board == "rpi5" }},
		{"gpio: {pir: GPIO4, led: none, active_low: {button: false, led: true}, pir_cooldown: 30s, debounce: 20ms}", func(c Config) bool {
			g := c.GPIO
			return g.PIR == "GPIO4" && g.LED == GPIONone && g.Button == "" && g.Reset == "" &&
				g.ActiveLow == GPIOActiveLow{LED: true, Reset: true} &&
				g.PIRCooldown == Duration(30*time.Second) && g.Debounce == Duration(20*time.Millisecond)
		}},
		{"gpio: {button: none, reset: none, pir: none}", func(c Config) bool { return c.GPIO.Button == GPIONone }},
		{"gpio:\n  reset: PIN_23\n", func(c Config) bool { return c.GPIO.Reset == "PIN_23" }},
		{`board: ""`, func(c Config) bool { return c.Board == "" }},
		{"owner_recipients: [age1abc, age1def]", func(c Config) bool {
			return reflect.DeepEqual(c.OwnerRecipients, []string{"age1abc", "age1def"})
		}},
		{"owner_recipients: []", func(c Config) bool { return c.OwnerRecipients == nil }},
		{"camera: {source: file}", func(c Config) bool { return c.Camera.Source == "file" && c.Camera.File == "" }},
		{"camera: {source: file, file: /var/lib/doorward/door.h264}", func(c Config) bool { return c.Camera.File == "/var/lib/doorward/door.h264" }},
		{"camera: {source: v4l2, device: /dev/video2}", func(c Config) bool { return c.Camera.Device == "/dev/video2" }},
		{"camera: {device: /dev/video2}", func(c Config) bool { return c.Camera.Device == "/dev/video2" }},
		{`camera: {source: exec, command: [rpicam-vid, -t, 0, -o, "-"]}`, func(c Config) bool {
			return reflect.DeepEqual(c.Camera.Command, []string{"rpicam-vid", "-t", "0", "-o", "-"})
		}},
		{"camera: {width: 1920, height: 1080, fps: 25}", func(c Config) bool {
			return c.Camera.Width == 1920 && c.Camera.Height == 1080 && c.Camera.FPS == 25
		}},
		{"camera: {fps: 1}", func(c Config) bool { return c.Camera.FPS == 1 }},
		{"camera: {fps: 240}", func(c Config) bool { return c.Camera.FPS == 240 }},
		{"camera:\n#  source: v4l2\n", func(c Config) bool { return reflect.DeepEqual(c.Camera, CameraConfig{}) }},
		{"recording: {pre_roll: 0s}", func(c Config) bool { return c.Recording.PreRoll == 0 }},
		{"recording: {pre_roll: 60s, max_clip: 61s}", func(c Config) bool {
			return c.Recording.PreRoll == Duration(time.Minute) && c.Recording.MaxClip == Duration(61*time.Second)
		}},
		{"recording: {post_roll: 1s}", func(c Config) bool { return c.Recording.PostRoll == Duration(time.Second) }},
		{"recording: {post_roll: 10m}", func(c Config) bool { return c.Recording.PostRoll == Duration(10*time.Minute) }},
		{"recording: {post_roll: 1m30s}", func(c Config) bool { return c.Recording.PostRoll == Duration(90*time.Second) }},
		{"recording: {max_clip: 10s}", func(c Config) bool { return c.Recording.MaxClip == Duration(10*time.Second) }},
		{"recording: {max_clip: 1h}", func(c Config) bool { return c.Recording.MaxClip == Duration(time.Hour) }},
		{"recording: {segment: 1s}", func(c Config) bool { return c.Recording.Segment == Duration(time.Second) }},
		{"recording: {segment: 30s}", func(c Config) bool { return c.Recording.Segment == Duration(30*time.Second) }},
		{"recording: {segment: 2500ms}", func(c Config) bool { return c.Recording.Segment == Duration(2500*time.Millisecond) }},
		{"recording: {buffer: 1MiB}", func(c Config) bool { return c.Recording.Buffer == MiB }},
		{"recording: {buffer: 512MiB}", func(c Config) bool { return c.Recording.Buffer == 512*MiB }},
		{"recording: {buffer: 64MB}", func(c Config) bool { return c.Recording.Buffer == 64_000_000 }},
		{"recording: {buffer: 2097152}", func(c Config) bool { return c.Recording.Buffer == 2*MiB }},
		{"recording: {buffer: 32 MiB}", func(c Config) bool { return c.Recording.Buffer == 32*MiB }},
		{"recording:\n  pre_roll:\n", func(c Config) bool { return c.Recording.PreRoll == DefaultConfig().Recording.PreRoll }},
		{"retention: {max_age: 1h}", func(c Config) bool { return c.Retention.MaxAge == Duration(time.Hour) }},
		{"retention: {max_age: 30d}", func(c Config) bool { return c.Retention.MaxAge == Duration(30*24*time.Hour) }},
		{"retention: {max_age: 1d12h}", func(c Config) bool { return c.Retention.MaxAge == Duration(36*time.Hour) }},
		{"retention: {max_bytes: 64MiB}", func(c Config) bool { return c.Retention.MaxBytes == 64*MiB }},
		{"retention: {max_bytes: 2TB}", func(c Config) bool { return c.Retention.MaxBytes == 2*TB }},
		{"retention: {max_bytes: 1.5GiB}", func(c Config) bool { return c.Retention.MaxBytes == 3*GiB/2 }},
		{"retention: {interval: 10s}", func(c Config) bool { return c.Retention.Interval == Duration(10*time.Second) }},
		{"retention: {interval: 24h}", func(c Config) bool { return c.Retention.Interval == Duration(24*time.Hour) }},
		{"retention: {interval: 1d}", func(c Config) bool { return c.Retention.Interval == Duration(24*time.Hour) }},
		{"vault: none", func(c Config) bool { return c.Vault == VaultNone }},
		{"vault: device", func(c Config) bool { return c.Vault == VaultDevice }},
		{"log: {level: debug, format: json}", func(c Config) bool { return c.Log == LogConfig{"debug", "json"} }},
		{"log: {level: warn}", func(c Config) bool { return c.Log == LogConfig{"warn", "text"} }},
		{"log: {level: error}", func(c Config) bool { return c.Log.Level == "error" }},
	} {
		t.Run(tc.yaml, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.yaml))
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			if !tc.check(c) {
				t.Errorf("ParseConfig = %+v", c)
			}
			// Fields the snippet does not name keep their defaults.
			d := DefaultConfig()
			if !strings.Contains(tc.yaml, "vault") && c.Vault != d.Vault {
				t.Errorf("vault = %q, want the default", c.Vault)
			}
			if !strings.Contains(tc.yaml, "retention") && c.Retention != d.Retention {
				t.Errorf("retention = %+v, want the default", c.Retention)
			}
		})
	}
}

// TestParseConfigBad checks that each bad value is refused with a message
// naming the field, the value and what is valid.
func TestParseConfigBad(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want string // the whole first line of the error, after "device: config: "
	}{
		{"board: foo", `board: "foo" is not valid (valid: auto, generic-linux, rpi-zero2w, rpi3, rpi4, rpi5, sim)`},
		{"board: SIM", `board: "SIM" is not valid (valid: auto, generic-linux, rpi-zero2w, rpi3, rpi4, rpi5, sim)`},
		{`owner_recipients: [age1abc, ""]`, `owner_recipients[1]: "" is empty (valid: an age recipient such as age1...)`},
		{`owner_recipients: age1abc`, "line 1: owner_recipients: cannot unmarshal !!str `age1abc` into []string"},
		{"camera: {source: rtsp}", `camera.source: "rtsp" is not valid (valid: file, v4l2, exec, or empty for the board's)`},
		{"camera: {source: v4l2, file: a.h264}", `camera.file: "a.h264" is set but camera.source is "v4l2" (valid: file only with source file)`},
		{"camera: {device: video0}", `camera.device: "video0" is not valid (valid: an absolute path such as /dev/video0)`},
		{"camera: {source: exec, device: /dev/video0}", `camera.device: "/dev/video0" is set but camera.source is "exec" (valid: device only with source v4l2)`},
		{"camera: {source: v4l2, command: [ffmpeg]}", `camera.command: "ffmpeg" is set but camera.source is "v4l2" (valid: command only with source exec)`},
		{`camera: {command: ["rpicam-vid", "-o\r\n"]}`, `camera.command[1]: "-o\r\n" contains a control character (valid: printable text)`},
		{`camera: {file: "a\x00.h264"}`, `camera.file: "a\x00.h264" contains a control character (valid: a file path)`},
		{`camera: {device: "/dev/video0\n"}`, `camera.device: "/dev/video0\n" is not valid (valid: an absolute path such as /dev/video0)`},
		{`owner_recipients: ["age1\u0085"]`, `owner_recipients[0]: "age1\u0085" contains a control character`},
		{`camera: {command: [""]}`, `camera.command[0]: "" is empty (valid: the program to run, e.g. rpicam-vid)`},
		{"camera: {width: 8, height: 8}", `camera.width: 8 is out of range (valid: 0 for the board's, or 16 to 7680)`},
		{"camera: {width: 640, height: 5000}", `camera.height: 5000 is out of range (valid: 0 for the board's, or 16 to 4320)`},
		{"camera: {width: 640}", `camera.width, camera.height: 640x0 sets only one (valid: both, or neither for the board's)`},
		{"camera: {fps: 241}", `camera.fps: 241 is out of range (valid: 0 for the board's, or 1 to 240)`},
		{"camera: {fps: -1}", `camera.fps: -1 is out of range (valid: 0 for the board's, or 1 to 240)`},
		{"camera: {fps: fast}", "line 1: camera.fps: cannot unmarshal !!str `fast` into int"},
		{"camera: [v4l2]", `line 1: camera: a list is not a mapping of fields`},
		{"recording: {pre_roll: 61s}", `recording.pre_roll: "1m1s" is out of range (valid: 0s to 1m)`},
		{"recording: {pre_roll: -1s}", `recording.pre_roll: "-1s" is out of range (valid: 0s to 1m)`},
		{"recording: {post_roll: 0s}", `recording.post_roll: "0s" is out of range (valid: 1s to 10m)`},
		{"recording: {post_roll: 11m}", `recording.post_roll: "11m" is out of range (valid: 1s to 10m)`},
		{"recording: {max_clip: 9s}", `recording.max_clip: "9s" is out of range (valid: 10s to 1h)`},
		{"recording: {max_clip: 2h}", `recording.max_clip: "2h" is out of range (valid: 10s to 1h)`},
		{"recording: {pre_roll: 30s, max_clip: 30s}", `recording.max_clip: "30s" is shorter than recording.pre_roll plus 1s (valid: 31s or more)`},
		{"recording: {segment: 500ms}", `recording.segment: "500ms" is out of range (valid: 1s to 30s)`},
		{"recording: {segment: 31s}", `recording.segment: "31s" is out of range (valid: 1s to 30s)`},
		{"recording: {segment: 5}", `line 1: recording.segment: "5" is not a duration (valid: e.g. 90s, 10m, 7d)`},
		{"recording: {segment: 4 s}", `line 1: recording.segment: "4 s" is not a duration (valid: e.g. 90s, 10m, 7d)`},
		{"recording: {segment: [4s]}", `line 1: recording.segment: a list is not a duration (valid: e.g. 90s, 10m, 7d)`},
		{"recording: {buffer: 1000KiB}", `recording.buffer: "1000KiB" is out of range (valid: 1MiB to 512MiB)`},
		{"recording: {buffer: 513MiB}", `recording.buffer: "513MiB" is out of range (valid: 1MiB to 512MiB)`},
		{"recording: {buffer: 1GB}", `recording.buffer: "1GB" is out of range (valid: 1MiB to 512MiB)`},
		{"recording: {buffer: 16mib}", `line 1: recording.buffer: "16mib" is not a size (valid: bytes, or a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, e.g. 16MiB)`},
		{"recording: {buffer: -16MiB}", `line 1: recording.buffer: "-16MiB" is not a size`},
		{"retention: {max_age: 59m}", `retention.max_age: "59m" is out of range (valid: 1h or more)`},
		{"retention: {max_age: 7days}", `line 1: retention.max_age: "7days" is not a duration (valid: e.g. 90s, 10m, 7d)`},
		{"retention: {max_bytes: 63MiB}", `retention.max_bytes: "63MiB" is out of range (valid: 64MiB or more)`},
		{"retention: {max_bytes: 0}", `retention.max_bytes: "0B" is out of range (valid: 64MiB or more)`},
		{"retention: {interval: 9s}", `retention.interval: "9s" is out of range (valid: 10s to 24h)`},
		{"retention: {interval: 2d}", `retention.interval: "2d" is out of range (valid: 10s to 24h)`},
		{"vault: plain", `vault: "plain" is not valid (valid: device, none)`},
		{`vault: ""`, `vault: "" is not valid (valid: device, none)`},
		{"log: {level: trace}", `log.level: "trace" is not valid (valid: debug, info, warn, error)`},
		{"log: {format: logfmt}", `log.format: "logfmt" is not valid (valid: text, json)`},
		// Unknown and duplicate fields, bad YAML, more than one document.
		{"gpio: {pir: GPIO 17}", `gpio.pir: "GPIO 17" is not a GPIO line name (valid: a name such as GPIO17, "none", or empty for the board's)`},
		{"gpio: {led: /dev/gpiochip0}", `gpio.led: "/dev/gpiochip0" is not a GPIO line name (valid: a name such as GPIO17, "none", or empty for the board's)`},
		{"gpio: {button: GPIO5, reset: GPIO5}", `gpio.reset: "GPIO5" is already used by gpio.button (valid: a line of its own)`},
		{"gpio: {pir_cooldown: 500ms}", `gpio.pir_cooldown: "500ms" is out of range (valid: 1s to 10m)`},
		{"gpio: {debounce: 0s}", `gpio.debounce: "0s" is out of range (valid: 1ms to 1s)`},
		{"gpio: {debounce: 2s}", `gpio.debounce: "2s" is out of range (valid: 1ms to 1s)`},
		{"gpio: {active_low: {button: maybe}}", "line 1: gpio.active_low.button: cannot unmarshal !!str `maybe` into bool"},
		{"gpio: {active_low: {door: true}}", `line 1: gpio.active_low.door: unknown field (valid in gpio.active_low: button, led, pir, reset)`},
		{"gpio: {pin: GPIO4}", `line 1: gpio.pin: unknown field (valid in gpio: active_low, button, debounce, led, pir, pir_cooldown, reset)`},
		{"colour: red", `line 1: colour: unknown field (valid in the file: board, camera, gpio, legal, listen, log, mqtt, owner_recipients, recording, retention, vault)`},
		{"recording:\n  preroll: 5s", `line 2: recording.preroll: unknown field (valid in recording: buffer, max_clip, post_roll, pre_roll, segment)`},
		{"log: {level: info, colour: true}", `line 1: log.colour: unknown field (valid in log: format, level)`},
		{"vault: none\nvault: device", `line 2: vault: already set on line 1`},
		{"<<: {vault: none}", `line 1: <<: unknown field`},
		{"board: [sim", `yaml: line 1: did not find expected ',' or ']'`},
		{"\tboard: sim", `yaml: found character that cannot start any token`},
		{"- board: sim", `line 1: the file: a list is not a mapping of fields`},
		{"sim", `line 1: the file: "sim" is not a mapping of fields`},
		{"board: sim\n---\nboard: auto", `more than one YAML document (line 2)`},
	} {
		t.Run(tc.yaml, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("ParseConfig succeeded: %+v", c)
			}
			first, _, _ := strings.Cut(err.Error(), "\n")
			if !strings.HasPrefix(first, "device: config: "+tc.want) {
				t.Errorf("error = %q\nwant   %q", first, "device: config: "+tc.want)
			}
		})
	}
}

func TestValidateJoinsAllProblems(t *testing.T) {
	c := DefaultConfig()
	c.Vault = "plain"
	c.Recording.PostRoll = 0
	c.Log.Format = "xml"
	err := c.Validate()
	want := `device: config: recording.post_roll: "0s" is out of range (valid: 1s to 10m)
device: config: vault: "plain" is not valid (valid: device, none)
device: config: log.format: "xml" is not valid (valid: text, json)`
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v\nwant %s", err, want)
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "doorward.yaml")
	if err := os.WriteFile(path, []byte("board: sim\nvault: none\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(path)
	if err != nil || c.Board != "sim" || c.Vault != VaultNone {
		t.Errorf("LoadConfig = %+v, %v", c, err)
	}

	if err := os.WriteFile(path, []byte("board: sim\nvault: plain\nlog: {level: loud}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadConfig(path)
	want := "device: config " + path + `: vault: "plain" is not valid (valid: device, none)` + "\n" +
		"device: config " + path + `: log.level: "loud" is not valid (valid: debug, info, warn, error)`
	if err == nil || err.Error() != want {
		t.Errorf("LoadConfig(bad) = %v\nwant %s", err, want)
	}

	if err := os.WriteFile(path, []byte("board: sim\nboard_name: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err = LoadConfig(path); err == nil || !strings.Contains(err.Error(), path+": line 2: board_name: unknown field") {
		t.Errorf("LoadConfig(unknown field) = %v", err)
	}

	_, err = LoadConfig(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("LoadConfig(missing) = %v", err)
	}

	if err := os.WriteFile(path, []byte(strings.Repeat("#", maxConfigSize+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err = LoadConfig(path); err == nil || !strings.Contains(err.Error(), "larger than 1MiB") {
		t.Errorf("LoadConfig(huge) = %v", err)
	}
}

func TestConfigRoundTrip(t *testing.T) {
	c := DefaultConfig()
	c.Board = "sim"
	c.OwnerRecipients = []string{"age1abc"}
	c.Camera = CameraConfig{Source: "exec", Command: []string{"rpicam-vid", "-o", "-"}, Width: 1920, Height: 1080, FPS: 30}
	c.Recording.PostRoll = Duration(90 * time.Second)
	c.Recording.Buffer = 64 * MB
	c.Retention.MaxAge = Duration(36 * time.Hour)
	c.Vault = VaultNone
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"post_roll: 1m30s", "buffer: 64MB", "max_age: 36h", "max_bytes: 4GiB", "interval: 10m"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("marshalled config lacks %q:\n%s", want, out)
		}
	}
	back, err := ParseConfig(out)
	if err != nil || !reflect.DeepEqual(back, c) {
		t.Errorf("round trip = %+v, %v; want %+v", back, err, c)
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		str  string
	}{
		{"0", 0, "0s"},
		{"0s", 0, "0s"},
		{"5s", 5 * time.Second, "5s"},
		{"90s", 90 * time.Second, "1m30s"},
		{"10m", 10 * time.Minute, "10m"},
		{"1h30m", 90 * time.Minute, "1h30m"},
		{"500ms", 500 * time.Millisecond, "500ms"},
		{"1.5s", 1500 * time.Millisecond, "1.5s"},
		{"24h", 24 * time.Hour, "24h"},
		{"1d", 24 * time.Hour, "24h"},
		{"7d", 7 * 24 * time.Hour, "7d"},
		{"1d12h", 36 * time.Hour, "36h"},
		{"2d30m", 48*time.Hour + 30*time.Minute, "48h30m"},
		{"0.5d", 12 * time.Hour, "12h"},
		{"1.5d", 36 * time.Hour, "36h"},
		{"-2d", -48 * time.Hour, "-2d"},
		{"+1d", 24 * time.Hour, "24h"},
		{"1h1d", 25 * time.Hour, "25h"},
	} {
		d, err := ParseDuration(tc.in)
		if err != nil || time.Duration(d) != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, time.Duration(d), err, tc.want)
			continue
		}
		if d.String() != tc.str {
			t.Errorf("Duration(%v).String() = %q, want %q", tc.want, d.String(), tc.str)
		}
		if back, err := ParseDuration(d.String()); err != nil || back != d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", d.String(), back, err, d)
		}
	}
	for _, in := range []string{"", "d", "5", "7days", "1d1", "1dd", "1.2.3d", "-", "1 d", "d1", "107000d", "106751d24h", "1e3d", "5x"} {
		if d, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, d)
		} else if !strings.Contains(err.Error(), "is not a duration") {
			t.Errorf("ParseDuration(%q) error = %v", in, err)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ByteSize
		str  string
	}{
		{"0", 0, "0B"},
		{"1", 1, "1B"},
		{"1000", 1000, "1KB"},
		{"1024", 1024, "1KiB"},
		{"1B", 1, "1B"},
		{"1KB", 1000, "1KB"},
		{"1kB", 1000, "1KB"},
		{"1KiB", 1024, "1KiB"},
		{"500MB", 500_000_000, "500MB"},
		{"16MiB", 16 << 20, "16MiB"},
		{"16 MiB", 16 << 20, "16MiB"},
		{"1.5MiB", 3 << 19, "1536KiB"},
		{"4GiB", 4 << 30, "4GiB"},
		{"4GB", 4_000_000_000, "4GB"},
		{"2TB", 2_000_000_000_000, "2TB"},
		{"1TiB", 1 << 40, "1TiB"},
		{"1024GiB", 1 << 40, "1TiB"},
		{"0.5KB", 500, "500B"},
		{"1001", 1001, "1001B"},
		{"8388607TiB", 8388607 << 40, "8388607TiB"},
	} {
		b, err := ParseByteSize(tc.in)
		if err != nil || b != tc.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tc.in, b, err, tc.want)
			continue
		}
		if b.String() != tc.str {
			t.Errorf("ByteSize(%d).String() = %q, want %q", b, b.String(), tc.str)
		}
		if back, err := ParseByteSize(b.String()); err != nil || back != b {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", b.String(), back, err, b)
		}
	}
	for _, in := range []string{"", "MiB", "16mib", "16M", "16 m", "-1", "-1KB", "1.5", "0.1B", "1.2.3MB", ".MB", "8388608TiB", "99999999999999999999", "1e6", "0x10", "16MiBs"} {
		if b, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) = %d, want an error", in, b)
		} else if !strings.Contains(err.Error(), "is not a size") {
			t.Errorf("ParseByteSize(%q) error = %v", in, err)
		}
	}
}

func TestSlogLevel(t *testing.T) {
	for level, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError, "": slog.LevelInfo,
	} {
		if got := (LogConfig{Level: level}).SlogLevel(); got != want {
			t.Errorf("SlogLevel(%q) = %v, want %v", level, got, want)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, seed := range []string{
		"",
		"board: sim\nvault: none\n",
		"recording: {pre_roll: 0s, post_roll: 10m, max_clip: 1h, segment: 30s, buffer: 512MiB}\n",
		"retention: {max_age: 1d12h, max_bytes: 1.5GiB, interval: 24h}\n",
		"camera: {source: exec, command: [rpicam-vid, -o, \"-\"], width: 1920, height: 1080, fps: 30}\n",
		"a: &x {b: 1}\nc: *x\n",
		"colour: red\n",
	} {
		f.Add([]byte(seed))
	}
	if data, err := os.ReadFile(filepath.Join("testdata", "example.yaml")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "device: config: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseConfig accepted a config that does not validate: %v", err)
		}
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("yaml.Marshal: %v", err)
		}
		back, err := ParseConfig(out)
		if err != nil {
			t.Fatalf("re-parsing the marshalled config: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", c, back)
		}
	})
}

func TestHoldMarginRange(t *testing.T) {
	if _, err := ParseConfig([]byte("retention:\n  hold_margin: 0s\n")); err != nil {
		t.Errorf("hold_margin 0s: %v", err)
	}
	_, err := ParseConfig([]byte("retention:\n  hold_margin: 400d\n"))
	if err == nil || !strings.Contains(err.Error(), "retention.hold_margin") || !strings.Contains(err.Error(), "365d") {
		t.Errorf("hold_margin 400d: %v", err)
	}
}
