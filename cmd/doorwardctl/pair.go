package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/pairing"
	"github.com/doorward/doorward/device/backoff"
	"github.com/doorward/doorward/device/lanclient"
	"github.com/doorward/doorward/device/lantls"
)

func newPairCmd(stdout, stderr io.Writer) *cobra.Command {
	var deviceURL, code, ownerPath, name, uri string
	c := &cobra.Command{
		Use:   "pair (--uri URI | --device URL --code CODE) -i owner.key [--name NAME] [--yes]",
		Short: "Pair an unpaired device with your owner key",
		Long: `pair makes you the owner of an unpaired device. CODE is the one-time code
the device shows at start (or "doorward pair-code" prints). The code never
crosses the network: the device proves it knows it first, so a wrong code
or someone in between is caught before anything of yours is sent. pair then
shows the trust policy the device proposes (who may sign legal-process
tokens, and the limits on them) and asks you to approve it; your signature
over the pairing transcript is that approval. --yes approves without asking.

--uri takes the pairing URI the device's QR code holds (and "doorward
pair-code --uri" prints): doorward:pair?url=LAN_URL&code=CODE, both in one.

On success the device's identity key is pinned in <owner.key>.devices.json
(mode 0600): every later command checks the device against it.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name != "" {
				if err := checkDeviceName(name); err != nil {
					return err
				}
			}
			switch {
			case uri != "" && (deviceURL != "" || code != ""):
				return errors.New("pair: --uri holds the device's URL and the code: give it alone, or --device and --code")
			case uri != "":
				u, err := pairing.ParseURI(uri)
				if err != nil {
					return fmt.Errorf("pair: --uri: %w", err)
				}
				deviceURL, code = u.URL, u.Secret.Reveal()
			case deviceURL == "" || code == "":
				return errors.New(`pair: give --uri URI (from the device's QR code or "doorward pair-code --uri"), or --device URL and --code CODE`)
			}
			return runPair(cmd.Context(), func(q string) bool { return ask(cmd, stderr, q) }, stdout, stderr, deviceURL, code, ownerPath, name)
		},
	}
	c.Flags().StringVar(&uri, "uri", "", "the pairing `URI` (doorward:pair?url=...&code=...) from the device's QR code")
	c.Flags().StringVar(&deviceURL, "device", "", "the device's LAN `URL`, e.g. https://192.168.1.20:8080")
	c.Flags().StringVar(&code, "code", "", "the one-time pairing `CODE` the device shows")
	c.Flags().StringVarP(&ownerPath, "identity", "i", "", "your owner key `FILE` (from doorwardctl keygen)")
	yesFlag(c, "approve the proposed trust policy without asking")
	c.Flags().StringVar(&name, "name", "", "your `NAME` for the device (--device takes it later)")
	c.MarkFlagRequired("identity")
	return c
}

// hashPolicy is the pairing.PolicyHasher doorwardctl uses: it parses the
// proposed policy strictly, the same parse that shows it to the owner, so
// the owner signs the hash of exactly what was shown.
func hashPolicy(b []byte) ([32]byte, error) {
	p, err := decodePolicyJSON(b)
	if err != nil {
		return [32]byte{}, err
	}
	return p.Hash(), nil
}

func decodePolicyJSON(b []byte) (consent.Policy, error) {
	var p consent.Policy
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return consent.Policy{}, fmt.Errorf("the device's trust policy does not decode: %v", err)
	}
	if dec.More() {
		return consent.Policy{}, errors.New("the device's trust policy has data after the JSON object")
	}
	return p, nil
}

func runPair(ctx context.Context, ask func(question string) bool, stdout, stderr io.Writer, deviceURL, code, ownerPath, name string) error {
	secret, err := pairing.ParseSecret(code)
	if err != nil {
		return fmt.Errorf("pair: --code: %w", err)
	}
	owner, err := loadOwner(ownerPath)
	if err != nil {
		return err
	}
	pp := pinPath(ownerPath)
	pins, err := loadPins(pp)
	if err != nil {
		return err
	}
	for id, p := range pins {
		if name != "" && p.Name == name {
			return fmt.Errorf("pair: --name %s: device %s already has that name (doorwardctl devices lists them)", name, id)
		}
	}
	client, err := lanclient.New(deviceURL)
	if err != nil {
		return err
	}
	pc, err := pairing.NewClient(secret, owner, hashPolicy)
	if err != nil {
		return fmt.Errorf("pair: %w", err)
	}
	reply, err := client.PairHello(ctx, pc.Hello())
	if err != nil {
		return fmt.Errorf("pair: %w", err)
	}
	policyJSON, dev, err := pc.CheckReply(reply)
	if errors.Is(err, pairing.ErrBadMAC) {
		return fmt.Errorf("pair: the device at %s did not prove it knows the code: the code is wrong, or someone in between changed a message; nothing was approved or installed", client)
	}
	if err != nil {
		return fmt.Errorf("pair: the device's reply does not check: %w; nothing was approved or installed", err)
	}
	// Pairing ran over TLS without a pin; the transcript has now proved
	// the device's identity key, and the certificate of this connection
	// must be one that key signed: otherwise something in between
	// terminated TLS and relayed the exchange.
	if client.TLS() {
		if err := lantls.VerifyCertificate(client.PeerCertificate(), dev.Key); err != nil {
			return fmt.Errorf("pair: the TLS certificate at %s is not signed by the device key that pairing proved: someone in between (a man in the middle) relayed the exchange; nothing was approved or installed", client)
		}
	}
	policy, err := decodePolicyJSON(policyJSON)
	if err != nil {
		return fmt.Errorf("pair: %w", err)
	}
	fmt.Fprintf(stdout, "device:     %s\ndevice key: %s\n\nThe device proposes this trust policy for legal-process tokens:\n\n", dev.ID, consent.FormatIssuerKey(dev.Key))
	fmt.Fprint(stdout, formatPolicy(policy))
	fmt.Fprintln(stdout)
	if !ask("Pair with this device and approve this trust policy?") {
		return errors.New("pair: not approved; nothing was sent to the device")
	}
	fin, err := pc.Finish()
	if err != nil {
		return fmt.Errorf("pair: %w", err)
	}
	res, err := finishPairing(ctx, stderr, client, fin)
	if err != nil {
		return fmt.Errorf("pair: %w", err)
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("pair: the device refused: %w", err)
	}
	pins[dev.ID] = &devicePin{Key: consent.FormatIssuerKey(dev.Key), URL: client.String(), Name: name, Paired: time.Now().UTC().Truncate(time.Second)}
	if err := pins.save(pp); err != nil {
		return fmt.Errorf("pair: paired, but the device key could not be pinned in %s: %w", pp, err)
	}
	fmt.Fprintf(stdout, "paired with device %s; its key is pinned in %s\n", dev.ID, pp)
	return nil
}

// finishPairing sends Finish, and sends it again while the device slows
// down after someone else's failed attempts (429 slow_down): the session
// stays open on the device for pairing.SessionTTL.
func finishPairing(ctx context.Context, stderr io.Writer, client *lanclient.Client, fin pairing.Finish) (pairing.Result, error) {
	bo := backoff.New(backoff.Policy{Min: pairing.SlowDownMin, Max: pairing.SlowDownMax, Jitter: 0.2})
	deadline := time.Now().Add(pairing.SessionTTL - 10*time.Second)
	for {
		res, err := client.PairFinish(ctx, fin)
		if !errors.Is(err, pairing.ErrSlowDown) || time.Now().After(deadline) {
			return res, err
		}
		fmt.Fprintln(stderr, "the device is slowing down after failed pairing attempts (someone else's?); trying again")
		if err := bo.Wait(ctx); err != nil {
			return res, err
		}
	}
}

func newEnrollCmd(stdout io.Writer) *cobra.Command {
	var deviceURL, ownerPath, newPath string
	c := &cobra.Command{
		Use:   "enroll --device URL -i owner.key --new NEW_OWNER.key",
		Short: "Add another owner key (e.g. a second phone) to a paired device",
		Long: `enroll adds the owner key in NEW_OWNER.key (from doorwardctl keygen) to the
device, with a statement signed by your enrolled key -i. The new key can
then sign grants, read notices and verify the audit log; clips recorded
from now on are also encrypted to it. The device's pin is copied to
NEW_OWNER.key's pin file.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := connect(ctx, deviceURL, ownerPath)
			if err != nil {
				return err
			}
			nk, err := loadOwner(newPath)
			if err != nil {
				return fmt.Errorf("enroll: --new: %w", err)
			}
			if nk.Family() != s.owner.Family() {
				return fmt.Errorf("enroll: --new %s is a %s key but %s is %s; a device keeps to one key family", newPath, nk.Family(), ownerPath, s.owner.Family())
			}
			jws, err := s.sign(consent.KindEnroll, consent.EnrollClaims{
				Claims:    s.claims(statementLifetime),
				Key:       consent.FormatIssuerKey(nk.SigningPublicKey()),
				Recipient: nk.RecipientString(),
			})
			if err != nil {
				return fmt.Errorf("enroll: %w", err)
			}
			kid, err := s.client.Enroll(ctx, jws)
			var ae *lanclient.APIError
			already := errors.As(err, &ae) && ae.Reason == "already-enrolled"
			if already {
				// Nothing changed on the device; the pin for the key
				// is (re)written below, so a lost pin file is mended.
				kid, err = consent.KeyID(nk.SigningPublicKey()), nil
				fmt.Fprintf(stdout, "key %s is already enrolled; nothing changed on the device\n", kid)
			}
			if err != nil {
				return fmt.Errorf("enroll: %w", err)
			}
			np := pinPath(newPath)
			npins, err := loadPins(np)
			if err != nil {
				return fmt.Errorf("enroll: enrolled, but: %w", err)
			}
			pin := *s.pin
			pin.Paired = time.Now().UTC().Truncate(time.Second)
			npins[s.id] = &pin
			if err := npins.save(np); err != nil {
				return fmt.Errorf("enroll: enrolled, but the device could not be pinned in %s: %w", np, err)
			}
			if already {
				fmt.Fprintf(stdout, "device %s pinned in %s\n", s.id, np)
				return nil
			}
			fmt.Fprintf(stdout, "enrolled key %s on device %s; pinned in %s\n", printable(kid), s.id, np)
			return nil
		},
	}
	ownerFlags(c, &deviceURL, &ownerPath)
	c.Flags().StringVar(&newPath, "new", "", "the new owner key `FILE` to enroll")
	c.MarkFlagRequired("new")
	return c
}

func newResetCmd(stdout, stderr io.Writer) *cobra.Command {
	var deviceURL, ownerPath string
	c := &cobra.Command{
		Use:   "reset --device URL -i owner.key [--yes]",
		Short: "Factory-reset a device: erase its keys, clips and state",
		Long: `reset sends an owner-signed factory reset. The device erases its identity,
its clips, its audit log and its owners, and comes back unpaired at the
same address, with a new identity, without a restart. Copies
of clips you already hold stay readable with your key. Asks first unless
--yes. The device's pin is removed from your pin file.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := connect(ctx, deviceURL, ownerPath)
			if err != nil {
				return err
			}
			if !ask(cmd, stderr, fmt.Sprintf("Erase device %s: every clip, key and log on it?", s.id)) {
				return errors.New("reset: not confirmed; nothing was sent")
			}
			jws, err := s.sign(consent.KindReset, consent.ResetClaims{Claims: s.claims(statementLifetime)})
			if err != nil {
				return fmt.Errorf("reset: %w", err)
			}
			if err := s.client.Reset(ctx, jws); err != nil {
				return fmt.Errorf("reset: %w", err)
			}
			delete(s.pins, s.id)
			if err := s.pins.save(s.pinPath); err != nil {
				return fmt.Errorf("reset: the device is resetting, but its pin could not be removed from %s: %w", s.pinPath, err)
			}
			fmt.Fprintf(stdout, "device %s is erasing itself; it comes back unpaired at %s in a few seconds, with a new identity: pair it again with doorwardctl pair\n", s.id, s.client)
			return nil
		},
	}
	ownerFlags(c, &deviceURL, &ownerPath)
	yesFlag(c, "do not ask for confirmation")
	return c
}
