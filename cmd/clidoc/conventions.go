package clidoc

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The flag conventions both binaries keep (one name per concept):
//
//   - a key file the command signs or decrypts with is -i/--identity;
//   - a recipient is --to;
//   - how long something is valid is --valid-for;
//   - --json is a switch (what the command prints becomes JSON);
//   - an output file is -o/--output, "-" meaning standard output, and a
//     command that writes one also takes --force, without which an
//     existing file is never replaced;
//   - --yes and --force are switches.
//
// An old name kept for a release is a hidden, deprecated alias (pflag's
// MarkDeprecated: it still works and says what replaces it).
const (
	FlagIdentity = "identity"
	FlagTo       = "to"
	FlagValidFor = "valid-for"
	FlagJSON     = "json"
	FlagOutput   = "output"
	FlagForce    = "force"
	FlagYes      = "yes"
)

// Exceptions are flags that look like one of the concepts but are another,
// each with the reason; "command path --flag" → why.
var Exceptions = map[string]string{
	// The agent's config names the owners' recipients (owner_recipients);
	// the flag adds to that list: it is not where a message goes.
	"doorward run --owner-recipient": "who the device records for, the config's owner_recipients",
	// The sim board's demo key is made by the agent for trying it out; the
	// agent signs and decrypts nothing with it.
	"doorward run --demo-owner-key": "a key file the sim agent creates, not one it acts with",
	// The key being added, not the key acting (that one is -i).
	"doorwardctl enroll --new": "the owner key to enroll; -i is the key that signs",
	// The TLS client certificate's private key for the MQTT broker.
	"doorwardctl events --cert-key": "the TLS client certificate's key, with --cert",
	"doorwardctl relay --cert-key":  "the TLS client certificate's key, with --cert",
}

// Check walks every command under root and returns one line per broken
// convention (none: nil).
func Check(root *cobra.Command) []string {
	var bad []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		bad = append(bad, checkCommand(c)...)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return bad
}

func checkCommand(c *cobra.Command) []string {
	var bad []string
	path := c.CommandPath()
	fail := func(f *pflag.Flag, format string, args ...any) {
		bad = append(bad, fmt.Sprintf("%s --%s: %s", path, f.Name, fmt.Sprintf(format, args...)))
	}
	fs := c.LocalFlags()
	fs.VisitAll(func(f *pflag.Flag) {
		if _, ok := Exceptions[path+" --"+f.Name]; ok {
			return
		}
		typ := f.Value.Type()
		if f.Hidden {
			// Deprecated aliases (MarkDeprecated hides them) keep their
			// old names for a release.
			return
		}
		name := f.Name
		switch {
		case name == FlagJSON && typ != "bool":
			fail(f, "--json must be a switch (bool), not %s; write files with -o", typ)
		case (name == FlagYes || name == FlagForce) && typ != "bool":
			fail(f, "must be a switch (bool), not %s", typ)
		}
		if f.Shorthand == "o" && name != FlagOutput {
			fail(f, "-o is the output flag; name it --output")
		}
		if name == FlagOutput {
			if f.Shorthand != "o" {
				fail(f, "--output must have the shorthand -o")
			}
			if !strings.Contains(f.Usage, "- for standard output") {
				fail(f, `its help must say "- for standard output" (and the command must honour it)`)
			}
			if ff := fs.Lookup(FlagForce); ff == nil || ff.Value.Type() != "bool" {
				fail(f, "a command that writes a file takes --force (never replace a file without it)")
			}
		}
		if f.Shorthand == "i" && name != FlagIdentity {
			fail(f, "-i is the identity flag; name it --identity")
		}
		if name == FlagIdentity && f.Shorthand != "i" {
			fail(f, "--identity must have the shorthand -i")
		}
		lname := strings.ToLower(name)
		usage := strings.ToLower(f.Usage)
		switch {
		case name == FlagIdentity:
		case strings.Contains(lname, "key") && (typ == "string" || typ == "stringArray"):
			fail(f, "a key file is -i/--identity")
		case strings.Contains(usage, "key `file`") || strings.Contains(usage, "key file"):
			fail(f, "a key file is -i/--identity")
		}
		if strings.Contains(lname, "recipient") {
			fail(f, "a recipient is --to")
		}
		if slices.Contains([]string{"expires", "expiry", "expire", "ttl", "lifetime", "valid", "valid-until", "for", "duration"}, lname) {
			fail(f, "how long something is valid is --valid-for")
		}
	})
	return bad
}
