package consent

import (
	"crypto/sha256"
	"encoding/hex"
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
