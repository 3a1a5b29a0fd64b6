package rewrap

import (
	"bufio"
	"bytes"
	"io"
	"testing"
)

// FuzzParseHeader checks that ParseHeader never panics, never reads past
// its bounds, and accepts only canonical headers: whatever it accepts
// serialises back to exactly the bytes it read.
func FuzzParseHeader(f *testing.F) {
	// Live seeds besides testdata/fuzz/FuzzParseHeader: fresh headers of
	// both families.
	for _, pq := range []bool{false, true} {
		k := newKeys(f, pq)
		_, file := segment(f, k, 100)
		f.Add(file)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		h, err := ParseHeader(r)
		if err != nil {
			if h != nil {
				t.Fatal("header returned with an error")
			}
			return
		}
		if h.Size > MaxHeaderSize || len(h.Stanzas) == 0 || len(h.Stanzas) > MaxStanzas || len(h.MAC) != macSize {
			t.Fatalf("accepted out-of-bounds header: size %d, %d stanzas, MAC %d bytes", h.Size, len(h.Stanzas), len(h.MAC))
		}
		buf := []byte(intro)
		for _, s := range h.Stanzas {
			if buf, err = marshalStanza(buf, s); err != nil {
				t.Fatalf("accepted stanza does not marshal: %v", err)
			}
		}
		buf = append(buf, footerPrefix...)
		if !bytes.Equal(buf, h.signed) {
			t.Fatalf("non-canonical header accepted:\n in %q\nout %q", h.signed, buf)
		}
		buf = append(buf, ' ')
		buf = b64.AppendEncode(buf, h.MAC)
		buf = append(buf, '\n')
		if !bytes.Equal(buf, in[:h.Size]) {
			t.Fatalf("header does not re-encode to its input")
		}
		// The reader is left at the payload.
		rest, _ := io.ReadAll(r)
		if !bytes.Equal(rest, in[h.Size:]) {
			t.Fatal("reader not left at the payload")
		}
	})
}
