package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/doorward/doorward/consent"
)

func newKeygenCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		out   string
		pq    bool
		force bool
	)
	c := &cobra.Command{
		Use:   "keygen -o FILE [--pq]",
		Short: "Make an owner key (a standard age identity file)",
		Long: `keygen writes a new key to FILE with mode 0600 and prints, on stdout, its
age recipient (first line) and its contact (second line). The contact,
doorward-contact1..., is one string carrying the age recipient and the
signing public key: an owner who shares footage with you gives it to
"grant --to", and you then fetch what the grant disclosed with
"doorwardctl fetch --grant ID -i FILE", proving you hold the key. (Format:
bech32, as age writes recipients, of a version byte 0, the 32-byte Ed25519
key and the recipient; a typo fails its checksum.) The file is a standard age identity file: stock
"age -d -i FILE" opens clips encrypted to it. The owner's signing key for
grants is derived from it, so it is the one file to keep safe.

With --pq the key is post-quantum (ML-KEM-768 + X25519); stock age opens
files encrypted to it from version 1.3 on.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(*cobra.Command, []string) error {
			key, err := consent.GenerateOwnerKey(pq)
			if err != nil {
				return err
			}
			if err := writeOwnerKey(stdout, out, key, force); err != nil {
				return err
			}
			contact, err := key.Contact()
			if err != nil {
				return fmt.Errorf("keygen: %w", err)
			}
			if out == "-" {
				// stdout holds the key file (its comments name the recipient).
				fmt.Fprintf(stderr, "%s\n%s\n", key.RecipientString(), contact)
				return nil
			}
			if _, err := fmt.Fprintf(stdout, "%s\n%s\n", key.RecipientString(), contact); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "doorwardctl: wrote your key to %s. Keep it private and back it up: it opens what is encrypted to you (as an owner: every clip) and signs as you (grants, or as a grantee your fetches and live views); without it nobody can open those.\n", out)
			fmt.Fprintln(stderr, "doorwardctl: the first line is your age recipient; the second, doorward-contact1..., is your contact: give it to an owner who shares footage with you (grant --to CONTACT), and fetch it with doorwardctl fetch --grant ID -i "+out+".")
			if pq {
				fmt.Fprintln(stderr, "doorwardctl: this is a post-quantum key: stock age needs version 1.3 or later to open files encrypted to it.")
			}
			return nil
		},
	}
	outputFlags(c, &out, &force, "the owner key (mode 0600)")
	c.Flags().BoolVar(&pq, "pq", false, "make a post-quantum (ML-KEM-768 + X25519) key")
	c.MarkFlagRequired("output")
	return c
}

// writeOwnerKey writes key to path with mode 0600. Without force an
// existing file is never touched; with force it is replaced atomically.
func writeOwnerKey(stdout io.Writer, path string, key *consent.OwnerKey, force bool) error {
	if path == "" {
		return errors.New("keygen: -o needs a file name (- for standard output)")
	}
	var b bytes.Buffer
	if _, err := key.WriteTo(&b); err != nil {
		return fmt.Errorf("keygen: %s: %w", path, err)
	}
	if path == "-" {
		_, err := stdout.Write(b.Bytes())
		return err
	}
	err := writeSecretFile(path, b.Bytes(), force)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("keygen: %s already exists and may hold a key that opens your clips; choose another -o, or pass --force to replace it", path)
	}
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	return nil
}
