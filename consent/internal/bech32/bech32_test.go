package bech32

import (
	"bytes"
	"strings"
	"testing"
)

// TestVectors: the valid and invalid checksums of BIP 173.
func TestVectors(t *testing.T) {
	for _, s := range []string{
		"A12UEL5L",
		"a12uel5l",
		"an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
		"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
		"split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
		"?1ezyfcl",
	} {
		if _, _, err := Decode(s); err != nil {
			// Some vectors carry data whose padding is not zero; the
			// checksum is what they test.
			if !strings.Contains(err.Error(), "padding") {
				t.Errorf("Decode(%q): %v", s, err)
			}
		}
	}
	for _, s := range []string{
		"\x201nwldj5",   // HRP character out of range
		"pzry9x0s0muk",  // no separator
		"1pzry9x0s0muk", // empty HRP
		"x1b4n0q5v",     // invalid data character
		"li1dgmt3",      // too short checksum
		"A1G7SGD8",      // checksum computed with an upper-case HRP
		"10a06t8",       // empty HRP
		"1qzzfhee",      // empty HRP
		"a12UEL5L",      // mixed case
		"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxx", // checksum changed
	} {
		if _, _, err := Decode(s); err == nil {
			t.Errorf("Decode(%q) accepted an invalid string", s)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for n := 0; n < 100; n++ {
		data := bytes.Repeat([]byte{byte(n * 7)}, n)
		s, err := Encode("doorward-contact", data)
		if err != nil {
			t.Fatal(err)
		}
		hrp, got, err := Decode(s)
		if err != nil || hrp != "doorward-contact" || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: %q %x %v", n, hrp, got, err)
		}
		if _, _, err := Decode(strings.ToUpper(s)); err != nil {
			t.Fatalf("upper case: %v", err)
		}
	}
}
