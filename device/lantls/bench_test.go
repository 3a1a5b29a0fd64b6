package lantls

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkOwnerRequest is the cost of TLS on an owner command: one
// request with a small JSON answer (as GET /api/v1/info or a grant's
// reply) from a fresh connection, as each doorwardctl command makes, over
// plain HTTP and over the LAN API's TLS 1.3 with the pinned check; and
// over TLS on a kept-alive connection. cpu-µs/op counts the client and the
// server (both in this process).
func BenchmarkOwnerRequest(b *testing.B) {
	dev := newIdentity(b)
	cert, err := LoadOrCreate(b.TempDir(), dev, "dev1")
	if err != nil {
		b.Fatal(err)
	}
	answer := `{"device_id":"dev1","device_key":"ed25519:` + strings.Repeat("x", 43) + `","paired":true,"version":"dev"}`
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answer)
	})
	start := func(cfg *tls.Config) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: h}
		if cfg != nil {
			ln = tls.NewListener(ln, cfg)
		}
		go srv.Serve(ln)
		b.Cleanup(func() { srv.Close() })
		return ln.Addr().String()
	}
	plain, secure := start(nil), start(ServerConfig(cert))
	x := ServerConfig(cert)
	x.CurvePreferences = []tls.CurveID{tls.X25519}
	classic := start(x)
	for _, tc := range []struct {
		name      string
		url       string
		tls       bool
		keepAlive bool
	}{
		{"plain", "http://" + plain, false, false},
		{"tls", "https://" + secure, true, false},
		{"tls-keepalive", "https://" + secure, true, true},
		{"tls-x25519only", "https://" + classic, true, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			t := &http.Transport{DisableKeepAlives: !tc.keepAlive}
			if tc.tls {
				t.TLSClientConfig = ClientConfig(dev.PublicKey())
			}
			c := &http.Client{Transport: t}
			defer t.CloseIdleConnections()
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			for b.Loop() {
				resp, err := c.Get(tc.url + "/api/v1/info")
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
