// Package clidoc gives both Doorward commands the same release surface:
// a --version flag that prints what the version subcommand prints, shell
// completion (cobra's own `completion` command) and man pages for every
// command (cobra/doc), written by a hidden `man DIR` subcommand that
// `make dist` calls so the pages always match the binary they ship with.
package clidoc

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// Install adds --version, completion and the hidden man-page generator to
// root, whose Use is the binary's name.
func Install(root *cobra.Command, version string) {
	root.Version = version
	root.SetVersionTemplate(root.Name() + " {{.Version}}\n")
	root.CompletionOptions.DisableDefaultCmd = false
	root.CompletionOptions.HiddenDefaultCmd = false
	root.AddCommand(&cobra.Command{
		Use:    "man DIR",
		Short:  "Write a man page for every command into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			header := &doc.GenManHeader{
				Title:   root.Name(),
				Section: "1",
				Source:  root.Name() + " " + version,
				Manual:  "Doorward",
				Date:    buildDate(),
			}
			// The hidden generator documents itself out of the pages:
			// cobra/doc skips hidden commands.
			root.DisableAutoGenTag = true // no date in the pages: builds stay reproducible
			if err := doc.GenManTree(root, header, dir); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			return nil
		},
	})
}

// buildDate is SOURCE_DATE_EPOCH when set (reproducible builds), else now.
func buildDate() *time.Time {
	t := time.Now()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			t = time.Unix(n, 0).UTC()
		}
	}
	return &t
}
