package main

// Helpers for the end-to-end tests that run the doorward agent (sim board)
// and doorwardctl as built binaries, talking over the LAN API as a user
// would.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/device/lanclient"
)

type e2eBins struct{ doorward, doorwardctl string }

// builtBins builds both binaries once per test process, as users get them.
var builtBins = sync.OnceValues(func() (e2eBins, error) {
	dir, err := os.MkdirTemp("", "doorwardctl-e2e-")
	if err != nil {
		return e2eBins{}, err
	}
	b := e2eBins{filepath.Join(dir, "doorward"), filepath.Join(dir, "doorwardctl")}
	for path, pkg := range map[string]string{b.doorward: "../doorward", b.doorwardctl: "."} {
		out, err := exec.Command("go", buildArgs("-o", path, pkg)...).CombinedOutput()
		if err != nil {
			return e2eBins{}, fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return b, nil
})

// e2e skips under -short, marks the test parallel and returns the built
// binaries.
func e2e(t *testing.T) e2eBins {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	// Each test has its own state directory, owner home and port: they
	// run side by side (go test -parallel, GOMAXPROCS by default).
	t.Parallel()
	b, err := builtBins()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ctl runs doorwardctl in dir with stdin (may be empty).
func ctl(t *testing.T, b e2eBins, dir, stdin string, args ...string) result {
	t.Helper()
	return runCtl(t, b.doorwardctl, dir, stdin, args...)
}

// mustCtl runs doorwardctl and fails the test unless it exits 0.
func mustCtl(t *testing.T, b e2eBins, dir string, args ...string) string {
	t.Helper()
	r := ctl(t, b, dir, "", args...)
	if r.code != 0 {
		t.Fatalf("doorwardctl %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// refused checks a refusal that printed something before failing (the
// policy shown by pair): exit 1, the last stderr line one "doorwardctl: "
// error naming the problem, no panic or usage dump.
func refused(t *testing.T, r result, contains ...string) {
	t.Helper()
	if r.code != 1 {
		t.Errorf("exit code %d, want 1", r.code)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(last, "doorwardctl: ") || strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "Usage:") {
		t.Errorf("stderr does not end in one doorwardctl error line: %q", r.stderr)
	}
	for _, c := range contains {
		if !strings.Contains(last, c) {
			t.Errorf("error %q does not contain %q", last, c)
		}
	}
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// device is a running `doorward run --board sim` with its LAN API.
type device struct {
	t      *testing.T
	b      e2eBins
	state  string
	config string
	env    []string // extra environment for the agent
	addr   string
	listen string // --listen, when not addr (all interfaces: the LAN API is TLS)
	url    string
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	done   chan struct{}
	err    error
}

func startDevice(t *testing.T, b e2eBins, state, config string) *device {
	t.Helper()
	d := &device{t: t, b: b, state: state, config: config, addr: freeAddr(t)}
	d.url = "http://" + d.addr
	d.start()
	t.Cleanup(func() {
		d.kill()
		if t.Failed() {
			t.Logf("agent output:\n%s", d.output())
		}
	})
	return d
}

// startTLSDevice is startDevice listening on every interface, as on a
// LAN: the LAN API is then TLS, reached at https://127.0.0.1:PORT.
func startTLSDevice(t *testing.T, b e2eBins, state, config string) *device {
	t.Helper()
	d := &device{t: t, b: b, state: state, config: config, addr: freeAddr(t)}
	d.useTLS()
	d.start()
	t.Cleanup(func() {
		d.kill()
		if t.Failed() {
			t.Logf("agent output:\n%s", d.output())
		}
	})
	return d
}

// useTLS makes the next start listen on every interface (TLS).
func (d *device) useTLS() {
	_, port, _ := net.SplitHostPort(d.addr)
	d.listen = "0.0.0.0:" + port
	d.url = "https://127.0.0.1:" + port
}

// start runs the agent (again) on the same state, config and address and
// waits until /api/v1/info answers.
func (d *device) start() {
	t := d.t
	t.Helper()
	listen := d.addr
	if d.listen != "" {
		listen = d.listen
	}
	args := []string{"run", "--board", "sim", "--state", d.state, "--listen", listen}
	if d.config != "" {
		args = append(args, "--config", d.config)
	}
	d.cmd = exec.Command(d.b.doorward, args...)
	d.cmd.Env = append(os.Environ(), d.env...)
	d.done = make(chan struct{})
	pr, pw := io.Pipe()
	d.cmd.Stdout, d.cmd.Stderr = pw, pw
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := d.done
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			d.mu.Lock()
			d.out.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
		}
	}()
	cmd := d.cmd
	go func() {
		d.err = cmd.Wait()
		pw.Close()
		close(done)
	}()
	deadline := time.Now().Add(15 * time.Second)
	probe := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer probe.CloseIdleConnections()
	for {
		resp, err := probe.Get(d.url + "/api/v1/info")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-done:
			t.Fatalf("agent exited at start: %v\n%s", d.err, d.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent LAN API did not answer within 15 s\n%s", d.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *device) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.String()
}

// stop sends SIGTERM and waits for a clean exit.
func (d *device) stop() {
	d.t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		d.t.Fatal("agent still running 5 s after SIGTERM")
	}
}

func (d *device) kill() {
	select {
	case <-d.done:
	default:
		d.cmd.Process.Kill()
		<-d.done
	}
}

// restart stops the agent and starts it again on the same state.
func (d *device) restart() {
	d.t.Helper()
	d.stop()
	d.start()
}

// pairCode returns the agent's current one-time pairing code, as
// `doorward pair-code --state DIR` prints it on its first line.
func (d *device) pairCode() string {
	d.t.Helper()
	cmd := exec.Command(d.b.doorward, "pair-code", "--state", d.state)
	out, err := cmd.Output()
	if err != nil {
		d.t.Fatalf("doorward pair-code --state %s: %v", d.state, err)
	}
	code, _, _ := strings.Cut(string(out), "\n")
	if !regexp.MustCompile(`^[A-Z2-7]{4}(-[A-Z2-7]{4}){6}$`).MatchString(code) {
		d.t.Fatalf("doorward pair-code printed %q on its first line, want the code alone", code)
	}
	return code
}

func (d *device) info() api.Info {
	d.t.Helper()
	c, err := lanclient.New(d.url)
	if err != nil {
		d.t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	return info
}

// clipInfo is what `doorward clips --json` shows of a clip.
type clipInfo struct {
	ID        string    `json:"id"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Recording bool      `json:"recording"`
	Segments  int       `json:"segments"`
}

// recordClip fires motion and waits until a new clip is closed with at
// least minSegs segments, and returns it.
func (d *device) recordClip(minSegs int) clipInfo {
	d.t.Helper()
	before := len(d.clips())
	out, err := exec.Command(d.b.doorward, "trigger", "motion", "--state", d.state).CombinedOutput()
	if err != nil {
		d.t.Fatalf("doorward trigger motion: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		cs := d.clips()
		if len(cs) > before && !cs[len(cs)-1].Recording && cs[len(cs)-1].Segments >= minSegs {
			return cs[len(cs)-1]
		}
		time.Sleep(200 * time.Millisecond)
	}
	d.t.Fatal("no closed clip within 30 s")
	return clipInfo{}
}

func (d *device) clips() []clipInfo {
	d.t.Helper()
	out, err := exec.Command(d.b.doorward, "clips", "--state", d.state, "--json").Output()
	if err != nil {
		d.t.Fatalf("doorward clips: %v", err)
	}
	var cs []clipInfo
	if err := json.Unmarshal(out, &cs); err != nil {
		d.t.Fatalf("clips --json: %v\n%s", err, out)
	}
	return cs
}

// home is an owner's directory with an owner key.
type home struct {
	dir, key, recipient string
}

func newHome(t *testing.T, b e2eBins) home {
	t.Helper()
	dir := t.TempDir()
	out := mustCtl(t, b, dir, "keygen", "-o", "owner.key")
	rcpt, _, _ := strings.Cut(out, "\n")
	return home{dir: dir, key: filepath.Join(dir, "owner.key"), recipient: rcpt}
}

// issuerKey makes an issuer key with doorwardctl and returns its path and
// public key line.
func issuerKey(t *testing.T, b e2eBins, dir, name string) (string, string) {
	t.Helper()
	out := mustCtl(t, b, dir, "issuer", "keygen", "-o", name+".key")
	pub, _, _ := strings.Cut(out, "\n")
	return filepath.Join(dir, name+".key"), pub
}

func mustIssuerKey(t *testing.T, path string) ed25519.PrivateKey {
	t.Helper()
	k, err := readIssuerKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeConfig writes an agent config with short clips and a legal section.
func writeConfig(t *testing.T, dir, legal string) string {
	t.Helper()
	path := filepath.Join(dir, "doorward.yaml")
	cfg := "recording:\n  pre_roll: 1s\n  post_roll: 2s\n  segment: 1s\n  max_clip: 10s\n" + legal
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// pairOwner pairs h with d through the CLI.
func pairOwner(t *testing.T, b e2eBins, d *device, h home) {
	t.Helper()
	mustCtl(t, b, h.dir, "pair", "--device", d.url, "--code", d.pairCode(), "-i", h.key, "--yes")
}

// fetchAudit fetches the audit log with the owner's login, through the
// pinned session (the same path audit verify takes).
func fetchAudit(t *testing.T, d *device, h home) api.AuditReply {
	t.Helper()
	ctx := context.Background()
	s, err := connect(ctx, d.url, h.key)
	if err != nil {
		t.Fatal(err)
	}
	login, err := s.login()
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.client.Audit(ctx, login, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.Verify(s.key, r.Checkpoint, r.Entries, nil, nil); err != nil {
		t.Fatalf("fetched audit log does not verify: %v", err)
	}
	return r
}

// newJTI is consent.NewJTI, named for the tests.
func newJTI() string { return consent.NewJTI() }
