package selftest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/capture"
)

func TestPresent(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "clip.h264")
	if err := os.WriteFile(file, []byte{0, 0, 0, 1}, 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "video9")
	for _, tc := range []struct {
		name string
		err  error
		want string // "" for present
	}{
		{"device node missing", DeviceNodePresent(missing),
			missing + " does not exist: is the camera connected and enabled? (ls /dev/video*; camera.device in the config names the device)"},
		{"device node a file", DeviceNodePresent(file),
			file + " is not a device node (it is a regular file): camera.device must name a V4L2 device such as /dev/video0"},
		{"device node a directory", DeviceNodePresent(dir), dir + " is not a device node (it is a directory)"},
		{"character device", DeviceNodePresent("/dev/null"), ""},
		{"program on PATH", ProgramPresent("sh"), ""},
		{"program not on PATH", ProgramPresent("doorward-no-such-camera"),
			"program doorward-no-such-camera is not on PATH: is it installed? (command -v doorward-no-such-camera; camera.command in the config names the program)"},
		{"program path missing", ProgramPresent(missing), "program " + missing + " does not exist or is not executable"},
		{"program not executable", ProgramPresent(file), "program " + file + " does not exist or is not executable"},
		{"file", FilePresent(file), ""},
		{"file missing", FilePresent(missing), missing + " does not exist: check camera.file in the config"},
		{"file a directory", FilePresent(dir), dir + " is not a file (it is a directory): camera.file must name an H.264 file"},
	} {
		switch {
		case tc.want == "" && tc.err != nil:
			t.Errorf("%s: %v, want present", tc.name, tc.err)
		case tc.want != "" && (tc.err == nil || !strings.HasPrefix(tc.err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, tc.err, tc.want)
		}
	}
}

// A camera found missing fails the capture at once, without opening it
// (a V4L2 source would retry an absent device for the whole timeout).
func TestCameraCheckMissingFailsAtOnce(t *testing.T) {
	opened := false
	c := CameraCheck{
		Source: "v4l2 /dev/video9", Frames: 90, FPS: 30,
		Present: func() error { return errors.New("/dev/video9 does not exist: is the camera connected and enabled?") },
		Open: func(ctx context.Context) (capture.Source, error) {
			opened = true
			<-ctx.Done() // as a source retrying a missing device would
			return nil, ctx.Err()
		},
		Timeout: time.Minute,
	}
	done := make(chan Result, 1)
	go func() { done <- c.Check().Run(context.Background()) }()
	select {
	case res := <-done:
		if want := "camera v4l2 /dev/video9: /dev/video9 does not exist: is the camera connected and enabled?"; res.Status != Fail || res.Detail != want {
			t.Errorf("got %s %q, want fail %q", res.Status, res.Detail, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the capture check waited for a camera it found missing")
	}
	if opened {
		t.Error("the missing camera was opened")
	}

	formats := FormatsCheck{Source: "v4l2 /dev/video9", Present: c.Present,
		Formats: func(context.Context) ([]string, error) { t.Error("formats listed"); return nil, nil }}
	if res := formats.Check().Run(context.Background()); res.Status != Fail || !strings.Contains(res.Detail, "does not exist: is the camera connected") {
		t.Errorf("formats of a missing camera: %s %q", res.Status, res.Detail)
	}

	// A present camera is opened as before.
	c.Present = func() error { return nil }
	c.Timeout = 50 * time.Millisecond
	if res := c.Check().Run(context.Background()); !opened || res.Status != Fail || !strings.Contains(res.Detail, "opening camera") {
		t.Errorf("present camera: opened %v, %s %q", opened, res.Status, res.Detail)
	}
}

// A state directory not created yet (a fresh install) is measured in its
// nearest existing parent, and the check creates nothing.
func TestStorageCheckMissingStateDir(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "var", "lib", "doorward")
	res := StorageCheck{Dir: dir, WriteBytes: 1 << 20, Syncs: 2}.Check().Run(context.Background())
	want := dir + " does not exist yet; measured " + root + ", where the agent will create it: "
	if (res.Status != Pass && res.Status != Warn) || !strings.HasPrefix(res.Detail, want) {
		t.Errorf("missing state directory: %s %q, want pass starting %q", res.Status, res.Detail, want)
	}
	if res.Figures["write_mb_per_s"] <= 0 || res.Figures["free_gib"] <= 0 {
		t.Errorf("figures %v", res.Figures)
	}
	if left, _ := os.ReadDir(root); len(left) != 0 {
		t.Errorf("the storage check created %v in %s", left, root)
	}

	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ dir, want string }{
		{file, "state directory " + file + " is not a directory (it is a regular file)"},
		{filepath.Join(file, "state"), "state directory " + file + "/state cannot be created: " + file + " is a regular file, not a directory"},
		{"", "no state directory given"},
	} {
		if res := (StorageCheck{Dir: tc.dir, WriteBytes: 1 << 20}).Check().Run(context.Background()); res.Status != Fail || !strings.HasPrefix(res.Detail, tc.want) {
			t.Errorf("state directory %q: %s %q, want %q", tc.dir, res.Status, res.Detail, tc.want)
		}
	}

	if os.Geteuid() != 0 {
		ro := filepath.Join(root, "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		d := filepath.Join(ro, "doorward")
		res := StorageCheck{Dir: d, WriteBytes: 1 << 20}.Check().Run(context.Background())
		if res.Status != Fail || !strings.Contains(res.Detail, "measured "+ro+", where the agent will create it, but it is not writable") {
			t.Errorf("unwritable parent: %s %q", res.Status, res.Detail)
		}
	}
}
