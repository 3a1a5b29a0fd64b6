package lantls

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testIdentity struct{ priv ed25519.PrivateKey }

func (i testIdentity) PublicKey() ed25519.PublicKey { return i.priv.Public().(ed25519.PublicKey) }
func (i testIdentity) Sign(m []byte) []byte         { return ed25519.Sign(i.priv, m) }

func newIdentity(t testing.TB) testIdentity {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testIdentity{k}
}

func TestLoadOrCreate(t *testing.T) {
	id := newIdentity(t)
	dir := filepath.Join(t.TempDir(), "keys")
	c1, err := LoadOrCreate(dir, id, "dev1")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("tls.key: %v, mode %v", err, st.Mode())
	}
	c2, err := LoadOrCreate(dir, id, "dev1")
	if err != nil {
		t.Fatal(err)
	}
	if !c1.PrivateKey.(ed25519.PrivateKey).Equal(c2.PrivateKey) {
		t.Error("the TLS key changed across starts")
	}
	if err := VerifyCertificate(c2.Leaf, id.PublicKey()); err != nil {
		t.Error(err)
	}
	if err := VerifyCertificate(c2.Leaf, newIdentity(t).PublicKey()); !errors.Is(err, ErrNotSigned) {
		t.Errorf("another identity: %v", err)
	}
	os.WriteFile(filepath.Join(dir, KeyFileName), []byte("garbage"), 0o600)
	if _, err := LoadOrCreate(dir, id, "dev1"); err == nil || !strings.Contains(err.Error(), "tls.key") {
		t.Errorf("damaged key: %v", err)
	}
}

// serve runs a TLS 1.3 server with cert answering "ok" to one read.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if tc, ok := c.(*tls.Conn); ok && tc.Handshake() == nil {
					io.WriteString(c, "ok")
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(addr string, cfg *tls.Config) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	b := make([]byte, 2)
	_, err = io.ReadFull(c, b)
	return err
}

func selfSigned(t *testing.T) tls.Certificate {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mallory"}, NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}

// TestPinnedClient: the client accepts exactly the certificates the pinned
// identity signed; a man in the middle with a certificate of its own (its
// own identity, or any other certificate) is refused, and so is TLS 1.2.
func TestPinnedClient(t *testing.T) {
	dev := newIdentity(t)
	cert, err := LoadOrCreate(t.TempDir(), dev, "dev1")
	if err != nil {
		t.Fatal(err)
	}
	good := serve(t, ServerConfig(cert))
	if err := dial(good, ClientConfig(dev.PublicKey())); err != nil {
		t.Fatalf("pinned client, right device: %v", err)
	}
	if err := dial(good, ClientConfig()); err != nil {
		t.Fatalf("pairing client: %v", err)
	}
	mallory := newIdentity(t)
	mcert, err := LoadOrCreate(t.TempDir(), mallory, "dev1")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]tls.Certificate{"its own identity": mcert, "a self-signed ECDSA certificate": selfSigned(t)} {
		mitm := serve(t, ServerConfig(c))
		if err := dial(mitm, ClientConfig(dev.PublicKey())); !errors.Is(err, ErrNotSigned) {
			t.Errorf("man in the middle with %s: %v, want ErrNotSigned", name, err)
		}
	}
	// A server that shows the device's certificate without its key cannot
	// finish the handshake.
	stolen := tls.Certificate{Certificate: cert.Certificate, PrivateKey: mcert.PrivateKey}
	if err := dial(serve(t, ServerConfig(stolen)), ClientConfig(dev.PublicKey())); err == nil {
		t.Error("a server holding the device's certificate but not its key was accepted")
	}
	// TLS 1.2 only, either way.
	old := ServerConfig(cert)
	old.MinVersion, old.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	if err := dial(serve(t, old), ClientConfig(dev.PublicKey())); err == nil {
		t.Error("the client accepted TLS 1.2")
	}
	cfg := ClientConfig(dev.PublicKey())
	cfg.MaxVersion, cfg.MinVersion = tls.VersionTLS12, tls.VersionTLS12
	if err := dial(good, cfg); err == nil {
		t.Error("the server accepted TLS 1.2")
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.1.2.3": true, "::1": true, "[::1]": true, "localhost": true, "LOCALHOST": true,
		"::ffff:127.0.0.1": true, "": false, "0.0.0.0": false, "::": false, "192.168.1.20": false,
		"doorbell": false, "doorbell.local": false, "localhost.evil.example": false, "10.0.0.1": false,
	} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
	for addr, want := range map[string]bool{"127.0.0.1:8080": true, "[::1]:0": true, "localhost:80": true, ":8080": false, "0.0.0.0:8080": false, "192.168.1.2:8080": false, "garbage": false} {
		if got := ListenAddrIsLoopback(addr); got != want {
			t.Errorf("ListenAddrIsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestURLs(t *testing.T) {
	if got := URLs("127.0.0.1:8080"); len(got) != 1 || got[0] != "http://127.0.0.1:8080" {
		t.Errorf("loopback: %v", got)
	}
	if got := URLs("192.168.1.20:8080"); len(got) != 1 || got[0] != "https://192.168.1.20:8080" {
		t.Errorf("LAN address: %v", got)
	}
	for _, u := range URLs("[::]:8080") {
		if !strings.HasPrefix(u, "https://") || !strings.HasSuffix(u, ":8080") || strings.Contains(u, "127.0.0.1") {
			t.Errorf("all interfaces: %s", u)
		}
	}
}
