// Package atomicfile writes files so that a reader, or the next boot after a
// power cut, sees either the old content or the whole new content under the
// final name, never a part: the data goes to a temporary file in the same
// directory, which is fsynced, renamed over the final name, and the
// directory is fsynced so that the rename itself is durable.
//
// WriteFile does it for data in memory; Create, Write and Commit (or Abort)
// stream a big file (a clip piece, a decrypted video) the same way.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// PartialSuffix is the suffix CreatePartial gives the temporary file.
const PartialSuffix = ".partial"

// File is a file being written under a temporary name in the directory of
// its final name. Commit installs it; Abort (or a failed Commit) removes it.
// A File is not safe for concurrent use.
type File struct {
	f    *os.File
	path string // the final name
	done bool
}

// Create starts writing path: the data goes to a hidden temporary file
// ".<name>.tmp-<random>" in path's directory, created with mode perm (not
// subject to the umask). Nothing appears under path until Commit.
func Create(path string, perm fs.FileMode) (*File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	return &File{f: f, path: path}, nil
}

// CreatePartial is Create with the fixed temporary name path+".partial",
// for stores whose crash recovery looks for that name (the vault deletes
// every "*.partial" it finds at start). It fails, wrapping fs.ErrExist, if
// the temporary file is already there: two writers of one name are a bug.
func CreatePartial(path string, perm fs.FileMode) (*File, error) {
	f, err := os.OpenFile(path+PartialSuffix, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	return &File{f: f, path: path}, nil
}

// Name returns the final name the file is installed under by Commit.
func (f *File) Name() string { return f.path }

// TempName returns the name the data is written to until Commit.
func (f *File) TempName() string { return f.f.Name() }

// Write writes to the temporary file.
func (f *File) Write(p []byte) (int, error) {
	if f.done {
		return 0, errors.New("atomicfile: write after commit or abort")
	}
	return f.f.Write(p)
}

// Commit fsyncs the temporary file, closes it, renames it to the final name
// and fsyncs the directory. If any step before the rename fails, the
// temporary file is removed and nothing changes under the final name.
// Commit after Commit or Abort is an error.
func (f *File) Commit() error {
	if f.done {
		return errors.New("atomicfile: commit after commit or abort")
	}
	f.done = true
	tmp := f.f.Name()
	err := f.f.Sync()
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, f.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("atomicfile: %w", err)
	}
	if err := SyncDir(filepath.Dir(f.path)); err != nil {
		return err
	}
	return nil
}

// Abort closes and removes the temporary file. It is a no-op after Commit
// or Abort, so `defer f.Abort()` is the usual way to clean up.
func (f *File) Abort() error {
	if f.done {
		return nil
	}
	f.done = true
	f.f.Close()
	if err := os.Remove(f.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("atomicfile: %w", err)
	}
	return nil
}

// WriteFile writes data to path atomically with mode perm, replacing any
// file there.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	return f.Commit()
}

// SyncDir fsyncs a directory, making the creations, renames and removals of
// its entries durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("atomicfile: sync directory %s: %w", dir, err)
	}
	return nil
}
