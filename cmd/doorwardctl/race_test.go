//go:build race

package main

// raceBuild is true when this test binary was built with -race: the
// end-to-end tests then build the binaries they run with -race too, so
// make test's race detector covers the agent and the owner's tool.
const raceBuild = true
