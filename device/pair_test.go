package device

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/consent/pairing"
	"github.com/doorward/doorward/device/api"
)

// An unpaired agent records nothing, shows its code only on the control
// socket, and starts recording once an owner pairs over the LAN API.
func TestUnpairedAgentPairsThenRecords(t *testing.T) {
	opts := simOptions(t)
	opts.Config.OwnerRecipients = nil
	var logs *capturetest.LogBuffer
	opts.Log, logs = capturetest.NewLogger(slog.LevelDebug)
	a, ctx := runAgent(t, opts)
	resp, err := Call(ctx, opts.StateDir, api.ControlRequest{Op: "pair-code"})
	if err != nil || len(resp.PairCode) < 26 || resp.PairQR == "" {
		t.Fatalf("pair-code: %+v, %v", resp, err)
	}
	code := resp.PairCode
	if strings.Contains(logs.String(), code) || strings.Contains(logs.String(), strings.ReplaceAll(code, "-", "")) {
		t.Fatal("the pairing code reached the log")
	}
	status, _ := Call(ctx, opts.StateDir, api.ControlRequest{Op: "status"})
	if status.Status.Paired {
		t.Fatal("status says paired")
	}
	time.Sleep(1500 * time.Millisecond)
	if err := Trigger(ctx, opts.StateDir, capture.Motion); err == nil || !strings.Contains(err.Error(), "not paired") {
		t.Fatalf("trigger on an unpaired agent: %v, want why nothing records", err)
	}
	time.Sleep(3 * time.Second)
	if clips, err := ListClips(ctx, opts.StateDir); err != nil || len(clips) != 0 {
		t.Fatalf("an unpaired agent recorded: %v, %v", clips, err)
	}

	base := "http://" + status.Status.Listen
	owner, _ := consent.GenerateOwnerKey(false)
	post := func(path string, v any) *http.Response {
		data, _ := json.Marshal(v)
		r, err := http.Post(base+path, "application/json", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// A wrong code: the device's proof does not check, nothing is installed.
	wrong, _ := pairing.NewSecret()
	wc, _ := pairing.NewClient(wrong, owner, policyHasher)
	r := post("/api/v1/pair/hello", wc.Hello())
	var reply pairing.HelloReply
	json.NewDecoder(r.Body).Decode(&reply)
	r.Body.Close()
	if _, _, err := wc.CheckReply(reply); err == nil {
		t.Fatal("a client with the wrong code accepted the device's proof")
	}
	// The right code pairs.
	secret, err := pairing.ParseSecret(code)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := pairing.NewClient(secret, owner, policyHasher)
	r = post("/api/v1/pair/hello", c.Hello())
	reply = pairing.HelloReply{}
	json.NewDecoder(r.Body).Decode(&reply)
	r.Body.Close()
	if _, dev, err := c.CheckReply(reply); err != nil || dev.ID != a.DeviceID() {
		t.Fatalf("CheckReply: %v (device %q)", err, dev.ID)
	}
	fin, _ := c.Finish()
	r = post("/api/v1/pair/finish", fin)
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("finish: %s", r.Status)
	}
	// Paired: a second pairing is refused, and the agent records.
	r = post("/api/v1/pair/hello", c.Hello())
	r.Body.Close()
	if r.StatusCode != http.StatusConflict {
		t.Errorf("hello after pairing: %s, want 409", r.Status)
	}
	if err := Trigger(ctx, opts.StateDir, capture.Ring); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		clips, _ := ListClips(ctx, opts.StateDir)
		if len(clips) == 1 && !clips[0].Recording {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no clip after pairing: %+v", clips)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Owner-only reads: no bearer, a stranger's, a reused one are refused.
	get := func(auth string) int {
		req, _ := http.NewRequest("GET", base+"/api/v1/notices", nil)
		if auth != "" {
			req.Header.Set("Authorization", "Doorward "+auth)
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	login := func(k *consent.OwnerKey) string {
		now := time.Now()
		jws, err := consent.Sign(consent.KindLogin, consent.LoginClaims{Claims: consent.Claims{
			ID: consent.NewJTI(), Audience: a.DeviceID(), IssuedAt: consent.NewNumericDate(now), Expiry: consent.NewNumericDate(now.Add(time.Minute)),
		}}, k.SigningKey(), consent.KeyID(k.SigningPublicKey()))
		if err != nil {
			t.Fatal(err)
		}
		return string(jws)
	}
	stranger, _ := consent.GenerateOwnerKey(false)
	bearer := login(owner)
	for name, c := range map[string]struct {
		auth string
		want int
	}{
		"no bearer": {"", http.StatusUnauthorized}, "garbage": {"not-a-statement", http.StatusUnauthorized},
		"stranger": {login(stranger), http.StatusUnauthorized},
	} {
		if got := get(c.auth); got != c.want {
			t.Errorf("notices with %s: %d, want %d", name, got, c.want)
		}
	}
	if got := get(bearer); got != http.StatusOK {
		t.Errorf("notices with the owner's login: %d", got)
	}
	if got := get(bearer); got != http.StatusUnauthorized {
		t.Errorf("the same login again: %d, want 401 (single use)", got)
	}

	entries, _, err := a.auditLog()
	if err != nil || len(entries) == 0 || entries[0].Kind != "pairing" {
		t.Errorf("audit after pairing: %+v, %v", entries, err)
	}
}

func policyHasher(p []byte) ([32]byte, error) {
	var pol consent.Policy
	if err := json.Unmarshal(p, &pol); err != nil {
		return [32]byte{}, err
	}
	return pol.Hash(), nil
}

// A pairing finish whose MAC fails on a real session is an audit leaf
// (pairing-refused); one for a made-up session is counted with the
// unauthenticated refusals (issue 8, finding 11).
func TestPairingRefusalsAudited(t *testing.T) {
	opts := simOptions(t)
	opts.Config.OwnerRecipients = nil
	a, ctx := runAgent(t, opts)
	status, err := Call(ctx, opts.StateDir, api.ControlRequest{Op: "status"})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + status.Status.Listen
	post := func(path string, v any) *http.Response {
		data, _ := json.Marshal(v)
		r, err := http.Post(base+path, "application/json", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	owner, _ := consent.GenerateOwnerKey(false)
	wrong, _ := pairing.NewSecret()
	wc, _ := pairing.NewClient(wrong, owner, policyHasher)
	r := post("/api/v1/pair/hello", wc.Hello())
	var reply pairing.HelloReply
	json.NewDecoder(r.Body).Decode(&reply)
	r.Body.Close()
	if reply.Session == "" {
		t.Fatal("no session")
	}
	r = post("/api/v1/pair/finish", pairing.Finish{Session: reply.Session, OwnerMAC: make([]byte, 32), Signature: make([]byte, 64)})
	r.Body.Close()
	if r.StatusCode == http.StatusOK {
		t.Fatal("a finish with a wrong MAC paired")
	}
	r = post("/api/v1/pair/finish", pairing.Finish{Session: "made-up", OwnerMAC: make([]byte, 32), Signature: make([]byte, 64)})
	r.Body.Close()
	if err := a.audit.FlushRefusals(); err != nil {
		t.Fatal(err)
	}
	entries, _, err := a.auditLog()
	if err != nil {
		t.Fatal(err)
	}
	leaves := 0
	for _, e := range entries {
		if e.Kind == audit.KindPairingRefused {
			leaves++
		}
	}
	if leaves != 1 {
		t.Errorf("%d pairing-refused leaves, want 1 (the bad MAC): %+v", leaves, entries)
	}
}

// A login bearer serves one request, also after the agent restarts: a
// bearer sniffed on the LAN is no good once the device reboots (issue 8,
// finding 10).
func TestLoginBearerSingleUseAcrossRestart(t *testing.T) {
	opts := simOptions(t)
	opts.Config.OwnerRecipients = nil
	start := func() (*Agent, func()) {
		a, err := NewAgent(opts)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		return a, func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	a, stop := start()
	owner, _ := consent.GenerateOwnerKey(false)
	a.mu.Lock()
	secret := a.secret
	a.mu.Unlock()
	c, _ := pairing.NewClient(secret, owner, policyHasher)
	reply, err := a.pairHello(c.Hello())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CheckReply(reply); err != nil {
		t.Fatal(err)
	}
	fin, _ := c.Finish()
	if err := a.pairFinish(fin); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	bearer, err := consent.Sign(consent.KindLogin, consent.LoginClaims{Claims: consent.Claims{
		ID: consent.NewJTI(), Audience: a.DeviceID(), IssuedAt: consent.NewNumericDate(now), Expiry: consent.NewNumericDate(now.Add(5 * time.Minute)),
	}}, owner.SigningKey(), consent.KeyID(owner.SigningPublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	get := func(a *Agent) int {
		req, _ := http.NewRequest("GET", "http://"+a.status().Listen+"/api/v1/notices", nil)
		req.Header.Set("Authorization", "Doorward "+string(bearer))
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if got := get(a); got != http.StatusOK {
		t.Fatalf("the owner's login: %d", got)
	}
	stop()
	a, stop = start()
	defer stop()
	if got := get(a); got != http.StatusUnauthorized {
		t.Errorf("the same login after a restart: %d, want 401", got)
	}
}
