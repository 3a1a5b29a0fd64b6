package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/doorward/doorward/device/api"
)

func newDisclosuresCmd(stdout io.Writer) *cobra.Command {
	var deviceURL, ownerPath string
	var asJSON bool
	c := &cobra.Command{
		Use:   "disclosures --device URL -i owner.key [JTI] [--json]",
		Short: "List what left the device, by grant or legal token",
		Long: `disclosures lists every disclosure the device made or is making: for each
grant (grant:JTI) or legal token (legal:JTI), the clips it released, their
segments, the state of each delivery (pending, running, delivered, failed)
and where the re-wrapped pieces are: on the device, in the directory
disclosures/JTI/CLIP under its state directory (a grantee whose grant names
a contact fetches them with doorwardctl fetch --grant), or in the relay's
store when an uplink delivers them. With JTI, only that grant's or token's.
A disclosure whose owner notice a token delays is listed once the notice is
released. --json prints the device's records as a JSON array.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := connect(ctx, deviceURL, ownerPath)
			if err != nil {
				return err
			}
			var all []api.Disclosure
			after := ""
			for {
				login, err := s.login()
				if err != nil {
					return fmt.Errorf("disclosures: %w", err)
				}
				page, next, err := s.client.DisclosuresPage(ctx, login, after)
				if err != nil {
					return fmt.Errorf("disclosures: %w", err)
				}
				all = append(all, page...)
				if next == "" || next == after {
					break
				}
				after = next
			}
			if len(args) == 1 {
				var only []api.Disclosure
				for _, d := range all {
					if _, jti, _ := strings.Cut(d.Authority, ":"); jti == args[0] {
						only = append(only, d)
					}
				}
				all = only
			}
			if asJSON {
				if all == nil {
					all = []api.Disclosure{}
				}
				return printJSON(stdout, all)
			}
			if len(all) == 0 {
				if len(args) == 1 {
					fmt.Fprintf(stdout, "nothing disclosed under %s\n", printable(args[0]))
				} else {
					fmt.Fprintln(stdout, "nothing has left the device")
				}
				return nil
			}
			writeDisclosures(stdout, all)
			return nil
		},
	}
	ownerFlags(c, &deviceURL, &ownerPath)
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return c
}

// writeDisclosures prints disclosures grouped by their authority, in the
// order each authority first disclosed.
func writeDisclosures(w io.Writer, ds []api.Disclosure) {
	var order []string
	by := map[string][]api.Disclosure{}
	for _, d := range ds {
		if _, ok := by[d.Authority]; !ok {
			order = append(order, d.Authority)
		}
		by[d.Authority] = append(by[d.Authority], d)
	}
	for _, a := range order {
		kind, jti, _ := strings.Cut(a, ":")
		jobs := by[a]
		if kind == "backup" {
			writeBackupJobs(w, jti, jobs)
			continue
		}
		fmt.Fprintf(w, "%s %s  to %s\n", printable(kind), printable(jti), printable(jobs[0].Recipient))
		for _, d := range jobs {
			when := d.Created
			if !d.Done.IsZero() {
				when = d.Done
			}
			fmt.Fprintf(w, "  clip %s  %s %s  %d segment(s)", printable(d.Clip), d.State, when.Local().Format(time.RFC3339), len(d.Segments))
			if len(d.Files) > 0 {
				fmt.Fprintf(w, ", %d file(s)", len(d.Files))
			}
			fmt.Fprintln(w)
			switch {
			case d.Uploaded:
				fmt.Fprintf(w, "    in:    the relay's store (doorwardctl fetch --relay URL --device ID --disclosure %s)\n", printable(jti))
			case d.Dir != "" && d.State == "delivered":
				fmt.Fprintf(w, "    in:    disclosures/%s\n", printable(d.Dir))
			}
			if d.Strict {
				fmt.Fprintln(w, "    strict: owner-only ciphertext")
			}
			if d.Error != "" {
				fmt.Fprintf(w, "    note:  %s\n", printable(d.Error))
			} else if d.LastError != "" {
				fmt.Fprintf(w, "    last error: %s\n", printable(d.LastError))
			}
		}
	}
}

// writeBackupJobs summarizes the cloud backup's uploads (one job per
// committed segment) per clip: how many are delivered, failed and waiting.
func writeBackupJobs(w io.Writer, jti string, jobs []api.Disclosure) {
	fmt.Fprintf(w, "backup %s  to the owner keys (cloud backup)\n", printable(jti))
	var clips []string
	count := map[string]map[string]int{}
	for _, d := range jobs {
		if count[d.Clip] == nil {
			clips = append(clips, d.Clip)
			count[d.Clip] = map[string]int{}
		}
		count[d.Clip][d.State] += len(d.Segments)
	}
	for _, c := range clips {
		n := count[c]
		fmt.Fprintf(w, "  clip %s  %d segment(s) uploaded", printable(c), n["delivered"])
		if n["failed"] > 0 {
			fmt.Fprintf(w, ", %d not (backup turned off or failed)", n["failed"])
		}
		if waiting := n["pending"] + n["running"]; waiting > 0 {
			fmt.Fprintf(w, ", %d waiting", waiting)
		}
		fmt.Fprintln(w)
	}
}
