package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/device/lanclient"
	"github.com/doorward/doorward/uplink/live"
	"github.com/doorward/doorward/uplink/mqtttest"
)

// liveJSON is what doorwardctl live --json prints.
type liveJSON struct {
	FirstFrameMS float64 `json:"first_frame_ms"`
	Frames       int     `json:"frames"`
	FPS          float64 `json:"fps"`
	Bytes        int64   `json:"bytes"`
	Width        int     `json:"width"`
	Height       int     `json:"height"`
	Candidates   string  `json:"candidate_pair"`
	Relayed      bool    `json:"relayed"`
}

// The owner watches the sim board live with doorwardctl live, saves an MP4
// that ffprobe reads, and the audit log shows the session's start and end.
func TestLiveOwnerE2E(t *testing.T) {
	b := e2e(t)
	h := newHome(t, b)
	d := startDevice(t, b, t.TempDir(), writeConfig(t, t.TempDir(), ""))
	pairOwner(t, b, d, h)
	mp4 := filepath.Join(h.dir, "live.mp4")
	out := mustCtl(t, b, h.dir, "live", "--device", d.url, "-i", h.key, "--seconds", "2", "-o", mp4, "--json")
	var r liveJSON
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("live --json: %v\n%s", err, out)
	}
	t.Logf("doorwardctl live: %+v", r)
	if r.Frames < 40 || r.Width != 640 || r.Height != 480 || r.Bytes == 0 {
		t.Errorf("live: %+v, want 2 s of 640x480 at about 30 fps", r)
	}
	if r.FirstFrameMS > 1000 {
		t.Errorf("first frame after %.0f ms", r.FirstFrameMS)
	}
	p := capturetest.ProbeFile(t, mp4, true)
	if p.Codec != "h264" || p.Width != 640 || p.Height != 480 || p.Frames < 40 || !p.FirstKey {
		t.Errorf("the saved MP4: %+v", p)
	}
	text := mustCtl(t, b, h.dir, "live", "--device", d.url, "-i", h.key, "--seconds", "0.5")
	for _, want := range []string{"first frame:", "frames:", "bytes:", "candidate pair:"} {
		if !strings.Contains(text, want) {
			t.Errorf("live printed no %q:\n%s", want, text)
		}
	}
	var starts, ends int
	for _, e := range fetchAudit(t, d, h).Entries {
		switch e.Kind {
		case audit.KindLiveSession:
			starts++
		case audit.KindLiveSessionEnd:
			ends++
		}
	}
	if starts != 2 || ends != 2 {
		t.Errorf("audit log: %d live-session and %d live-session-end leaves, want 2 and 2", starts, ends)
	}
}

// No media flows without a statement that verifies; each refusal carries
// its reason.
func TestLiveRefusalsE2E(t *testing.T) {
	b := e2e(t)
	h := newHome(t, b)
	d := startDevice(t, b, t.TempDir(), writeConfig(t, t.TempDir(), ""))
	pairOwner(t, b, d, h)
	ctx := context.Background()
	owner, err := loadOwner(h.key)
	if err != nil {
		t.Fatal(err)
	}
	client, err := lanclient.New(d.url)
	if err != nil {
		t.Fatal(err)
	}
	id := d.info().DeviceID
	sign := func(key ed25519.PrivateKey, iat, exp time.Time, jti string, bind func(string) string) func(string) ([]byte, error) {
		return func(binding string) ([]byte, error) {
			return consent.Sign(consent.KindLive, consent.LiveClaims{
				Claims:          consent.Claims{ID: jti, Audience: id, IssuedAt: consent.NewNumericDate(iat), Expiry: consent.NewNumericDate(exp)},
				DTLSFingerprint: bind(binding),
			}, key, consent.KeyID(key.Public().(ed25519.PublicKey)))
		}
	}
	same := func(b string) string { return b }
	now := time.Now()
	watch := func(s func(string) ([]byte, error)) (live.Result, error) {
		return live.Watch(ctx, live.WatchOptions{Sign: s, Signal: client, Duration: 500 * time.Millisecond})
	}
	// A statement that works, to replay below.
	var used []byte
	if _, err := watch(func(bd string) ([]byte, error) {
		st, err := sign(owner.SigningKey(), now, now.Add(time.Minute), consent.NewJTI(), same)(bd)
		used = st
		return st, err
	}); err != nil {
		t.Fatalf("the owner's own statement: %v", err)
	}
	_, stranger, _ := ed25519.GenerateKey(nil)
	cases := []struct {
		name   string
		sign   func(string) ([]byte, error)
		reason string
	}{
		{"no statement", func(string) ([]byte, error) { return nil, nil }, live.ReasonNoStatement},
		{"expired", sign(owner.SigningKey(), now.Add(-5*time.Minute), now.Add(-2*time.Minute), consent.NewJTI(), same), string(consent.ReasonExpired)},
		{"replayed jti", func(string) ([]byte, error) { return used, nil }, ""}, // replayed or bound to the earlier offer
		{"another offer's fingerprint", sign(owner.SigningKey(), now, now.Add(time.Minute), consent.NewJTI(), func(string) string {
			return consent.LiveBinding("sha-256 " + strings.Repeat("AB:", 31) + "AB")
		}), string(consent.ReasonBindingMismatch)},
		{"stranger's key", sign(stranger, now, now.Add(time.Minute), consent.NewJTI(), same), string(consent.ReasonUnknownKey)},
		{"legal token", func(string) ([]byte, error) {
			return consent.Sign(consent.KindLegal, map[string]any{"jti": consent.NewJTI(), "aud": id}, owner.SigningKey(), consent.KeyID(owner.SigningPublicKey()))
		}, string(consent.ReasonBadTyp)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := watch(c.sign)
			reason := lanclient.ReasonOf(err)
			if err == nil || reason == "" || (c.reason != "" && reason != c.reason) {
				t.Fatalf("err = %v (reason %q), want a refusal %q", err, reason, c.reason)
			}
			if c.name == "replayed jti" && reason != string(consent.ReasonReplayed) && reason != string(consent.ReasonBindingMismatch) {
				t.Errorf("replay refused as %q", reason)
			}
			if res.Frames != 0 {
				t.Errorf("%d frames flowed", res.Frames)
			}
		})
	}
}

// A grantee watches with a key a live grant names; revoking the grant
// stops the frames within a second; a grant whose window is over is
// refused.
func TestLiveGranteeE2E(t *testing.T) {
	b := e2e(t)
	h := newHome(t, b)
	d := startDevice(t, b, t.TempDir(), writeConfig(t, t.TempDir(), ""))
	pairOwner(t, b, d, h)
	_, rcpt := ageIdentity(t, h.dir, "friend.age")
	keyPath, pub := issuerKey(t, b, h.dir, "friend")
	grantOut := mustCtl(t, b, h.dir, "grant", "--device", d.url, "-i", h.key, "--to", rcpt, "--from", "-1m", "--until", "+1h", "--live", "--grantee", pub)
	grantID, _, _ := strings.Cut(grantOut, "\n")

	// The grantee's CLI works with the issuer-style key.
	out := mustCtl(t, b, h.dir, "live", "--device", d.url, "-i", keyPath, "--seconds", "1", "--json")
	var r liveJSON
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Frames < 15 {
		t.Fatalf("grantee live: %v %+v\n%s", err, r, out)
	}

	// The way a grantee usually comes: their own doorwardctl keygen, the
	// contact it prints given to the owner, grant --to CONTACT --live.
	friend := filepath.Join(h.dir, "neighbour.key")
	kg := strings.Split(mustCtl(t, b, h.dir, "keygen", "-o", friend), "\n")
	if len(kg) < 2 || !strings.HasPrefix(kg[1], "doorward-contact1") {
		t.Fatalf("keygen printed %q, want the recipient then the contact", kg)
	}
	// Live only: --media none shares no recordings, so nothing is
	// disclosed now or later; without --live it is refused.
	wantFail(t, ctl(t, b, h.dir, "", "grant", "--device", d.url, "-i", h.key, "--to", kg[1], "--from", "-1m", "--until", "+1h", "--media", "none"), "needs --live")
	if g := mustCtl(t, b, h.dir, "grant", "--device", d.url, "-i", h.key, "--to", kg[1], "--from", "-1m", "--until", "+1h", "--live", "--media", "none"); !strings.Contains(g, "disclosures: 0\n") || strings.Contains(g, "follows:") {
		t.Errorf("a live-only grant printed %q, want no disclosure now or later", g)
	}
	out = mustCtl(t, b, h.dir, "live", "--device", d.url, "-i", friend, "--seconds", "1", "--json")
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Frames < 15 {
		t.Fatalf("live with a keygen key whose contact a grant names: %v %+v\n%s", err, r, out)
	}

	// Revocation ends a running session.
	client, err := lanclient.New(d.url)
	if err != nil {
		t.Fatal(err)
	}
	key := mustIssuerKey(t, keyPath)
	var mu sync.Mutex
	var last time.Time
	started := make(chan struct{}, 1)
	done := make(chan live.Result, 1)
	go func() {
		res, err := live.Watch(context.Background(), live.WatchOptions{Sign: live.Signer(key, d.info().DeviceID), Signal: client, Duration: 20 * time.Second,
			OnFrame: func([]byte, bool) {
				mu.Lock()
				last = time.Now()
				mu.Unlock()
				select {
				case started <- struct{}{}:
				default:
				}
			}})
		if err != nil {
			t.Errorf("grantee Watch: %v", err)
		}
		done <- res
	}()
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("no frames for the grantee")
	}
	time.Sleep(500 * time.Millisecond)
	mustCtl(t, b, h.dir, "revoke", "--device", d.url, "-i", h.key, grantID)
	revoked := time.Now()
	var res live.Result
	select {
	case res = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the session outlived the revocation by 5 s")
	}
	mu.Lock()
	if d := last.Sub(revoked); d > time.Second {
		t.Errorf("frames kept coming %s after the revocation", d)
	}
	mu.Unlock()
	if !res.EndedByDevice {
		t.Error("the device did not end the session")
	}
	// And the revoked grant opens nothing now.
	r2 := ctl(t, b, h.dir, "", "live", "--device", d.url, "-i", keyPath, "--seconds", "1")
	refused(t, r2, "refused by the device")

	// A grant whose window is over.
	keyPath2, pub2 := issuerKey(t, b, h.dir, "late")
	mustCtl(t, b, h.dir, "grant", "--device", d.url, "-i", h.key, "--to", rcpt, "--from", "-2h", "--until", "-1h", "--live", "--grantee", pub2)
	r3 := ctl(t, b, h.dir, "", "live", "--device", d.url, "-i", keyPath2, "--seconds", "1")
	refused(t, r3, "refused by the device", string(consent.ReasonGrantInactive))
}

// Remote: doorwardctl live --relay carries the offer and answer through
// the relay and the device's MQTT cmd and reply topics (mosquitto); the
// frames flow peer to peer. A stranger's statement is refused through the
// relay with the device's own reason, and the session's end reaches the
// device (its audit log closes the session).
func TestLiveRelayE2E(t *testing.T) {
	b := e2e(t)
	broker := mqtttest.Start(t, mqtttest.Options{})
	relay, relayLog := runRelay(t, b, broker.URL, "dir:"+t.TempDir(), nil)
	dir := t.TempDir()
	d := startDevice(t, b, filepath.Join(dir, "state"), writeConfig(t, dir, "mqtt:\n  broker: "+broker.URL+"\n"))
	h := newHome(t, b)
	pairOwner(t, b, d, h)
	id := d.info().DeviceID
	var r liveJSON
	deadline := time.Now().Add(20 * time.Second)
	for {
		// The device subscribes to its cmd topic once connected.
		res := ctl(t, b, h.dir, "", "live", "--relay", relay, "--device", id, "-i", h.key, "--seconds", "2", "--json")
		if res.code == 0 {
			if err := json.Unmarshal([]byte(res.stdout), &r); err != nil {
				t.Fatalf("live --json: %v\n%s", err, res.stdout)
			}
			break
		}
		if time.Now().After(deadline) || !strings.Contains(res.stderr, "did not answer") {
			t.Fatalf("live --relay: exit %d: %s\nrelay log:\n%s", res.code, res.stderr, relayLog.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("doorwardctl live --relay: %+v", r)
	if r.Frames < 40 || r.Width != 640 || r.Height != 480 || r.Relayed {
		t.Errorf("live --relay: %+v, want 2 s of 640x480 at about 30 fps, peer to peer", r)
	}
	// A stranger's key: the device refuses, the relay passes its reason on.
	stranger, _ := issuerKey(t, b, dir, "stranger")
	refused(t, ctl(t, b, dir, "", "live", "--relay", relay, "--device", id, "-i", stranger, "--seconds", "1"), "403", "unknown-key")
	// Not a device ID.
	refused(t, ctl(t, b, dir, "", "live", "--relay", relay, "--device", d.url, "-i", h.key), "device ID")
	var starts, ends int
	for _, e := range fetchAudit(t, d, h).Entries {
		switch e.Kind {
		case audit.KindLiveSession:
			starts++
		case audit.KindLiveSessionEnd:
			ends++
			if e.Reason != live.EndViewer {
				t.Errorf("session ended as %q, want %s (the DELETE through the relay)", e.Reason, live.EndViewer)
			}
		}
	}
	if starts != 1 || ends != 1 {
		t.Errorf("audit log: %d live-session and %d live-session-end leaves, want 1 and 1", starts, ends)
	}
}
