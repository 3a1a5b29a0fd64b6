package lanapi_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/doorward/doorward/device/lanapi"
	"github.com/doorward/doorward/device/lantls"
)

// serveWith starts a server for f with cfg's limits and TLS.
func serveWith(t *testing.T, f *fake, cfg lanapi.Config) *lanapi.Server {
	t.Helper()
	cfg.Pairing, cfg.Statements, cfg.Reads, cfg.Audit, cfg.Refusals = f, f, f, f, f
	s, err := lanapi.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

// TestConnectionCap (issue 8, finding 13): connections beyond MaxConns
// wait until one closes; idle connections that send nothing cannot lock
// the owner out for more than the header timeout.
func TestConnectionCap(t *testing.T) {
	s := serveWith(t, &fake{}, lanapi.Config{Addr: "127.0.0.1:0", MaxConns: 2})
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	time.Sleep(100 * time.Millisecond) // both accepted
	client := &http.Client{Timeout: 500 * time.Millisecond}
	if resp, err := client.Get("http://" + s.Addr() + "/api/v1/info"); err == nil {
		resp.Body.Close()
		t.Fatal("a third connection was served while two were open and the cap is 2")
	}
	idle[0].Close()
	client.Timeout = 5 * time.Second
	resp, err := client.Get("http://" + s.Addr() + "/api/v1/info")
	if err != nil {
		t.Fatalf("after one connection closed: %v", err)
	}
	resp.Body.Close()
	if lanapi.DefaultMaxConns < 8 || lanapi.DefaultMaxConns > 256 {
		t.Errorf("DefaultMaxConns %d", lanapi.DefaultMaxConns)
	}
}

// TestIdleTimeout (issue 8, finding 13): a kept-alive connection that stays
// idle is closed after IdleTimeout.
func TestIdleTimeout(t *testing.T) {
	s := serveWith(t, &fake{}, lanapi.Config{Addr: "127.0.0.1:0", IdleTimeout: 300 * time.Millisecond})
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /api/v1/info HTTP/1.1\r\nHost: doorbell\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle kept-alive connection: %v, want the server to close it", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("closed after %v, want about 300ms", d)
	}
}

// TestLANAddressNeedsTLS: plain HTTP only on loopback; with TLS the API
// speaks TLS 1.3 and nothing else.
func TestLANAddressNeedsTLS(t *testing.T) {
	f := &fake{}
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0"} {
		_, err := lanapi.Listen(lanapi.Config{Addr: addr, Pairing: f, Statements: f, Reads: f, Audit: f, Refusals: f})
		if err == nil || !strings.Contains(err.Error(), "needs TLS") {
			t.Errorf("plain HTTP on %s: %v", addr, err)
		}
	}
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	id := identity{k}
	cert, err := lantls.LoadOrCreate(t.TempDir(), id, "dev1")
	if err != nil {
		t.Fatal(err)
	}
	s := serveWith(t, f, lanapi.Config{Addr: "0.0.0.0:0", TLS: lantls.ServerConfig(cert)})
	_, port, _ := net.SplitHostPort(s.Addr())
	tr := &http.Transport{TLSClientConfig: lantls.ClientConfig(id.PublicKey())}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://127.0.0.1:" + port + "/api/v1/info")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 {
		t.Errorf("connection state %+v", resp.TLS)
	}
	if resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://127.0.0.1:" + port + "/api/v1/info"); err == nil {
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP answered on the TLS port")
		}
		resp.Body.Close()
	}
}

type identity struct{ k ed25519.PrivateKey }

func (i identity) PublicKey() ed25519.PublicKey { return i.k.Public().(ed25519.PublicKey) }
func (i identity) Sign(m []byte) []byte         { return ed25519.Sign(i.k, m) }

// TestControlSocketPrivateFromTheStart (issue 8, finding 13): the control
// socket is created under umask 077, so it is never, even for an instant,
// connectable by other users; it is not chmod'ed afterwards.
func TestControlSocketPrivateFromTheStart(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	var mode os.FileMode
	lanapi.SetAfterControlListen(func(path string) {
		if st, err := os.Stat(path); err == nil {
			mode = st.Mode().Perm()
		}
	})
	defer lanapi.SetAfterControlListen(nil)
	path := filepath.Join(t.TempDir(), "control.sock")
	c, err := lanapi.ListenControl(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if mode == 0 || mode&0o077 != 0 {
		t.Fatalf("the control socket existed with mode %04o, want 0600 or stricter from the start", mode)
	}
	if st, _ := os.Stat(path); st.Mode().Perm()&0o077 != 0 {
		t.Errorf("control socket mode %04o", st.Mode().Perm())
	}
	if now := syscall.Umask(old); now != 0o022 {
		t.Errorf("the process umask was left at %04o", now)
	}
	syscall.Umask(0o022)
}
