package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// newDevicesCmd lists the devices an owner key paired with (its pin file)
// and names them: --device takes a name or an ID as well as a URL.
func newDevicesCmd(stdout io.Writer) *cobra.Command {
	var ownerPath string
	var asJSON bool
	c := &cobra.Command{
		Use:   "devices -i owner.key [--json]",
		Short: "List the devices your key paired with: ID, name, LAN URL, when paired",
		Long: `devices lists the devices in owner.key's pin file (<owner.key>.devices.json):
each one's ID, the name you gave it (pair --name, devices rename), the LAN
URL last used, and when it was paired. --device takes any of the three;
with one device paired, --device may be left out.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(_ *cobra.Command, _ []string) error {
			if _, err := loadOwner(ownerPath); err != nil {
				return err
			}
			pins, err := loadPins(pinPath(ownerPath))
			if err != nil {
				return err
			}
			type shown struct {
				ID     string    `json:"id"`
				Name   string    `json:"name,omitempty"`
				URL    string    `json:"url"`
				Paired time.Time `json:"paired"`
			}
			out := []shown{}
			for _, id := range slices.Sorted(maps.Keys(pins)) {
				p := pins[id]
				out = append(out, shown{id, p.Name, p.URL, p.Paired})
			}
			if asJSON {
				return printJSON(stdout, out)
			}
			if len(out) == 0 {
				fmt.Fprintf(stdout, "no devices paired with %s (doorwardctl pair)\n", ownerPath)
				return nil
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tURL\tPAIRED")
			for _, d := range out {
				name := d.Name
				if name == "" {
					name = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.ID, printable(name), printable(d.URL), d.Paired.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVarP(&ownerPath, "identity", "i", "", "your owner key `FILE`")
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	c.MarkFlagRequired("identity")

	var renameOwner string
	rename := &cobra.Command{
		Use:   "rename -i owner.key DEVICE NAME",
		Short: "Give a paired device a name that --device takes",
		Args:  exactArgs(2, "the device (ID, name or URL) and its new name"),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := checkDeviceName(args[1]); err != nil {
				return err
			}
			pp := pinPath(renameOwner)
			pins, err := loadPins(pp)
			if err != nil {
				return err
			}
			id, _, err := findPin(args[0], renameOwner)
			if err != nil {
				for pid, p := range pins {
					if p.URL == args[0] {
						id, err = pid, nil
					}
				}
			}
			if err != nil {
				return err
			}
			for pid, p := range pins {
				if pid != id && p.Name == args[1] {
					return fmt.Errorf("devices rename: device %s is already called %q", pid, args[1])
				}
			}
			pins[id].Name = args[1]
			if err := pins.save(pp); err != nil {
				return fmt.Errorf("devices rename: %w", err)
			}
			fmt.Fprintf(stdout, "device %s is now %q\n", id, args[1])
			return nil
		},
	}
	rename.Flags().StringVarP(&renameOwner, "identity", "i", "", "your owner key `FILE`")
	rename.MarkFlagRequired("identity")
	c.AddCommand(rename)
	return c
}

// checkDeviceName accepts a name --device can tell from a URL or an ID:
// letters, digits, '-', '_' and '.', 1 to 64 of them, not a URL.
func checkDeviceName(name string) error {
	if name == "" || len(name) > 64 {
		return errors.New("--name: 1 to 64 characters (letters, digits, - _ .)")
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("--name %q: use letters, digits, - _ and . only", printable(name))
		}
	}
	return nil
}
