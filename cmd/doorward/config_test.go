package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/doorward/doorward/device"
	"github.com/doorward/doorward/device/api"
)

// TestConfigCheck runs `doorward config check` as a user would: the
// shipped example passes, a bad file fails with every problem located.
func TestConfigCheck(t *testing.T) {
	skipShort(t)
	t.Parallel()
	dir := t.TempDir()
	example := filepath.Join(dir, "config.yaml")
	data, err := os.ReadFile("../../init/doorward.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(example, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, bins.doorward, "config", "check", example)
	if code != 0 || errOut != "" || out != example+": OK (board auto unless --board, listen 127.0.0.1:8080, vault device, uplink off)\n" {
		t.Errorf("config check of the example: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}

	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "board: sim\nvault: none\nmqtt: {broker: tls://broker.example:8883}\n")
	if out := mustRun(t, bins.doorward, "config", "check", good); out != good+": OK (board sim, listen 127.0.0.1:8080, vault none, uplink tls://broker.example:8883)\n" {
		t.Errorf("config check good.yaml printed %q", out)
	}

	for _, tc := range []struct {
		name, text string
		want       []string // the error lines, after "doorward: FILE:"
	}{
		{"range.yaml", "recording:\n  post_roll: 0s\n  buffer: 2GiB\n", []string{
			`2:14: recording.post_roll: "0s" is out of range (valid: 1s to 10m)`,
			`3:11: recording.buffer: "2GiB" is out of range (valid: 1MiB to 512MiB)`,
		}},
		{"unknown.yaml", "board: sim\nrecordng:\n  post_roll: 5s\n", []string{
			`2:1: recordng: unknown field (valid in the file: board, camera, gpio, homeassistant, legal, listen, live, log, metrics, mqtt, owner_recipients, recording, retention, vault)`,
		}},
		{"kind.yaml", "camera:\n  fps: fast\n", []string{
			`2:8: camera.fps: "fast" is not valid (valid: a whole number)`,
		}},
		{"listen.yaml", "listen: 8080\n", []string{
			`1:9: listen: "8080" is not a host:port address (valid: host:port, for example 127.0.0.1:8080, or :8080 for every interface)`,
		}},
		{"yaml.yaml", "board: [sim\n", []string{
			`1:8: not valid YAML: sequence end token ']' not found`,
		}},
	} {
		path := write(tc.name, tc.text)
		out, errOut, code := run(t, bins.doorward, "config", "check", path)
		if code != 1 || out != "" {
			t.Errorf("config check %s: exit %d, stdout %q; want exit 1 and nothing on stdout", tc.name, code, out)
		}
		var want []string
		for _, w := range tc.want {
			want = append(want, "doorward: "+path+":"+w)
		}
		if got := strings.TrimSuffix(errOut, "\n"); got != strings.Join(want, "\n") {
			t.Errorf("config check %s:\n got %s\nwant %s", tc.name, got, strings.Join(want, "\n"))
		}
	}

	missing := filepath.Join(dir, "missing.yaml")
	if _, errOut, code := run(t, bins.doorward, "config", "check", missing); code != 1 || !strings.Contains(errOut, missing) {
		t.Errorf("config check of a missing file: exit %d, %q", code, errOut)
	}
	if _, errOut, code := run(t, bins.doorward, "config", "check"); code != 1 || !strings.Contains(errOut, "FILE") {
		t.Errorf("config check without a file: exit %d, %q", code, errOut)
	}
}

// TestRunChecksFlagsBeforeState: a bad flag or config stops `doorward run`
// with one clear line before it creates its state directory or any key.
func TestRunChecksFlagsBeforeState(t *testing.T) {
	skipShort(t)
	t.Parallel()
	_, recipient := ownerKey(t)
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badConfig, []byte("retention:\n  max_age: 10m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string // the whole error line
	}{
		{"listen without a port", []string{"--listen", "nonsense"},
			`doorward: --listen: "nonsense" is not a host:port address (valid: host:port, for example 127.0.0.1:8080, or :8080 for every interface)`},
		{"listen port out of range", []string{"--listen", "127.0.0.1:99999"},
			`doorward: --listen: "127.0.0.1:99999" has no port number from 0 to 65535 (valid: host:port, for example 127.0.0.1:8080, or :8080 for every interface)`},
		{"bad owner recipient", []string{"--owner-recipient", "age1nope"},
			`doorward: --owner-recipient: "age1nope" is not an age recipient (valid: age1... or age1pq1..., as doorwardctl keygen prints)`},
		{"bad config", []string{"--config", badConfig},
			`doorward: ` + badConfig + `:2:12: retention.max_age: "10m" is out of range (valid: 1h or more)`},
		{"unknown board", []string{"--board", "toaster"}, ""},
		{"empty state", []string{"--state", ""},
			`doorward: --state: "" is empty (valid: a directory, e.g. /var/lib/doorward)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			state := filepath.Join(t.TempDir(), "state")
			demo := filepath.Join(t.TempDir(), "demo.key")
			args := append([]string{"run", "--board", "sim", "--state", state, "--owner-recipient", recipient, "--demo-owner-key", demo}, tc.args...)
			out, errOut, code := run(t, bins.doorward, args...)
			if code != 1 {
				t.Fatalf("exit %d, want 1\nstdout %s\nstderr %s", code, out, errOut)
			}
			if lines := strings.Split(strings.TrimSpace(errOut), "\n"); len(lines) != 1 || tc.want != "" && lines[0] != tc.want {
				t.Errorf("stderr:\n%s\nwant one line:\n%s", errOut, tc.want)
			}
			for _, p := range []string{state, demo} {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Errorf("%s was created (stat: %v)", p, err)
				}
			}
		})
	}
}

// TestConfigBoardWins is bug 5: board: in the config decides when --board
// is not given (the unit no longer passes --board auto), and a --board
// given on the command line overrides it with a log line naming both.
func TestConfigBoardWins(t *testing.T) {
	skipShort(t)
	t.Parallel()
	_, recipient := ownerKey(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("board: sim\nlisten: 127.0.0.1:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// No --board: on this machine auto would pick generic-linux, which has
	// no camera here; the config's sim board must run.
	state := filepath.Join(t.TempDir(), "state")
	a := startRun(t, state, nil, "--state", state, "--config", cfg, "--owner-recipient", recipient)
	resp, err := device.Call(context.Background(), state, api.ControlRequest{Op: "status"})
	if err != nil || resp.Status == nil || resp.Status.Board != "sim" {
		t.Fatalf("status = %+v, %v; want board sim", resp.Status, err)
	}
	a.stop()
	if strings.Contains(a.output(), "overrides the config file") {
		t.Errorf("an override was logged though no flag overrides the file:\n%s", a.output())
	}

	// An explicit --board and --listen override the file: logged, one line
	// each, naming both values.
	if err := os.WriteFile(cfg, []byte("board: generic-linux\nlisten: 127.0.0.1:9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	state = filepath.Join(t.TempDir(), "state")
	a = startAgent(t, state, nil, "--config", cfg, "--owner-recipient", recipient)
	resp, err = device.Call(context.Background(), state, api.ControlRequest{Op: "status"})
	if err != nil || resp.Status == nil || resp.Status.Board != "sim" {
		t.Fatalf("status = %+v, %v; want board sim", resp.Status, err)
	}
	a.stop()
	log := a.output()
	for _, want := range []string{
		`msg="a command-line flag overrides the config file" flag="--board sim" config="board: generic-linux in ` + cfg + `"`,
		`msg="a command-line flag overrides the config file" flag="--listen 127.0.0.1:0" config="listen: 127.0.0.1:9 in ` + cfg + `"`,
	} {
		if strings.Count(log, want) != 1 {
			t.Errorf("log lacks one line with %s:\n%s", want, log)
		}
	}
}
