package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/doorward/doorward/capture/vault/clipfile"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/lanclient"
)

// fetchGrant downloads, as the grantee of grant, what it disclosed on the
// device, and decrypts it with the grantee's key into out (one clip), or
// out-<clip>.mp4 next to it (several). Each request carries its own fetch
// statement, signed with the key the grant names (the contact's), single
// use and bound to that request. The ciphertext goes to a temporary
// directory; each MP4 appears only once fully decrypted.
func fetchGrant(ctx context.Context, deviceURL, keyPath, grant, out string, stdout, stderr io.Writer) error {
	key, deviceID, client, err := liveViewer(ctx, "", deviceURL, keyPath)
	if err != nil {
		return err
	}
	ids, err := readIdentities([]string{keyPath})
	if err != nil {
		return err
	}
	pub := key.Public().(ed25519.PublicKey)
	sign := func(path string) ([]byte, error) {
		now := time.Now()
		return consent.Sign(consent.KindFetch, consent.FetchClaims{
			Claims: consent.Claims{ID: consent.NewJTI(), Audience: deviceID, IssuedAt: consent.NewNumericDate(now), Expiry: consent.NewNumericDate(now.Add(5 * time.Minute))},
			Grant:  grant, Request: "GET " + path,
		}, key, consent.KeyID(pub))
	}
	st, err := sign(lanclient.GrantDisclosuresPath(grant))
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	list, err := client.GrantDisclosures(ctx, st, grant)
	if err != nil {
		return fmt.Errorf("fetch: grant %s: %w", printable(grant), err)
	}
	if len(list.Clips) == 0 {
		return fmt.Errorf("fetch: grant %s has disclosed nothing on device %s yet (when the device has an uplink, its disclosures are in the relay's store: fetch --relay URL --device %s --disclosure %s)", printable(grant), deviceID, deviceID, printable(grant))
	}
	if out == "-" && len(list.Clips) > 1 {
		return fmt.Errorf("fetch: grant %s disclosed %d clips: -o - takes one; give -o OUT.mp4 (each clip is written as OUT-<clip>.mp4)", printable(grant), len(list.Clips))
	}
	if list.Strict {
		fmt.Fprintln(stderr, "doorwardctl: the device is in strict mode: what it disclosed opens only with its owners' keys")
	}
	tmp, err := os.MkdirTemp("", "doorwardctl-fetch-")
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	defer os.RemoveAll(tmp)
	var total, done int64
	pieces := 0
	for _, c := range list.Clips {
		for _, p := range c.Pieces {
			total += p.Size
			pieces++
		}
	}
	progress := isTerminalWriter(stderr)
	n := 0
	for _, c := range list.Clips {
		if !safePathElement(c.Clip) {
			return fmt.Errorf("fetch: the device names a clip %q that is not a plain name", printable(c.Clip))
		}
		dir := filepath.Join(tmp, c.Clip)
		if err := os.Mkdir(dir, 0o700); err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
		for _, p := range c.Pieces {
			if !safePathElement(p.Name) || !strings.HasSuffix(p.Name, ".age") {
				return fmt.Errorf("fetch: the device names a piece %q that is not a plain .age file name", printable(p.Name))
			}
			st, err := sign(lanclient.GrantPiecePath(grant, c.Clip, p.Name))
			if err != nil {
				return fmt.Errorf("fetch: %w", err)
			}
			f, err := os.OpenFile(filepath.Join(dir, p.Name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("fetch: %w", err)
			}
			err = client.GrantPiece(ctx, st, grant, c.Clip, p, f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("fetch: grant %s clip %s piece %s: %w", printable(grant), printable(c.Clip), printable(p.Name), err)
			}
			n++
			done += p.Size
			if progress {
				fmt.Fprintf(stderr, "\rfetched %d/%d pieces, %.1f/%.1f MB", n, pieces, float64(done)/1e6, float64(total)/1e6)
			}
		}
	}
	if progress {
		fmt.Fprintln(stderr)
	}
	for _, c := range list.Clips {
		name := out
		if len(list.Clips) > 1 {
			name = strings.TrimSuffix(out, filepath.Ext(out)) + "-" + c.Clip + filepath.Ext(out)
		}
		dir := filepath.Join(tmp, c.Clip)
		if out == "-" {
			return explainDecrypt(clipfile.DecryptClip(dir, ids, stdout), []string{keyPath}, c.Clip)
		}
		if err := writeAtomically(name, func(w io.Writer) error {
			return explainDecrypt(clipfile.DecryptClip(dir, ids, w), []string{keyPath}, c.Clip)
		}); err != nil {
			return err
		}
		fmt.Fprintln(stdout, name)
	}
	if list.Following {
		fmt.Fprintln(stderr, "doorwardctl: the grant still follows the camera: fetch again later for what is recorded next")
	}
	return nil
}

// safePathElement reports whether s can name a file in a directory of
// ours: no separator, not "." or "..", nothing hidden.
func safePathElement(s string) bool {
	return s != "" && len(s) <= 128 && !strings.ContainsAny(s, `/\`+"\x00") && !strings.HasPrefix(s, ".")
}
