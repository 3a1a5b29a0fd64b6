package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/doorward/doorward/device"
)

// The pairing code goes to a terminal only: a banner written anywhere else
// (the journal under systemd) names how to get it, never the code.
func TestBannerKeepsTheCodeOffLogs(t *testing.T) {
	b := device.Banner{Version: "v1", Board: "sim", DeviceID: "dev", StateDir: "/s", ClipsDir: "/s/clips",
		Listen: "127.0.0.1:8080", Pairing: true, PairCode: "SECRET-CODE", PairQR: "QRQRQR"}
	var out bytes.Buffer
	printBanner(&out, b, "doorward")
	got := out.String()
	for _, want := range []string{"doorward v1 running on board sim", "NOT PAIRED", `doorwardctl pair --uri "$(doorward pair-code --uri --state /s)" -i owner.key`, "doorward pair-code --state /s"} {
		if !strings.Contains(got, want) {
			t.Errorf("banner lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "SECRET-CODE") || strings.Contains(got, "QRQRQR") {
		t.Errorf("the pairing code reached a non-terminal:\n%s", got)
	}

	b.Owners, b.DeviceVault = 2, true
	out.Reset()
	printBanner(&out, b, "doorward")
	got = out.String()
	for _, want := range []string{"clips:      /s/clips (age-encrypted to 2 owner recipient(s) and the device vault key)", "doorward trigger motion --state /s", "no owner signing key yet"} {
		if !strings.Contains(got, want) {
			t.Errorf("paired banner lacks %q:\n%s", want, got)
		}
	}
}
