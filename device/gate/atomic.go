package gate

import (
	"fmt"
	"os"
	"path/filepath"
)

// atomicFile is written to a temporary name beside its final one, then
// fsynced, renamed and its directory fsynced.
type atomicFile struct {
	*os.File
	path string
}

func createAtomic(path string) (*atomicFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return nil, fmt.Errorf("gate: %w", err)
	}
	return &atomicFile{File: f, path: path}, nil
}

func (f *atomicFile) Abort() {
	f.File.Close()
	os.Remove(f.File.Name())
}

func (f *atomicFile) Commit() error {
	err := f.File.Sync()
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.File.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.File.Name())
		return fmt.Errorf("gate: writing %s: %w", filepath.Base(f.path), err)
	}
	return syncDir(filepath.Dir(f.path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("gate: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("gate: fsync %s: %w", dir, err)
	}
	return nil
}
