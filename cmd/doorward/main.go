// Command doorward is the agent that runs on the doorbell: it records
// encrypted clips and answers the other doorward commands over its control
// socket. See the README for how to run it.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/doorward/doorward/cmd/clidoc"
)

// version is stamped by the Makefile with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := newRootCmd(os.Stdout, os.Stderr).Execute(); err != nil {
		// One line per problem (a config file can have several).
		for _, line := range strings.Split(clidoc.Humanize(err), "\n") {
			fmt.Fprintf(os.Stderr, "doorward: %s\n", line)
		}
		os.Exit(1)
	}
}
