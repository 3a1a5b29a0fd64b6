package clidoc

import (
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/doorward/doorward/device/lanclient"
)

func TestHumanize(t *testing.T) {
	quorum := &lanclient.APIError{Status: 403, Reason: "quorum-not-met", Message: "gate: consent: quorum-not-met: distinct issuers per role below the policy's quorum (court: 1 of 2)"}
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("token submit: %w", quorum), "token submit: refused by the device (403 quorum-not-met): distinct issuers per role below the policy's quorum (court: 1 of 2)"},
		{fmt.Errorf("revoke: %w", &lanclient.APIError{Status: 404, Reason: "unknown-grant", Message: "unknown-grant"}), "revoke: refused by the device (404 unknown-grant): not found"},
		{fmt.Errorf("status: %w", &lanclient.APIError{Status: 502, Message: ""}), "status: the device answered 502: bad gateway"},
		{fmt.Errorf("grant: %w", errors.New("lanclient: dial tcp 127.0.0.1:1: connection refused")), "grant: dial tcp 127.0.0.1:1: connection refused"},
		{errors.New("pins: x.json is damaged (consent: bad key)"), "pins: x.json is damaged (bad key)"},
		{errors.New("bad.yaml:2:14: recording.post_roll: \"0s\" is out of range\ndevice: bad.yaml: listen: empty"), "bad.yaml:2:14: recording.post_roll: \"0s\" is out of range\nbad.yaml: listen: empty"},
		// The user's words stay.
		{errors.New("config: open x.yaml: no such file"), "config: open x.yaml: no such file"},
		// A word that is a package name, not at a prefix position, stays.
		{errors.New("the MQTT client: gone"), "the MQTT client: gone"},
	} {
		if got := Humanize(c.err); got != c.want {
			t.Errorf("Humanize(%q)\n got %q\nwant %q", c.err, got, c.want)
		}
	}
}

// Packages names every package of the module, so that none of their
// prefixes reaches a person.
func TestPackagesComplete(t *testing.T) {
	root := "../.."
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly)
		if err != nil {
			return err
		}
		if name := f.Name.Name; name != "main" {
			seen[name] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range seen {
		if !slices.Contains(Packages, name) {
			t.Errorf("package %s is missing from clidoc.Packages", name)
		}
	}
}
