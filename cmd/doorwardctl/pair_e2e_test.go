package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/pairing"
	"github.com/doorward/doorward/device/lanclient"
)

// proxy is a man in the middle between doorwardctl and the agent: it
// forwards every request and may rewrite the pairing Hello on its way in
// and the device's reply on its way out.
type proxy struct {
	*httptest.Server
	target *url.URL
	// mu guards the fields below, which the test sets while the server
	// runs.
	mu        sync.Mutex
	editHello func(map[string]any)
	editReply func(map[string]any)
	// replay, when set, is served instead of the device's answer for
	// paths it holds (an older audit response, for example).
	replay map[string][]byte
	record map[string][]byte
	hits   atomic.Int32
}

func newProxy(t *testing.T, deviceURL string) *proxy {
	t.Helper()
	u, err := url.Parse(deviceURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{target: u, replay: map[string][]byte{}, record: map[string][]byte{}}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Close)
	return p
}

// set changes the proxy's behaviour under its lock.
func (p *proxy) set(f func(p *proxy)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

// recorded returns the last answer the device gave for path.
func (p *proxy) recorded(path string) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.record[path]
}

func (p *proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.hits.Add(1)
	p.mu.Lock()
	editHello, editReply := p.editHello, p.editReply
	b, ok := p.replay[r.URL.Path]
	p.mu.Unlock()
	if ok {
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if r.URL.Path == "/api/v1/pair/hello" && editHello != nil {
		body = editJSON(body, editHello)
	}
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, p.target.String()+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if r.URL.Path == "/api/v1/pair/hello" && editReply != nil && resp.StatusCode == 200 {
		out = editJSON(out, editReply)
	}
	p.mu.Lock()
	p.record[r.URL.Path] = out
	p.mu.Unlock()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	w.Write(out)
}

func editJSON(b []byte, edit func(map[string]any)) []byte {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return b
	}
	edit(m)
	out, _ := json.Marshal(m)
	return out
}

func assertUnpaired(t *testing.T, d *device, h home) {
	t.Helper()
	if d.info().Paired {
		t.Fatal("the device is paired after a pairing that should have failed")
	}
	if _, err := os.Stat(pinPath(h.key)); !os.IsNotExist(err) {
		t.Errorf("a pin file exists after a failed pairing: %v", err)
	}
}

func otherCode(t *testing.T) string {
	t.Helper()
	s, err := pairing.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s.Reveal()
}

func TestPairE2E(t *testing.T) {
	b := e2e(t)
	dir := t.TempDir()
	d := startDevice(t, b, dir+"/state", writeConfig(t, dir, ""))
	owner := newHome(t, b)
	code := d.pairCode()

	// Bad input never reaches the network.
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"typo in code", []string{"--code", code[:len(code)-1] + flipB32(code[len(code)-1]), "-i", owner.key}, []string{"typo"}},
		{"short code", []string{"--code", "ABCD-EFGH", "-i", owner.key}, []string{"--code"}},
		{"missing key", []string{"--code", code, "-i", owner.dir + "/none.key"}, []string{"none.key"}},
		{"no code", []string{"-i", owner.key}, []string{"--device URL and --code CODE"}},
		{"bad url", []string{"--code", code, "-i", owner.key, "--device", "ftp://x"}, []string{"scheme"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"pair", "--device", d.url}, tc.args...)
			wantFail(t, ctl(t, b, owner.dir, "", args...), tc.want...)
		})
	}

	// A wrong code (well formed): the device cannot prove it, nothing is
	// shown, approved or installed.
	r := ctl(t, b, owner.dir, "", "pair", "--device", d.url, "--code", otherCode(t), "-i", owner.key, "--yes")
	wantFail(t, r, "did not prove it knows the code", "nothing was approved or installed")
	assertUnpaired(t, d, owner)

	// The owner declines the policy: nothing is sent.
	r = ctl(t, b, owner.dir, "n\n", "pair", "--device", d.url, "--code", code, "-i", owner.key)
	refused(t, r, "not approved", "nothing was sent")
	if !strings.Contains(r.stdout, "trust policy") || !strings.Contains(r.stdout, "policy hash:") {
		t.Errorf("pair did not show the proposed policy before asking:\n%s", r.stdout)
	}
	assertUnpaired(t, d, owner)
	// No answer (stdin closed) is no.
	refused(t, ctl(t, b, owner.dir, "", "pair", "--device", d.url, "--code", code, "-i", owner.key), "not approved")
	assertUnpaired(t, d, owner)

	// Every Hello opens a session that an abandoning client cannot close
	// (it expires after pairing.SessionTTL), and a device keeps at most
	// pairing.MaxSessions open: restart for fresh ones and a new code.
	fresh := func() {
		t.Helper()
		d.restart()
		code = d.pairCode()
	}

	// A man in the middle who knows nothing of the code.
	mallory, _, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name      string
		editHello func(map[string]any)
		editReply func(map[string]any)
	}{
		{"owner key swapped in hello", func(m map[string]any) { m["owner_key"] = []byte(mallory) }, nil},
		{"owner recipient swapped in hello", func(m map[string]any) {
			m["owner_recipients"] = []string{"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"}
		}, nil},
		{"device key swapped in reply", nil, func(m map[string]any) {
			m["device_key"] = []byte(mallory)
			m["device_id"] = pairing.DeviceID(mallory)
		}},
		{"policy swapped in reply", nil, func(m map[string]any) {
			pol := []byte(`{"issuers":[],"quorum":{}}`)
			h := pairing.PolicyHash(pol)
			m["policy"], m["policy_hash"] = pol, h[:]
		}},
		{"device nonce swapped in reply", nil, func(m map[string]any) { m["device_nonce"] = bytes.Repeat([]byte{7}, 32) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fresh()
			p := newProxy(t, d.url)
			p.set(func(p *proxy) { p.editHello, p.editReply = tc.editHello, tc.editReply })
			r := ctl(t, b, owner.dir, "", "pair", "--device", p.URL, "--code", code, "-i", owner.key, "--yes")
			wantFail(t, r, "did not prove it knows the code", "nothing was approved or installed")
			if p.recorded("/api/v1/pair/finish") != nil {
				t.Error("doorwardctl sent Finish after a reply that does not check")
			}
			assertUnpaired(t, d, owner)
		})
	}

	// The right code pairs; the device key is pinned, mode 0600.
	fresh()
	r = ctl(t, b, owner.dir, "y\n", "pair", "--device", d.url, "--code", code, "-i", owner.key)
	if r.code != 0 || !strings.Contains(r.stdout, "paired with device") {
		t.Fatalf("pair with the right code: %+v", r)
	}
	info := d.info()
	if !info.Paired {
		t.Fatal("device not paired after pair succeeded")
	}
	pins, err := loadPins(pinPath(owner.key))
	if err != nil {
		t.Fatal(err)
	}
	if pin := pins[info.DeviceID]; pin == nil || pin.Key != info.DeviceKey || pin.URL != d.url {
		t.Fatalf("pin file %v does not pin %s with %s", pins, info.DeviceID, info.DeviceKey)
	}
	if st, _ := os.Stat(pinPath(owner.key)); st.Mode().Perm() != 0o600 {
		t.Errorf("pin file mode %04o, want 0600", st.Mode().Perm())
	}
	if !strings.Contains(r.stdout, info.DeviceID) || !strings.Contains(r.stdout, info.DeviceKey) {
		t.Errorf("pair did not show the device's identity:\n%s", r.stdout)
	}

	// Re-pairing is refused, with the same code and for anyone else.
	intruder := newHome(t, b)
	wantFail(t, ctl(t, b, intruder.dir, "", "pair", "--device", d.url, "--code", code, "-i", intruder.key, "--yes"), "already paired")
	wantFail(t, ctl(t, b, owner.dir, "", "pair", "--device", d.url, "--code", code, "-i", owner.key, "--yes"), "already paired")
	if _, err := os.Stat(pinPath(intruder.key)); !os.IsNotExist(err) {
		t.Error("the intruder got a pin file")
	}

	// The pairing is an audit leaf, and the log verifies with the pin.
	out := mustCtl(t, b, owner.dir, "audit", "verify", "--device", d.url, "-i", owner.key)
	if !strings.Contains(out, "pairing") || !strings.Contains(out, "verified") {
		t.Errorf("audit verify after pairing:\n%s", out)
	}

	// A device that presents another key where the pinned one was is
	// refused loudly by every command.
	other := startDevice(t, b, t.TempDir()+"/state", "")
	pins[info.DeviceID].URL = other.url
	if err := pins.save(pinPath(owner.key)); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"audit", "verify"}, {"notices"}, {"revoke", "x"}, {"reset", "--yes"},
		{"grant", "--to", owner.recipient, "--from", "-1h", "--until", "now"},
	} {
		args = append(args, "--device", other.url, "-i", owner.key)
		wantFail(t, ctl(t, b, owner.dir, "", args...), "DEVICE KEY MISMATCH")
	}
	// A device never paired with this key is refused too.
	wantFail(t, ctl(t, b, intruder.dir, "", "notices", "--device", d.url, "-i", intruder.key), "not paired with this owner key")
}

// flipB32 returns another base32 character, to make a typo.
func flipB32(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// TestPairForgedFinishes (issue 8, finding 8): Finish calls with made-up
// session IDs — which anyone on the LAN can send without knowing anything —
// do not count against pairing; failed proofs on real sessions slow it
// down instead of locking it, and doorwardctl pair waits and gets through.
func TestPairForgedFinishes(t *testing.T) {
	b := e2e(t)
	dir := t.TempDir()
	d := startDevice(t, b, dir+"/state", writeConfig(t, dir, ""))
	owner := newHome(t, b)
	code := d.pairCode()
	c, err := lanclient.New(d.url)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ok, err := consent.GenerateOwnerKey(false)
	if err != nil {
		t.Fatal(err)
	}
	// 20 forged finishes: made-up sessions and MACs.
	for i := range 20 {
		mac := make([]byte, pairing.MACSize)
		rand.Read(mac)
		var id [16]byte
		rand.Read(id[:])
		res, err := c.PairFinish(ctx, pairing.Finish{Session: base64.RawURLEncoding.EncodeToString(id[:]), OwnerMAC: mac, Signature: make([]byte, ed25519.SignatureSize)})
		if err == nil {
			err = res.Err()
		}
		if !errors.Is(err, pairing.ErrUnknownSession) {
			t.Fatalf("forged finish %d: %v, want unknown_session", i, err)
		}
	}
	// Guesses on real sessions: a Hello, then a Finish with a MAC made up.
	for i := range pairing.FreeFailures {
		sec, _ := pairing.NewSecret()
		pc, err := pairing.NewClient(sec, ok, nil)
		if err != nil {
			t.Fatal(err)
		}
		reply, err := c.PairHello(ctx, pc.Hello())
		if err != nil {
			t.Fatalf("hello %d: %v", i, err)
		}
		mac := make([]byte, pairing.MACSize)
		rand.Read(mac)
		res, err := c.PairFinish(ctx, pairing.Finish{Session: reply.Session, OwnerMAC: mac, Signature: make([]byte, ed25519.SignatureSize)})
		if err == nil {
			err = res.Err()
		}
		if !errors.Is(err, pairing.ErrBadMAC) {
			t.Fatalf("finish %d with a made-up MAC: %v", i, err)
		}
	}
	// The device now waits a second before it checks a proof; the owner's
	// doorwardctl is told to slow down, waits and pairs.
	r := ctl(t, b, owner.dir, "", "pair", "--device", d.url, "--code", code, "-i", owner.key, "--yes")
	if r.code != 0 {
		t.Fatalf("pair after forged and failed attempts: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "slowing down") {
		t.Errorf("pair did not have to wait (stderr %q); the test no longer exercises the slow-down", r.stderr)
	}
	if !d.info().Paired {
		t.Fatal("not paired")
	}
}
