package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/atomicfile"
	"github.com/doorward/doorward/device/lanclient"
)

// Issuer key files. The format is text, like an age identity file:
//
//	# doorward issuer key: keep it private
//	# created: 2026-01-02T15:04:05Z
//	# public key: ed25519:<base64 of the 32-byte public key>
//	DOORWARD-ISSUER-KEY-1:<standard padded base64 of the 32-byte Ed25519 seed>
//
// Blank lines and "#" comments are ignored except "# public key:", which,
// when present, must match the key (so a damaged or hand-merged file is
// caught). Exactly one key line is allowed. The public key line is in
// consent.FormatIssuerKey form: what the device's legal.issuers config
// takes.
const issuerKeyPrefix = "DOORWARD-ISSUER-KEY-1:"

func writeIssuerKey(stdout io.Writer, path string, key ed25519.PrivateKey, force bool) error {
	if path == "" {
		return errors.New("issuer keygen: -o needs a file name (- for standard output)")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# doorward issuer key: keep it private\n# created: %s\n# public key: %s\n%s%s\n",
		time.Now().UTC().Format(time.RFC3339), consent.FormatIssuerKey(key.Public().(ed25519.PublicKey)),
		issuerKeyPrefix, base64.StdEncoding.EncodeToString(key.Seed()))
	if path == "-" {
		_, err := stdout.Write(b.Bytes())
		return err
	}
	err := writeSecretFile(path, b.Bytes(), force)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("issuer keygen: %s already exists and may hold a signing key; choose another -o, or pass --force to replace it", path)
	}
	if err != nil {
		return fmt.Errorf("issuer keygen: %w", err)
	}
	return nil
}

func readIssuerKey(path string) (ed25519.PrivateKey, error) {
	if path == "" {
		return nil, errors.New(`required flag "identity" (-i ISSUER.key) not set`)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("issuer key: %w", err)
	}
	var key ed25519.PrivateKey
	var pubLine string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case strings.HasPrefix(line, "# public key:"):
			pubLine = strings.TrimSpace(strings.TrimPrefix(line, "# public key:"))
		case strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, issuerKeyPrefix):
			if key != nil {
				return nil, fmt.Errorf("issuer key %s: more than one key (line %d)", path, n)
			}
			seed, err := base64.StdEncoding.Strict().DecodeString(strings.TrimPrefix(line, issuerKeyPrefix))
			if err != nil || len(seed) != ed25519.SeedSize {
				return nil, fmt.Errorf("issuer key %s: line %d is not a valid key", path, n)
			}
			key = ed25519.NewKeyFromSeed(seed)
		default:
			return nil, fmt.Errorf("issuer key %s: line %d is not a key, a comment or blank (want a file from doorwardctl issuer keygen)", path, n)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("issuer key %s: %w", path, err)
	}
	if key == nil {
		return nil, fmt.Errorf("issuer key %s: no %s line (want a file from doorwardctl issuer keygen)", path, strings.TrimSuffix(issuerKeyPrefix, ":"))
	}
	if pubLine != "" && pubLine != consent.FormatIssuerKey(key.Public().(ed25519.PublicKey)) {
		return nil, fmt.Errorf("issuer key %s: the public key comment does not match the key; the file is damaged", path)
	}
	return key, nil
}

func newIssuerCmd(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "issuer",
		Short: "Legal-process issuers' keys",
		Args:  exactArgs(0, "a subcommand"),
	}
	var out string
	var force bool
	kg := &cobra.Command{
		Use:   "keygen -o ISSUER.key",
		Short: "Make an issuer's Ed25519 signing key",
		Long: `issuer keygen writes a new Ed25519 signing key for a legal-process issuer
(a court, a prosecutor's office, an oversight body) to ISSUER.key, mode
0600, and prints its public key on stdout's first line in the form a
device's trust policy takes (legal.issuers[].public_key): ed25519:<base64>.

The file is text: "#" comments (created, public key) and one line
DOORWARD-ISSUER-KEY-1:<base64 of the 32-byte Ed25519 seed>.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(*cobra.Command, []string) error {
			pub, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			if err := writeIssuerKey(stdout, out, priv, force); err != nil {
				return err
			}
			info := stdout
			if out == "-" {
				info = stderr // stdout holds the key file
			}
			fmt.Fprintln(info, consent.FormatIssuerKey(pub))
			fmt.Fprintf(info, "kid: %s\n", consent.KeyID(pub))
			if out != "-" {
				fmt.Fprintf(stderr, "doorwardctl: wrote the issuer key to %s. Keep it private: it signs legal-process tokens.\n", out)
			}
			return nil
		},
	}
	outputFlags(kg, &out, &force, "the key (mode 0600)")
	kg.MarkFlagRequired("output")
	c.AddCommand(kg)
	return c
}

func newTokenCmd(stdout io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "token",
		Short: "Issue, cosign, inspect and submit legal-process tokens",
		Args:  exactArgs(0, "a subcommand"),
	}
	c.AddCommand(newTokenIssueCmd(stdout), newTokenCosignCmd(stdout), newTokenInspectCmd(stdout), newTokenSubmitCmd(stdout))
	return c
}

func newTokenIssueCmd(stdout io.Writer) *cobra.Command {
	var keyPath, device, basis, caseID, jurisdiction, order, from, until, recipient, notifyAfter, validFor, media, out string
	var preserve, force bool
	c := &cobra.Command{
		Use:   "issue -i ISSUER.key --device DEVICE_ID --basis B --case ID --jurisdiction J --order FILE --from T --until T --to AGE_RECIPIENT -o token.json",
		Short: "Issue a legal-process token with one issuer's signature",
		Long: `token issue writes a legal-process token (JWS JSON serialization) signed by
ISSUER.key for the device DEVICE_ID. --basis is warrant, court-order or
emergency; order_sha256 is the SHA-256 of --order FILE (the order itself
is not in the token). The device re-wraps the footage recorded between
--from and --until for --to alone. --notify-after delays the owner's
notice (never beyond the device's cap; not for emergency); --preserve puts
the footage on legal hold. The token is valid from now for --valid-for
(default 7d). Other issuers add their signatures with "token cosign"; the
device's policy decides how many are needed.

Times (T) are RFC 3339, "now", or relative to now such as -2h or +1d.
Prints the token's jti (on stderr with -o -, where stdout holds the token).`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := readIssuerKey(keyPath)
			if err != nil {
				return err
			}
			now := time.Now()
			f, err := parseWhen("from", from, now)
			if err != nil {
				return err
			}
			u, err := parseWhen("until", until, now)
			if err != nil {
				return err
			}
			valid, err := parseDuration("valid-for", validFor)
			if err != nil {
				return err
			}
			ms, err := parseMedia(media)
			if err != nil {
				return err
			}
			if _, err := consent.ParseRecipients([]string{recipient}); err != nil {
				return fmt.Errorf("token issue: --to: %w", err)
			}
			doc, err := os.ReadFile(order)
			if err != nil {
				return fmt.Errorf("token issue: --order: %w", err)
			}
			sum := sha256.Sum256(doc)
			claims := consent.TokenClaims{
				Claims: consent.Claims{
					ID:       consent.NewJTI(),
					Audience: device,
					IssuedAt: consent.NewNumericDate(now),
					Expiry:   consent.NewNumericDate(now.Add(valid)),
				},
				NotBefore:    consent.NewNumericDate(now),
				Basis:        basis,
				Case:         caseID,
				Jurisdiction: jurisdiction,
				OrderSHA256:  hex.EncodeToString(sum[:]),
				Scope:        consent.Scope{From: f.UTC(), Until: u.UTC(), Media: ms},
				Recipient:    recipient,
				Preserve:     preserve,
			}
			if notifyAfter != "" {
				na, err := parseWhen("notify-after", notifyAfter, now)
				if err != nil {
					return err
				}
				na = na.UTC()
				claims.NotifyAfter = &na
			}
			tok, err := consent.IssueToken(claims, key, consent.KeyID(key.Public().(ed25519.PublicKey)))
			if err != nil {
				return fmt.Errorf("token issue: %w", err)
			}
			data := tok
			if out == "-" {
				data = append(tok, '\n')
			}
			if err := writeOutput(out, force, stdout, data, 0o600); err != nil {
				return fmt.Errorf("token issue: %w", err)
			}
			if out == "-" {
				fmt.Fprintln(cmd.ErrOrStderr(), claims.ID)
				return nil
			}
			fmt.Fprintln(stdout, claims.ID)
			return nil
		},
	}
	fl := c.Flags()
	identityFlag(c, &keyPath, "the issuer's key `FILE` (from doorwardctl issuer keygen)")
	fl.StringVar(&device, "device", "", "the `DEVICE_ID` the token is for (doorward id prints it)")
	fl.StringVar(&basis, "basis", "", "warrant, court-order or emergency")
	fl.StringVar(&caseID, "case", "", "the case or docket `ID`")
	fl.StringVar(&jurisdiction, "jurisdiction", "", "the issuing `JURISDICTION` (e.g. US-CA; the device requires it)")
	fl.StringVar(&order, "order", "", "the order document `FILE` (its SHA-256 goes into the token)")
	fl.StringVar(&from, "from", "", "start of the footage (`T`)")
	fl.StringVar(&until, "until", "", "end of the footage (`T`)")
	fl.StringVar(&media, "media", "video,audio", "comma-separated `LIST` of video, audio, snapshot")
	fl.StringVar(&recipient, "to", "", "the requesting agency's age `RECIPIENT`")
	aliases(c, map[string]string{"key": "identity", "recipient": "to"})
	fl.StringVar(&notifyAfter, "notify-after", "", "delay the owner's notice until `T`")
	fl.BoolVar(&preserve, "preserve", false, "place the footage on legal hold")
	fl.StringVar(&validFor, "valid-for", "7d", "the token is valid for `DURATION` from now")
	outputFlags(c, &out, &force, "the token")
	for _, f := range []string{"identity", "device", "basis", "case", "jurisdiction", "order", "from", "until", "to", "output"} {
		c.MarkFlagRequired(f)
	}
	return c
}

func newTokenCosignCmd(stdout io.Writer) *cobra.Command {
	var keyPath, out string
	var force bool
	c := &cobra.Command{
		Use:   "cosign -i ISSUER.key token.json [-o OUT]",
		Short: "Add an issuer's signature to a token",
		Long: `token cosign adds the signature of ISSUER.key to the token over the same
claims, and rewrites token.json in place (atomically) or writes OUT. It
prints the claims it signed: read them first, as with "token inspect".
Signing a token twice with one key is refused.`,
		Args: exactArgs(1, "one token file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := readIssuerKey(keyPath)
			if err != nil {
				return err
			}
			tok, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("token cosign: %w", err)
			}
			sum, err := consent.InspectToken(tok)
			if err != nil {
				return fmt.Errorf("token cosign: %s: %w", args[0], err)
			}
			signed, err := consent.CosignToken(tok, key, consent.KeyID(key.Public().(ed25519.PublicKey)))
			if err != nil {
				return fmt.Errorf("token cosign: %s: %w", args[0], err)
			}
			// What was signed, as token inspect shows it, with the new
			// signature; on stderr when stdout holds the token.
			info := stdout
			if out == "-" {
				info = cmd.ErrOrStderr()
			}
			sum.KeyIDs = append(sum.KeyIDs, consent.KeyID(key.Public().(ed25519.PublicKey)))
			fmt.Fprint(info, strings.Replace(sum.String(), "(signatures NOT verified)", "(cosigned: these are the claims you signed)", 1))
			dst := out
			if dst == "" {
				dst = args[0]
			}
			mode := os.FileMode(0o600)
			if st, err := os.Stat(args[0]); err == nil && dst == args[0] {
				mode = st.Mode().Perm()
			}
			if dst == args[0] {
				// In place is what cosign does without -o: no --force.
				err = atomicfile.WriteFile(dst, signed, mode)
			} else {
				err = writeOutput(dst, force, stdout, signed, mode)
			}
			if err != nil {
				return fmt.Errorf("token cosign: %w", err)
			}
			if out == "-" {
				return nil
			}
			fmt.Fprintf(info, "cosigned token %s (%d signatures) into %s\n", sum.Claims.ID, len(sum.KeyIDs), filepath.Clean(dst))
			return nil
		},
	}
	identityFlag(c, &keyPath, "the issuer's key `FILE` (from doorwardctl issuer keygen)")
	outputFlags(c, &out, &force, "the cosigned token, instead of in place,")
	aliases(c, map[string]string{"key": "identity"})
	c.MarkFlagRequired("identity")
	return c
}

func newTokenInspectCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect token.json",
		Short: "Show a token's claims and signers (verifies nothing)",
		Long: `token inspect shows what a token says and which keys (kid) signed it. It
verifies NO signature and checks no policy: only the device does that.`,
		Args: exactArgs(1, "one token file"),
		RunE: func(_ *cobra.Command, args []string) error {
			tok, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("token inspect: %w", err)
			}
			sum, err := consent.InspectToken(tok)
			if err != nil {
				return fmt.Errorf("token inspect: %s: %w", args[0], err)
			}
			fmt.Fprint(stdout, sum.String())
			fmt.Fprintln(stdout, "WARNING: inspect verifies nothing: neither the signatures nor the device's policy. Only the device decides whether this token is valid.")
			return nil
		},
	}
}

func newTokenSubmitCmd(stdout io.Writer) *cobra.Command {
	var deviceURL, relay string
	c := &cobra.Command{
		Use:   "submit --device URL token.json | --relay URL --device ID token.json",
		Short: "Submit a token to a device over its LAN API or through a relay",
		Long: `token submit posts the token to the device (POST /api/v1/legal), or with
--relay to the cloud relay, which forwards it to the device and returns the
device's own answer. On acceptance it prints the token's jti; on refusal it
prints the device's reason code and exits 1.`,
		Args: exactArgs(1, "one token file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("token submit: %w", err)
			}
			client, err := lanclient.New(deviceURL)
			if relay != "" {
				client, err = lanclient.NewRelay(relay, deviceURL)
			}
			if err != nil {
				return err
			}
			jti, err := client.Legal(cmd.Context(), tok)
			if err != nil {
				return fmt.Errorf("token submit: %w", err)
			}
			fmt.Fprintln(stdout, printable(jti))
			return nil
		},
	}
	c.Flags().StringVar(&deviceURL, "device", "", "the device's LAN `URL` (with --relay: its ID)")
	c.Flags().StringVar(&relay, "relay", "", "submit through this cloud relay `URL`")
	c.MarkFlagRequired("device")
	return c
}
