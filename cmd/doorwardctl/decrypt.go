package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/doorward/doorward/capture/vault/clipfile"
	"github.com/doorward/doorward/device/atomicfile"
)

func newDecryptCmd(stdout io.Writer) *cobra.Command {
	var (
		identityFiles []string
		out           string
		force         bool
	)
	c := &cobra.Command{
		Use:   "decrypt -i FILE CLIP_DIR -o OUT.mp4",
		Short: "Decrypt a clip directory into a playable MP4",
		Long: `decrypt opens the clip in CLIP_DIR (init.mp4.age, 000001.m4s.age, ...)
with the age identities in FILE — an owner key from keygen, or any age
identity file — and writes the MP4 to OUT ("-o -" for stdout). OUT
appears only once the whole clip has been decrypted.`,
		Args: exactArgs(1, "one clip directory"),
		RunE: func(_ *cobra.Command, args []string) error {
			ids, err := readIdentities(identityFiles)
			if err != nil {
				return err
			}
			dir := args[0]
			if err := checkOutput(out, force); err != nil {
				return fmt.Errorf("decrypt: %w", err)
			}
			if out == "-" {
				return explainDecrypt(clipfile.DecryptClip(dir, ids, stdout), identityFiles, dir)
			}
			return writeAtomically(out, func(w io.Writer) error {
				return explainDecrypt(clipfile.DecryptClip(dir, ids, w), identityFiles, dir)
			})
		},
	}
	c.Flags().StringArrayVarP(&identityFiles, "identity", "i", nil, "age identity `FILE` (repeatable)")
	outputFlags(c, &out, &force, "the MP4")
	c.MarkFlagRequired("identity")
	c.MarkFlagRequired("output")
	return c
}

// readIdentities parses every identity file with age.ParseIdentities, so
// any age identity file works.
func readIdentities(files []string) ([]age.Identity, error) {
	var ids []age.Identity
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("decrypt: identity file: %w", err)
		}
		got, err := age.ParseIdentities(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("decrypt: identity file %s: %w (want an age identity file, such as one from doorwardctl keygen)", name, err)
		}
		ids = append(ids, got...)
	}
	return ids, nil
}

// explainDecrypt turns age's "no identity matched" into advice.
func explainDecrypt(err error, files []string, dir string) error {
	var nm *age.NoIdentityMatchError
	if !errors.As(err, &nm) {
		return err
	}
	kind := "different keys"
	if types := slices.Compact(slices.Sorted(slices.Values(nm.StanzaTypes))); len(types) > 0 {
		kind = strings.Join(types, ", ") + " keys"
	}
	return fmt.Errorf("decrypt: no identity in %s matches clip %s (it is encrypted to %s); use the owner key of the device that recorded it", strings.Join(files, ", "), dir, kind)
}

// writeAtomically writes name (mode 0600: it is plaintext video) through a
// temporary file that becomes name only if write succeeded.
func writeAtomically(name string, write func(io.Writer) error) error {
	f, err := atomicfile.Create(name, 0o600)
	if err != nil {
		return fmt.Errorf("decrypt: %w", err)
	}
	defer f.Abort()
	if err := write(f); err != nil {
		return err
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("decrypt: %w", err)
	}
	return nil
}
