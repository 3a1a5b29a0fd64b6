package atomicfile_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/doorward/doorward/device/atomicfile"
)

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range des {
		names = append(names, d.Name())
	}
	return names
}

func wantOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	got := entries(t, dir)
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("directory holds %q, want %q", got, names)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pins.json")
	for _, tc := range []struct {
		data string
		perm fs.FileMode
	}{{"first", 0o600}, {"second, longer", 0o644}, {"3", 0o600}} {
		if err := atomicfile.WriteFile(path, []byte(tc.data), tc.perm); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != tc.data {
			t.Fatalf("read %q, %v; want %q", b, err, tc.data)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tc.perm {
			t.Errorf("mode %v, want %v", fi.Mode().Perm(), tc.perm)
		}
		wantOnly(t, dir, "pins.json")
	}
}

// A write that fails half way (the source errs) and is aborted leaves
// neither the final name nor a temporary file, and keeps an older file.
func TestFailedWriteLeavesNothing(t *testing.T) {
	for _, existing := range []bool{false, true} {
		dir := t.TempDir()
		path := filepath.Join(dir, "out.mp4")
		if existing {
			if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		err := func() error {
			f, err := atomicfile.Create(path, 0o600)
			if err != nil {
				return err
			}
			defer f.Abort()
			if _, err := io.Copy(f, io.MultiReader(strings.NewReader("partial plaintext"), errReader{})); err != nil {
				return err
			}
			return f.Commit()
		}()
		if !errors.Is(err, errBroken) {
			t.Fatalf("err = %v, want the source's error", err)
		}
		if existing {
			wantOnly(t, dir, "out.mp4")
			if b, _ := os.ReadFile(path); string(b) != "old" {
				t.Errorf("old file now holds %q", b)
			}
		} else {
			wantOnly(t, dir)
		}
	}
}

var errBroken = errors.New("source broke")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBroken }

// Until Commit the data is only under the temporary name; a process that
// dies there leaves the final name untouched.
func TestNothingUnderFinalNameBeforeCommit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	f, err := atomicfile.Create(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("secret")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("final name exists before Commit: %v", err)
	}
	if tmp := filepath.Base(f.TempName()); !strings.HasPrefix(tmp, ".key.tmp-") || filepath.Dir(f.TempName()) != dir {
		t.Errorf("temporary name %s, want .key.tmp-* in %s", f.TempName(), dir)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "secret" {
		t.Fatalf("read %q, %v", b, err)
	}
	if err := f.Abort(); err != nil {
		t.Errorf("Abort after Commit: %v", err)
	}
	if err := f.Commit(); err == nil {
		t.Error("second Commit succeeded")
	}
	if _, err := f.Write([]byte("x")); err == nil {
		t.Error("Write after Commit succeeded")
	}
	wantOnly(t, dir, "key")
}

// A Commit whose rename fails (a directory holds the final name) removes
// the temporary file and leaves the final name as it was.
func TestFailedCommitRemovesTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "taken")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "inside"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := atomicfile.WriteFile(path, []byte("data"), 0o600)
	if err == nil || !strings.HasPrefix(err.Error(), "atomicfile: ") {
		t.Fatalf("err = %v, want an atomicfile error", err)
	}
	wantOnly(t, dir, "taken")
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Errorf("final name changed: %v", err)
	}
}

func TestWriteFileMissingDirectory(t *testing.T) {
	dir := t.TempDir()
	err := atomicfile.WriteFile(filepath.Join(dir, "no", "such"), []byte("x"), 0o600)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
	wantOnly(t, dir)
}

func TestCreatePartial(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "000001.m4s.age")
	f, err := atomicfile.CreatePartial(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if f.TempName() != path+".partial" || f.Name() != path {
		t.Errorf("names %s -> %s", f.TempName(), f.Name())
	}
	if _, err := atomicfile.CreatePartial(path, 0o600); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second writer of one name: %v, want fs.ErrExist", err)
	}
	if _, err := f.Write([]byte("ciphertext")); err != nil {
		t.Fatal(err)
	}
	wantOnly(t, dir, "000001.m4s.age.partial")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	wantOnly(t, dir, "000001.m4s.age")

	g, err := atomicfile.CreatePartial(filepath.Join(dir, "000002.m4s.age"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := g.Abort(); err != nil {
		t.Errorf("second Abort: %v", err)
	}
	wantOnly(t, dir, "000001.m4s.age")
}
