package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/consent/pairing"
	"github.com/doorward/doorward/device/atomicfile"
	"github.com/doorward/doorward/device/lanclient"
	"github.com/doorward/doorward/device/lantls"
)

// A pin file sits next to an owner key, named <owner.key>.devices.json,
// mode 0600. It maps each device ID paired (or enrolled) with that key to
// the device's Ed25519 identity key as learned through the pairing
// transcript, the URL last used, and the last audit checkpoint that
// "audit verify" accepted. Every command that talks to a device checks the
// key the device presents against this pin, and audit checkpoints are
// verified with the pinned key, never with whatever the device says now.
type pinFile map[string]*devicePin

type devicePin struct {
	// Key is the device identity key, consent.FormatIssuerKey form.
	Key string `json:"key"`
	URL string `json:"url"`
	// Name is the owner's name for the device (pair --name, devices
	// rename): --device takes it.
	Name string `json:"name,omitempty"`
	// Paired is when the pin was made.
	Paired time.Time `json:"paired"`
	// LastCheckpoint is the audit.SignedCheckpoint text last verified.
	LastCheckpoint string `json:"last_checkpoint,omitempty"`
	// Audit is what the next "audit verify" needs to check only what is
	// new since LastCheckpoint (at most 64 hashes and the pending
	// commitments).
	Audit *audit.VerifierState `json:"audit,omitempty"`
}

func pinPath(ownerKeyPath string) string { return ownerKeyPath + ".devices.json" }

// loadPins reads a pin file; a missing file is an empty one.
func loadPins(path string) (pinFile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return pinFile{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pins: %w", err)
	}
	var p pinFile
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("pins: %s is damaged: %v (it records the devices this key paired with; restore it from a backup or pair again)", path, err)
	}
	if p == nil {
		p = pinFile{}
	}
	for id, d := range p {
		if d == nil {
			return nil, fmt.Errorf("pins: %s: device %s has no entry", path, id)
		}
		key, err := consent.ParseIssuerKey(d.Key)
		if err != nil || pairing.DeviceID(key) != id {
			return nil, fmt.Errorf("pins: %s: the key pinned for device %s does not match its ID; the file was edited or damaged", path, id)
		}
	}
	return p, nil
}

// save writes the pin file atomically with mode 0600.
func (p pinFile) save(path string) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("pins: %w", err)
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o600)
}

// writeSecretFile writes a key file with mode 0600. Without force an
// existing file is never touched (the error wraps fs.ErrExist): the name is
// claimed with an exclusive create first; either way the content is
// installed atomically.
func writeSecretFile(path string, data []byte, force bool) error {
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		f.Close()
		if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
			os.Remove(path)
			return err
		}
		return nil
	}
	return atomicfile.WriteFile(path, data, 0o600)
}

// resolveDevice turns --device into the device's LAN URL: a URL is taken
// as it is; a device ID or a name is looked up in the pin file of keyPath;
// with no --device, the one device that key paired with. ("" keyPath: only
// a URL.)
func resolveDevice(device, keyPath string) (string, error) {
	if strings.Contains(device, "://") {
		return device, nil
	}
	_, pin, err := findPin(device, keyPath)
	if err != nil {
		return "", err
	}
	if pin.URL == "" {
		return "", fmt.Errorf("--device %s: the pin file knows no URL for it; give --device URL", device)
	}
	return pin.URL, nil
}

// resolveDeviceID is resolveDevice for a device reached by its ID (the
// relay, the broker): a name becomes its ID, no --device the only paired
// device's ID, and any other text is taken as an ID (the relay or broker
// answers for it).
func resolveDeviceID(device, keyPath string) (string, error) {
	if keyPath == "" || device != "" && !pinExists(keyPath) {
		if device == "" {
			return "", errors.New(`required flag "device" not set (the device ID)`)
		}
		return device, nil
	}
	id, _, err := findPin(device, keyPath)
	if err != nil && device != "" {
		return device, nil
	}
	return id, err
}

func pinExists(keyPath string) bool {
	_, err := os.Stat(pinPath(keyPath))
	return err == nil
}

// findPin finds device (an ID or a name; "" for the only one) among the
// devices keyPath paired with.
func findPin(device, keyPath string) (string, *devicePin, error) {
	if keyPath == "" {
		if device == "" {
			return "", nil, errors.New(`required flag "device" not set (a LAN URL such as https://192.168.1.20:8080)`)
		}
		return "", nil, fmt.Errorf("--device %s: a device ID or name needs -i, whose pin file knows the device; or give its LAN URL (https://...)", printable(device))
	}
	pp := pinPath(keyPath)
	pins, err := loadPins(pp)
	if err != nil {
		return "", nil, err
	}
	if device == "" {
		switch len(pins) {
		case 0:
			return "", nil, fmt.Errorf("--device: no device is paired with %s yet (no pin in %s); give --device URL, or pair first", keyPath, pp)
		case 1:
			for id, p := range pins {
				return id, p, nil
			}
		}
		return "", nil, fmt.Errorf("--device: %d devices are paired with %s (%s); say which with --device NAME or ID", len(pins), keyPath, strings.Join(pinNames(pins), ", "))
	}
	if p, ok := pins[device]; ok {
		return device, p, nil
	}
	for id, p := range pins {
		if p.Name == device {
			return id, p, nil
		}
	}
	return "", nil, fmt.Errorf("--device %s: not a URL, and no device paired with %s has that ID or name (doorwardctl devices -i %s lists them)", printable(device), keyPath, keyPath)
}

// pinNames lists the pinned devices as "name (id)" or "id", sorted.
func pinNames(pins pinFile) []string {
	var out []string
	for id, p := range pins {
		if p.Name != "" {
			out = append(out, p.Name+" ("+id+")")
		} else {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// loadOwner reads an owner key file written by keygen.
func loadOwner(path string) (*consent.OwnerKey, error) {
	if path == "" {
		return nil, errors.New(`required flag "identity" (-i owner.key) not set`)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("owner key: %w", err)
	}
	defer f.Close()
	k, err := consent.ParseOwnerKey(f)
	if err != nil {
		return nil, fmt.Errorf("owner key %s: %w (want a key from doorwardctl keygen)", path, err)
	}
	return k, nil
}

// errNotPaired: the owner key has no pin for the device (or for any
// device, over TLS). Only this error lets a command fall back to an
// unpinned connection (a grantee's key); a pin that does not match never
// does.
var errNotPaired = errors.New("not paired with this owner key")

// session is an owner talking to a device whose key matches the pin.
type session struct {
	client  *lanclient.Client
	owner   *consent.OwnerKey
	pins    pinFile
	pinPath string
	id      string
	key     ed25519.PublicKey
	pin     *devicePin
}

// connect loads the owner key and its pins, asks the device who it is and
// refuses unless the device presents the key pinned at pairing.
func connect(ctx context.Context, deviceURL, ownerPath string) (*session, error) {
	owner, err := loadOwner(ownerPath)
	if err != nil {
		return nil, err
	}
	if relay, device, ok := strings.Cut(deviceURL, relayMarker); ok {
		if device, err = resolveDeviceID(device, ownerPath); err != nil {
			return nil, err
		}
		return connectRelay(relay, device, ownerPath, owner)
	}
	if deviceURL, err = resolveDevice(deviceURL, ownerPath); err != nil {
		return nil, err
	}
	client, err := lanclient.New(deviceURL)
	if err != nil {
		return nil, err
	}
	pp := pinPath(ownerPath)
	pins, err := loadPins(pp)
	if err != nil {
		return nil, err
	}
	// Over TLS, accept only certificates signed by a device this key
	// paired with; checkPin then ties the certificate to the device that
	// answers.
	var keys []ed25519.PublicKey
	for _, p := range pins {
		if k, err := consent.ParseIssuerKey(p.Key); err == nil {
			keys = append(keys, k)
		}
	}
	if client.TLS() && len(keys) == 0 {
		return nil, fmt.Errorf("%w (no pin in %s); pair it first with doorwardctl pair", errNotPaired, pp)
	}
	client.Pin(keys...)
	id, key, pin, err := checkPin(ctx, client, pins, pp)
	if err != nil {
		return nil, err
	}
	return &session{client: client, owner: owner, pins: pins, pinPath: pp, id: id, key: key, pin: pin}, nil
}

// checkPin fetches /api/v1/info and compares the device key with the pin.
func checkPin(ctx context.Context, client *lanclient.Client, pins pinFile, pp string) (string, ed25519.PublicKey, *devicePin, error) {
	info, err := client.Info(ctx)
	if err != nil {
		return "", nil, nil, err
	}
	key, err := consent.ParseIssuerKey(info.DeviceKey)
	if err != nil {
		return "", nil, nil, fmt.Errorf("the device at %s sent a malformed device key: %v", client, err)
	}
	id := pairing.DeviceID(key)
	if id != info.DeviceID {
		return "", nil, nil, fmt.Errorf("DEVICE KEY MISMATCH: the device at %s claims ID %s but its key belongs to %s; refusing to talk to it", client, printable(info.DeviceID), id)
	}
	if pin, ok := pins[id]; ok {
		if pin.Key != consent.FormatIssuerKey(key) {
			return "", nil, nil, fmt.Errorf("DEVICE KEY MISMATCH for device %s at %s: it presents a key other than the one pinned in %s; refusing (someone may be impersonating it)", id, client, pp)
		}
		if client.TLS() {
			if err := lantls.VerifyCertificate(client.PeerCertificate(), key); err != nil {
				return "", nil, nil, fmt.Errorf("DEVICE KEY MISMATCH for device %s at %s: its TLS certificate is not signed by its pinned key; refusing (someone may be impersonating it)", id, client)
			}
		}
		return id, key, pin, nil
	}
	for pid, pin := range pins {
		if pin.URL == client.String() {
			return "", nil, nil, fmt.Errorf("DEVICE KEY MISMATCH at %s: you paired device %s there, but it now presents device %s with another key; refusing (someone may be impersonating it, or it was factory-reset: then pair it again)", client, pid, id)
		}
	}
	return "", nil, nil, fmt.Errorf("device %s at %s: %w (no pin in %s); pair it first with doorwardctl pair", id, client, errNotPaired, pp)
}

// ownerStatement signs claims of an owner-signed kind with the owner's key.
func (s *session) sign(kind string, claims any) ([]byte, error) {
	return consent.Sign(kind, claims, s.owner.SigningKey(), consent.KeyID(s.owner.SigningPublicKey()))
}

// claims returns the common claims of a statement for this device.
func (s *session) claims(lifetime time.Duration) consent.Claims {
	now := time.Now()
	return consent.Claims{
		ID:       consent.NewJTI(),
		Audience: s.id,
		IssuedAt: consent.NewNumericDate(now),
		Expiry:   consent.NewNumericDate(now.Add(lifetime)),
	}
}

// login returns a fresh login bearer for one owner-only request.
func (s *session) login() ([]byte, error) {
	return s.sign(consent.KindLogin, consent.LoginClaims{Claims: s.claims(5 * time.Minute)})
}

// ownerRead connects to the device as its owner and signs the single-use
// login that one owner read (notices, clips, status) carries; what names
// the command in errors.
func ownerRead(ctx context.Context, deviceURL, ownerPath, what string) (*session, []byte, error) {
	s, err := connect(ctx, deviceURL, ownerPath)
	if err != nil {
		return nil, nil, err
	}
	login, err := s.login()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	return s, login, nil
}

// statementLifetime is how long owner statements that act at once
// (revoke, enroll, policy, reset) stay valid.
const statementLifetime = 10 * time.Minute

// confirm asks question on stderr and reads y/yes from in. Anything else,
// EOF included, is no.
func confirm(in io.Reader, stderr io.Writer, question string) bool {
	fmt.Fprintf(stderr, "%s [y/N] ", question)
	line, _ := bufio.NewReader(in).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

// printable keeps text from a device or file to one printable line.
func printable(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i >= 200 {
			b.WriteString("…")
			break
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ownerFlags adds the two flags every owner command takes: --device (a
// LAN URL, a device ID or a name from the pin file; optional when the key
// paired with one device) and -i owner.key (required).
func ownerFlags(c *cobra.Command, deviceURL, ownerPath *string) {
	c.Flags().StringVar(deviceURL, "device", "", deviceUsage)
	relay := c.Flags().String("relay", "", "reach the device through this cloud relay `URL` (--device is then the device ID)")
	prev := c.PreRunE
	c.PreRunE = func(cmd *cobra.Command, args []string) error {
		if *relay != "" {
			*deviceURL = *relay + relayMarker + *deviceURL
		}
		if prev != nil {
			return prev(cmd, args)
		}
		return nil
	}
	c.Flags().StringVarP(ownerPath, "identity", "i", "", "your owner key `FILE`")
	c.MarkFlagRequired("identity")
}

// deviceUsage is the help of every --device that the pin file resolves.
const deviceUsage = "the `DEVICE`: its LAN URL, its ID or your name for it (doorwardctl devices lists them); optional when -i paired with one device (with --relay: its ID or name)"

// relayMarker joins --relay and --device into the one device string that
// connect takes.
const relayMarker = "\x00relay-device\x00"

// connectRelay makes a session through a relay: the device key comes from
// the pin made when pairing over the LAN (a relay cannot vouch for it).
func connectRelay(relayURL, device, ownerPath string, owner *consent.OwnerKey) (*session, error) {
	client, err := lanclient.NewRelay(relayURL, device)
	if err != nil {
		return nil, err
	}
	pp := pinPath(ownerPath)
	pins, err := loadPins(pp)
	if err != nil {
		return nil, err
	}
	pin, ok := pins[device]
	if !ok {
		return nil, fmt.Errorf("device %s is not paired with this owner key (no pin in %s); pair it on the LAN first with doorwardctl pair", device, pp)
	}
	key, err := consent.ParseIssuerKey(pin.Key)
	if err != nil {
		return nil, fmt.Errorf("pin file %s: device %s: %v", pp, device, err)
	}
	return &session{client: client, owner: owner, pins: pins, pinPath: pp, id: device, key: key, pin: pin}, nil
}
