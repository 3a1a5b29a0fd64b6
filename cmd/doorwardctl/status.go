package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func newStatusCmd(stdout io.Writer) *cobra.Command {
	var deviceURL, ownerPath string
	var asJSON bool
	c := &cobra.Command{
		Use:   "status --device URL -i owner.key [--json]",
		Short: "Show a device's status (owner only): owners, recording, camera, last event, disk, clock",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, login, err := ownerRead(ctx, deviceURL, ownerPath, "status")
			if err != nil {
				return err
			}
			st, err := s.client.Status(ctx, login)
			if err != nil {
				return fmt.Errorf("status: %w", err)
			}
			if asJSON {
				return printJSON(stdout, st)
			}
			st.WriteText(stdout)
			return nil
		},
	}
	ownerFlags(c, &deviceURL, &ownerPath)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
