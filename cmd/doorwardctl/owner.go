package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/device/config"
	"github.com/doorward/doorward/device/lanclient"
)

func newNoticesCmd(stdout io.Writer) *cobra.Command {
	var deviceURL, ownerPath string
	var asJSON bool
	c := &cobra.Command{
		Use:   "notices --device URL -i owner.key [--relay URL] [--json]",
		Short: "Read the owner notices: every disclosure of your footage",
		Long: `notices fetches the device's owner notices (encrypted to the owners) and
decrypts them with your key: when, what kind (grant or legal), to whom,
under which grant or token, the legal basis and case, how many segments.
A notice a token delayed appears once it is released.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, login, err := ownerRead(ctx, deviceURL, ownerPath, "notices")
			if err != nil {
				return err
			}
			items, err := s.client.Notices(ctx, login)
			if err != nil {
				return fmt.Errorf("notices: %w", err)
			}
			type shown struct {
				ID        uint64         `json:"id"`
				Created   time.Time      `json:"created"`
				ReleaseAt time.Time      `json:"release_at"`
				Notice    api.NoticeBody `json:"notice"`
			}
			out := make([]shown, 0, len(items))
			skipped := 0
			for _, it := range items {
				body, err := api.DecryptNotice(it.Body, s.owner.Identity())
				var nm *age.NoIdentityMatchError
				if errors.As(err, &nm) {
					// Encrypted to the owners before this key was
					// enrolled: another owner key opens it.
					skipped++
					continue
				}
				if err != nil {
					return fmt.Errorf("notices: notice %d is damaged: %w", it.ID, err)
				}
				out = append(out, shown{it.ID, it.Created, it.ReleaseAt, body})
			}
			if skipped > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d of %d notices do not open with %s (encrypted to the owners before it was enrolled); an earlier owner key reads them\n", skipped, len(items), ownerPath)
			}
			if asJSON {
				return printJSON(stdout, out)
			}
			if len(out) == 0 {
				fmt.Fprintln(stdout, "no notices")
				return nil
			}
			for _, n := range out {
				b := n.Notice
				fmt.Fprintf(stdout, "notice %d  %s  %s %s\n", n.ID, b.Time.Local().Format(time.RFC3339), printable(b.Kind), printable(b.Authority))
				fmt.Fprintf(stdout, "  to:       %s\n", printable(b.Recipient))
				if b.Basis != "" || b.Case != "" {
					fmt.Fprintf(stdout, "  basis:    %s, case %s\n", printable(b.Basis), printable(b.Case))
				}
				if len(b.Issuers) > 0 {
					fmt.Fprintf(stdout, "  issuers:  %s\n", printable(strings.Join(b.Issuers, ", ")))
				}
				fmt.Fprintf(stdout, "  footage:  %s to %s, %d segments", b.From.Local().Format(time.RFC3339), b.Until.Local().Format(time.RFC3339), b.Segments)
				if len(b.Clips) > 0 {
					fmt.Fprintf(stdout, " of %d clips", len(b.Clips))
				}
				fmt.Fprintln(stdout)
				if n.ReleaseAt.Sub(n.Created) > time.Second {
					fmt.Fprintf(stdout, "  delayed:  until %s (created %s)\n", n.ReleaseAt.Local().Format(time.RFC3339), n.Created.Local().Format(time.RFC3339))
				}
				if b.Preserve {
					fmt.Fprintln(stdout, "  preserve: the footage is on legal hold")
				}
				if b.Strict {
					fmt.Fprintln(stdout, "  strict:   only ciphertext the owners can open was disclosed")
				}
				if b.Note != "" {
					fmt.Fprintf(stdout, "  note:     %s\n", printable(b.Note))
				}
			}
			return nil
		},
	}
	ownerFlags(c, &deviceURL, &ownerPath)
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return c
}

func newPolicyCmd(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "Show or change a device's trust policy for legal-process tokens",
		Args:  exactArgs(0, "a subcommand"),
	}
	var deviceURL, ownerPath string
	var asYAML bool
	show := &cobra.Command{
		Use:   "show --device URL [-i owner.key] [--yaml]",
		Short: "Show the device's trust policy",
		Long: `policy show prints the device's trust policy and its hash. With -i the
device is first checked against the key pinned for owner.key. With --yaml
it prints the policy as a file "policy set" takes (a legal: block, as in the
config): save it, edit it, send it.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var client *lanclient.Client
			if ownerPath != "" {
				s, err := connect(ctx, deviceURL, ownerPath)
				if err != nil {
					return err
				}
				client = s.client
			} else {
				u, err := resolveDevice(deviceURL, "")
				if err != nil {
					return err
				}
				if client, err = lanclient.New(u); err != nil {
					return err
				}
			}
			hash, p, err := currentPolicy(ctx, client)
			if err != nil {
				return err
			}
			if asYAML {
				b, err := policyYAML(p, hash)
				if err != nil {
					return err
				}
				_, err = stdout.Write(b)
				return err
			}
			fmt.Fprint(stdout, formatPolicy(p))
			return nil
		},
	}
	show.Flags().BoolVar(&asYAML, "yaml", false, "print the policy as a file policy set takes")
	show.Flags().StringVar(&deviceURL, "device", "", deviceUsage+"; without -i, its LAN URL")
	show.Flags().StringVarP(&ownerPath, "identity", "i", "", "check the device against the pin of this owner key `FILE`")

	var setDevice, setOwner string
	set := &cobra.Command{
		Use:   "set --device URL -i owner.key FILE",
		Short: "Replace the device's trust policy with an owner-signed statement",
		Long: `policy set reads a trust policy from FILE (YAML or JSON, the fields of the
device config's "legal:" section: issuers, quorum, max_token_lifetime,
max_scope_span, max_notice_delay, emergency, allowed_recipients,
revoked_keys), checks it, shows how it differs from the device's current
policy and both hashes, asks for confirmation unless --yes, and sends it
signed with your owner key. The change is an audit leaf on the device.`,
		Args: exactArgs(1, "one policy file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := readPolicyFile(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			s, err := connect(ctx, setDevice, setOwner)
			if err != nil {
				return err
			}
			h := p.Hash()
			newHash := hex.EncodeToString(h[:])
			if s.client.RelayDevice != "" {
				// A relay forwards statements, not the policy read: show
				// the whole policy to be sent; the device checks it.
				fmt.Fprintf(stdout, "the trust policy to send to device %s through the relay (the current one is read on the LAN: policy show):\n%s\nnew hash: %s\n",
					s.id, formatPolicy(p), newHash)
			} else {
				curHash, cur, err := currentPolicy(ctx, s.client)
				if err != nil {
					return err
				}
				if newHash == curHash {
					fmt.Fprintf(stdout, "the device already has this policy (hash %s); nothing sent\n", newHash)
					return nil
				}
				fmt.Fprintf(stdout, "changes to the trust policy of device %s:\n%s\ncurrent hash: %s\nnew hash:     %s\n",
					s.id, diffLines(formatPolicy(cur), formatPolicy(p)), curHash, newHash)
			}
			if !ask(cmd, stderr, "Send this trust policy to the device?") {
				return errors.New("policy set: not confirmed; nothing was sent")
			}
			jws, err := s.sign(consent.KindPolicy, consent.PolicyClaims{Claims: s.claims(statementLifetime), Policy: p})
			if err != nil {
				return fmt.Errorf("policy set: %w", err)
			}
			got, err := s.client.SetPolicy(ctx, jws)
			if err != nil {
				return fmt.Errorf("policy set: %w", err)
			}
			if got != newHash {
				return fmt.Errorf("policy set: the device reports policy hash %s, not %s as sent; check it with policy show", printable(got), newHash)
			}
			fmt.Fprintf(stdout, "policy set; hash %s\n", newHash)
			return nil
		},
	}
	ownerFlags(set, &setDevice, &setOwner)
	yesFlag(set, "do not ask for confirmation")
	c.AddCommand(show, set)
	return c
}

// readPolicyFile reads a consent.Policy from YAML or JSON (a JSON document
// is YAML): the config's legal: block or its fields, decoded as strictly
// as the config (config.ParsePolicy), and validates it.
func readPolicyFile(path string) (consent.Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return consent.Policy{}, fmt.Errorf("policy set: %w", err)
	}
	p, err := config.ParsePolicy(path, b)
	if err != nil {
		return consent.Policy{}, fmt.Errorf("policy set: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if err := p.Validate(); err != nil {
		return consent.Policy{}, fmt.Errorf("policy set: %s: %s", path, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return p, nil
}

// currentPolicy fetches the device's policy and checks that the hash it
// states is the hash of the policy it sent.
func currentPolicy(ctx context.Context, client *lanclient.Client) (string, consent.Policy, error) {
	r, err := client.Policy(ctx)
	if err != nil {
		return "", consent.Policy{}, fmt.Errorf("policy: %w", err)
	}
	p := r.Policy
	h := p.Hash()
	if hex.EncodeToString(h[:]) != r.Hash {
		return "", consent.Policy{}, fmt.Errorf("policy: the device states hash %s but its policy hashes to %x", printable(r.Hash), h)
	}
	return r.Hash, p, nil
}

func newAuditCmd(stdout io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "audit",
		Short: "Verify a device's audit log",
		Args:  exactArgs(0, "a subcommand"),
	}
	var deviceURL, ownerPath string
	var full bool
	v := &cobra.Command{
		Use:   "verify --device URL -i owner.key [--relay URL] [--full]",
		Short: "Fetch and verify the device's audit log",
		Long: `audit verify checks the device's audit log against the device key pinned at
pairing. The first time it fetches the whole log and a signed checkpoint
and checks that the entries hash to the checkpoint's root (every entry
included, none changed, added, removed or reordered) and every opening of
a delayed-notice commitment. Then it stores the checkpoint, with the
little it needs to go on (the tree's compact range and the commitments not
yet opened), in the pin file. Every later run fetches only what is new: the
new checkpoint, the RFC 6962 consistency proof from the stored one and the
new entries, and checks that the log extends what was verified (a smaller
or older log is a rollback), that the new entries give the new root and
that each opening matches a pending commitment. --full fetches and checks
the whole log again, against the stored checkpoint. Any failure exits 1 and
keeps the stored checkpoint.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := connect(ctx, deviceURL, ownerPath)
			if err != nil {
				return err
			}
			var prev *audit.SignedCheckpoint
			if s.pin.LastCheckpoint != "" {
				cp, err := audit.ParseCheckpoint([]byte(s.pin.LastCheckpoint))
				if err != nil {
					return fmt.Errorf("audit verify: the checkpoint stored in %s is damaged: %w", s.pinPath, err)
				}
				prev = &cp
			}
			// Only what is new when the pin holds the state of the stored
			// checkpoint; the whole log otherwise (first run, or a pin
			// written by an older doorwardctl).
			incremental := !full && prev != nil && s.pin.Audit != nil && s.pin.Audit.Size == prev.Size
			var since uint64
			if incremental {
				since = prev.Size
			}
			login, err := s.login()
			if err != nil {
				return fmt.Errorf("audit verify: %w", err)
			}
			resp, err := s.client.Audit(ctx, login, since)
			var ae *lanclient.APIError
			if err != nil && since > 0 && errors.As(err, &ae) && ae.Status == 400 {
				// A device whose log is now smaller than since cannot
				// give a proof; fetch it all so Verify names the rollback.
				if login, err = s.login(); err != nil {
					return fmt.Errorf("audit verify: %w", err)
				}
				incremental = false
				resp, err = s.client.Audit(ctx, login, 0)
			}
			if err != nil {
				return fmt.Errorf("audit verify: %w", err)
			}
			var st audit.VerifierState
			var opened []audit.Opening
			if incremental {
				st, opened, err = audit.VerifyNew(s.key, resp.Checkpoint, *prev, *s.pin.Audit, resp.Consistency, resp.Entries)
			} else {
				err = audit.Verify(s.key, resp.Checkpoint, resp.Entries, prev, resp.Consistency)
				if err == nil {
					opened, _, err = audit.Commitments(resp.Entries)
				}
				if err == nil {
					st, err = audit.NewVerifierState(resp.Entries)
				}
			}
			if err != nil {
				return fmt.Errorf("audit verify: device %s: FAILED: %s", s.id, oneLine(err))
			}
			s.pin.LastCheckpoint = string(resp.Checkpoint.Marshal())
			s.pin.Audit = &st
			if s.client.RelayDevice == "" {
				s.pin.URL = s.client.String() // not the relay's: the pin names where the device is on the LAN
			}
			if err := s.pins.save(s.pinPath); err != nil {
				return fmt.Errorf("audit verify: verified, but the checkpoint could not be stored in %s: %w", s.pinPath, err)
			}
			cp := resp.Checkpoint
			fmt.Fprintf(stdout, "audit log of device %s verified\n", s.id)
			fmt.Fprintf(stdout, "size:      %d entries\nroot:      %s\ntime:      %s\n", cp.Size, base64.StdEncoding.EncodeToString(cp.Root), cp.Time.Local().Format(time.RFC3339))
			if prev != nil {
				fmt.Fprintf(stdout, "extends:   the checkpoint verified before (size %d, %s)\n", prev.Size, prev.Time.Local().Format(time.RFC3339))
			} else {
				fmt.Fprintln(stdout, "extends:   nothing yet: first verification, checkpoint stored")
			}
			if incremental {
				fmt.Fprintf(stdout, "new:       %d entries since then (only these were fetched)\n", len(resp.Entries))
			}
			counts := map[audit.Kind]int{}
			for _, e := range resp.Entries {
				counts[e.Kind]++
			}
			for _, k := range slices.Sorted(maps.Keys(counts)) {
				fmt.Fprintf(stdout, "  %-20s %d\n", printable(string(k)), counts[k])
			}
			fmt.Fprintf(stdout, "openings:  %d verified\n", len(opened))
			if unopened := st.Unopened(); len(unopened) > 0 {
				fmt.Fprintf(stdout, "pending:   %d delayed-notice commitments not yet opened (entries %s)\n", len(unopened), joinUints(unopened))
			} else {
				fmt.Fprintln(stdout, "pending:   no delayed notices")
			}
			if len(resp.PendingRefusals) > 0 {
				var parts []string
				for _, r := range slices.Sorted(maps.Keys(resp.PendingRefusals)) {
					parts = append(parts, fmt.Sprintf("%s %d", printable(r), resp.PendingRefusals[r]))
				}
				fmt.Fprintf(stdout, "refusals not yet logged (this minute): %s\n", strings.Join(parts, ", "))
			}
			return nil
		},
	}
	ownerFlags(v, &deviceURL, &ownerPath)
	v.Flags().BoolVar(&full, "full", false, "fetch and check the whole log, not only what is new")
	c.AddCommand(v)
	return c
}

// oneLine renders err on one line: some verifier errors (the Merkle
// library's) span several.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func joinUints(xs []uint64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}
