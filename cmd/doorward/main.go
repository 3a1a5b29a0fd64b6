// Command doorward is the agent that runs on the doorbell: it records
// encrypted clips and answers the other doorward commands over its control
// socket. See the README for how to run it.
package main

import (
	"fmt"
	"os"
)

// version is stamped by the Makefile with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := newRootCmd(os.Stdout, os.Stderr).Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "doorward: %v\n", err)
		os.Exit(1)
	}
}
