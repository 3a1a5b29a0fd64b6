package pairing_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/pairing"
	"github.com/doorward/doorward/device/clock"
)

// hashPolicy parses a trust policy as the owner will see it and returns its
// canonical hash, consent.Policy.Hash. doorwardctl uses its own strict parse.
func hashPolicy(b []byte) ([32]byte, error) {
	var p consent.Policy
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return [32]byte{}, err
	}
	return p.Hash(), nil
}

// Example shows a full exchange as the agent's endpoints and doorwardctl
// pair will run it, with the HTTP bodies as JSON.
func Example() {
	// Device: an unpaired agent makes a secret and a Pairer, and shows
	// secret.Reveal() and secret.QR() on the terminal.
	devPub, _, _ := ed25519.GenerateKey(rand.Reader)
	dev := pairing.DeviceInfo{Key: devPub, ID: pairing.DeviceID(devPub)}
	secret, err := pairing.NewSecret()
	if err != nil {
		log.Fatal(err)
	}
	policy := []byte(`{"issuers":[],"quorum":{}}`)
	policyHash, err := hashPolicy(policy)
	if err != nil {
		log.Fatal(err)
	}
	pairer, err := pairing.NewPairer(secret, dev, policy, policyHash, clock.Real{})
	if err != nil {
		log.Fatal(err)
	}
	display := secret.Reveal() // the one place the code is shown

	// Client: doorwardctl pair --code CODE -i owner.key
	code, err := pairing.ParseSecret(display)
	if err != nil {
		log.Fatal(err)
	}
	owner, _ := consent.GenerateOwnerKey(false)
	client, err := pairing.NewClient(code, owner, hashPolicy)
	if err != nil {
		log.Fatal(err)
	}
	helloBody, _ := json.Marshal(client.Hello())

	// Device: POST hello.
	hello, err := pairing.DecodeHello(bytes.NewReader(helloBody))
	if err != nil {
		log.Fatal(err) // 400
	}
	reply, err := pairer.Hello(hello)
	if err != nil {
		log.Fatal(err) // 403 with pairing.ResultFor(err)
	}
	replyBody, _ := json.Marshal(reply)

	// Client: check the device's proof before showing anything.
	r, err := pairing.DecodeHelloReply(bytes.NewReader(replyBody))
	if err != nil {
		log.Fatal(err)
	}
	shownPolicy, device, err := client.CheckReply(r)
	if err != nil {
		log.Fatal(err) // pairing.ErrBadMAC: wrong code, or someone in between
	}
	fmt.Printf("device %v proposes %s\n", device.ID == dev.ID, shownPolicy)
	// ... the owner approves, then:
	fin, err := client.Finish()
	if err != nil {
		log.Fatal(err)
	}
	finBody, _ := json.Marshal(fin)

	// Device: POST finish. Install the owner only on success.
	f, err := pairing.DecodeFinish(bytes.NewReader(finBody))
	if err != nil {
		log.Fatal(err)
	}
	installed, err := pairer.Finish(f)
	resultBody, _ := json.Marshal(pairing.ResultFor(err))
	if err == nil {
		fmt.Println("installed owner:", installed.Recipients[0] == owner.RecipientString())
	}

	// Client: read the result; pin device.Key for every later call.
	res, err := pairing.DecodeResult(bytes.NewReader(resultBody))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("result:", string(resultBody), res.Err())

	// The device pairs once.
	_, err = pairer.Hello(client.Hello())
	fmt.Println(err)
	// Output:
	// device true proposes {"issuers":[],"quorum":{}}
	// installed owner: true
	// result: {"ok":true} <nil>
	// pairing: the device is already paired; a factory reset is needed to pair again
}

// ExampleSecret shows what may and may not print a secret.
func ExampleSecret() {
	_, err := pairing.ParseSecret("MFRG-GZDF-MZTW-Q2LK-NNWG-23TP-OBY0")
	fmt.Println(err)
	s, _ := pairing.NewSecret()
	fmt.Printf("%v %s %+v\n", s, s, s)
	fmt.Println(len(s.Reveal())) // only where the code is meant to be shown
	// Output:
	// pairing: malformed pairing code: character 28 is '0' (a zero; the code uses the letter O); a code has only the letters A-Z and the digits 2-7, in groups of four
	// [redacted] [redacted] [redacted]
	// 34
}
