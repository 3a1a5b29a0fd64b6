package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/doorward/doorward/cmd/clidoc"
)

// newRootCmd builds the doorwardctl command tree writing to stdout and
// stderr. Errors are returned, not printed: run prints them as one line.
func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "doorwardctl",
		Short:         "The Doorward owner's tool",
		Long:          "doorwardctl makes the owner's keys, pairs devices, shares footage with signed grants, reads disclosure notices and verifies a device's audit log; legal-process issuers make keys and tokens with it.",
		SilenceUsage:  true,
		SilenceErrors: true,
		// No Args and no RunE: bare "doorwardctl" prints help, and cobra's
		// default makes an unknown subcommand an error.
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())
	})
	root.AddCommand(
		newKeygenCmd(stdout, stderr),
		newDecryptCmd(stdout),
		newVersionCmd(stdout),
		newPairCmd(stdout, stderr),
		newEnrollCmd(stdout),
		newResetCmd(stdout, stderr),
		newGrantCmd(stdout),
		newRevokeCmd(stdout),
		newBackupCmd(stdout, stderr),
		newIssuerCmd(stdout, stderr),
		newTokenCmd(stdout),
		newNoticesCmd(stdout),
		newPolicyCmd(stdout, stderr),
		newAuditCmd(stdout),
		newEventsCmd(stdout, stderr),
		newRelayCmd(stdout, stderr),
		newFetchCmd(stdout, stderr),
		newClipsCmd(stdout),
		newDisclosuresCmd(stdout),
		newStatusCmd(stdout),
		newDevicesCmd(stdout),
		newLiveCmd(stdout, stderr),
		newViewCmd(stdout, stderr),
	)
	clidoc.Install(root, version)
	return root
}

// exactArgs is cobra.ExactArgs with an error that says what is missing and
// where to look.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("%s expects %s, got %d arguments (see '%s --help')", c.Name(), what, len(args), c.CommandPath())
		}
		return nil
	}
}

func newVersionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the doorwardctl version",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(stdout, "doorwardctl %s\n", version)
			return err
		},
	}
}
