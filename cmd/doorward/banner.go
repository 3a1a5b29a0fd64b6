package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/doorward/doorward/device"
	"github.com/doorward/doorward/device/lantls"
)

// printBanner tells the person who started the agent where its state lives
// and how to use it; unpaired, it shows the pairing code and its QR code.
// This is the one place besides the control socket that shows the code: it
// goes to a terminal only, never to the log (under systemd, stdout is the
// journal).
func printBanner(w io.Writer, b device.Banner, self string) {
	fmt.Fprintf(w, "doorward %s running on board %s\n", b.Version, b.Board)
	fmt.Fprintf(w, "  device id:  %s\n", b.DeviceID)
	fmt.Fprintf(w, "  state:      %s\n", b.StateDir)
	urls := b.URLs
	if len(urls) == 0 {
		urls = lantls.URLs(b.Listen)
	}
	fmt.Fprintf(w, "  LAN API:    %s\n", strings.Join(urls, "  "))
	if b.TLS {
		fmt.Fprintln(w, "              TLS 1.3, certificate signed by the device key; doorwardctl checks it against the key it pins at pairing")
	}
	if b.Owners == 0 && b.Pairing {
		fmt.Fprintln(w, "  NOT PAIRED: nothing is recorded until an owner pairs.")
		// The code only on a terminal (under systemd stdout is the
		// journal); either way the pair line is a command to paste: with
		// the URI itself, or fetching it with pair-code.
		if isTerminal(w) {
			fmt.Fprint(w, b.PairQR)
			fmt.Fprintf(w, "  pairing code: %s\n", b.PairCode)
			fmt.Fprintf(w, "  pair:       %s pair --uri '%s' -i owner.key\n", ctlCommand(self), b.PairURI)
		} else {
			fmt.Fprintf(w, "  pair:       %s pair --uri \"$(%s pair-code --uri --state %s)\" -i owner.key\n", ctlCommand(self), shellQuote(self), shellQuote(b.StateDir))
		}
		fmt.Fprintf(w, "  show code:  %s pair-code --state %s\n", shellQuote(self), shellQuote(b.StateDir))
		return
	}
	fmt.Fprintf(w, "  clips:      %s (age-encrypted to %d owner recipient(s)", b.ClipsDir, b.Owners)
	if b.DeviceVault {
		fmt.Fprint(w, " and the device vault key)\n")
	} else {
		fmt.Fprint(w, "; strict mode: no device vault key)\n")
	}
	self, state := shellQuote(self), shellQuote(b.StateDir)
	fmt.Fprintf(w, "  record:     %s trigger motion --state %s   # or: ring\n", self, state)
	fmt.Fprintf(w, "  list clips: %s clips --state %s\n", self, state)
	if b.Pairing {
		fmt.Fprintf(w, "  pair:       no owner signing key yet; %s pair-code --state %s shows the code for doorwardctl pair\n", self, state)
	}
	fmt.Fprintln(w, "  stop:       Ctrl-C (the clip in progress is closed first)")
}

// ctlCommand is how to run doorwardctl in a line to paste: its name when
// it is on PATH, else the doorwardctl built next to this binary as self
// names it (make run's ./bin/doorwardctl), else its name.
func ctlCommand(self string) string {
	if _, err := exec.LookPath("doorwardctl"); err == nil {
		return "doorwardctl"
	}
	if !strings.Contains(self, "/") {
		return "doorwardctl"
	}
	ctl := filepath.Join(filepath.Dir(self), "doorwardctl")
	if st, err := os.Stat(ctl); err != nil || st.IsDir() {
		return "doorwardctl"
	}
	if !filepath.IsAbs(ctl) {
		ctl = "./" + ctl
	}
	return shellQuote(ctl)
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// shellQuote quotes s for a POSIX shell when it needs it, so that a banner
// line can be pasted as it is.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
