package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/doorward/doorward/capture/vault/clipfile"
	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/uplink/wire"
)

func newFetchCmd(stdout, stderr io.Writer) *cobra.Command {
	var relayURL, device, jti, out, clipID, grantID string
	var identityFiles []string
	var force bool
	c := &cobra.Command{
		Use:   "fetch (--device URL --clip ID -i owner.key | --device URL --grant ID -i grantee.key | --relay URL --device ID (--disclosure JTI -i KEY | --clip ID -i owner.key)) -o OUT.mp4",
		Short: "Download a clip from the device, a grant's disclosure as its grantee, or a disclosure or backed-up clip from the relay's store, and decrypt it into an MP4",
		Long: `With --clip, fetch downloads a clip from the device's LAN API as the owner
(each request carries a new single-use login signed with owner.key): every
piece travels as the age ciphertext stored on the device and is decrypted
here, on your computer, into OUT. Progress is shown on a terminal.

With --grant, you are the grantee: the owner made the grant for your
contact (doorwardctl keygen prints it), and fetch downloads from the
device's LAN API what the grant disclosed, proving with KEY that you hold
the contact's signing key: each request carries its own statement, signed
by that key, good for that one request only (a refusal is in the device's
audit log). The pieces are re-wrapped for you alone and decrypted here
into OUT (several clips: OUT-<clip>.mp4 each).

With --disclosure, fetch asks the relay for the disclosure's manifest, downloads every object,
checks each one's SHA-256 against the checksum the store verified on upload,
and decrypts the clip into one playable MP4 with KEY: any age identity file
that the disclosure was made for (a grantee's or agency's stock age-keygen
key, or an owner key). When the disclosure holds several clips, each is
written next to OUT as OUT-<clip>.mp4. Ciphertext is downloaded into a
temporary directory; the MP4 appears only once fully decrypted.

With --relay and --clip, fetch downloads a clip of the owners' cloud backup
(doorwardctl backup on; backup list shows the clips) from the relay's store
the same way: each object's SHA-256 is checked, and the clip decrypts with
an owner key alone. The relay gives the clip's manifest only to an owner:
the request carries a new single-use login signed with owner.key, which
the relay has the device check (a device that paired with the key, pinned).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkVideoOutput(out, force); err != nil {
				return fmt.Errorf("fetch: %w", err)
			}
			if relayURL != "" && len(identityFiles) > 0 {
				// An owner's name for the device, or its only device.
				if id, err := resolveDeviceID(device, identityFiles[0]); err == nil {
					device = id
				}
			}
			if grantID != "" {
				if relayURL != "" || jti != "" || clipID != "" || device == "" || len(identityFiles) != 1 {
					return fmt.Errorf("fetch: --grant takes --device URL (the device's LAN URL) and one -i KEY (the key whose contact the grant was made for), not --relay, --disclosure or --clip")
				}
				return fetchGrant(cmd.Context(), device, identityFiles[0], grantID, out, stdout, stderr)
			}
			if clipID != "" && relayURL != "" {
				if jti != "" || device == "" {
					return fmt.Errorf("fetch: --relay URL --clip ID takes --device ID (the device's ID) and -i owner.key, not --disclosure")
				}
				ids, err := readIdentities(identityFiles)
				if err != nil {
					return err
				}
				if wire.CheckDeviceID(device) != nil || wire.CheckRequestID(clipID) != nil {
					return fmt.Errorf("fetch: --device must be a device ID and --clip a clip ID (doorwardctl backup list --relay URL --device ID -i owner.key lists the backed-up clips)")
				}
				ctx := cmd.Context()
				s, err := relayOwner(ctx, relayURL, device, identityFiles, "fetch")
				if err != nil {
					return err
				}
				login, err := s.login()
				if err != nil {
					return fmt.Errorf("fetch: %w", err)
				}
				m, err := fetchManifest(ctx, relayURL, "/v1/devices/"+device+"/backup/"+clipID, loginHeader(login), "the backup of clip "+clipID)
				if err != nil {
					return err
				}
				return fetchObjects(ctx, m, device+"/backup/", clipID, ids, identityFiles, out, force, stdout, stderr)
			}
			if clipID != "" {
				if jti != "" {
					return fmt.Errorf("fetch: --clip takes --device (the device's LAN URL, ID or name) and -i owner.key, not --disclosure")
				}
				if len(identityFiles) != 1 {
					return fmt.Errorf("fetch: --clip takes one -i owner.key")
				}
				return fetchClip(cmd.Context(), device, identityFiles[0], clipID, out, stdout, stderr)
			}
			if relayURL == "" || jti == "" || device == "" {
				return fmt.Errorf("fetch: give --device URL --clip ID (from the device), or --relay URL --device ID --disclosure JTI (from the relay)")
			}
			ids, err := readIdentities(identityFiles)
			if err != nil {
				return err
			}
			if wire.CheckDeviceID(device) != nil || wire.CheckRequestID(jti) != nil {
				return fmt.Errorf("fetch: --device must be a device ID and --disclosure a disclosure ID (the grant's or token's jti)")
			}
			ctx := cmd.Context()
			m, err := fetchManifest(ctx, relayURL, "/v1/devices/"+device+"/disclosures/"+jti, "", "disclosure "+jti)
			if err != nil {
				return err
			}
			return fetchObjects(ctx, m, device+"/disclosures/"+jti+"/", "", ids, identityFiles, out, force, stdout, stderr)
		},
	}
	c.Flags().StringVar(&relayURL, "relay", "", "the relay's `URL`")
	c.Flags().StringVar(&device, "device", "", deviceUsage)
	c.Flags().StringVar(&clipID, "clip", "", "fetch this clip `ID` from the device's LAN API (doorwardctl clips lists them), or with --relay from the owners' cloud backup")
	c.Flags().StringVar(&grantID, "grant", "", "as its grantee, fetch what grant `ID` disclosed from the device's LAN API (-i: the key whose contact the grant names)")
	c.Flags().StringVar(&jti, "disclosure", "", "the disclosure's `JTI` (the grant's or token's ID)")
	c.Flags().StringArrayVarP(&identityFiles, "identity", "i", nil, "age identity `FILE` (repeatable)")
	outputFlags(c, &out, &force, "the MP4")
	for _, f := range []string{"identity", "output"} {
		c.MarkFlagRequired(f)
	}
	return c
}

var fetchHTTP = &http.Client{Timeout: 10 * time.Minute}

// fetchObjects downloads a manifest's objects, all under prefix and then
// <clip>/<piece> (only clip when it is set), checking each one's SHA-256,
// and decrypts each clip with ids into out (OUT-<clip>.mp4 when there are
// several).
func fetchObjects(ctx context.Context, m wire.Manifest, prefix, only string, ids []age.Identity, identityFiles []string, out string, force bool, stdout, stderr io.Writer) error {
	tmp, err := os.MkdirTemp("", "doorwardctl-fetch-")
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	defer os.RemoveAll(tmp)
	var clips []string
	var total int64
	for _, o := range m.Objects {
		total += o.Size
	}
	progress := isTerminalWriter(stderr)
	var done int64
	for i, o := range m.Objects {
		rest, ok := strings.CutPrefix(o.Object, prefix)
		clip, piece, ok2 := strings.Cut(rest, "/")
		if !ok || !ok2 || wire.CheckRequestID(clip) != nil || strings.Contains(piece, "/") || strings.HasPrefix(piece, ".") || (only != "" && clip != only) {
			return fmt.Errorf("fetch: the manifest names object %q outside %s%s", o.Object, prefix, only)
		}
		if len(clips) == 0 || clips[len(clips)-1] != clip {
			clips = append(clips, clip)
			os.MkdirAll(filepath.Join(tmp, clip), 0o700)
		}
		piece = strings.TrimPrefix(piece, "000000-") // the init segment sorts first in the store
		if err := download(ctx, o, filepath.Join(tmp, clip, piece)); err != nil {
			return err
		}
		done += o.Size
		if progress {
			fmt.Fprintf(stderr, "\rfetched %d/%d objects, %.1f/%.1f MB", i+1, len(m.Objects), float64(done)/1e6, float64(total)/1e6)
		}
	}
	if progress {
		fmt.Fprintln(stderr)
	}
	if out == "-" && len(clips) > 1 {
		return fmt.Errorf("fetch: %s holds %d clips, one MP4 each: give -o a file name, not -", strings.TrimSuffix(prefix, "/"), len(clips))
	}
	for _, clip := range clips {
		name := out
		if len(clips) > 1 {
			name = strings.TrimSuffix(out, filepath.Ext(out)) + "-" + clip + filepath.Ext(out)
			if err := checkVideoOutput(name, force); err != nil {
				return fmt.Errorf("fetch: %w", err)
			}
		}
		dir := filepath.Join(tmp, clip)
		if err := writeStream(name, stdout, func(w io.Writer) error {
			return explainDecrypt(clipfile.DecryptClip(dir, ids, w), identityFiles, clip)
		}); err != nil {
			return err
		}
		if name != "-" {
			fmt.Fprintln(stdout, name)
		}
	}
	return nil
}

// fetchManifest GETs the manifest at path on the relay (auth: the
// Authorization header, "" for none); what names it in errors.
func fetchManifest(ctx context.Context, relayURL, path, auth, what string) (wire.Manifest, error) {
	var m wire.Manifest
	if err := relayGet(ctx, relayURL, path, auth, "fetch", "manifest", &m); err != nil {
		return m, err
	}
	if len(m.Objects) == 0 {
		return m, fmt.Errorf("fetch: %s holds no objects yet", what)
	}
	return m, nil
}

// relayGet GETs path on the relay with auth as its Authorization ("" for
// none) and decodes the JSON answer into out; cmd and what name the
// command and the answer in errors. A refusal reads as the relay's (or,
// passed through, the device's) reason and text.
func relayGet(ctx context.Context, relayURL, path, auth, cmd, what string, out any) error {
	base, err := url.Parse(strings.TrimSuffix(relayURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("%s: --relay %q is not an http(s) URL", cmd, printable(relayURL))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String()+path, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := fetchHTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s: cannot reach the relay: %w", cmd, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		if json.Unmarshal(body, &e) == nil && e.Reason != "" {
			return fmt.Errorf("%s: refused (%d %s): %s", cmd, resp.StatusCode, printable(e.Reason), printable(e.Error))
		}
		return fmt.Errorf("%s: the relay answered %s: %s", cmd, resp.Status, printable(strings.TrimSpace(string(body))))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s: the relay's %s does not decode: %w", cmd, what, err)
	}
	return nil
}

// relayOwner connects through the relay as the owner whose key is the
// first of files that is an owner key: the relay serves the owners' backup
// only with a fresh owner login, which it has the device check. cmd names
// the command in errors.
func relayOwner(ctx context.Context, relayURL, device string, files []string, cmd string) (*session, error) {
	for _, f := range files {
		if _, err := loadOwner(f); err == nil {
			s, err := connect(ctx, relayURL+relayMarker+device, f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", cmd, err)
			}
			return s, nil
		}
	}
	return nil, fmt.Errorf("%s: the relay serves the owners' backup only with an owner login that the device checks, and none of %s is an owner key: give -i owner.key (the key from doorwardctl keygen that paired with the device)", cmd, strings.Join(files, ", "))
}

// loginHeader renders a login statement as an Authorization header value
// (compact JSON: a header holds no line breaks).
func loginHeader(login []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, login); err != nil {
		return api.LoginScheme + " " + string(login)
	}
	return api.LoginScheme + " " + b.String()
}

// download fetches one object and checks its SHA-256.
func download(ctx context.Context, o wire.ManifestObject, path string) error {
	if o.SHA256 == "" {
		return fmt.Errorf("fetch: the manifest gives no SHA-256 for %s, so it cannot be checked", o.Object)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.URL, nil)
	if err != nil {
		return fmt.Errorf("fetch: %s: %w", o.Object, err)
	}
	resp, err := fetchHTTP.Do(req)
	if err != nil {
		return fmt.Errorf("fetch: %s: %w", o.Object, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch: %s: the store answered %s", o.Object, resp.Status)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), resp.Body); err != nil {
		return fmt.Errorf("fetch: %s: %w", o.Object, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != o.SHA256 {
		return fmt.Errorf("fetch: %s: SHA-256 %s does not match the manifest's %s (corrupted in transit or in the store)", o.Object, got, o.SHA256)
	}
	return f.Close()
}

// isTerminalWriter reports whether w is a terminal.
func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
