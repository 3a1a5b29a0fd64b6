package main

import "testing"

// buildArgs is "go build" with -race when this test binary has it.
func buildArgs(args ...string) []string {
	out := []string{"build"}
	if raceBuild {
		out = append(out, "-race")
	}
	return append(out, args...)
}

// skipShort skips a test under -short: every test of this package builds
// or runs the binaries, end to end.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end to end: builds and runs the binaries")
	}
}
