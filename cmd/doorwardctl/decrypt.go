package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/doorward/doorward/capture/vault/clipfile"
	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/device/atomicfile"
)

func newDecryptCmd(stdout io.Writer) *cobra.Command {
	var (
		identityFiles []string
		out, state    string
		force         bool
	)
	c := &cobra.Command{
		Use:   "decrypt -i FILE (CLIP_DIR | CLIP_ID) [-o OUT.mp4]",
		Short: "Decrypt a clip into a playable MP4",
		Long: `decrypt opens a clip — a clip directory (init.mp4.age, 000001.m4s.age, ...),
a disclosure directory (000000-init.mp4.age, ...), or a clip ID, found
under the state directory's clips/ (--state, by default the agent's) —
with the age identities in FILE (an owner key from keygen, or any age
identity file) and writes the MP4 to standard output, as age does, or to
OUT with -o (it appears only once the whole clip is decrypted; an
existing MP4 there is replaced, any other file only with --force). It refuses to write video to a terminal. A
clip still being recorded is decrypted as far as it is committed, with a
warning.`,
		Args: exactArgs(1, "one clip directory or clip ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := readIdentities(identityFiles)
			if err != nil {
				return err
			}
			dir, err := clipArg(args[0], state)
			if err != nil {
				return err
			}
			if err := checkVideoOutput(out, force); err != nil {
				return fmt.Errorf("decrypt: %w", err)
			}
			toStdout := out == "" || out == "-"
			if toStdout && isTerminalWriter(stdout) {
				return errors.New("decrypt: refusing to write binary video to a terminal; give -o OUT.mp4, or redirect standard output (> clip.mp4, | mpv -)")
			}
			// The warning comes once the clip decrypted: a refusal stays
			// one line.
			warn := func(err error) error {
				if err == nil && clipfile.InProgress(dir) {
					fmt.Fprintf(cmd.ErrOrStderr(), "doorwardctl: warning: clip %s is still recording; the MP4 holds what was committed when it was decrypted\n", filepath.Base(dir))
				}
				return err
			}
			if toStdout {
				return warn(explainDecrypt(clipfile.DecryptClip(dir, ids, stdout), identityFiles, dir))
			}
			return warn(writeAtomically(out, func(w io.Writer) error {
				return explainDecrypt(clipfile.DecryptClip(dir, ids, w), identityFiles, dir)
			}))
		},
	}
	c.Flags().StringArrayVarP(&identityFiles, "identity", "i", nil, "age identity `FILE` (repeatable)")
	outputFlags(c, &out, &force, "the MP4 (default: standard output)")
	c.Flags().StringVar(&state, "state", "", "the agent's state `DIR`, where a clip ID is looked for (default: the agent's default)")
	c.MarkFlagRequired("identity")
	return c
}

// clipArg finds the clip an argument names: an existing directory, or a
// clip ID under <state>/clips.
func clipArg(arg, state string) (string, error) {
	if st, err := os.Stat(arg); err == nil {
		if !st.IsDir() {
			return "", fmt.Errorf("decrypt: %s is a file; give its clip directory (decrypt one piece with stock age: see the README)", arg)
		}
		return arg, nil
	}
	if state == "" {
		state = api.DefaultStateDir()
	}
	dir, err := clipfile.ClipDirOf(filepath.Join(state, api.ClipsDirName), arg)
	if err != nil {
		return "", fmt.Errorf("decrypt: %s is neither a clip directory nor a clip ID (doorward clips lists them)", arg)
	}
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("decrypt: no clip %s in %s (retention may have removed it; give --state DIR for another state directory)", arg, state)
	}
	return dir, nil
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
