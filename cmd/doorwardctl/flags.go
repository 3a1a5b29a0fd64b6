package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/doorward/doorward/cmd/clidoc"
	"github.com/doorward/doorward/device/atomicfile"
)

// The flags every command names the same way (see clidoc.Check, which a
// test runs over every command).

// aliases keeps old flag names of c working for a release, hidden: each
// old name maps to the flag that replaces it, and using it prints a
// deprecation note naming the new flag on stderr. (A normalization, not a
// second flag, so that required flags and repeatable ones behave the same
// under either name.)
func aliases(c *cobra.Command, old map[string]string) {
	c.Flags().SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if now, ok := old[name]; ok {
			fmt.Fprintf(c.ErrOrStderr(), "doorwardctl: --%s is deprecated; use --%s\n", name, now)
			return pflag.NormalizedName(now)
		}
		return pflag.NormalizedName(name)
	})
}

// identityFlag adds -i/--identity for the one key file a command acts with.
func identityFlag(c *cobra.Command, target *string, usage string) {
	c.Flags().StringVarP(target, clidoc.FlagIdentity, "i", "", usage)
}

// outputFlags adds -o/--output (- for standard output) and --force.
func outputFlags(c *cobra.Command, out *string, force *bool, what string) {
	c.Flags().StringVarP(out, clidoc.FlagOutput, "o", "", "write "+what+" to `FILE` (- for standard output)")
	c.Flags().BoolVar(force, clidoc.FlagForce, false, "replace FILE if it exists")
}

// errOutputExists is returned, wrapped, when -o names an existing file and
// --force was not given.
var errOutputExists = errors.New("exists")

// checkOutput refuses an existing output file unless force; "-" (standard
// output) is always fine.
func checkOutput(path string, force bool) error {
	if path == "-" || path == "" || force {
		return nil
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("-o %s: the file %w; choose another name, or pass --force to replace it", path, errOutputExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("-o %s: %w", path, err)
	}
	return nil
}

// checkVideoOutput is checkOutput for the MP4 a command writes (decrypt,
// fetch, live): an existing MP4 (a file that begins with an ISO BMFF ftyp
// box, as every MP4 these commands write does) is replaced, as age's -o
// replaces its output, so decrypting a clip again into the same file just
// works; any other existing file (a key, a document, a typo'd name) needs
// --force.
func checkVideoOutput(path string, force bool) error {
	err := checkOutput(path, force)
	if !errors.Is(err, errOutputExists) {
		return err
	}
	if isMP4(path) {
		return nil
	}
	return fmt.Errorf("-o %s: the file %w and is not an MP4 video; choose another name, or pass --force to replace it", path, errOutputExists)
}

// isMP4 reports whether path is a regular file that begins with an ftyp
// box.
func isMP4(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return false
	}
	var head [8]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return false
	}
	return string(head[4:8]) == "ftyp"
}

// printJSON writes v to w as indented JSON and a newline: every --json
// output.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeOutput writes data to path ("-": stdout) with mode, atomically, and
// never over an existing file unless force.
func writeOutput(path string, force bool, stdout io.Writer, data []byte, mode os.FileMode) error {
	if path == "-" {
		_, err := stdout.Write(data)
		return err
	}
	if err := checkOutput(path, force); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, mode)
}

// ask puts question to the person at the terminal unless the command's
// --yes was given; every command that asks must have --yes (it panics
// otherwise, which any test of the command catches).
func ask(cmd *cobra.Command, stderr io.Writer, question string) bool {
	f := cmd.Flags().Lookup(clidoc.FlagYes)
	if f == nil {
		panic("doorwardctl: " + cmd.CommandPath() + " asks for confirmation but has no --yes")
	}
	if f.Value.String() == "true" {
		return true
	}
	return confirm(cmd.InOrStdin(), stderr, question)
}

// yesFlag adds --yes to a command that asks.
func yesFlag(c *cobra.Command, what string) {
	c.Flags().Bool(clidoc.FlagYes, false, what)
}

// writeStream writes what write produces to path: "-" is stdout, a file
// appears only once write succeeded (writeAtomically).
func writeStream(path string, stdout io.Writer, write func(io.Writer) error) error {
	if path == "-" {
		return write(stdout)
	}
	return writeAtomically(path, write)
}
