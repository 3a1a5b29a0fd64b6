package device

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/doorward/doorward/consent"
)

func keyPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "state", "keys", "device.key")
}

func mustLoad(t *testing.T, path string, fam consent.RecipientFamily) (*Identity, bool) {
	t.Helper()
	id, created, err := LoadOrCreateIdentity(path, fam)
	if err != nil {
		t.Fatalf("LoadOrCreateIdentity: %v", err)
	}
	return id, created
}

func TestIdentityCreateAndReload(t *testing.T) {
	path := keyPath(t)
	id, created := mustLoad(t, path, consent.Classic)
	if !created {
		t.Fatal("created = false on first run")
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s has mode %04o, want %04o", p, st.Mode().Perm(), want)
		}
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*")); len(matches) > 0 {
		t.Errorf("temporary files left behind: %v", matches)
	}
	if !regexp.MustCompile(`^[a-z2-7]{16}$`).MatchString(id.ID()) {
		t.Fatalf("ID() = %q, want 16 lower-case base32 characters", id.ID())
	}
	if id.VaultRecipient(consent.Classic) == nil || id.VaultIdentity(consent.Classic) == nil {
		t.Fatal("no classic vault key after creating with consent.Classic")
	}
	if id.VaultRecipient(consent.PostQuantum) != nil || id.VaultIdentity(consent.PostQuantum) != nil {
		t.Fatal("post-quantum vault key created before it was needed")
	}

	again, created := mustLoad(t, path, consent.Classic)
	if created {
		t.Fatal("created = true on reload")
	}
	if again.ID() != id.ID() || !bytes.Equal(again.PublicKey(), id.PublicKey()) {
		t.Fatal("reload gave a different device key")
	}
	msg := []byte("checkpoint")
	if !ed25519.Verify(id.PublicKey(), msg, again.Sign(msg)) {
		t.Fatal("signature from reloaded key does not verify")
	}
	// The vault key survives a reload: what was encrypted to it still opens.
	var ct bytes.Buffer
	w, _ := age.Encrypt(&ct, id.VaultRecipient(consent.Classic))
	io.WriteString(w, "segment")
	w.Close()
	r, err := age.Decrypt(&ct, again.VaultIdentity(consent.Classic))
	if err != nil {
		t.Fatalf("reloaded vault identity does not open a file for the vault recipient: %v", err)
	}
	if b, _ := io.ReadAll(r); string(b) != "segment" {
		t.Fatalf("decrypted %q", b)
	}
}

func TestIdentityIDFormat(t *testing.T) {
	// The ID of a fixed key, computed independently with Python:
	// base32(sha256(Ed25519 public key of seed 07 x 32)[:10]).lower().
	path := keyPath(t)
	os.MkdirAll(filepath.Dir(path), 0o700)
	seed := bytes.Repeat([]byte{7}, 32)
	data, _ := json.Marshal(identityFile{Version: 1, Ed25519Seed: seed})
	os.WriteFile(path, data, 0o600)
	id, _ := mustLoad(t, path, consent.Classic)
	if got, want := id.ID(), "72asyextvngonlc5"; got != want {
		t.Fatalf("ID() = %q, want %q", got, want)
	}
}

func TestIdentityLazyHybridVault(t *testing.T) {
	path := keyPath(t)
	classic, _ := mustLoad(t, path, consent.Classic)
	pq, created := mustLoad(t, path, consent.PostQuantum)
	if created {
		t.Fatal("created = true when adding a vault key to an existing file")
	}
	if pq.ID() != classic.ID() {
		t.Fatal("adding a vault key changed the device ID")
	}
	r, ok := pq.VaultRecipient(consent.PostQuantum).(*age.HybridRecipient)
	if !ok {
		t.Fatalf("post-quantum vault recipient is %T", pq.VaultRecipient(consent.PostQuantum))
	}
	if _, ok := pq.VaultIdentity(consent.PostQuantum).(*age.HybridIdentity); !ok {
		t.Fatal("post-quantum vault identity is not hybrid")
	}
	if pq.VaultRecipient(consent.Classic).(*age.X25519Recipient).String() != classic.VaultRecipient(consent.Classic).(*age.X25519Recipient).String() {
		t.Fatal("classic vault key changed when the hybrid one was added")
	}
	// Persisted: a reload asking for classic still has the hybrid key.
	again, _ := mustLoad(t, path, consent.Classic)
	if again.VaultRecipient(consent.PostQuantum).(*age.HybridRecipient).String() != r.String() {
		t.Fatal("hybrid vault key not persisted")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("rewritten key file has mode %04o", st.Mode().Perm())
	}
}

func TestIdentityRefusesOpenMode(t *testing.T) {
	path := keyPath(t)
	mustLoad(t, path, consent.Classic)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadOrCreateIdentity(path, consent.Classic)
		if err == nil {
			t.Fatalf("mode %04o accepted", mode)
		}
		for _, want := range []string{"device: ", path, fmt.Sprintf("%04o", mode), "chmod 600 " + path} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("mode %04o: error %q does not contain %q", mode, err, want)
			}
		}
	}
	os.Chmod(path, 0o400)
	if _, _, err := LoadOrCreateIdentity(path, consent.Classic); err != nil {
		t.Fatalf("mode 0400 refused: %v", err)
	}
}

func TestIdentityStrictDecode(t *testing.T) {
	seed := strings.Repeat("A", 43) + "="
	tests := []struct{ name, file, want string }{
		{"unknown field", `{"version":1,"ed25519_seed":"` + seed + `","extra":1}`, "unknown field"},
		{"version", `{"version":2,"ed25519_seed":"` + seed + `"}`, "version 2"},
		{"no version", `{"ed25519_seed":"` + seed + `"}`, "version 0"},
		{"short seed", `{"version":1,"ed25519_seed":"AAAA"}`, "ed25519_seed is 3 bytes"},
		{"trailing", `{"version":1,"ed25519_seed":"` + seed + `"} {}`, "after the JSON object"},
		{"bad vault", `{"version":1,"ed25519_seed":"` + seed + `","vault_x25519":"AGE-SECRET-KEY-1XYZ"}`, "vault_x25519 is not"},
		{"bad hybrid", `{"version":1,"ed25519_seed":"` + seed + `","vault_hybrid":"nope"}`, "vault_hybrid is not"},
		{"not json", `hello`, "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := keyPath(t)
			os.MkdirAll(filepath.Dir(path), 0o700)
			os.WriteFile(path, []byte(tt.file), 0o600)
			_, _, err := LoadOrCreateIdentity(path, consent.Classic)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "device: ") {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if b, _ := os.ReadFile(path); string(b) != tt.file {
				t.Fatal("a bad key file was overwritten")
			}
		})
	}
}

func TestIdentityBadFamily(t *testing.T) {
	if _, _, err := LoadOrCreateIdentity(keyPath(t), 0); err == nil {
		t.Fatal("family 0 accepted")
	}
}
