package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/doorward/doorward/device/config"
)

func newConfigCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Work with the agent's config file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return fmt.Errorf("config: name a subcommand: check FILE")
		},
	}
	c.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Check a config file without starting anything",
		Long: `config check reads FILE as doorward run --config would and reports every
problem: the file, line and column, the field, the value and what would be
valid. It exits 0 and prints one line when the file is valid, 1 otherwise.
init/doorward.yaml lists every field with its default.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("config check: takes one FILE, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := config.LoadFile(args[0])
			if err != nil {
				return err
			}
			uplink := "off"
			if f.Config.MQTT.Broker != "" {
				uplink = f.Config.MQTT.Broker
			}
			board := f.Config.Board
			if board == "" {
				board = "auto unless --board"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK (board %s, listen %s, vault %s, uplink %s)\n", f.Path, board, f.Config.Listen, f.Config.Vault, uplink)
			return nil
		},
	})
	return c
}
