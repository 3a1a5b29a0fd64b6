package consent

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestLiveBindingNormalizes(t *testing.T) {
	sum := sha256.Sum256([]byte("sha-256 AB:CD:EF:01"))
	want := hex.EncodeToString(sum[:])
	for _, in := range []string{"sha-256 AB:CD:EF:01", "  SHA-256   ab:cd:ef:01 ", "Sha-256\tAb:cD:ef:01"} {
		if got := LiveBinding(in); got != want {
			t.Errorf("LiveBinding(%q) = %s, want %s", in, got, want)
		}
	}
	if LiveBinding("sha-256 AB:CD:EF:02") == want {
		t.Error("another fingerprint gives the same binding")
	}
}

// FuzzLiveBinding: the fingerprint comes from an offer, outside input.
// Whatever it is, the binding is 64 lower-case hex digits, and spelling
// (ASCII case, surrounding and repeated blanks) never changes it.
func FuzzLiveBinding(f *testing.F) {
	f.Add("sha-256 AB:CD:EF:01")
	f.Add("  SHA-256\tab:cd:ef:01  ")
	f.Add("")
	f.Add("sha-256")
	f.Add("sha-256 AB CD")
	f.Fuzz(func(t *testing.T, fp string) {
		b := LiveBinding(fp)
		if len(b) != 64 || strings.Trim(b, "0123456789abcdef") != "" {
			t.Fatalf("LiveBinding(%q) = %q", fp, b)
		}
		if LiveBinding(" \t"+fp+"\n ") != b {
			t.Errorf("surrounding blanks change the binding of %q", fp)
		}
		ascii := true
		for i := 0; i < len(fp); i++ {
			ascii = ascii && fp[i] < 0x80
		}
		if ascii && (LiveBinding(strings.ToLower(fp)) != b || LiveBinding(strings.ToUpper(fp)) != b) {
			t.Errorf("case changes the binding of %q", fp)
		}
	})
}
