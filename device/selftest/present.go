package selftest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// The Present functions below say at once whether a camera source is
// there, for CameraCheck.Present: nil, or an error naming what is missing
// and what to check. They look only for what is missing; whether the
// camera then delivers frames is the capture's business.

// DeviceNodePresent checks a V4L2 camera's device node: it exists, is a
// character device, and opens (without streaming) for this user.
func DeviceNodePresent(path string) error {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s does not exist: is the camera connected and enabled? (ls /dev/video*; camera.device in the config names the device)", path)
	case err != nil:
		return fmt.Errorf("%s: %w", path, unwrapPath(err))
	case st.Mode()&fs.ModeCharDevice == 0:
		return fmt.Errorf("%s is not a device node (it is a %s): camera.device must name a V4L2 device such as /dev/video0", path, kind(st.Mode()))
	}
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NONBLOCK, 0)
	switch {
	case err == nil:
		f.Close()
		return nil
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s: permission denied: is the user in the video group? (ls -l %s)", path, path)
	case errors.Is(err, syscall.ENODEV), errors.Is(err, syscall.ENXIO), errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s exists but no device answers (%v): is the camera connected and enabled? (ls /dev/video*)", path, unwrapPath(err))
	}
	return nil // busy or the like: the capture says what it is
}

// ProgramPresent checks the exec source's program: found on PATH (or, for
// a path, there and executable).
func ProgramPresent(name string) error {
	if _, err := exec.LookPath(name); err != nil {
		if strings.Contains(name, "/") {
			return fmt.Errorf("program %s does not exist or is not executable: is it installed? (ls -l %s; camera.command in the config names the program)", name, name)
		}
		return fmt.Errorf("program %s is not on PATH: is it installed? (command -v %s; camera.command in the config names the program)", name, name)
	}
	return nil
}

// FilePresent checks the file source's file: it exists and is a regular
// file this user can read.
func FilePresent(path string) error {
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s does not exist: check camera.file in the config", path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s: permission denied: the agent's user must be able to read it (ls -l %s)", path, path)
	case err != nil:
		return fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a file (it is a %s): camera.file must name an H.264 file", path, kind(st.Mode()))
	}
	return nil
}

// unwrapPath drops a PathError's operation and path, which the message
// already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// kind names a file mode's type.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m.IsRegular():
		return "regular file"
	case m&fs.ModeDevice != 0 && m&fs.ModeCharDevice == 0:
		return "block device"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return "special file"
}
