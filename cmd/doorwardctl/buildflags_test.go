package main

// buildArgs is "go build" with -race when this test binary has it.
func buildArgs(args ...string) []string {
	out := []string{"build"}
	if raceBuild {
		out = append(out, "-race")
	}
	return append(out, args...)
}
