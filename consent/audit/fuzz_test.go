package audit

import (
	"bytes"
	"testing"
)

// FuzzDecodeEntry: DecodeEntry never panics, and whatever it accepts is
// canonical: it encodes back to exactly its input.
func FuzzDecodeEntry(f *testing.F) {
	f.Add([]byte(`{"seq":1,"time":"2026-11-27T10:00:00Z","kind":"revoke","reason":"r"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := DecodeEntry(in)
		if err != nil {
			return
		}
		out, err := e.Canonical()
		if err != nil {
			t.Fatalf("accepted entry does not encode: %v", err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("accepted non-canonical input\n in %q\nout %q", in, out)
		}
		// Through UnmarshalJSON too.
		var e2 Entry
		if err := e2.UnmarshalJSON(in); err != nil {
			t.Fatalf("UnmarshalJSON refuses what DecodeEntry accepts: %v", err)
		}
	})
}

// FuzzParseCheckpoint: ParseCheckpoint never panics, and whatever it
// accepts marshals back to exactly its input.
func FuzzParseCheckpoint(f *testing.F) {
	f.Add([]byte("doorward-audit/v1\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n0\n\n" +
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := ParseCheckpoint(in)
		if err != nil {
			return
		}
		if !bytes.Equal(c.Marshal(), in) {
			t.Fatalf("accepted non-canonical checkpoint\n in %q\nout %q", in, c.Marshal())
		}
	})
}
