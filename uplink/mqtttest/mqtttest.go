// Package mqtttest starts a real mosquitto broker for tests: on a free
// loopback port, plain or with TLS and client certificates generated in the
// test, where each certificate's common name is its MQTT user name and the
// ACL confines a device to doorward/v1/<its id>/#. It can stop and restart
// the broker on the same port, keeping its persistent sessions, for outage
// tests, and it has a small subscriber that records what a topic carries.
package mqtttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/doorward/doorward/capture/capturetest"
)

// Options choose the broker's set-up.
type Options struct {
	// TLS makes the broker require a client certificate signed by the test
	// CA, use its common name as the user name and apply the device ACL.
	TLS bool
	// Relays are user names (certificate common names) that may read and
	// write every device's topics, as a relay does.
	Relays []string
}

// Broker is a running (or stopped) mosquitto.
type Broker struct {
	t    testing.TB
	bin  string
	dir  string
	opts Options
	Port int
	// URL is tcp://127.0.0.1:PORT or tls://127.0.0.1:PORT.
	URL string

	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	// CAFile is the test CA's certificate (PEM) for clients, under TLS.
	CAFile string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has ended
	out    *logBuffer
}

// Start starts mosquitto on a free loopback port and stops it when the
// test ends. Without mosquitto the test is skipped (failed under CI=true).
func Start(t testing.TB, opts Options) *Broker {
	t.Helper()
	b := &Broker{t: t, bin: findMosquitto(t), dir: t.TempDir(), opts: opts}
	b.Port = freePort(t)
	scheme := "tcp"
	if opts.TLS {
		scheme = "tls"
		b.makeCA()
	}
	b.URL = fmt.Sprintf("%s://127.0.0.1:%d", scheme, b.Port)
	b.writeConfig()
	b.Restart()
	t.Cleanup(b.Stop)
	return b
}

func findMosquitto(t testing.TB) string {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto"
	}
	return capturetest.Tool(t, "mosquitto")
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (b *Broker) writeConfig() {
	var c strings.Builder
	fmt.Fprintf(&c, "per_listener_settings true\n")
	if os.Geteuid() == 0 {
		// mosquitto started as root drops to the mosquitto user, which
		// cannot read the test's private temp files.
		c.WriteString("user root\n")
	}
	fmt.Fprintf(&c, "persistence true\npersistence_location %s/\nautosave_interval 1\n", b.dir)
	fmt.Fprintf(&c, "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n")
	fmt.Fprintf(&c, "max_queued_messages 100000\n")
	fmt.Fprintf(&c, "listener %d 127.0.0.1\n", b.Port)
	if b.opts.TLS {
		b.writeServerCert()
		acl := filepath.Join(b.dir, "acl")
		var a strings.Builder
		for _, r := range b.opts.Relays {
			fmt.Fprintf(&a, "user %s\ntopic readwrite doorward/v1/#\ntopic read $share/doorward-relay/doorward/v1/#\n\n", r)
		}
		a.WriteString("pattern readwrite doorward/v1/%u/#\n")
		if err := os.WriteFile(acl, []byte(a.String()), 0o600); err != nil {
			b.t.Fatal(err)
		}
		fmt.Fprintf(&c, "allow_anonymous false\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\nuse_identity_as_username true\nacl_file %s\n",
			b.CAFile, filepath.Join(b.dir, "server.pem"), filepath.Join(b.dir, "server.key"), acl)
	} else {
		c.WriteString("allow_anonymous true\n")
	}
	if err := os.WriteFile(filepath.Join(b.dir, "mosquitto.conf"), []byte(c.String()), 0o600); err != nil {
		b.t.Fatal(err)
	}
}

// Restart starts the broker again after Stop, on the same port, with the
// sessions it saved.
func (b *Broker) Restart() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		return
	}
	var lastErr error
	for range 50 {
		cmd := exec.Command(b.bin, "-c", filepath.Join(b.dir, "mosquitto.conf"))
		out := &logBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			b.t.Fatalf("mqtttest: starting mosquitto: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		if b.waitListening(exited) {
			b.cmd, b.out, b.exited = cmd, out, exited
			return
		}
		cmd.Process.Kill()
		<-exited
		lastErr = fmt.Errorf("mosquitto did not listen on port %d: %s", b.Port, out.String())
		time.Sleep(100 * time.Millisecond) // the port may still be in TIME_WAIT
	}
	b.t.Fatalf("mqtttest: %v", lastErr)
}

// waitListening waits until the port accepts connections or mosquitto
// exits.
func (b *Broker) waitListening(exited chan struct{}) bool {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.Port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Stop stops the broker (SIGTERM: it saves its sessions). It is safe to
// call when stopped.
func (b *Broker) Stop() {
	b.mu.Lock()
	cmd, exited := b.cmd, b.exited
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// Log returns what mosquitto logged since it last started.
func (b *Broker) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.out == nil {
		return ""
	}
	return b.out.String()
}

// logBuffer collects mosquitto's output.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (b *Broker) makeCA() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "doorward test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.t.Fatal(err)
	}
	b.ca, _ = x509.ParseCertificate(der)
	b.caKey = key
	b.CAFile = filepath.Join(b.dir, "ca.pem")
	writePEM(b.t, b.CAFile, "CERTIFICATE", der)
}

var serial = struct {
	sync.Mutex
	n int64
}{n: 1}

func (b *Broker) issue(cn string, server bool, certFile, keyFile string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.t.Fatal(err)
	}
	serial.Lock()
	serial.n++
	n := serial.n
	serial.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(n),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, b.ca, &key.PublicKey, b.caKey)
	if err != nil {
		b.t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		b.t.Fatal(err)
	}
	writePEM(b.t, certFile, "CERTIFICATE", der)
	writePEM(b.t, keyFile, "EC PRIVATE KEY", kder)
}

func (b *Broker) writeServerCert() {
	b.issue("127.0.0.1", true, filepath.Join(b.dir, "server.pem"), filepath.Join(b.dir, "server.key"))
}

// ClientCert issues a client certificate whose common name (and so MQTT
// user name) is name, and returns its certificate and key files.
func (b *Broker) ClientCert(name string) (certFile, keyFile string) {
	b.t.Helper()
	if b.ca == nil {
		b.t.Fatal("mqtttest: ClientCert needs a TLS broker")
	}
	dir := b.t.TempDir()
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	b.issue(name, false, certFile, keyFile)
	return certFile, keyFile
}

// ClientTLS returns a client TLS configuration with a certificate for name.
func (b *Broker) ClientTLS(name string) *tls.Config {
	b.t.Helper()
	cert, key := b.ClientCert(name)
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		b.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(b.ca)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Client connects a plain paho client (for test subscribers and
// publishers) and disconnects it when the test ends. clean false keeps a
// persistent session under id across broker restarts.
func (b *Broker) Client(t testing.TB, id string, tlsCfg *tls.Config, clean bool) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(b.URL).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(50 * time.Millisecond).
		SetMaxReconnectInterval(200 * time.Millisecond).SetResumeSubs(true).SetOrderMatters(true)
	if tlsCfg != nil {
		o.SetTLSConfig(tlsCfg)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtttest: connecting %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// Recorder collects the messages a subscription receives.
type Recorder struct {
	mu   sync.Mutex
	msgs []Msg
	c    chan struct{}
}

// Msg is one received message.
type Msg struct {
	Topic    string
	Payload  []byte
	Retained bool
}

// Record subscribes c to filter at QoS 1 and records what arrives.
func Record(t testing.TB, c paho.Client, filter string) *Recorder {
	t.Helper()
	r := &Recorder{c: make(chan struct{}, 1)}
	tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		r.mu.Lock()
		r.msgs = append(r.msgs, Msg{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...), Retained: m.Retained()})
		r.mu.Unlock()
		select {
		case r.c <- struct{}{}:
		default:
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtttest: subscribing to %s: %v", filter, tok.Error())
	}
	return r
}

// Msgs returns what arrived so far.
func (r *Recorder) Msgs() []Msg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Msg(nil), r.msgs...)
}

// WaitFor waits until ok holds for the messages so far, or fails the test
// after timeout.
func (r *Recorder) WaitFor(t testing.TB, timeout time.Duration, what string, ok func([]Msg) bool) []Msg {
	t.Helper()
	deadline := time.After(timeout)
	for {
		msgs := r.Msgs()
		if ok(msgs) {
			return msgs
		}
		select {
		case <-r.c:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("mqtttest: timed out after %v waiting for %s; got %d messages", timeout, what, len(msgs))
		}
	}
}
