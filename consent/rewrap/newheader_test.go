package rewrap

import (
	"bytes"
	"errors"
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

// NewHeaderMany re-wraps for every owner and nothing else: each owner
// opens the result, the vault and a stranger do not, the header holds one
// stanza per recipient; mixed families, no recipient and a post-quantum
// file for classic owners are refused.
func TestNewHeaderMany(t *testing.T) {
	for _, pq := range []bool{false, true} {
		k1, k2, k3 := newKeys(t, pq), newKeys(t, pq), newKeys(t, pq)
		vault := k1.vault
		plain := bytes.Repeat([]byte("backup "), 30000)
		var src bytes.Buffer
		w, _ := age.Encrypt(&src, k1.ownerR, k2.ownerR, k1.vaultR)
		w.Write(plain)
		w.Close()
		header, skip, err := NewHeaderMany(bytes.NewReader(src.Bytes()), vault, []age.Recipient{k1.ownerR, k2.ownerR})
		if err != nil {
			t.Fatal(err)
		}
		out := append(bytes.Clone(header), src.Bytes()[skip:]...)
		if h := parse(t, out); len(h.Stanzas) != 2 {
			t.Errorf("pq=%v: %d stanzas, want 2", pq, len(h.Stanzas))
		}
		for _, id := range []age.Identity{k1.owner, k2.owner} {
			got, err := decrypt(out, id)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("pq=%v: an owner cannot open the backup: %v", pq, err)
			}
		}
		for name, id := range map[string]age.Identity{"vault": vault, "stranger": k3.owner, "grantee": k1.grantee} {
			if _, err := decrypt(out, id); err == nil {
				t.Errorf("pq=%v: the %s identity opens the backup", pq, name)
			}
		}
	}
	c, h := newKeys(t, false), newKeys(t, true)
	_, file := segment(t, c, 1000)
	if _, _, err := NewHeaderMany(bytes.NewReader(file), c.vault, []age.Recipient{c.ownerR, h.ownerR}); !errors.Is(err, ErrRecipientType) {
		t.Errorf("mixed families: %v", err)
	}
	if _, _, err := NewHeaderMany(bytes.NewReader(file), c.vault, nil); !errors.Is(err, ErrRecipientType) {
		t.Errorf("no recipient: %v", err)
	}
	_, pqFile := segment(t, h, 1000)
	if _, _, err := NewHeaderMany(bytes.NewReader(pqFile), h.vault, []age.Recipient{c.ownerR}); !errors.Is(err, ErrDowngrade) {
		t.Errorf("downgrade: %v", err)
	}
}
