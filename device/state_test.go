package device

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStateDirTightened (issue 8, finding 13): an existing state directory
// that others could enter is made 0700 when the agent starts; a new one is
// created 0700.
func TestStateDirTightened(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // whatever the test's umask
	if err := prepareStateDir(dir); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("existing state directory left mode %04o, want 0700", st.Mode().Perm())
	}
	fresh := filepath.Join(t.TempDir(), "new", "state")
	if err := prepareStateDir(fresh); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(fresh); st.Mode().Perm() != 0o700 {
		t.Errorf("new state directory mode %04o, want 0700", st.Mode().Perm())
	}
}
