package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/doorward/doorward/device/lantls"
)

type ed25519Identity struct{ k ed25519.PrivateKey }

func (i ed25519Identity) PublicKey() ed25519.PublicKey { return i.k.Public().(ed25519.PublicKey) }
func (i ed25519Identity) Sign(m []byte) []byte         { return ed25519.Sign(i.k, m) }

// tlsMITM is a man in the middle on the LAN: it terminates TLS with a
// certificate of its own (issued by an identity of its own, for the
// device's name) and relays every request to the device over TLS. It can
// read and change everything — unless doorwardctl refuses its certificate.
func tlsMITM(t *testing.T, deviceURL, deviceID string) (string, *atomic.Int64) {
	t.Helper()
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	_, tlsKey, _ := ed25519.GenerateKey(rand.Reader)
	cert, err := lantls.Issue(ed25519Identity{k}, tlsKey, deviceID)
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(deviceURL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	relayed := new(atomic.Int64)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		relayed.Add(1)
		rp.ServeHTTP(w, r)
	}))
	srv.TLS = lantls.ServerConfig(cert)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL, relayed
}

// TestLANTLSE2E: an agent listening on the LAN serves TLS 1.3 only;
// doorwardctl refuses a man in the middle that presents its own
// certificate, during pairing (after the transcript proved the real
// identity) and after it (the pin); plain http to a LAN address is
// refused with a hint.
func TestLANTLSE2E(t *testing.T) {
	b := e2e(t)
	dir := t.TempDir()
	d := startTLSDevice(t, b, dir+"/state", writeConfig(t, dir, ""))
	if out := d.output(); !strings.Contains(out, "LAN API:    https://") {
		t.Errorf("the banner does not show the https URL:\n%s", out)
	}
	owner := newHome(t, b)
	devID := d.info().DeviceID
	code := d.pairCode()

	// During pairing: the relay passes every pairing message unchanged,
	// so the transcript checks; the certificate does not.
	mitm, relayed := tlsMITM(t, d.url, devID)
	r := ctl(t, b, owner.dir, "", "pair", "--device", mitm, "--code", code, "-i", owner.key, "--yes")
	wantFail(t, r, "not signed by the device key that pairing proved", "man in the middle", "nothing was approved or installed")
	if relayed.Load() == 0 {
		t.Fatal("the man in the middle saw no request: the test proves nothing")
	}
	assertUnpaired(t, d, owner)

	// Directly: pairs, over TLS.
	mustCtl(t, b, owner.dir, "pair", "--device", d.url, "--code", code, "-i", owner.key, "--yes")
	mustCtl(t, b, owner.dir, "audit", "verify", "--device", d.url, "-i", owner.key)

	// After pairing: the pin refuses the man in the middle before any
	// request reaches it.
	before := relayed.Load()
	for _, args := range [][]string{
		{"audit", "verify", "--device", mitm, "-i", owner.key},
		{"notices", "--device", mitm, "-i", owner.key},
		{"grant", "--device", mitm, "-i", owner.key, "--to", owner.recipient, "--from", "-2h", "--until", "-1h"},
	} {
		wantFail(t, ctl(t, b, owner.dir, "", args...), "not the device you paired with")
	}
	if n := relayed.Load() - before; n != 0 {
		t.Errorf("%d requests reached the man in the middle after pairing", n)
	}

	// Plain http to a LAN address is refused with the https URL.
	wantFail(t, ctl(t, b, owner.dir, "", "audit", "verify", "--device", "http://192.0.2.7:8080", "-i", owner.key),
		"https only", "use https://192.0.2.7:8080")
	// And plain http to the TLS port does not work.
	resp, err := http.Get(strings.Replace(d.url, "https://", "http://", 1) + "/api/v1/info")
	if err == nil {
		if resp.StatusCode == http.StatusOK {
			t.Error("the LAN API answered plain http on a LAN address")
		}
		resp.Body.Close()
	}
}

// TestPairedBeforeTLSKeepsWorking: a device paired over plain http (on
// loopback, or before this release) is reached over TLS afterwards with
// the same pin: the certificate is signed by the identity pinned then.
func TestPairedBeforeTLSKeepsWorking(t *testing.T) {
	b := e2e(t)
	dir := t.TempDir()
	d := startDevice(t, b, dir+"/state", writeConfig(t, dir, ""))
	owner := newHome(t, b)
	pairOwner(t, b, d, owner)
	mustCtl(t, b, owner.dir, "audit", "verify", "--device", d.url, "-i", owner.key)
	d.stop()
	d.useTLS()
	d.start()
	out := mustCtl(t, b, owner.dir, "audit", "verify", "--device", d.url, "-i", owner.key)
	if !strings.Contains(out, "extends:   the checkpoint verified before") {
		t.Errorf("audit verify over TLS with the old pin:\n%s", out)
	}
	mustCtl(t, b, owner.dir, "grant", "--device", d.url, "-i", owner.key, "--to", owner.recipient, "--from", "-2h", "--until", "-1h")
}
