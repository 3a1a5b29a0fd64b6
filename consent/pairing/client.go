package pairing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/doorward/doorward/consent"
)

// Client is the owner's side of pairing (doorwardctl pair). Use it in
// order: send Hello, pass the device's reply to CheckReply, show the
// returned policy and device ID to the owner, and only on their approval
// send Finish; then decode the device's Result and call Result.Err. Each
// Client makes one attempt. It is not safe for concurrent use.
type Client struct {
	keys       keys
	hashPolicy PolicyHasher
	signing    ed25519.PrivateKey
	hello      Hello
	step       int // 0: hello sent, 1: reply checked, -1: reply refused
	session    string
	transcript []byte
}

// NewClient returns a Client for the code the owner typed and the owner's
// key: the Hello carries the owner's signing public key and age recipient.
// hashPolicy computes the hash the device proposes from the policy bytes
// (see PolicyHasher); nil means PolicyHash, SHA-256 of the exact bytes.
func NewClient(secret Secret, owner *consent.OwnerKey, hashPolicy PolicyHasher) (*Client, error) {
	if secret.IsZero() {
		return nil, errors.New("pairing: no secret (the zero Secret); parse the code with ParseSecret")
	}
	if owner == nil {
		return nil, errors.New("pairing: no owner key")
	}
	ks, err := deriveKeys(secret)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, NonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("pairing: random: %w", err)
	}
	if hashPolicy == nil {
		hashPolicy = func(p []byte) ([32]byte, error) { return PolicyHash(p), nil }
	}
	return &Client{
		keys:       ks,
		hashPolicy: hashPolicy,
		signing:    owner.SigningKey(),
		hello: Hello{
			OwnerNonce:      nonce,
			OwnerKey:        owner.SigningPublicKey(),
			OwnerRecipients: []string{owner.RecipientString()},
		},
	}, nil
}

// Hello returns the first message to send to the device.
func (c *Client) Hello() Hello {
	return Hello{
		OwnerNonce:      slices.Clone(c.hello.OwnerNonce),
		OwnerKey:        slices.Clone(c.hello.OwnerKey),
		OwnerRecipients: slices.Clone(c.hello.OwnerRecipients),
	}
}

// CheckReply checks the device's reply before anything of it is shown:
// first the device's MAC over the transcript the client computes from its
// own Hello and the reply (hmac.Equal; ErrBadMAC when the device does not
// know the code or someone in between changed a field), then that the
// device ID derives from the device key and that the policy hashes to the
// policy hash and is JSON. It returns the policy to show the owner for
// approval and the device's identity, to show and to pin. A Client checks
// one reply only; after a refusal, Finish refuses too.
func (c *Client) CheckReply(r HelloReply) (policy []byte, dev DeviceInfo, err error) {
	if c.step != 0 {
		return nil, DeviceInfo{}, fmt.Errorf("%w: CheckReply was already called", ErrOrder)
	}
	c.step = -1
	if err := r.Validate(); err != nil {
		return nil, DeviceInfo{}, err
	}
	t := Transcript(TranscriptFields{
		OwnerNonce:      c.hello.OwnerNonce,
		DeviceNonce:     r.DeviceNonce,
		OwnerKey:        c.hello.OwnerKey,
		OwnerRecipients: c.hello.OwnerRecipients,
		DeviceKey:       r.DeviceKey,
		DeviceID:        r.DeviceID,
		PolicyHash:      [32]byte(r.PolicyHash),
	})
	if !hmac.Equal(r.DeviceMAC, mac(c.keys.device, t)) {
		return nil, DeviceInfo{}, errDeviceMAC
	}
	if want := DeviceID(r.DeviceKey); r.DeviceID != want {
		return nil, DeviceInfo{}, fmt.Errorf("pairing: the device's ID %q does not derive from its key (want %q)", truncate(r.DeviceID), want)
	}
	if !json.Valid(r.Policy) {
		return nil, DeviceInfo{}, errors.New("pairing: the device's proposed trust policy is not valid JSON")
	}
	h, err := c.hashPolicy(slices.Clone(r.Policy))
	if err != nil {
		return nil, DeviceInfo{}, fmt.Errorf("pairing: the device's proposed trust policy: %w", err)
	}
	if !bytes.Equal(h[:], r.PolicyHash) {
		return nil, DeviceInfo{}, errors.New("pairing: the device's policy does not match the policy hash it asks you to sign")
	}
	c.step = 1
	c.session = r.Session
	c.transcript = t
	return slices.Clone(r.Policy), DeviceInfo{Key: slices.Clone(r.DeviceKey), ID: r.DeviceID}, nil
}

// Finish returns the message that completes pairing: the owner's MAC over
// the transcript and the owner's signature over SignatureContext ‖
// transcript. Sending it is the owner's approval of the policy CheckReply
// returned. It refuses (ErrOrder) unless CheckReply succeeded.
func (c *Client) Finish() (Finish, error) {
	if c.step != 1 {
		return Finish{}, fmt.Errorf("%w: Finish needs a reply that CheckReply accepted", ErrOrder)
	}
	return c.finish(c.session, c.transcript), nil
}

func (c *Client) finish(session string, transcript []byte) Finish {
	return Finish{
		Session:   session,
		OwnerMAC:  mac(c.keys.owner, transcript),
		Signature: ed25519.Sign(c.signing, signedMessage(transcript)),
	}
}

// Transcript returns the transcript CheckReply accepted (nil before), for
// the owner's records.
func (c *Client) Transcript() []byte { return slices.Clone(c.transcript) }
