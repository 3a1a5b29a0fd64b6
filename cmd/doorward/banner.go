package main

import (
	"fmt"
	"io"
	"os"
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
		if isTerminal(w) {
			fmt.Fprint(w, b.PairQR)
			fmt.Fprintf(w, "  pairing code: %s\n", b.PairCode)
		}
		fmt.Fprintf(w, "  pair:       doorwardctl pair --device %s --code CODE -i owner.key\n", urls[0])
		fmt.Fprintf(w, "  show code:  %s pair-code --state %s\n", self, b.StateDir)
		return
	}
	fmt.Fprintf(w, "  clips:      %s (age-encrypted to %d owner recipient(s)", b.ClipsDir, b.Owners)
	if b.DeviceVault {
		fmt.Fprint(w, " and the device vault key)\n")
	} else {
		fmt.Fprint(w, "; strict mode: no device vault key)\n")
	}
	fmt.Fprintf(w, "  record:     %s trigger motion --state %s   (or: ring)\n", self, b.StateDir)
	fmt.Fprintf(w, "  list clips: %s clips --state %s\n", self, b.StateDir)
	if b.Pairing {
		fmt.Fprintf(w, "  pair:       no owner signing key yet; %s pair-code --state %s shows the code for doorwardctl pair\n", self, b.StateDir)
	}
	fmt.Fprintln(w, "  stop:       Ctrl-C (the clip in progress is closed first)")
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
