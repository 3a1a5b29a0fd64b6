// Command doorwardctl is the Doorward owner's tool: it makes owner keys and
// decrypts clips fetched from a device.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/doorward/doorward/cmd/clidoc"
)

// version is stamped at build time with
// -ldflags "-X main.version=v1.2.3". The linker can only set a
// package-level variable, so this is the one global.
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit code: 0 on
// success, 1 with one line on stderr on any error.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		// One line, for people (no Go package prefixes).
		fmt.Fprintf(stderr, "doorwardctl: %s\n", strings.Join(strings.Fields(clidoc.Humanize(err)), " "))
		return 1
	}
	return 0
}
