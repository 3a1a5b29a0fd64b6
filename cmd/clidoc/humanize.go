package clidoc

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/doorward/doorward/device/lanclient"
)

// Packages are the names of the project's Go packages: an error that
// reaches a person carries none of them as a prefix ("lanclient: ",
// "consent: "). A test keeps the list complete. Words names the few that
// are also what a person calls the thing (the config file, the selftest
// command): those prefixes stay.
var Packages = []string{
	"api", "atomicfile", "audit", "auditlog", "austream", "backoff", "bech32", "boards", "capture",
	"capturetest", "clidoc", "client", "clipfile", "clock", "clocktest", "config", "consent",
	"device", "events", "execsrc", "gate", "homeassistant", "lanapi", "lanclient", "lantls",
	"live", "metrics", "mqtt", "mqtttest", "mux", "pairing", "record", "relay", "rewrap", "s3test",
	"schema", "selftest", "sensors", "sensorstest", "simcam", "uplink", "v4l2", "v4l2test",
	"vault", "viewer", "wire",
}

// Words are package names that are also the user's word for the thing.
var Words = []string{"config", "selftest"}

// stripped are the prefixes Humanize removes.
func stripped() []string {
	var out []string
	for _, p := range Packages {
		if !slices.Contains(Words, p) {
			out = append(out, p)
		}
	}
	return out
}

// prefixRE matches a package prefix at the start of the message or of a
// wrapped part.
var prefixRE = regexp.MustCompile(`(^|: |\()(` + strings.Join(stripped(), "|") + `): `)

// Humanize renders err for the person at the terminal: no Go package
// prefixes, and a device's refusal as
// "refused by the device (403 quorum-not-met): what it said", with the
// reason code once. Lines stay lines (one problem each).
func Humanize(err error) string {
	msg := err.Error()
	var ae *lanclient.APIError
	if errors.As(err, &ae) {
		msg = strings.Replace(msg, ae.Error(), deviceRefusal(ae), 1)
	}
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		lines[i] = stripPackages(l)
	}
	return strings.Join(lines, "\n")
}

// stripPackages removes package prefixes, repeatedly ("gate: consent: x").
func stripPackages(msg string) string {
	for {
		next := prefixRE.ReplaceAllString(msg, "$1")
		if next == msg {
			return msg
		}
		msg = next
	}
}

// deviceRefusal is how a person reads a refusal or failure the device
// reported.
func deviceRefusal(ae *lanclient.APIError) string {
	text := stripPackages(strings.Join(strings.Fields(ae.Message), " "))
	if ae.Reason != "" {
		// The device's text often starts with its reason code again.
		for _, r := range []string{ae.Reason, strings.ReplaceAll(ae.Reason, "_", "-"), strings.ReplaceAll(ae.Reason, "-", "_")} {
			if t, ok := strings.CutPrefix(text, r+": "); ok {
				text = t
				break
			}
			if text == r {
				text = ""
				break
			}
		}
	}
	if text == "" {
		text = strings.ToLower(http.StatusText(ae.Status))
	}
	if ae.Reason == "" {
		return fmt.Sprintf("the device answered %d: %s", ae.Status, text)
	}
	return fmt.Sprintf("refused by the device (%d %s): %s", ae.Status, ae.Reason, text)
}
