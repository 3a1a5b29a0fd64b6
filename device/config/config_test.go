package config

import (
	"encoding"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

func TestConfigDefaults(t *testing.T) {
	want := Config{
		Board:  "",
		Listen: "127.0.0.1:8080",
		Camera: Camera{StallTimeout: Duration(5 * time.Second)},
		Recording: Recording{
			PreRoll:  Duration(5 * time.Second),
			PostRoll: Duration(10 * time.Second),
			MaxClip:  Duration(120 * time.Second),
			Segment:  Duration(4 * time.Second),
			Buffer:   16 << 20,
		},
		Retention: Retention{
			MaxAge:     Duration(7 * 24 * time.Hour),
			MaxBytes:   4 << 30,
			Interval:   Duration(10 * time.Minute),
			HoldMargin: Duration(30 * 24 * time.Hour),
		},
		Vault:         "device",
		Log:           Log{Level: "info", Format: "text"},
		MQTT:          MQTT{OutboxMax: 16 << 20},
		Live:          Live{MaxViewers: 4, ICETransportPolicy: "all"},
		HomeAssistant: HomeAssistant{DiscoveryPrefix: "homeassistant"},
		GPIO: GPIO{
			ActiveLow:   ActiveLow{Button: true, Reset: true},
			PIRCooldown: Duration(10 * time.Second),
			Debounce:    Duration(50 * time.Millisecond),
		},
	}
	if got := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("Default() = %+v, want %+v", got, want)
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	for _, data := range []string{"", "\n", "# only a comment\n", "---\n", "~\n", "null\n"} {
		got, err := Parse("config.yaml", []byte(data))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseConfig(%q) = %+v, %v; want the defaults", data, got, err)
		}
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
				g.ActiveLow == ActiveLow{LED: true, Reset: true} &&
				g.PIRCooldown == Duration(30*time.Second) && g.Debounce == Duration(20*time.Millisecond)
		}},
		{"gpio: {button: none, reset: none, pir: none}", func(c Config) bool { return c.GPIO.Button == GPIONone }},
		{"gpio:\n  reset: PIN_23\n", func(c Config) bool { return c.GPIO.Reset == "PIN_23" }},
		{`board: ""`, func(c Config) bool { return c.Board == "" }},
		{"owner_recipients: [" + testRecipient + "]", func(c Config) bool {
			return reflect.DeepEqual(c.OwnerRecipients, []string{testRecipient})
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
		{"camera:\n#  source: v4l2\n", func(c Config) bool { return reflect.DeepEqual(c.Camera, defaultCamera()) }},
		{"camera: {stall_timeout: 1s}", func(c Config) bool { return c.Camera.StallTimeout == Duration(time.Second) }},
		{"camera: {stall_timeout: 0s}", func(c Config) bool { return c.Camera.StallTimeout == 0 }}, // the default
		{"camera: {fps: 1, stall_timeout: 3s}", func(c Config) bool { return c.Camera.StallTimeout == Duration(3*time.Second) }},
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
		{"recording:\n  pre_roll:\n", func(c Config) bool { return c.Recording.PreRoll == Default().Recording.PreRoll }},
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
		{"log: {level: debug, format: json}", func(c Config) bool { return c.Log == Log{"debug", "json"} }},
		{"log: {level: warn}", func(c Config) bool { return c.Log == Log{"warn", "text"} }},
		{"log: {level: error}", func(c Config) bool { return c.Log.Level == "error" }},
		{"live: {max_viewers: 10}", func(c Config) bool { return c.Live.MaxViewers == 10 && c.Live.ICETransportPolicy == "all" }},
		{"live: {ice_transport_policy: relay, ice_servers: [{urls: [\"turn:127.0.0.1:3478\"], username: u, credential: p}]}", func(c Config) bool {
			return c.Live.ICETransportPolicy == "relay" && c.Live.ICEServers[0].Username == "u"
		}},
	} {
		t.Run(tc.yaml, func(t *testing.T) {
			c, err := Parse("config.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			if !tc.check(c) {
				t.Errorf("ParseConfig = %+v", c)
			}
			// Fields the snippet does not name keep their defaults.
			d := Default()
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
// testRecipient is an age recipient (age's own example).
const testRecipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"

func TestParseConfigBad(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want string // the whole first line of the error
	}{
		{"board: foo", `config.yaml:1:8: board: "foo" is not valid (valid: auto, generic-linux, rpi-zero, rpi-zero2w, rpi1, rpi2, rpi3, rpi4, rpi5, sim)`},
		{"board: SIM", `config.yaml:1:8: board: "SIM" is not valid (valid: auto, generic-linux, rpi-zero, rpi-zero2w, rpi1, rpi2, rpi3, rpi4, rpi5, sim)`},
		{"owner_recipients: [" + testRecipient + `, ""]`, `config.yaml:1:84: owner_recipients[1]: "" is empty (valid: an age recipient such as age1...)`},
		{"owner_recipients:\n  - age1abc\n", `config.yaml:2:5: owner_recipients[0]: "age1abc" is not an age recipient (valid: age1... or age1pq1..., as doorwardctl keygen prints)`},
		{"owner_recipients: [" + testRecipient + ", age1pq1" + strings.Repeat("q", 40) + "]", `config.yaml:1:84: owner_recipients[1]: "age1pq1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq" is not an age recipient (valid: age1... or age1pq1..., as doorwardctl keygen prints)`},
		{"owner_recipients: age1abc", `config.yaml:1:19: owner_recipients: "age1abc" is not valid (valid: a list, e.g. [a, b])`},
		{"camera: {source: rtsp}", `config.yaml:1:18: camera.source: "rtsp" is not valid (valid: file, v4l2, exec, or empty for the board's)`},
		{"camera: {source: v4l2, file: a.h264}", `config.yaml:1:30: camera.file: "a.h264" is set but camera.source is "v4l2" (valid: file only with source file)`},
		{"camera: {device: video0}", `config.yaml:1:18: camera.device: "video0" is not valid (valid: an absolute path such as /dev/video0)`},
		{"camera: {source: exec, device: /dev/video0}", `config.yaml:1:32: camera.device: "/dev/video0" is set but camera.source is "exec" (valid: device only with source v4l2)`},
		{"camera: {source: v4l2, command: [ffmpeg]}", `config.yaml:1:33: camera.command: "ffmpeg" is set but camera.source is "v4l2" (valid: command only with source exec)`},
		{"camera: {command: [\"rpicam-vid\", \"-o\\r\\n\"]}", `config.yaml:1:34: camera.command[1]: "-o\r\n" contains a control character (valid: printable text)`},
		{"camera: {file: \"a\\x00.h264\"}", `config.yaml:1:16: camera.file: "a\x00.h264" contains a control character (valid: a file path)`},
		{"camera: {device: \"/dev/video0\\n\"}", `config.yaml:1:18: camera.device: "/dev/video0\n" is not valid (valid: an absolute path such as /dev/video0)`},
		{"owner_recipients: [\"age1\\u0085\"]", `config.yaml:1:20: owner_recipients[0]: "age1\u0085" contains a control character (valid: an age recipient such as age1...)`},
		{"camera: {command: [\"\"]}", `config.yaml:1:20: camera.command[0]: "" is empty (valid: the program to run, e.g. rpicam-vid)`},
		{"camera: {width: 8, height: 8}", `config.yaml:1:17: camera.width: 8 is out of range (valid: 0 for the board's, or 16 to 7680)`},
		{"camera: {width: 640, height: 5000}", `config.yaml:1:30: camera.height: 5000 is out of range (valid: 0 for the board's, or 16 to 4320)`},
		{"camera: {width: 640}", `config.yaml:1:17: camera.width: 640x0 sets only one of camera.width and camera.height (valid: both, or neither for the board's)`},
		{"camera: {fps: 241}", `config.yaml:1:15: camera.fps: 241 is out of range (valid: 0 for the board's, or 1 to 240)`},
		{"camera: {fps: -1}", `config.yaml:1:15: camera.fps: -1 is out of range (valid: 0 for the board's, or 1 to 240)`},
		{"camera: {fps: fast}", `config.yaml:1:15: camera.fps: "fast" is not valid (valid: a whole number)`},
		{"camera: [v4l2]", `config.yaml:1:9: camera: a list is not valid (valid: a mapping with the fields command, device, file, fps, height, source, stall_timeout, width)`},
		{"camera: {stall_timeout: 900ms}", `config.yaml:1:25: camera.stall_timeout: "900ms" is out of range (valid: 1s to 1m)`},
		{"camera: {stall_timeout: 61s}", `config.yaml:1:25: camera.stall_timeout: "1m1s" is out of range (valid: 1s to 1m)`},
		{"camera: {stall_timeout: -1s}", `config.yaml:1:25: camera.stall_timeout: "-1s" is out of range (valid: 1s to 1m)`},
		{"camera: {fps: 1, stall_timeout: 2s}", `config.yaml:1:33: camera.stall_timeout: "2s" is shorter than 3 frame intervals at camera.fps 1 (valid: 3s to 1m)`},
		{"camera: {fps: 2, stall_timeout: 1s}", `config.yaml:1:33: camera.stall_timeout: "1s" is shorter than 3 frame intervals at camera.fps 2 (valid: 1.5s to 1m)`},
		{"recording: {pre_roll: 61s}", `config.yaml:1:23: recording.pre_roll: "1m1s" is out of range (valid: 0s to 1m)`},
		{"recording: {pre_roll: -1s}", `config.yaml:1:23: recording.pre_roll: "-1s" is out of range (valid: 0s to 1m)`},
		{"recording: {post_roll: 0s}", `config.yaml:1:24: recording.post_roll: "0s" is out of range (valid: 1s to 10m)`},
		{"recording: {post_roll: 11m}", `config.yaml:1:24: recording.post_roll: "11m" is out of range (valid: 1s to 10m)`},
		{"recording: {max_clip: 9s}", `config.yaml:1:23: recording.max_clip: "9s" is out of range (valid: 10s to 1h)`},
		{"recording: {max_clip: 2h}", `config.yaml:1:23: recording.max_clip: "2h" is out of range (valid: 10s to 1h)`},
		{"recording: {pre_roll: 30s, max_clip: 30s}", `config.yaml:1:38: recording.max_clip: "30s" is shorter than recording.pre_roll plus 1s (valid: 31s or more)`},
		{"recording: {segment: 500ms}", `config.yaml:1:22: recording.segment: "500ms" is out of range (valid: 1s to 30s)`},
		{"recording: {segment: 31s}", `config.yaml:1:22: recording.segment: "31s" is out of range (valid: 1s to 30s)`},
		{"recording: {segment: 5}", `config.yaml:1:22: recording.segment: "5" is not a duration (valid: e.g. 90s, 10m, 7d)`},
		{"recording: {segment: 4 s}", `config.yaml:1:22: recording.segment: "4 s" is not a duration (valid: e.g. 90s, 10m, 7d)`},
		{"recording: {segment: [4s]}", `config.yaml:1:22: recording.segment: a list is not valid (valid: a duration, e.g. 90s, 10m, 7d)`},
		{"recording: {buffer: 1000KiB}", `config.yaml:1:21: recording.buffer: "1000KiB" is out of range (valid: 1MiB to 512MiB)`},
		{"recording: {buffer: 513MiB}", `config.yaml:1:21: recording.buffer: "513MiB" is out of range (valid: 1MiB to 512MiB)`},
		{"recording: {buffer: 1GB}", `config.yaml:1:21: recording.buffer: "1GB" is out of range (valid: 1MiB to 512MiB)`},
		{"recording: {buffer: 16mib}", `config.yaml:1:21: recording.buffer: "16mib" is not a size (valid: bytes, or a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, e.g. 16MiB)`},
		{"recording: {buffer: -16MiB}", `config.yaml:1:21: recording.buffer: "-16MiB" is not a size (valid: bytes, or a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, e.g. 16MiB)`},
		{"retention: {max_age: 59m}", `config.yaml:1:22: retention.max_age: "59m" is out of range (valid: 1h or more)`},
		{"retention: {max_age: 7days}", `config.yaml:1:22: retention.max_age: "7days" is not a duration (valid: e.g. 90s, 10m, 7d)`},
		{"retention: {max_bytes: 63MiB}", `config.yaml:1:24: retention.max_bytes: "63MiB" is out of range (valid: 64MiB or more)`},
		{"retention: {max_bytes: 0}", `config.yaml:1:24: retention.max_bytes: "0B" is out of range (valid: 64MiB or more)`},
		{"retention: {interval: 9s}", `config.yaml:1:23: retention.interval: "9s" is out of range (valid: 10s to 24h)`},
		{"retention: {interval: 2d}", `config.yaml:1:23: retention.interval: "2d" is out of range (valid: 10s to 24h)`},
		{"vault: plain", `config.yaml:1:8: vault: "plain" is not valid (valid: device, none)`},
		{"vault: \"\"", `config.yaml:1:8: vault: "" is not valid (valid: device, none)`},
		{"log: {level: trace}", `config.yaml:1:14: log.level: "trace" is not valid (valid: debug, info, warn, error)`},
		{"log: {format: logfmt}", `config.yaml:1:15: log.format: "logfmt" is not valid (valid: text, json)`},
		{"gpio: {pir: GPIO 17}", `config.yaml:1:13: gpio.pir: "GPIO 17" is not a GPIO line name (valid: a name such as GPIO17, "none", or empty for the board's)`},
		{"gpio: {led: /dev/gpiochip0}", `config.yaml:1:13: gpio.led: "/dev/gpiochip0" is not a GPIO line name (valid: a name such as GPIO17, "none", or empty for the board's)`},
		{"gpio: {button: GPIO5, reset: GPIO5}", `config.yaml:1:30: gpio.reset: "GPIO5" is already used by gpio.button (valid: a line of its own)`},
		{"gpio: {pir_cooldown: 500ms}", `config.yaml:1:22: gpio.pir_cooldown: "500ms" is out of range (valid: 1s to 10m)`},
		{"gpio: {debounce: 0s}", `config.yaml:1:18: gpio.debounce: "0s" is out of range (valid: 1ms to 1s)`},
		{"gpio: {debounce: 2s}", `config.yaml:1:18: gpio.debounce: "2s" is out of range (valid: 1ms to 1s)`},
		{"gpio: {active_low: {button: maybe}}", `config.yaml:1:29: gpio.active_low.button: "maybe" is not valid (valid: true or false)`},
		{"gpio: {active_low: {door: true}}", `config.yaml:1:21: gpio.active_low.door: unknown field (valid in gpio.active_low: button, led, pir, reset)`},
		{"gpio: {pin: GPIO4}", `config.yaml:1:8: gpio.pin: unknown field (valid in gpio: active_low, button, debounce, led, pir, pir_cooldown, reset)`},
		{"colour: red", `config.yaml:1:1: colour: unknown field (valid in the file: board, camera, gpio, homeassistant, legal, listen, live, log, metrics, mqtt, owner_recipients, recording, retention, vault)`},
		{"recording:\n  preroll: 5s", `config.yaml:2:3: recording.preroll: unknown field (valid in recording: buffer, max_clip, post_roll, pre_roll, segment)`},
		{"log: {level: info, colour: true}", `config.yaml:1:20: log.colour: unknown field (valid in log: format, level)`},
		{"vault: none\nvault: device", `config.yaml:2:1: vault: already set on line 1 (valid: once)`},
		{"<<: {vault: none}", `config.yaml:1:1: <<: unknown field (valid in the file: board, camera, gpio, homeassistant, legal, listen, live, log, metrics, mqtt, owner_recipients, recording, retention, vault)`},
		{"board: [sim", `config.yaml:1:8: not valid YAML: sequence end token ']' not found`},
		{"\tboard: sim", `config.yaml:1:6: not valid YAML: tab character cannot use as a map key directly`},
		{"- board: sim", `config.yaml:1:1: a list is not valid (valid: a mapping with the fields {TOP})`},
		{"sim", `config.yaml:1:1: "sim" is not valid (valid: a mapping with the fields {TOP})`},
		{"board: sim\n---\nboard: auto", `config.yaml:2:1: more than one YAML document (valid: one)`},
		{"camera: {width: 99999999999999999999}", `config.yaml:1:17: camera.width: "99999999999999999999" is not valid (valid: a whole number)`},
		{"camera: {fps: 1.5}", `config.yaml:1:15: camera.fps: "1.5" is not valid (valid: a whole number)`},
		{"camera: {fps: '25'}", `config.yaml:1:15: camera.fps: "25" is not valid (valid: a whole number)`},
		{"camera: {source: {a: b}}", `config.yaml:1:18: camera.source: a mapping is not valid (valid: text)`},
		{"camera: {command: rpicam-vid}", `config.yaml:1:19: camera.command: "rpicam-vid" is not valid (valid: a list, e.g. [a, b])`},
		{"recording: {buffer: 1e6}", `config.yaml:1:21: recording.buffer: "1e6" is not a size (valid: bytes, or a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, e.g. 16MiB)`},
		{"log: {level: *nowhere}", `config.yaml:1:14: log.level: an alias to an unknown anchor is not valid (valid: *name after &name)`},
		{"1: x", `config.yaml:1:1: 1: unknown field (valid in the file: board, camera, gpio, homeassistant, legal, listen, live, log, metrics, mqtt, owner_recipients, recording, retention, vault)`},
		{"? [a]\n: x", `config.yaml:2:1: not valid YAML: found an invalid key for this map`},
		{"recording:\n  segment: 4s\n  buffer: 1MiB\n  segment: 5s\n", `config.yaml:4:3: recording.segment: already set on line 2 (valid: once)`},
		{"live: {max_viewers: 65}", `config.yaml:1:21: live.max_viewers: 65 is out of range (valid: 1 to 64)`},
		{"live: {ice_transport_policy: turn}", `config.yaml:1:30: live.ice_transport_policy: "turn" is not valid (valid: all, relay)`},
		{"live: {ice_transport_policy: relay}", `config.yaml:1:30: live.ice_transport_policy: "relay" needs a turn: or turns: server in live.ice_servers`},
		{`live: {ice_servers: [{urls: ["http://x"]}]}`, `config.yaml:1:30: live.ice_servers[0].urls[0]: "http://x" is not valid (valid: stun:, stuns:, turn: or turns: URLs)`},
		{`live: {ice_servers: [{urls: ["turn:x:3478"]}]}`, `config.yaml:1:22: live.ice_servers[0]: "turn:x:3478" needs username and credential`},
		{"listen: nonsense", `config.yaml:1:9: listen: "nonsense" is not a host:port address (valid: host:port, for example 127.0.0.1:8080, or :8080 for every interface)`},
		{"listen: 127.0.0.1:99999", `config.yaml:1:9: listen: "127.0.0.1:99999" has no port number from 0 to 65535 (valid: host:port, for example 127.0.0.1:8080, or :8080 for every interface)`},
		{"listen: ':http'", `config.yaml:1:9: listen: ":http" has no port number from 0 to 65535 (valid: host:port, for example 127.0.0.1:8080, or :8080 for every interface)`},
		{"legal: {issuers: [{name: Court, role: court}], quorum: {court: 1}}", `config.yaml:1:18: legal.issuers: 1 listed; at least 2 are needed, since every token needs two distinct signers`},
		{"legal:\n  quorum: {court: 0}\n", `config.yaml:1:1: legal.issuers: 0 listed; at least 2 are needed, since every token needs two distinct signers`},
		{"legal:\n  quorum: {court: x}\n", `config.yaml:2:19: legal.quorum.court: "x" is not valid (valid: a whole number)`},
		{"legal:\n  quorum: {court: 1, court: 2}\n", `config.yaml:2:22: legal.quorum.court: already set on line 2 (valid: once)`},
		{"legal:\n  max_scope_span: forever\n", `config.yaml:2:19: legal.max_scope_span: duration "forever" is not valid; e.g. 90m, 72h or 90d`},
		{"legal: {issuers: [{nam: x}]}", `config.yaml:1:20: legal.issuers[0].nam: unknown field (valid in legal.issuers[0]: name, public_key, public_keys, role)`},
	} {
		t.Run(tc.yaml, func(t *testing.T) {
			c, err := Parse("config.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("ParseConfig succeeded: %+v", c)
			}
			first, _, _ := strings.Cut(err.Error(), "\n")
			// {TOP} stands for the top-level sections, which grow.
			tc.want = strings.ReplaceAll(tc.want, "{TOP}", strings.TrimPrefix(fieldNames(reflect.TypeFor[Config]()), "the fields "))
			if first != tc.want {
				t.Errorf("error = %q\nwant   %q", first, tc.want)
			}
			for _, e := range Errors(err) {
				if e.File != "config.yaml" || e.Line < 1 || e.Column < 1 {
					t.Errorf("error %q is not located in the file: %+v", e, e)
				}
			}
			if len(Errors(err)) == 0 {
				t.Errorf("error %q holds no *Error", err)
			}
		})
	}
}

func TestValidateJoinsAllProblems(t *testing.T) {
	c := Default()
	c.Vault = "plain"
	c.Recording.PostRoll = 0
	c.Log.Format = "xml"
	err := c.Validate()
	want := `config: recording.post_roll: "0s" is out of range (valid: 1s to 10m)
config: vault: "plain" is not valid (valid: device, none)
config: log.format: "xml" is not valid (valid: text, json)`
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v\nwant %s", err, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "doorward.yaml")
	if err := os.WriteFile(path, []byte("board: sim\nvault: none\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil || c.Board != "sim" || c.Vault != VaultNone {
		t.Errorf("LoadConfig = %+v, %v", c, err)
	}

	if err := os.WriteFile(path, []byte("board: sim\nvault: plain\nlog: {level: loud}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	want := path + `:2:8: vault: "plain" is not valid (valid: device, none)` + "\n" +
		path + `:3:14: log.level: "loud" is not valid (valid: debug, info, warn, error)`
	if err == nil || err.Error() != want {
		t.Errorf("Load(bad) = %v\nwant %s", err, want)
	}

	if err := os.WriteFile(path, []byte("board: sim\nboard_name: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err = Load(path); err == nil || !strings.Contains(err.Error(), path+":2:1: board_name: unknown field (valid in the file: board, camera,") {
		t.Errorf("Load(unknown field) = %v", err)
	}

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load(missing) = %v", err)
	}

	if err := os.WriteFile(path, []byte(strings.Repeat("#", maxSize+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err = Load(path); err == nil || !strings.Contains(err.Error(), path+": the file is larger than 1MiB (valid: up to 1MiB)") {
		t.Errorf("Load(huge) = %v", err)
	}
}

func TestConfigRoundTrip(t *testing.T) {
	c := Default()
	c.Board = "sim"
	c.OwnerRecipients = []string{testRecipient}
	c.Camera = Camera{Source: "exec", Command: []string{"rpicam-vid", "-o", "-", "--framerate", "30.0", "0x10", "yes", "~", "1e3"}, Width: 1920, Height: 1080, FPS: 30, StallTimeout: Duration(2 * time.Second)}
	c.Recording.PostRoll = Duration(90 * time.Second)
	c.Recording.Buffer = 64 * MB
	c.Retention.MaxAge = Duration(36 * time.Hour)
	c.Vault = VaultNone
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"post_roll: 1m30s", "buffer: 64MB", "max_age: 36h", "max_bytes: 4GiB", "interval: 10m", "stall_timeout: 2s"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("marshalled config lacks %q:\n%s", want, out)
		}
	}
	back, err := Parse("config.yaml", out)
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
		if got := (Log{Level: level}).SlogLevel(); got != want {
			t.Errorf("SlogLevel(%q) = %v, want %v", level, got, want)
		}
	}
}

// FuzzParse checks that Parse never panics, that every error it returns is
// located in the file and speaks no Go, and that whatever it accepts
// validates and survives a round trip through the YAML library.
func FuzzParse(f *testing.F) {
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
	if data, err := os.ReadFile(examplePath); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("config.yaml", data)
		if err != nil {
			errs := Errors(err)
			if len(errs) == 0 || len(errs) != strings.Count(err.Error(), "\n")+1 {
				t.Fatalf("not every line of the error is an *Error: %v", err)
			}
			for _, e := range errs {
				if !strings.HasPrefix(e.Error(), "config.yaml") {
					t.Fatalf("error does not name the file: %v", e)
				}
			}
			for _, goWord := range []string{"Go ", "interface {}", "[]string", "int64", "uint64", "map[", "struct", "reflect", "config.Config", "config.Duration", "config.ByteSize", "consent."} {
				if strings.Contains(err.Error(), goWord) {
					t.Fatalf("error speaks Go (%q): %v", goWord, err)
				}
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
		back, err := Parse("config.yaml", out)
		if err != nil {
			t.Fatalf("re-parsing the marshalled config: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", c, back)
		}
	})
}

func TestHoldMarginRange(t *testing.T) {
	if _, err := Parse("config.yaml", []byte("retention:\n  hold_margin: 0s\n")); err != nil {
		t.Errorf("hold_margin 0s: %v", err)
	}
	_, err := Parse("config.yaml", []byte("retention:\n  hold_margin: 400d\n"))
	if err == nil || !strings.Contains(err.Error(), "retention.hold_margin") || !strings.Contains(err.Error(), "365d") {
		t.Errorf("hold_margin 400d: %v", err)
	}
}

// examplePath is the shipped, commented example configuration.
const examplePath = "../../init/doorward.yaml"

// TestExampleListsEveryField walks the schema: the shipped example must
// list every field, so that it cannot drift from the code, and give each
// its default.
func TestExampleListsEveryField(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	if missing := unlisted(t, data); len(missing) > 0 {
		t.Errorf("%s does not list %s", examplePath, strings.Join(missing, ", "))
	}
	got, err := Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	// The example spells out the limits a policy has when they are left
	// out; they mean the same as leaving them out.
	if got.Legal.Hash() != want.Legal.Hash() {
		t.Errorf("%s: legal = %+v, want the defaults of an empty policy", examplePath, got.Legal)
	}
	got.Legal, want.Legal = got.Legal.WithDefaults(), want.Legal.WithDefaults()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %+v,\nwant the defaults %+v", examplePath, got, want)
	}

	// The check sees a field the example leaves out.
	cut := strings.Replace(string(data), "  hold_margin: 30d", "", 1)
	if missing := unlisted(t, []byte(cut)); !reflect.DeepEqual(missing, []string{"retention.hold_margin"}) {
		t.Errorf("with hold_margin cut, unlisted = %v", missing)
	}
}

// unlisted returns the schema's fields (sections are walked into, a list
// or a mapping of names is one field) that the YAML document does not set.
func unlisted(t *testing.T, data []byte) []string {
	t.Helper()
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	var collect func(n ast.Node, path string)
	collect = func(n ast.Node, path string) {
		m, ok := n.(*ast.MappingNode)
		if !ok {
			return
		}
		for _, mv := range m.Values {
			key := mv.Key.GetToken().Value
			if path != "" {
				key = path + "." + key
			}
			listed[key] = true
			collect(mv.Value, key)
		}
	}
	collect(file.Docs[0].Body, "")
	var fields, missing []string
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
			fields = append(fields, path)
			return
		}
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if path != "" {
				name = path + "." + name
			}
			walk(t.Field(i).Type, name)
		}
	}
	walk(reflect.TypeFor[Config](), "")
	if len(fields) < 40 {
		t.Fatalf("the schema walk found only %d fields: %v", len(fields), fields)
	}
	for _, f := range fields {
		if !listed[f] {
			missing = append(missing, f)
		}
	}
	return missing
}
