package pairing_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/pairing"
	"github.com/doorward/doorward/device/clock/clocktest"
)

const testPolicy = `{"issuers":[{"name":"court","role":"judge","public_key":"x"}],
 "quorum": {"judge": 1, "police": 1}}`

type fixture struct {
	secret pairing.Secret
	dev    pairing.DeviceInfo
	devKey ed25519.PrivateKey
	owner  *consent.OwnerKey
	clk    *clocktest.Fake
	p      *pairing.Pairer
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		secret: mustSecret(t),
		dev:    pairing.DeviceInfo{Key: pub, ID: pairing.DeviceID(pub)},
		devKey: priv,
		owner:  ownerKey(t),
		clk:    clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)),
	}
	f.p, err = pairing.NewPairer(f.secret, f.dev, []byte(testPolicy), pairing.PolicyHash([]byte(testPolicy)), f.clk)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func ownerKey(t testing.TB) *consent.OwnerKey {
	t.Helper()
	k, err := consent.GenerateOwnerKey(false)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func client(t testing.TB, s pairing.Secret, k *consent.OwnerKey) *pairing.Client {
	t.Helper()
	c, err := pairing.NewClient(s, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wire sends a message through JSON and the strict decoder, as the HTTP
// layer will.
func wire[T any](t testing.TB, v T, decode func(*bytes.Reader) (T, error)) T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return out
}

func decHello(r *bytes.Reader) (pairing.Hello, error)      { return pairing.DecodeHello(r) }
func decReply(r *bytes.Reader) (pairing.HelloReply, error) { return pairing.DecodeHelloReply(r) }
func decFinish(r *bytes.Reader) (pairing.Finish, error)    { return pairing.DecodeFinish(r) }
func decResult(r *bytes.Reader) (pairing.Result, error)    { return pairing.DecodeResult(r) }
func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func TestRightCodePairs(t *testing.T) {
	f := newFixture(t)
	// the owner types the code as shown, in lower case
	typed, err := pairing.ParseSecret(strings.ToLower(f.secret.Reveal()))
	if err != nil {
		t.Fatal(err)
	}
	c := client(t, typed, f.owner)
	reply, err := f.p.Hello(wire(t, c.Hello(), decHello))
	if err != nil {
		t.Fatal(err)
	}
	policy, dev, err := c.CheckReply(wire(t, reply, decReply))
	if err != nil {
		t.Fatalf("CheckReply: %v", err)
	}
	if string(policy) != testPolicy {
		t.Errorf("policy shown = %q, want the exact bytes the device proposed", policy)
	}
	if !dev.Key.Equal(f.dev.Key) || dev.ID != f.dev.ID {
		t.Errorf("device = %+v, want %+v", dev, f.dev)
	}
	fin, err := c.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if f.p.Paired() {
		t.Fatal("paired before Finish")
	}
	owner, err := f.p.Finish(wire(t, fin, decFinish))
	res := wire(t, pairing.ResultFor(err), decResult)
	if err != nil || res.Err() != nil {
		t.Fatalf("Finish: %v (result %+v)", err, res)
	}
	if !owner.SigningKey.Equal(f.owner.SigningPublicKey()) {
		t.Error("installed signing key is not the owner's")
	}
	if len(owner.Recipients) != 1 || owner.Recipients[0] != f.owner.RecipientString() {
		t.Errorf("installed recipients %q, want [%s]", owner.Recipients, f.owner.RecipientString())
	}
	if _, err := consent.ParseRecipients(owner.Recipients); err != nil {
		t.Error(err)
	}
	if owner.PolicyHash != pairing.PolicyHash([]byte(testPolicy)) {
		t.Error("policy hash is not SHA-256 of the policy")
	}
	if !bytes.Equal(owner.Transcript, c.Transcript()) {
		t.Error("device and client transcripts differ")
	}
	msg := append([]byte(pairing.SignatureContext), owner.Transcript...)
	if !ed25519.Verify(owner.SigningKey, msg, owner.Signature) {
		t.Error("stored signature does not verify over the stored transcript")
	}
	if !f.p.Paired() || f.p.RetryAfter() > 0 || f.p.Failures() != 0 {
		t.Errorf("state after pairing: paired %v slowing down %v failures %d", f.p.Paired(), f.p.RetryAfter() > 0, f.p.Failures())
	}
}

func TestPostQuantumOwnerPairs(t *testing.T) {
	f := newFixture(t)
	k, err := consent.GenerateOwnerKey(true)
	if err != nil {
		t.Fatal(err)
	}
	c := client(t, f.secret, k)
	reply, err := f.p.Hello(wire(t, c.Hello(), decHello))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CheckReply(wire(t, reply, decReply)); err != nil {
		t.Fatal(err)
	}
	fin, _ := c.Finish()
	owner, err := f.p.Finish(fin)
	if err != nil {
		t.Fatal(err)
	}
	if owner.Recipients[0] != k.RecipientString() {
		t.Error("post-quantum recipient not installed")
	}
}

func TestWrongCodeFailsOnBothSides(t *testing.T) {
	f := newFixture(t)
	c := client(t, mustSecret(t), f.owner) // wrong code, valid check
	reply, err := f.p.Hello(c.Hello())
	if err != nil {
		t.Fatal(err)
	}
	policy, dev, err := c.CheckReply(reply)
	wantErr(t, "client CheckReply", err, pairing.ErrBadMAC)
	if policy != nil || dev.Key != nil {
		t.Error("CheckReply returned the policy or device despite a bad MAC")
	}
	if err.Error() != "pairing: the device did not prove it knows the code: wrong code, or someone in between" {
		t.Errorf("error %q does not explain", err)
	}
	_, err = c.Finish()
	wantErr(t, "client Finish after refusal", err, pairing.ErrOrder)

	// A client that ignores the verdict and sends Finish anyway.
	owner, err := f.p.Finish(pairing.FinishIgnoringCheck(c, reply))
	wantErr(t, "device Finish", err, pairing.ErrBadMAC)
	if owner.SigningKey != nil || owner.Recipients != nil || owner.Transcript != nil {
		t.Error("a refused Finish returned an owner")
	}
	if f.p.Paired() || f.p.Failures() != 1 {
		t.Errorf("paired %v failures %d, want false 1", f.p.Paired(), f.p.Failures())
	}
	if got := pairing.ResultFor(err); got.Reason != "bad_mac" || !errors.Is(got.Err(), pairing.ErrBadMAC) {
		t.Errorf("ResultFor = %+v", got)
	}
	// The used session is gone: replaying the same Finish is an unknown
	// session, which anyone could send: it does not count.
	_, err = f.p.Finish(pairing.FinishIgnoringCheck(c, reply))
	wantErr(t, "replayed Finish", err, pairing.ErrUnknownSession)
	if f.p.Failures() != 1 {
		t.Errorf("failures %d, want 1", f.p.Failures())
	}
	// The right code still pairs afterwards (below the limit).
	pairOK(t, f)
}

// pairOK pairs f with the right code and its owner.
func pairOK(t *testing.T, f *fixture) pairing.Owner {
	t.Helper()
	c := client(t, f.secret, f.owner)
	reply, err := f.p.Hello(c.Hello())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CheckReply(reply); err != nil {
		t.Fatal(err)
	}
	fin, err := c.Finish()
	if err != nil {
		t.Fatal(err)
	}
	o, err := f.p.Finish(fin)
	if err != nil {
		t.Fatalf("right code refused: %v", err)
	}
	return o
}

// openRight opens a session with the right code and returns the Finish to
// send later.
func openRight(t *testing.T, f *fixture) pairing.Finish {
	t.Helper()
	c := client(t, f.secret, f.owner)
	reply, err := f.p.Hello(c.Hello())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CheckReply(reply); err != nil {
		t.Fatal(err)
	}
	fin, err := c.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return fin
}

func failOnce(t *testing.T, f *fixture) error {
	t.Helper()
	c := client(t, mustSecret(t), ownerKey(t))
	reply, err := f.p.Hello(c.Hello())
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.p.Finish(pairing.FinishIgnoringCheck(c, reply))
	return err
}

// TestSlowsDownInsteadOfLocking (issue 8, finding 8): failed proofs beyond
// FreeFailures make the device wait before it checks the next one — 1 s,
// doubling up to a minute — and never lock it: the owner's session, kept
// open while the device waits, pairs once the wait is over.
func TestSlowsDownInsteadOfLocking(t *testing.T) {
	f := newFixture(t)
	pending := openRight(t, f) // a right-code session opened before the failures
	for i := 1; i <= pairing.FreeFailures; i++ {
		err := failOnce(t, f)
		wantErr(t, fmt.Sprintf("failure %d", i), err, pairing.ErrBadMAC)
		if !strings.Contains(err.Error(), fmt.Sprintf("failed attempt %d", i)) {
			t.Errorf("error %q does not count", err)
		}
	}
	if w := f.p.RetryAfter(); w != pairing.SlowDownMin {
		t.Fatalf("wait after %d failures: %v, want %v", pairing.FreeFailures, w, pairing.SlowDownMin)
	}
	// While it waits, a proof is not checked and the session stays open.
	_, err := f.p.Finish(pending)
	wantErr(t, "right code while slowing down", err, pairing.ErrSlowDown)
	var slow *pairing.SlowDownError
	if !errors.As(err, &slow) || slow.Wait != pairing.SlowDownMin {
		t.Fatalf("slow-down error %#v", err)
	}
	if r := pairing.ResultFor(err); r.Reason != "slow_down" || !errors.Is(r.Err(), pairing.ErrSlowDown) {
		t.Errorf("ResultFor(slow down) = %+v", r)
	}
	// Hello is still answered.
	if _, err := f.p.Hello(client(t, f.secret, f.owner).Hello()); err != nil {
		t.Fatalf("Hello while slowing down: %v", err)
	}
	// Each further failure doubles the wait, up to the cap.
	want := pairing.SlowDownMin
	for range 12 {
		f.clk.Advance(f.p.RetryAfter())
		wantErr(t, "failure", failOnce(t, f), pairing.ErrBadMAC)
		want = min(2*want, pairing.SlowDownMax)
		if w := f.p.RetryAfter(); w != want {
			t.Fatalf("after %d failures the wait is %v, want %v", f.p.Failures(), w, want)
		}
	}
	if f.p.RetryAfter() != pairing.SlowDownMax {
		t.Fatalf("wait not capped: %v", f.p.RetryAfter())
	}
	// Once the wait is over, the owner's session (opened long ago, within
	// its TTL) pairs.
	f.clk.Advance(pairing.SlowDownMax)
	pending = openRight(t, f)
	if _, err := f.p.Finish(pending); err != nil {
		t.Fatalf("right code after the wait: %v", err)
	}
	if !f.p.Paired() {
		t.Fatal("not paired")
	}
}

// TestOnlyFailedProofsCount (issue 8, finding 8): Finish calls that anyone
// can send without a session of their own — malformed, an unknown or
// expired session — do not count, however many; the right code pairs.
func TestOnlyFailedProofsCount(t *testing.T) {
	f := newFixture(t)
	good := openRight(t, f)
	expired := openRight(t, f)
	f.clk.Advance(pairing.SessionTTL)
	if _, err := f.p.Finish(expired); !errors.Is(err, pairing.ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	good = openRight(t, f)
	bad := []pairing.Finish{
		{}, // malformed
		{Session: "nope", OwnerMAC: good.OwnerMAC, Signature: good.Signature},          // unknown session
		{Session: good.Session, OwnerMAC: make([]byte, 31), Signature: good.Signature}, // malformed MAC
		{Session: "bad session!", OwnerMAC: good.OwnerMAC, Signature: good.Signature},  // malformed session
	}
	for range 50 {
		for i, fin := range bad {
			if _, err := f.p.Finish(fin); err == nil || errors.Is(err, pairing.ErrSlowDown) {
				t.Fatalf("case %d: %v", i, err)
			}
		}
		var id [16]byte
		rand.Read(id[:])
		made := pairing.Finish{Session: fmt.Sprintf("%x", id)[:22], OwnerMAC: make([]byte, 32), Signature: make([]byte, 64)}
		if _, err := f.p.Finish(made); !errors.Is(err, pairing.ErrUnknownSession) {
			t.Fatalf("made-up session: %v", err)
		}
	}
	if f.p.Failures() != 0 || f.p.RetryAfter() != 0 {
		t.Fatalf("failures %d, wait %v after forged finishes; want none", f.p.Failures(), f.p.RetryAfter())
	}
	if _, err := f.p.Finish(good); err != nil {
		t.Fatalf("good Finish after 250 forged ones: %v", err)
	}
}

func TestRepairRefused(t *testing.T) {
	f := newFixture(t)
	pending := openRight(t, f)
	c := client(t, f.secret, f.owner)
	reply, _ := f.p.Hello(c.Hello())
	c.CheckReply(reply)
	fin, _ := c.Finish()
	if _, err := f.p.Finish(fin); err != nil {
		t.Fatal(err)
	}
	_, err := f.p.Finish(fin)
	wantErr(t, "replayed Finish", err, pairing.ErrAlreadyPaired)
	_, err = f.p.Finish(pending)
	wantErr(t, "second session", err, pairing.ErrAlreadyPaired)
	_, err = f.p.Hello(client(t, f.secret, ownerKey(t)).Hello())
	wantErr(t, "Hello after pairing", err, pairing.ErrAlreadyPaired)
	if f.p.Failures() != 0 {
		t.Errorf("refusals after pairing counted as failures: %d", f.p.Failures())
	}
	if r := pairing.ResultFor(err); r.Err() != pairing.ErrAlreadyPaired {
		t.Errorf("result %+v", r)
	}
}

// TestTamperedInFlight plays a proxy between client and device that does
// not know the code and changes one thing.
func TestTamperedInFlight(t *testing.T) {
	otherDev, _, _ := ed25519.GenerateKey(rand.Reader)
	mallory := ownerKey(t)
	replyCases := []struct {
		name string
		edit func(*pairing.HelloReply)
		want error
	}{
		{"device key and ID swapped", func(r *pairing.HelloReply) {
			r.DeviceKey, r.DeviceID = otherDev, pairing.DeviceID(otherDev)
		}, pairing.ErrBadMAC},
		{"device ID swapped", func(r *pairing.HelloReply) { r.DeviceID = "aaaaaaaaaaaaaaaa" }, pairing.ErrBadMAC},
		{"policy and its hash swapped", func(r *pairing.HelloReply) {
			p := []byte(`{"issuers":[{"name":"vendor","role":"judge","public_key":"y"}]}`)
			h := pairing.PolicyHash(p)
			r.Policy, r.PolicyHash = p, h[:]
		}, pairing.ErrBadMAC},
		{"policy hash flipped", func(r *pairing.HelloReply) { r.PolicyHash[0] ^= 1 }, pairing.ErrBadMAC},
		{"device nonce flipped", func(r *pairing.HelloReply) { r.DeviceNonce[31] ^= 1 }, pairing.ErrBadMAC},
		{"MAC flipped", func(r *pairing.HelloReply) { r.DeviceMAC[0] ^= 0x80 }, pairing.ErrBadMAC},
		{"MAC truncated", func(r *pairing.HelloReply) { r.DeviceMAC = r.DeviceMAC[:16] }, pairing.ErrMalformed},
	}
	for _, tc := range replyCases {
		t.Run("reply/"+tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := client(t, f.secret, f.owner)
			reply, err := f.p.Hello(c.Hello())
			if err != nil {
				t.Fatal(err)
			}
			tc.edit(&reply)
			policy, _, err := c.CheckReply(reply)
			wantErr(t, "CheckReply", err, tc.want)
			if policy != nil {
				t.Error("policy returned for a tampered reply")
			}
			if _, err := c.Finish(); !errors.Is(err, pairing.ErrOrder) {
				t.Errorf("client Finish after a tampered reply: %v", err)
			}
		})
	}

	// Only the policy bytes swapped: the MAC checks (the hash is the
	// device's) but the policy no longer matches what would be signed.
	t.Run("reply/policy bytes only", func(t *testing.T) {
		f := newFixture(t)
		c := client(t, f.secret, f.owner)
		reply, _ := f.p.Hello(c.Hello())
		reply.Policy = []byte(`{"issuers":[]}`)
		_, _, err := c.CheckReply(reply)
		if err == nil || !strings.Contains(err.Error(), "does not match the policy hash") {
			t.Fatalf("CheckReply: %v", err)
		}
	})

	helloCases := []struct {
		name string
		edit func(*pairing.Hello)
	}{
		{"owner key swapped", func(h *pairing.Hello) { h.OwnerKey = mallory.SigningPublicKey() }},
		{"owner recipients swapped", func(h *pairing.Hello) { h.OwnerRecipients = []string{mallory.RecipientString()} }},
		{"recipient added", func(h *pairing.Hello) {
			h.OwnerRecipients = append(h.OwnerRecipients, mallory.RecipientString())
		}},
		{"owner nonce flipped", func(h *pairing.Hello) { h.OwnerNonce[0] ^= 1 }},
	}
	for _, tc := range helloCases {
		t.Run("hello/"+tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := client(t, f.secret, f.owner)
			h := c.Hello()
			tc.edit(&h)
			reply, err := f.p.Hello(h)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = c.CheckReply(reply)
			wantErr(t, "CheckReply", err, pairing.ErrBadMAC)
			// Even if the client went on, the device installs nothing.
			_, err = f.p.Finish(pairing.FinishIgnoringCheck(c, reply))
			wantErr(t, "device Finish", err, pairing.ErrBadMAC)
			if f.p.Paired() {
				t.Fatal("paired")
			}
		})
	}

	finishCases := []struct {
		name string
		edit func(f *fixture, fin *pairing.Finish)
		want error
	}{
		{"signature by another key", func(f *fixture, fin *pairing.Finish) {
			fin.Signature = ed25519.Sign(mallory.SigningKey(), []byte("anything"))
		}, pairing.ErrBadSignature},
		{"signature bit flipped", func(f *fixture, fin *pairing.Finish) { fin.Signature[5] ^= 1 }, pairing.ErrBadSignature},
		{"signature from another session", func(f *fixture, fin *pairing.Finish) {
			fin.Signature = openRight(t, f).Signature
		}, pairing.ErrBadSignature},
		{"owner MAC flipped", func(f *fixture, fin *pairing.Finish) { fin.OwnerMAC[31] ^= 1 }, pairing.ErrBadMAC},
		{"MAC and signature moved to another session", func(f *fixture, fin *pairing.Finish) {
			fin.Session = openRight(t, f).Session
		}, pairing.ErrBadMAC},
		{"session swapped", func(f *fixture, fin *pairing.Finish) { fin.Session = "AAAAAAAAAAAAAAAAAAAAAA" }, pairing.ErrUnknownSession},
	}
	for _, tc := range finishCases {
		t.Run("finish/"+tc.name, func(t *testing.T) {
			f := newFixture(t)
			fin := openRight(t, f)
			tc.edit(f, &fin)
			owner, err := f.p.Finish(fin)
			wantErr(t, "device Finish", err, tc.want)
			if f.p.Paired() || owner.SigningKey != nil {
				t.Fatal("installed an owner")
			}
		})
	}
}

func TestSessionExpiry(t *testing.T) {
	f := newFixture(t)
	fin := openRight(t, f)
	f.clk.Advance(pairing.SessionTTL)
	_, err := f.p.Finish(fin)
	wantErr(t, "Finish at the TTL", err, pairing.ErrExpired)
	if f.p.Failures() != 0 || f.p.Paired() {
		t.Errorf("failures %d paired %v", f.p.Failures(), f.p.Paired())
	}
	_, err = f.p.Finish(fin)
	wantErr(t, "Finish again", err, pairing.ErrUnknownSession)

	fin = openRight(t, f)
	f.clk.Advance(pairing.SessionTTL - time.Second)
	if _, err := f.p.Finish(fin); err != nil {
		t.Fatalf("Finish just before the TTL: %v", err)
	}
}

// A Hello beyond MaxSessions evicts the oldest session instead of being
// refused, so a few Hellos from anyone on the LAN cannot block pairing.
func TestTooManySessionsEvictsOldest(t *testing.T) {
	f := newFixture(t)
	var first, second pairing.Finish
	for i := range pairing.MaxSessions {
		fin := openRight(t, f)
		switch i {
		case 0:
			first = fin
		case 1:
			second = fin
		}
		f.clk.Advance(time.Second)
	}
	if _, err := f.p.Hello(client(t, f.secret, f.owner).Hello()); err != nil {
		t.Fatalf("Hello over the limit: %v", err)
	}
	if _, err := f.p.Finish(first); !errors.Is(err, pairing.ErrUnknownSession) {
		t.Fatalf("the oldest session survived: %v", err)
	}
	if _, err := f.p.Finish(second); err != nil {
		t.Fatalf("the second session was evicted too: %v", err)
	}
}

func TestHelloRefusesMalformed(t *testing.T) {
	pq, err := consent.GenerateOwnerKey(true)
	if err != nil {
		t.Fatal(err)
	}
	classic := ownerKey(t).RecipientString()
	cases := []struct {
		name string
		edit func(*pairing.Hello)
		want string
	}{
		{"short nonce", func(h *pairing.Hello) { h.OwnerNonce = h.OwnerNonce[:31] }, "owner_nonce is 31 bytes"},
		{"no nonce", func(h *pairing.Hello) { h.OwnerNonce = nil }, "owner_nonce is 0 bytes"},
		{"long key", func(h *pairing.Hello) { h.OwnerKey = append(h.OwnerKey, 0) }, "owner_key is 33 bytes"},
		{"no recipients", func(h *pairing.Hello) { h.OwnerRecipients = nil }, "owner_recipients is empty"},
		{"too many recipients", func(h *pairing.Hello) {
			for range pairing.MaxRecipients {
				h.OwnerRecipients = append(h.OwnerRecipients, ownerKey(t).RecipientString())
			}
		}, "at most 8"},
		{"huge recipient", func(h *pairing.Hello) { h.OwnerRecipients = []string{"age1" + strings.Repeat("q", 5000)} }, "at most 4096"},
		{"ssh key", func(h *pairing.Hello) { h.OwnerRecipients = []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE"} }, "SSH key"},
		{"secret key", func(h *pairing.Hello) {
			h.OwnerRecipients = []string{"AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"}
		}, "secret key"},
		{"garbage", func(h *pairing.Hello) { h.OwnerRecipients = []string{"hello"} }, "not an age recipient"},
		{"bad checksum", func(h *pairing.Hello) {
			r := []byte(classic)
			r[10] ^= 1
			h.OwnerRecipients = []string{string(r)}
		}, "recipient 1"},
		{"mixed families", func(h *pairing.Hello) {
			h.OwnerRecipients = []string{classic, pq.RecipientString()}
		}, "mix classic"},
		{"upper case", func(h *pairing.Hello) { h.OwnerRecipients = []string{strings.ToUpper(classic)} }, "recipient 1"},
		{"padded", func(h *pairing.Hello) { h.OwnerRecipients = []string{" " + classic} }, "canonical"},
		{"duplicate", func(h *pairing.Hello) { h.OwnerRecipients = []string{classic, classic} }, "repeats"},
		{"invalid utf-8", func(h *pairing.Hello) { h.OwnerRecipients = []string{"age1\xff"} }, "UTF-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			h := client(t, f.secret, f.owner).Hello()
			tc.edit(&h)
			reply, err := f.p.Hello(h)
			wantErr(t, "Hello", err, pairing.ErrMalformed)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if reply.Session != "" || reply.DeviceMAC != nil {
				t.Error("a refused Hello returned a reply")
			}
			if f.p.Failures() != 0 {
				t.Error("a malformed Hello counted as a failure")
			}
		})
	}
}

func TestNewPairerRefuses(t *testing.T) {
	f := newFixture(t)
	clk := f.clk
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	cases := []struct {
		name   string
		secret pairing.Secret
		dev    pairing.DeviceInfo
		policy string
		nilClk bool
		want   string
	}{
		{"zero secret", pairing.Secret{}, f.dev, testPolicy, false, "zero Secret"},
		{"short key", f.secret, pairing.DeviceInfo{Key: f.dev.Key[:31], ID: f.dev.ID}, testPolicy, false, "31 bytes"},
		{"ID of another key", f.secret, pairing.DeviceInfo{Key: f.dev.Key, ID: pairing.DeviceID(other)}, testPolicy, false, "does not match"},
		{"empty policy", f.secret, f.dev, "", false, "empty"},
		{"policy not JSON", f.secret, f.dev, "{issuers", false, "not valid JSON"},
		{"policy too large", f.secret, f.dev, `"` + strings.Repeat("a", pairing.MaxPolicySize) + `"`, false, "at most"},
		{"no clock", f.secret, f.dev, testPolicy, true, "no clock"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.nilClk {
				_, err = pairing.NewPairer(tc.secret, tc.dev, []byte(tc.policy), pairing.PolicyHash([]byte(tc.policy)), nil)
			} else {
				_, err = pairing.NewPairer(tc.secret, tc.dev, []byte(tc.policy), pairing.PolicyHash([]byte(tc.policy)), clk)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "pairing: ") {
				t.Fatalf("NewPairer: %v, want an error saying %q", err, tc.want)
			}
		})
	}
	if _, err := pairing.NewClient(pairing.Secret{}, f.owner, nil); err == nil {
		t.Error("NewClient accepted the zero secret")
	}
	if _, err := pairing.NewClient(f.secret, nil, nil); err == nil {
		t.Error("NewClient accepted no owner key")
	}
}

func TestClientOrder(t *testing.T) {
	f := newFixture(t)
	c := client(t, f.secret, f.owner)
	_, err := c.Finish()
	wantErr(t, "Finish before CheckReply", err, pairing.ErrOrder)
	reply, _ := f.p.Hello(c.Hello())
	if _, _, err := c.CheckReply(reply); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.CheckReply(reply)
	wantErr(t, "second CheckReply", err, pairing.ErrOrder)
	// A client that saw a bad reply cannot be talked into a good one later.
	c2 := client(t, f.secret, f.owner)
	r2, _ := f.p.Hello(c2.Hello())
	bad := r2
	bad.DeviceMAC = bytes.Clone(r2.DeviceMAC)
	bad.DeviceMAC[0] ^= 1
	_, _, err = c2.CheckReply(bad)
	wantErr(t, "bad reply", err, pairing.ErrBadMAC)
	_, _, err = c2.CheckReply(r2)
	wantErr(t, "good reply after a bad one", err, pairing.ErrOrder)
	_, err = c2.Finish()
	wantErr(t, "Finish after a bad reply", err, pairing.ErrOrder)
	// Hello returns copies: changing one does not change the next.
	h := c.Hello()
	h.OwnerNonce[0] ^= 1
	if bytes.Equal(h.OwnerNonce, c.Hello().OwnerNonce) {
		t.Error("Hello shares its nonce with the client")
	}
}

func TestConcurrentPairing(t *testing.T) {
	f := newFixture(t)
	const workers = 24
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		successes []pairing.Owner
		others    = map[string]int{}
	)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			secret := f.secret
			if i%2 == 1 {
				s, _ := pairing.NewSecret()
				secret = s
			}
			c, err := pairing.NewClient(secret, f.owner, nil)
			if err != nil {
				t.Error(err)
				return
			}
			reply, err := f.p.Hello(c.Hello())
			if err == nil {
				var fin pairing.Finish
				if _, _, cerr := c.CheckReply(reply); cerr == nil {
					fin, _ = c.Finish()
				} else {
					fin = pairing.FinishIgnoringCheck(c, reply)
				}
				var o pairing.Owner
				o, err = f.p.Finish(fin)
				if err == nil {
					mu.Lock()
					successes = append(successes, o)
					mu.Unlock()
					return
				}
			}
			mu.Lock()
			others[pairing.ResultFor(err).Reason]++
			mu.Unlock()
			_ = f.p.Paired()
			_ = f.p.RetryAfter()
		}()
	}
	wg.Wait()
	if len(successes) > 1 {
		t.Fatalf("%d concurrent pairings succeeded, want at most one", len(successes))
	}
	if f.p.Failures() > pairing.FreeFailures {
		t.Fatalf("failures %d: proofs were checked while slowing down", f.p.Failures())
	}
	if len(successes) == 1 != f.p.Paired() {
		t.Fatal("Paired disagrees with the results")
	}
	for reason := range others {
		switch reason {
		case "bad_mac", "slow_down", "already_paired":
		default:
			t.Errorf("unexpected refusal %q", reason)
		}
	}
	t.Logf("successes %d, refusals %v, failures %d", len(successes), others, f.p.Failures())
}

func TestConcurrentFailures(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	reasons := map[string]int{}
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := failOnce(t, f)
			mu.Lock()
			reasons[pairing.ResultFor(err).Reason]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if f.p.Failures() != pairing.FreeFailures || reasons["bad_mac"] != pairing.FreeFailures || reasons["slow_down"] != 20-pairing.FreeFailures {
		t.Fatalf("failures %d, refusals %v", f.p.Failures(), reasons)
	}
}

func TestTranscriptUnambiguous(t *testing.T) {
	base := pairing.TranscriptFields{
		OwnerNonce: make([]byte, 32), DeviceNonce: make([]byte, 32),
		OwnerKey: make([]byte, 32), DeviceKey: make([]byte, 32),
		OwnerRecipients: []string{"ab", "c"}, DeviceID: "dev",
	}
	variants := []func(*pairing.TranscriptFields){
		func(f *pairing.TranscriptFields) { f.OwnerRecipients = []string{"a", "bc"} },
		func(f *pairing.TranscriptFields) { f.OwnerRecipients = []string{"abc"} },
		func(f *pairing.TranscriptFields) { f.OwnerRecipients = []string{"ab", "c", ""} },
		func(f *pairing.TranscriptFields) { f.DeviceID = "devX" },
		func(f *pairing.TranscriptFields) { f.PolicyHash[31] = 1 },
		func(f *pairing.TranscriptFields) { f.OwnerNonce, f.DeviceNonce = make([]byte, 31), make([]byte, 33) },
		func(f *pairing.TranscriptFields) {
			f.OwnerKey, f.DeviceKey = f.DeviceKey, append([]byte{1}, f.OwnerKey[1:]...)
		},
	}
	seen := map[string]bool{string(pairing.Transcript(base)): true}
	for i, v := range variants {
		f := base
		f.OwnerRecipients = append([]string(nil), base.OwnerRecipients...)
		v(&f)
		tr := string(pairing.Transcript(f))
		if seen[tr] {
			t.Errorf("variant %d encodes like another", i)
		}
		seen[tr] = true
	}
	if !strings.HasPrefix(string(pairing.Transcript(base)), "\x00\x00\x00\x10doorward-pair-v1") {
		t.Error("transcript does not open with its version label")
	}
}

func TestDeviceIDMatchesDesign(t *testing.T) {
	// DESIGN.md: lower-case base32 of the first 10 bytes of SHA-256(key):
	// 16 characters.
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	id := pairing.DeviceID(pub)
	if len(id) != 16 || strings.ToLower(id) != id {
		t.Fatalf("DeviceID = %q", id)
	}
}

func TestPolicyHasher(t *testing.T) {
	canonical := func(b []byte) ([32]byte, error) {
		var p consent.Policy
		if err := json.Unmarshal(b, &p); err != nil {
			return [32]byte{}, err
		}
		return p.Hash(), nil
	}
	f := newFixture(t)
	h, err := canonical([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	p, err := pairing.NewPairer(f.secret, f.dev, []byte(testPolicy), h, f.clk)
	if err != nil {
		t.Fatal(err)
	}
	run := func(hasher pairing.PolicyHasher) error {
		c, err := pairing.NewClient(f.secret, f.owner, hasher)
		if err != nil {
			t.Fatal(err)
		}
		reply, err := p.Hello(c.Hello())
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = c.CheckReply(reply)
		return err
	}
	if err := run(nil); err == nil || !strings.Contains(err.Error(), "does not match the policy hash") {
		t.Errorf("default hasher against a canonical hash: %v", err)
	}
	if err := run(func([]byte) ([32]byte, error) { return [32]byte{}, errors.New("unknown field \"x\"") }); err == nil || !strings.Contains(err.Error(), `trust policy: unknown field "x"`) {
		t.Errorf("refusing hasher: %v", err)
	}
	if err := run(canonical); err != nil {
		t.Errorf("canonical hasher: %v", err)
	}
}
