package main

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/capture/capturetest"
)

// A user's whole first session: start the sim agent, trigger motion, list
// the clip, decrypt it with doorwardctl and play it; then check that nothing
// in the state directory — TMPDIR included — holds plaintext video.
func TestRecordTriggerDecrypt(t *testing.T) {
	skipShort(t)
	t.Parallel()
	key, recipient := ownerKey(t)
	state := filepath.Join(t.TempDir(), "state")
	tmp := filepath.Join(state, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, state, []string{"TMPDIR=" + tmp}, "--owner-recipient", recipient)
	// Recording for a recipient, but nobody paired a signing key yet.
	if out := mustRun(t, bins.doorward, "status", "--state", state); !strings.Contains(out, "owners:     1 owner recipient(s): clips are encrypted to them; not paired yet (doorward pair-code shows the code)") {
		t.Errorf("status before pairing:\n%s", out)
	}
	time.Sleep(6 * time.Second) // fill the 5 s pre-roll
	if out := mustRun(t, bins.doorward, "trigger", "motion", "--state", state); !strings.Contains(out, "motion") {
		t.Errorf("trigger printed %q", out)
	}
	cs := waitClosedClips(t, state, 1, 30*time.Second)
	if len(cs) != 1 {
		t.Fatalf("clips = %+v, want 1", cs)
	}
	c := cs[0]
	if c.Trigger != "motion" || c.Segments < 3 || c.Size == 0 || !strings.HasPrefix(c.Path, state) {
		t.Errorf("clip %+v", c)
	}
	// Pre-roll is GOP-aligned (5 s to 6 s), post-roll 10 s: 15 s to 16 s,
	// give or take the frame on which the post-roll ends.
	p := decrypt(t, key, c.Path)
	if p.Codec != "h264" || !p.FirstKey || p.Width != 640 || p.Height != 480 {
		t.Errorf("decrypted clip: %+v, want h264 640x480 starting with a keyframe", p)
	}
	if p.Duration < 15-0.1 || p.Duration > 16+0.1 {
		t.Errorf("clip lasts %.2f s, want pre-roll + post-roll = 15 s within one GOP", p.Duration)
	}
	if math.Abs(p.Duration-c.Duration) > 0.1 {
		t.Errorf("index says %.2f s, the file plays %.2f s", c.Duration, p.Duration)
	}
	if fps := float64(p.Frames) / p.Duration; fps < 29 || fps > 31 {
		t.Errorf("%d frames in %.2f s", p.Frames, p.Duration)
	}

	// Stock age opens a single segment with the owner's key.
	age := capturetest.Tool(t, "age")
	seg, err := exec.Command(age, "-d", "-i", key, filepath.Join(c.Path, "000001.m4s.age")).Output()
	if err != nil {
		t.Fatalf("age -d: %v", err)
	}
	if len(seg) < 16 || string(seg[4:8]) != "moof" {
		t.Errorf("age -d gave %d bytes that do not start with a moof box", len(seg))
	}

	// The table lists the same clip.
	table := mustRun(t, bins.doorward, "clips", "--state", state)
	for _, col := range []string{"ID", "START", "END", "DURATION", "SIZE", "TRIGGER", "PATH", c.ID, c.Path} {
		if !strings.Contains(table, col) {
			t.Errorf("clips table lacks %q:\n%s", col, table)
		}
	}
	a.stop()

	if found := capturetest.ScanPlaintext(t, state); len(found) > 0 {
		t.Errorf("plaintext video at rest: %+v", found)
	}
	// With the agent stopped, clips reads the database itself.
	if cs2 := clips(t, state); len(cs2) != 1 || cs2[0].ID != c.ID {
		t.Errorf("offline clips = %+v", cs2)
	}
}

// The plaintext scan must be able to fail: plant a decrypted clip and an
// Annex-B stream and expect both to be found.
func TestPlaintextScanFindsPlantedVideo(t *testing.T) {
	skipShort(t)
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cipher.age"), []byte("age-encryption.org/v1\n-> X25519 abc\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "leak.mp4"), append([]byte{0, 0, 0, 0x18}, []byte("ftypiso5\x00\x00\x02\x00iso5iso6")...), 0o600)
	os.WriteFile(filepath.Join(dir, "leak.h264"), []byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f}, 0o600)
	os.WriteFile(filepath.Join(dir, "leak.m4s"), []byte("\x00\x00\x01\x00moof\x00\x00\x00\x10mfhd"), 0o600)
	found := capturetest.ScanPlaintext(t, dir)
	files := map[string]bool{}
	for _, f := range found {
		files[filepath.Base(f.Path)] = true
	}
	if len(files) != 3 || !files["leak.mp4"] || !files["leak.h264"] || !files["leak.m4s"] || files["cipher.age"] {
		t.Errorf("scan found %+v", found)
	}
}

// A second event within the post-roll extends the clip instead of starting
// another one.
func TestSecondTriggerExtendsClip(t *testing.T) {
	skipShort(t)
	t.Parallel()
	key, recipient := ownerKey(t)
	state := filepath.Join(t.TempDir(), "state")
	a := startAgent(t, state, nil, "--owner-recipient", recipient)
	time.Sleep(6 * time.Second)
	start1 := time.Now()
	mustRun(t, bins.doorward, "trigger", "motion", "--state", state)
	end1 := time.Now()
	time.Sleep(5 * time.Second)
	start2 := time.Now()
	mustRun(t, bins.doorward, "trigger", "ring", "--state", state)
	end2 := time.Now()
	cs := waitClosedClips(t, state, 1, 30*time.Second)
	if len(cs) != 1 {
		t.Fatalf("clips = %+v, want one longer clip", cs)
	}
	p := decrypt(t, key, cs[0].Path)
	// 5 s pre-roll + the time between the events (5 s, plus however long
	// the trigger commands took: a -race build on a busy machine is slow)
	// + 10 s post-roll, within a GOP.
	gapMin, gapMax := start2.Sub(end1).Seconds(), end2.Sub(start1).Seconds()
	if lo, hi := 15+gapMin-0.1, 15+gapMax+1.1; p.Duration < lo || p.Duration > hi {
		t.Errorf("clip lasts %.2f s, want %.1f to %.1f s (about 20 s)", p.Duration, lo, hi)
	}
	a.stop()
}

// kill -9 in the middle of clips, several times, at different points: on
// restart the index is consistent, every indexed clip decrypts, and an
// interrupted clip plays at least up to its last complete segment.
func TestCrashRecovery(t *testing.T) {
	skipShort(t)
	t.Parallel()
	key, recipient := ownerKey(t)
	state := filepath.Join(t.TempDir(), "state")
	config := filepath.Join(t.TempDir(), "doorward.yaml")
	os.WriteFile(config, []byte("recording:\n  pre_roll: 1s\n  post_roll: 60s\n"), 0o600)
	args := []string{"--owner-recipient", recipient, "--config", config}

	var kills []time.Time
	for _, after := range []time.Duration{8500 * time.Millisecond, 11200 * time.Millisecond, 14700 * time.Millisecond} {
		a := startAgent(t, state, nil, args...)
		before := len(clips(t, state))
		mustRun(t, bins.doorward, "trigger", "motion", "--state", state)
		// The clip starts at the keyframe at or before the trigger.
		time.Sleep(after)
		a.kill()
		kills = append(kills, time.Now())
		if n := len(clips(t, state)); n != before+1 {
			t.Fatalf("after kill: %d clips, want %d", n, before+1)
		}
	}
	a := startAgent(t, state, nil, args...)
	cs := clips(t, state)
	a.stop()
	if len(cs) != len(kills) {
		t.Fatalf("clips after crashes: %+v", cs)
	}
	for i, c := range cs {
		if c.Recording {
			t.Errorf("clip %s still marked recording after restart", c.ID)
		}
		p := decrypt(t, key, c.Path)
		if !p.FirstKey || p.Codec != "h264" {
			t.Errorf("clip %s: %+v", c.ID, p)
		}
		// Lost at most the segment in progress (4 s) and the GOP being
		// gathered (1 s).
		killedAt := kills[i].Sub(c.Start).Seconds()
		if min := killedAt - 4 - 1; p.Duration < min {
			t.Errorf("clip %d killed %.1f s in plays %.2f s, want at least %.1f s", i, killedAt, p.Duration, min)
		}
		if math.Abs(p.Duration-c.Duration) > 0.1 {
			t.Errorf("clip %d: index says %.2f s, file plays %.2f s", i, c.Duration, p.Duration)
		}
		var partials []string
		filepath.WalkDir(c.Path, func(path string, d os.DirEntry, err error) error {
			if strings.HasSuffix(path, ".partial") {
				partials = append(partials, path)
			}
			return nil
		})
		if len(partials) > 0 {
			t.Errorf("partial files survived the restart: %v", partials)
		}
	}
	if found := capturetest.ScanPlaintext(t, state); len(found) > 0 {
		t.Errorf("plaintext video at rest after crashes: %+v", found)
	}
}

// Bad input gets one clear error line and a non-zero exit, never a panic.
func TestBadInput(t *testing.T) {
	skipShort(t)
	t.Parallel()
	_, recipient := ownerKey(t)
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(data), 0o600)
		return p
	}
	garbage := write("garbage.h264", strings.Repeat("not video at all ", 100))
	sim, _ := os.ReadFile("../../capture/simcam/sim.h264")
	truncated := write("truncated.h264", string(sim[:300]))
	notDir := write("plainfile", "x")
	state := func() string { return filepath.Join(t.TempDir(), "state") }

	cases := []struct {
		name string
		args []string
		want []string // substrings of the one error line
	}{
		{"bad recipient", []string{"run", "--board", "sim", "--state", state(), "--owner-recipient", "age1nope"},
			[]string{"age1nope"}},
		{"garbage h264", []string{"run", "--board", "sim", "--state", state(), "--owner-recipient", recipient,
			"--config", write("g.yaml", "camera:\n  file: "+garbage+"\n")},
			[]string{garbage, "Annex-B"}},
		{"truncated h264", []string{"run", "--board", "sim", "--state", state(), "--owner-recipient", recipient,
			"--config", write("t.yaml", "camera:\n  file: "+truncated+"\n")},
			[]string{truncated}},
		{"missing h264", []string{"run", "--board", "sim", "--state", state(), "--owner-recipient", recipient,
			"--config", write("m.yaml", "camera:\n  file: /nonexistent/cam.h264\n")},
			[]string{"/nonexistent/cam.h264"}},
		{"bad config value", []string{"run", "--board", "sim", "--state", state(), "--owner-recipient", recipient,
			"--config", write("b.yaml", "recording:\n  post_roll: 0s\n")},
			[]string{"recording.post_roll", "0s", "valid"}},
		{"unknown config field", []string{"run", "--board", "sim", "--state", state(), "--owner-recipient", recipient,
			"--config", write("u.yaml", "recordng:\n  post_roll: 5s\n")},
			[]string{"recordng"}},
		{"missing config", []string{"run", "--board", "sim", "--state", state(), "--owner-recipient", recipient,
			"--config", filepath.Join(dir, "nope.yaml")},
			[]string{"nope.yaml"}},
		{"unknown board", []string{"run", "--board", "toaster", "--state", state(), "--owner-recipient", recipient},
			[]string{"toaster", "sim"}},
		{"state not writable", []string{"run", "--board", "sim", "--state", filepath.Join(notDir, "state"), "--owner-recipient", recipient},
			[]string{"state directory", notDir}},
		{"demo key on real board", []string{"run", "--board", "generic-linux", "--state", state(), "--demo-owner-key", filepath.Join(dir, "demo.key")},
			[]string{"sim board only"}},
		{"trigger without agent", []string{"trigger", "motion", "--state", state()},
			[]string{"no agent is running", "doorward run"}},
		{"trigger without an event", []string{"trigger", "--state", state()},
			[]string{"motion|ring"}},
		{"trigger unknown event", []string{"trigger", "doorknock", "--state", state()},
			[]string{"doorknock", "motion, ring"}},
		{"clips without state", []string{"clips", "--state", state()},
			[]string{"no agent state"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(t, bins.doorward, tc.args...)
			if code == 0 {
				t.Fatalf("exit 0, want failure; stdout %q", stdout)
			}
			if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
				t.Fatalf("panicked:\n%s", stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 {
				t.Errorf("want one error line, got %d:\n%s", len(lines), stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("error %q does not mention %q", stderr, w)
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	skipShort(t)
	t.Parallel()
	if out := mustRun(t, bins.doorward, "version"); !strings.HasPrefix(out, "doorward ") {
		t.Errorf("version printed %q", out)
	}
}
