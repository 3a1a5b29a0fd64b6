package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/capture/capturetest"
)

// TestDecryptE2E (issue 11): decrypt follows age: standard output unless
// -o, never binary to a terminal; it takes a clip ID as well as a
// directory, and warns about a clip still recording.
func TestDecryptE2E(t *testing.T) {
	b := e2e(t)
	script := capturetest.Tool(t, "script") // a terminal for the refusal
	dir := t.TempDir()
	// A long post-roll and clip cap: the clip still recording below must
	// stay open while a loaded machine starts decrypt.
	config := filepath.Join(dir, "doorward.yaml")
	if err := os.WriteFile(config, []byte("recording:\n  pre_roll: 1s\n  post_roll: 4s\n  segment: 1s\n  max_clip: 60s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDevice(t, b, dir+"/state", config)
	owner := newHome(t, b)
	pairOwner(t, b, d, owner)
	clip := d.recordClip(2)

	// A clip ID, to standard output (a pipe here).
	r := ctl(t, b, owner.dir, "", "decrypt", "-i", owner.key, "--state", d.state, clip.ID)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("decrypt CLIP_ID to stdout: exit %d: %s", r.code, r.stderr)
	}
	if p := capturetest.ProbeBytes(t, []byte(r.stdout), true); p.Codec != "h264" || p.Frames < 30 {
		t.Errorf("decrypted to stdout: %+v", p)
	}
	// A directory, to a file.
	clipDir := filepath.Join(d.state, "clips", clip.Start.UTC().Format("2006/01/02"), clip.ID)
	movie := filepath.Join(owner.dir, "clip.mp4")
	if out := mustCtl(t, b, owner.dir, "decrypt", "-i", owner.key, clipDir, "-o", movie); out != "" {
		t.Errorf("decrypt -o printed %q", out)
	}
	if p := capturetest.ProbeFile(t, movie, true); p.Codec != "h264" {
		t.Errorf("decrypted file: %+v", p)
	}
	// An existing MP4 is replaced (decrypting again into the same file,
	// as age's -o does); any other file only with --force.
	mustCtl(t, b, owner.dir, "decrypt", "-i", owner.key, clipDir, "-o", movie)
	notes := filepath.Join(owner.dir, "notes.txt")
	if err := os.WriteFile(notes, []byte("not a video\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantFail(t, ctl(t, b, owner.dir, "", "decrypt", "-i", owner.key, clipDir, "-o", notes), "notes.txt", "not an MP4", "--force")
	wantFail(t, ctl(t, b, owner.dir, "", "decrypt", "-i", owner.key, clipDir, "-o", owner.key), "not an MP4", "--force")
	if got, _ := os.ReadFile(notes); string(got) != "not a video\n" {
		t.Errorf("a refused decrypt changed the file: %q", got)
	}
	mustCtl(t, b, owner.dir, "decrypt", "-i", owner.key, clipDir, "-o", notes, "--force")
	if p := capturetest.ProbeFile(t, notes, true); p.Codec != "h264" {
		t.Errorf("decrypted with --force: %+v", p)
	}

	// Unknown IDs and garbage name what is wrong.
	wantFail(t, ctl(t, b, owner.dir, "", "decrypt", "-i", owner.key, "--state", d.state, "20200101T000000Z-abcdef"), "no clip 20200101T000000Z-abcdef")
	wantFail(t, ctl(t, b, owner.dir, "", "decrypt", "-i", owner.key, "--state", d.state, "nonsense"), "neither a clip directory nor a clip ID")

	// A terminal on standard output: refused, nothing written.
	cmdline := strings.Join([]string{b.doorwardctl, "decrypt", "-i", owner.key, "--state", d.state, clip.ID}, " ")
	out, err := exec.Command(script, "-qec", cmdline, "/dev/null").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "refusing to write binary video to a terminal") || len(out) > 1000 {
		t.Errorf("decrypt to a terminal: %v\n%q", err, out)
	}

	// A clip still recording: decrypted as far as committed, with a warning.
	warned := false
	for attempt := 0; attempt < 3 && !warned; attempt++ {
		if o, err := exec.Command(b.doorward, "trigger", "motion", "--state", d.state).CombinedOutput(); err != nil {
			t.Fatalf("trigger: %v %s", err, o)
		}
		deadline := time.Now().Add(10 * time.Second)
		var live clipInfo
		for time.Now().Before(deadline) {
			cs := d.clips()
			if c := cs[len(cs)-1]; c.ID != clip.ID && c.Recording && c.Segments >= 1 {
				live = c
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if live.ID == "" {
			continue
		}
		// Keep it recording while decrypt runs: motion every second.
		stop, stopped := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(stopped)
			for {
				exec.Command(b.doorward, "trigger", "motion", "--state", d.state).Run()
				select {
				case <-stop:
					return
				case <-time.After(time.Second):
				}
			}
		}()
		partial := filepath.Join(owner.dir, "partial.mp4")
		os.Remove(partial)
		r := ctl(t, b, owner.dir, "", "decrypt", "-i", owner.key, "--state", d.state, live.ID, "-o", partial)
		close(stop)
		<-stopped
		if r.code == 0 && strings.Contains(r.stderr, "warning: clip "+live.ID+" is still recording") {
			warned = true
			if p := capturetest.ProbeFile(t, partial, true); p.Codec != "h264" {
				t.Errorf("the part committed so far: %+v", p)
			}
		}
	}
	if !warned {
		t.Error("decrypt of a clip still recording gave no warning")
	}
}
