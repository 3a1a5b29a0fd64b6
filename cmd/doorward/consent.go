package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/doorward/doorward/device"
)

func newIDCmd() *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "id",
		Short: "Print the device ID",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := controlContext(cmd)
			defer cancel()
			id, err := device.DeviceID(ctx, state)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), id)
			return nil
		},
	}
	stateFlag(cmd, &state)
	return cmd
}

func newPairCodeCmd() *cobra.Command {
	var state string
	var uriOnly bool
	cmd := &cobra.Command{
		Use:   "pair-code [--uri]",
		Short: "Show the unpaired agent's one-time pairing code (first line), its QR code and the doorwardctl pair command",
		Long: `pair-code prints the one-time pairing code on its first line, then the QR
code of the pairing URI (doorward:pair?url=...&code=..., the LAN API's URL
and the code), then the exact doorwardctl pair command. With --uri it prints
the pairing URI alone, for doorwardctl pair --uri.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := controlContext(cmd)
			defer cancel()
			p, err := device.PairCode(ctx, state)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if uriOnly {
				fmt.Fprintln(out, p.URI)
				return nil
			}
			fmt.Fprintln(out, p.Code)
			fmt.Fprint(out, p.QR)
			ctl := ctlCommand(os.Args[0])
			fmt.Fprintf(out, "pair with: %s pair --uri '%s' -i owner.key\n", ctl, p.URI)
			fmt.Fprintf(out, "       or: %s pair --device %s --code %s -i owner.key\n", ctl, p.URL, p.Code)
			return nil
		},
	}
	stateFlag(cmd, &state)
	cmd.Flags().BoolVar(&uriOnly, "uri", false, "print the pairing URI alone")
	return cmd
}

func newPolicyCmd() *cobra.Command {
	var (
		state  string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Show the trust policy for legal-process tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := controlContext(cmd)
			defer cancel()
			p, err := device.Policy(ctx, state)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := newJSONEncoder(out)
				return enc.Encode(p)
			}
			status := "approved by the owner"
			if !p.Approved {
				status = "proposed (not approved: the device is not paired)"
			}
			fmt.Fprintf(out, "trust policy %s, hash %s\n", status, p.Hash)
			if len(p.Policy.Issuers) == 0 {
				fmt.Fprintln(out, "no legal issuers: the device accepts no legal-process token")
				return nil
			}
			q := p.Policy.WithDefaults()
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ISSUER\tROLE\tKEYS")
			for _, is := range q.Issuers {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", is.Name, is.Role, strings.Join(is.Keys(), " "))
			}
			tw.Flush()
			var quorum []string
			for role, n := range q.Quorum {
				quorum = append(quorum, fmt.Sprintf("%s: %d", role, n))
			}
			fmt.Fprintf(out, "quorum: %s (and at least 2 distinct issuers)\n", strings.Join(quorum, ", "))
			fmt.Fprintf(out, "limits: token lifetime %v, scope span %v, owner notified within %v; emergency: lifetime %v, span %v, no notice delay\n",
				q.MaxTokenLifetime, q.MaxScopeSpan, q.MaxNoticeDelay, q.Emergency.MaxLifetime, q.Emergency.MaxScopeSpan)
			return nil
		},
	}
	stateFlag(cmd, &state)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newAuditCmd() *cobra.Command {
	var (
		state  string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Print the decision log (the owner verifies it with doorwardctl audit verify)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := controlContext(cmd)
			defer cancel()
			a, err := device.Audit(ctx, state)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := newJSONEncoder(out)
				return enc.Encode(a)
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SEQ\tTIME\tDECISION\tREASON\tSUBJECT")
			for _, e := range a.Entries {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.Local().Format(time.DateTime), e.Kind, e.Reason, strings.Join(e.Subject, " "))
			}
			tw.Flush()
			if a.Checkpoint == nil {
				fmt.Fprintln(out, "\n(no agent running: entries read from the database; only the running agent signs a checkpoint)")
				return nil
			}
			fmt.Fprintf(out, "\nsigned checkpoint:\n%s", a.Checkpoint.Marshal())
			return nil
		},
	}
	stateFlag(cmd, &state)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
