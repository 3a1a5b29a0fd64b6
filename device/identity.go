package device

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/atomicfile"
)

// identityFileVersion is the version of the device.key format this code
// writes and reads.
const identityFileVersion = 1

// maxIdentityFile bounds how much of device.key is read; a real one is
// well under 1 KiB.
const maxIdentityFile = 64 << 10

// identityFile is the JSON layout of <state>/keys/device.key. Secrets are
// stored as their canonical encodings; absent vault keys are omitted.
type identityFile struct {
	Version int `json:"version"`
	// Ed25519Seed is the 32-byte seed of the device identity (base64).
	Ed25519Seed []byte `json:"ed25519_seed"`
	// VaultX25519 is the classic age vault identity, AGE-SECRET-KEY-1...
	VaultX25519 string `json:"vault_x25519,omitempty"`
	// VaultHybrid is the post-quantum age vault identity,
	// AGE-SECRET-KEY-PQ-1...
	VaultHybrid string `json:"vault_hybrid,omitempty"`
}

// Identity is the device's own keys, kept in <state>/keys/device.key (mode
// 0600): the Ed25519 key that identifies the device and signs its audit
// checkpoints and replies, and the age vault identities that let the device
// re-wrap its clips for a grant or a legal token. There is at most one vault
// identity per recipient family (age refuses to encrypt one file to both
// classic and post-quantum recipients, so the vault key follows the owners'
// family); each is created the first time it is needed. An Identity does not
// change after LoadOrCreateIdentity returns it and is safe for concurrent use.
type Identity struct {
	priv   ed25519.PrivateKey
	id     string
	x25519 *age.X25519Identity
	hybrid *age.HybridIdentity
}

// LoadOrCreateIdentity loads the device key file at path (normally
// <state>/keys/device.key), creating it — and its directory, mode 0700 — on
// first run; created reports whether it did. The vault identity of family is
// created and saved if the file has none yet. The file is written
// atomically with mode 0600, and a file that group or others may access is
// refused rather than trusted.
func LoadOrCreateIdentity(path string, family consent.RecipientFamily) (id *Identity, created bool, err error) {
	if !family.Valid() {
		return nil, false, fmt.Errorf("device: invalid vault key family %d: want consent.Classic or consent.PostQuantum", int(family))
	}
	f, err := readIdentityFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, false, fmt.Errorf("device: generate device key: %w", err)
		}
		f = &identityFile{Version: identityFileVersion, Ed25519Seed: seed}
		created = true
	case err != nil:
		return nil, false, err
	}

	dirty := created
	switch family {
	case consent.Classic:
		if f.VaultX25519 == "" {
			v, err := age.GenerateX25519Identity()
			if err != nil {
				return nil, false, fmt.Errorf("device: generate vault key: %w", err)
			}
			f.VaultX25519, dirty = v.String(), true
		}
	case consent.PostQuantum:
		if f.VaultHybrid == "" {
			v, err := age.GenerateHybridIdentity()
			if err != nil {
				return nil, false, fmt.Errorf("device: generate post-quantum vault key: %w", err)
			}
			f.VaultHybrid, dirty = v.String(), true
		}
	}

	id, err = f.identity(path)
	if err != nil {
		return nil, false, err
	}
	if dirty {
		if created {
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return nil, false, fmt.Errorf("device: create key directory: %w", err)
			}
		}
		if err := writeIdentityFile(path, f); err != nil {
			return nil, false, err
		}
	}
	return id, created, nil
}

// readIdentityFile opens, checks and strictly decodes a key file.
func readIdentityFile(path string) (*identityFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("device: open key file: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("device: key file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("device: key file %s is not a regular file (mode %s)", path, st.Mode())
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("device: key file %s has mode %04o, which lets group or others access the device's secret keys; fix it with: chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(fh, maxIdentityFile+1))
	if err != nil {
		return nil, fmt.Errorf("device: read key file %s: %w", path, err)
	}
	if len(data) > maxIdentityFile {
		return nil, fmt.Errorf("device: key file %s is larger than %d bytes", path, maxIdentityFile)
	}
	var f identityFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("device: key file %s: %w", path, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("device: key file %s: unexpected data after the JSON object", path)
	}
	if f.Version != identityFileVersion {
		return nil, fmt.Errorf("device: key file %s has version %d; this build reads version %d", path, f.Version, identityFileVersion)
	}
	return &f, nil
}

// identity checks f's keys and builds an Identity. Errors never quote
// secret material.
func (f *identityFile) identity(path string) (*Identity, error) {
	if len(f.Ed25519Seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("device: key file %s: ed25519_seed is %d bytes, want %d", path, len(f.Ed25519Seed), ed25519.SeedSize)
	}
	id := &Identity{priv: ed25519.NewKeyFromSeed(f.Ed25519Seed)}
	sum := sha256.Sum256(id.priv.Public().(ed25519.PublicKey))
	id.id = strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:10]))
	if f.VaultX25519 != "" {
		v, err := age.ParseX25519Identity(f.VaultX25519)
		if err != nil {
			return nil, fmt.Errorf("device: key file %s: vault_x25519 is not an age X25519 identity (AGE-SECRET-KEY-1...)", path)
		}
		id.x25519 = v
	}
	if f.VaultHybrid != "" {
		v, err := age.ParseHybridIdentity(f.VaultHybrid)
		if err != nil {
			return nil, fmt.Errorf("device: key file %s: vault_hybrid is not an age post-quantum identity (AGE-SECRET-KEY-PQ-1...)", path)
		}
		id.hybrid = v
	}
	return id, nil
}

// writeIdentityFile replaces path atomically with mode 0600 (see
// atomicfile: the rename and the directory survive a power cut).
func writeIdentityFile(path string, f *identityFile) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("device: encode key file: %w", err)
	}
	if err := atomicfile.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("device: write key file: %w", err)
	}
	return nil
}

// ID returns the device ID: the lower-case base32 (no padding) of the first
// 10 bytes of SHA-256 of the Ed25519 public key, 16 characters long.
func (id *Identity) ID() string { return id.id }

// PublicKey returns the device's Ed25519 public key.
func (id *Identity) PublicKey() ed25519.PublicKey {
	return append(ed25519.PublicKey(nil), id.priv.Public().(ed25519.PublicKey)...)
}

// Sign signs msg with the device's Ed25519 key.
func (id *Identity) Sign(msg []byte) []byte { return ed25519.Sign(id.priv, msg) }

// VaultRecipient returns the age recipient of the vault key of family, or
// nil if the device has no vault key of that family yet
// (LoadOrCreateIdentity with that family creates it).
func (id *Identity) VaultRecipient(family consent.RecipientFamily) age.Recipient {
	switch {
	case family == consent.Classic && id.x25519 != nil:
		return id.x25519.Recipient()
	case family == consent.PostQuantum && id.hybrid != nil:
		return id.hybrid.Recipient()
	}
	return nil
}

// VaultIdentity returns the age identity of the vault key of family, or nil
// if the device has no vault key of that family yet.
func (id *Identity) VaultIdentity(family consent.RecipientFamily) age.Identity {
	switch {
	case family == consent.Classic && id.x25519 != nil:
		return id.x25519
	case family == consent.PostQuantum && id.hybrid != nil:
		return id.hybrid
	}
	return nil
}
