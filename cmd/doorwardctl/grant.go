package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/lanclient"
)

func newGrantCmd(stdout io.Writer) *cobra.Command {
	var deviceURL, ownerPath, to, from, until, media, validFor, grantee string
	var live bool
	var uses int
	c := &cobra.Command{
		Use:   "grant --device URL -i owner.key --to CONTACT|AGE_RECIPIENT --from T --until T",
		Short: "Share footage: sign a grant for a recipient",
		Long: `grant signs, with your owner key, a grant that lets the holder of the age
identity for AGE_RECIPIENT receive the footage recorded between --from and
--until, and sends it to the device. The device re-wraps the matching
segments for that recipient alone and notifies every owner.

Times (T) are RFC 3339 (2026-01-02T15:04:05Z), "now", or relative to now:
a sign and a duration such as -10m, -2h or +1d ("d" is 24 hours).

--to takes the grantee's contact (doorward-contact1..., the second line
"doorwardctl keygen" prints): the grant then names their signing key too,
and they fetch what it disclosed themselves with "doorwardctl fetch --grant
ID". A plain age recipient (age1...) also works: the disclosures are
re-wrapped for it, and you hand the grantee the files. A window that
reaches into the future keeps disclosing what is recorded inside it, as it
is committed, until --until, the grant's expiry or its revocation.

The grant is valid for --valid-for (default 24h) and may be used --uses
times (default 1). --grantee (ed25519:...) names a signing key for a plain
age recipient, e.g. a grantee's issuer key for live view.

Prints the grant's ID (for revoke) on the first line, then how many
disclosures the device started, whether it follows the future, where the
disclosures are and how the grantee gets them.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			f, err := parseWhen("from", from, now)
			if err != nil {
				return err
			}
			u, err := parseWhen("until", until, now)
			if err != nil {
				return err
			}
			if !u.After(f) {
				return fmt.Errorf("grant: --until (%s) must be after --from (%s)", u.Format(time.RFC3339), f.Format(time.RFC3339))
			}
			ms, err := parseMedia(media)
			if err != nil {
				return err
			}
			if len(ms) == 0 && !live {
				return errors.New("grant: --media none shares no recordings, so it needs --live (a live-only grant)")
			}
			life, err := parseDuration("valid-for", validFor)
			if err != nil {
				return err
			}
			if uses < 1 || uses > consent.MaxGrantUses {
				return fmt.Errorf("grant: --uses %d is out of range (1 to %d)", uses, consent.MaxGrantUses)
			}
			var contact *consent.Contact
			if consent.IsContact(to) {
				c, err := consent.ParseContact(to)
				if err != nil {
					return fmt.Errorf("grant: --to: %s", strings.TrimPrefix(err.Error(), "consent: "))
				}
				if grantee != "" && grantee != c.Grantee() {
					return fmt.Errorf("grant: --grantee %s is not the signing key of the contact given to --to; leave --grantee out", printable(grantee))
				}
				contact, to, grantee = &c, c.Recipient, c.Grantee()
			} else if _, err := consent.ParseRecipients([]string{to}); err != nil {
				return fmt.Errorf("grant: --to: %w (want an age recipient, age1..., or a contact, doorward-contact1...)", err)
			}
			if grantee == "" {
				// A plain recipient names no one who could prove
				// themselves: the grant's grantee key is one nobody holds.
				pub, _, err := ed25519.GenerateKey(rand.Reader)
				if err != nil {
					return err
				}
				grantee = consent.FormatIssuerKey(pub)
			} else if _, err := consent.ParseIssuerKey(grantee); err != nil {
				return fmt.Errorf("grant: --grantee: %w (want ed25519:... as issuer keygen prints)", err)
			}
			ctx := cmd.Context()
			s, err := connect(ctx, deviceURL, ownerPath)
			if err != nil {
				return err
			}
			claims := consent.GrantClaims{
				Claims:    s.claims(life),
				Grantee:   grantee,
				Recipient: to,
				Scope:     consent.Scope{From: f.UTC(), Until: u.UTC(), Media: ms, Live: live},
				Uses:      uses,
			}
			jws, err := s.sign(consent.KindGrant, claims)
			if err != nil {
				return fmt.Errorf("grant: %w", err)
			}
			res, err := s.client.Grant(ctx, jws)
			if err != nil {
				return fmt.Errorf("grant: %w", err)
			}
			if res.JTI != claims.ID {
				return fmt.Errorf("grant: the device acknowledged grant %q, not the one sent (%s)", printable(res.JTI), claims.ID)
			}
			fmt.Fprintf(stdout, "%s\ndisclosures: %d\n", res.JTI, res.Disclosures)
			if res.Follows {
				fmt.Fprintf(stdout, "follows:     footage recorded until %s keeps being disclosed (until then, the grant's expiry or a revocation)\n", u.Local().Format(time.RFC3339))
			}
			if res.Where != "" {
				fmt.Fprintf(stdout, "where:       %s (one directory per clip)\n", printable(res.Where))
			}
			// disclosures is read on the LAN; the device ID finds it
			// through the pin file, also after a grant through a relay.
			fmt.Fprintf(stdout, "list them:   doorwardctl disclosures --device %s -i %s %s\n", s.id, ownerPath, res.JTI)
			switch {
			case s.client.RelayDevice != "":
				fmt.Fprintf(stdout, "grantee:     fetches from the relay's store with doorwardctl fetch --relay %s --device %s --disclosure %s -i THEIR.key -o OUT.mp4\n", s.client, s.id, res.JTI)
			case contact != nil:
				fmt.Fprintf(stdout, "grantee:     fetches with doorwardctl fetch --device %s --grant %s -i THEIR.key -o OUT.mp4\n", s.client, res.JTI)
			default:
				fmt.Fprintln(stdout, "grantee:     --to is a plain age recipient, so the grantee cannot fetch from the device: hand them the files, or give --to their contact (doorwardctl keygen prints one) to let them fetch")
			}
			return nil
		},
	}
	ownerFlags(c, &deviceURL, &ownerPath)
	fl := c.Flags()
	fl.StringVar(&to, "to", "", "the grantee's contact (doorward-contact1...) or age `RECIPIENT` (age1... or age1pq1...)")
	fl.StringVar(&from, "from", "", "start of the footage (`T`)")
	fl.StringVar(&until, "until", "", "end of the footage (`T`)")
	fl.StringVar(&media, "media", "video,audio", "comma-separated `LIST` of video, audio (the device records no snapshots), or none with --live: watch live, share no recordings")
	fl.BoolVar(&live, "live", false, "also allow the live view")
	fl.StringVar(&validFor, "valid-for", "24h", "the grant is valid for `DURATION` from now")
	aliases(c, map[string]string{"expires": "valid-for"})
	fl.IntVar(&uses, "uses", 1, "how many times the grant may be used")
	fl.StringVar(&grantee, "grantee", "", "the grantee's Ed25519 `KEY` (ed25519:...)")
	for _, f := range []string{"to", "from", "until"} {
		c.MarkFlagRequired(f)
	}
	return c
}

func newRevokeCmd(stdout io.Writer) *cobra.Command {
	var deviceURL, ownerPath string
	c := &cobra.Command{
		Use:   "revoke --device URL -i owner.key GRANT_ID",
		Short: "Revoke a grant",
		Long: `revoke sends an owner-signed revocation of the grant GRANT_ID (the ID grant
printed). Disclosures not yet made under it are not made; live sessions
under it end.`,
		Args: exactArgs(1, "one grant ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "" {
				return errors.New("revoke: empty grant ID")
			}
			ctx := cmd.Context()
			s, err := connect(ctx, deviceURL, ownerPath)
			if err != nil {
				return err
			}
			jws, err := s.sign(consent.KindRevoke, consent.RevokeClaims{Claims: s.claims(statementLifetime), Grant: args[0]})
			if err != nil {
				return fmt.Errorf("revoke: %w", err)
			}
			g, err := s.client.Revoke(ctx, jws)
			var ae *lanclient.APIError
			if errors.As(err, &ae) && ae.Reason == "already-revoked" {
				fmt.Fprintf(stdout, "grant %s is already revoked; nothing changed\n", printable(args[0]))
				return nil
			}
			if err != nil {
				return fmt.Errorf("revoke: %w", err)
			}
			fmt.Fprintf(stdout, "revoked grant %s\n", printable(g))
			return nil
		},
	}
	ownerFlags(c, &deviceURL, &ownerPath)
	return c
}
