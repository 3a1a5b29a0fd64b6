package rewrap

import (
	"bytes"
	"io"
	"testing"

	"filippo.io/age"
)

// NewHeader's header followed by the source's payload is the re-wrapped
// file: it opens with the new identity alone, and its size is known
// before anything is streamed.
func TestNewHeaderStreamsThePayload(t *testing.T) {
	vault, _ := age.GenerateX25519Identity()
	owner, _ := age.GenerateX25519Identity()
	to, _ := age.GenerateX25519Identity()
	plain := bytes.Repeat([]byte("segment "), 20000)
	var src bytes.Buffer
	w, _ := age.Encrypt(&src, owner.Recipient(), vault.Recipient())
	w.Write(plain)
	w.Close()
	header, skip, err := NewHeader(bytes.NewReader(src.Bytes()), vault, to.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	out := append(bytes.Clone(header), src.Bytes()[skip:]...)
	r, err := age.Decrypt(bytes.NewReader(out), to)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("decrypted %d bytes, %v", len(got), err)
	}
	for name, id := range map[string]age.Identity{"owner": owner, "vault": vault} {
		if _, err := age.Decrypt(bytes.NewReader(out), id); err == nil {
			t.Errorf("the %s identity opens the re-wrapped file", name)
		}
	}
	// Same result as Rewrap, byte for byte past the header.
	var whole bytes.Buffer
	if err := Rewrap(&whole, bytes.NewReader(src.Bytes()), vault, to.Recipient()); err != nil {
		t.Fatal(err)
	}
	if whole.Len() != len(out) || !bytes.Equal(whole.Bytes()[len(header):], out[len(header):]) {
		t.Error("NewHeader and Rewrap disagree")
	}
}
