package main

import (
	"io"
	"testing"

	"github.com/doorward/doorward/cmd/clidoc"
)

// Every doorward command keeps the flag conventions both binaries share
// (clidoc.Check): --json a switch, -o an output with - and --force, one
// name per concept.
func TestFlagConventions(t *testing.T) {
	root := newRootCmd(io.Discard, io.Discard)
	for _, bad := range clidoc.Check(root) {
		t.Error(bad)
	}
}
