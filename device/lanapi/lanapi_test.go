package lanapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/consent/pairing"
	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/device/lanapi"
)

// fake is a device behind the API: every answer is set by the test.
type fake struct {
	grant     func([]byte) (api.GrantReply, error)
	reset     func()
	loginOK   bool
	audit     api.AuditReply
	proofs    atomic.Int32
	refusals  atomic.Int32
	disclosed []api.Disclosure
	next      string
	query     string // the last Disclosures query
	entries   string // the last Entries range
}

var (
	_ lanapi.Pairing    = (*fake)(nil)
	_ lanapi.Statements = (*fake)(nil)
	_ lanapi.Reads      = (*fake)(nil)
	_ lanapi.Refusals   = (*fake)(nil)
	_ lanapi.AuditLog   = (*fake)(nil)
)

func (f *fake) PairHello(pairing.Hello) (pairing.HelloReply, error) {
	return pairing.HelloReply{}, pairing.ErrAlreadyPaired
}
func (f *fake) PairFinish(pairing.Finish) error { return pairing.ErrAlreadyPaired }
func (f *fake) Grant(b []byte) (api.GrantReply, error) {
	if f.grant != nil {
		return f.grant(b)
	}
	return api.GrantReply{JTI: "g1", Disclosures: 2}, nil
}
func (f *fake) Revoke([]byte) (api.RevokeReply, error) {
	return api.RevokeReply{}, &lanapi.Error{Status: http.StatusNotFound, Reason: "unknown-grant", Err: errors.New("gate: no such grant")}
}
func (f *fake) Legal([]byte) (api.LegalReply, error) {
	return api.LegalReply{}, consent.ErrQuorumNotMet
}
func (f *fake) SetPolicy([]byte) (api.PolicyReply, error) {
	return api.PolicyReply{}, errors.New("disk on fire")
}
func (f *fake) Enroll([]byte) (api.EnrollReply, error) { return api.EnrollReply{KID: "k1"}, nil }
func (f *fake) Backup([]byte) (api.BackupReply, error) {
	return api.BackupReply{On: true, JTI: "b1"}, nil
}
func (f *fake) VerifyReset([]byte) error { return nil }
func (f *fake) Reset() {
	if f.reset != nil {
		f.reset()
	}
}
func (f *fake) Info() api.Info {
	return api.Info{DeviceID: "dev", DeviceKey: "ed25519:x", Version: "test"}
}
func (f *fake) Policy() (api.PolicyInfo, error) {
	return api.PolicyInfo{Hash: "ab", Approved: true}, nil
}
func (f *fake) VerifyLogin([]byte) (string, error) {
	if !f.loginOK {
		return "", consent.ErrBadSignature
	}
	return "ownerkid", nil
}
func (f *fake) Notices() ([]api.Notice, error) { return nil, nil }
func (f *fake) Disclosures(after string, limit int, unfinished bool) ([]api.Disclosure, string, error) {
	f.query = fmt.Sprintf("after=%s limit=%d unfinished=%v", after, limit, unfinished)
	return f.disclosed, f.next, nil
}
func (f *fake) Checkpoint() (audit.SignedCheckpoint, error) { return f.audit.Checkpoint, nil }
func (f *fake) Entries(from, to uint64) ([]audit.Entry, error) {
	f.entries = fmt.Sprintf("%d..%d", from, to)
	return nil, nil
}
func (f *fake) PendingRefusals() map[string]uint64 { return map[string]uint64{"malformed": 1} }
func (f *fake) ConsistencyProof(old, new uint64) ([][]byte, error) {
	f.proofs.Add(1)
	return [][]byte{{byte(old), byte(new)}}, nil
}
func (f *fake) RecordUnauthenticated(reason string) error {
	f.refusals.Add(1)
	return nil
}

// serve starts a server for f and returns it with its base URL, a stop
// function that ends Serve, and a wait function that returns Serve's error
// once it has returned.
func serve(t *testing.T, f *fake, extra func(*lanapi.Server)) (*lanapi.Server, string, context.CancelFunc, func() error) {
	t.Helper()
	s, err := lanapi.Listen(lanapi.Config{Addr: "127.0.0.1:0", Pairing: f, Statements: f, Reads: f, Audit: f, Refusals: f})
	if err != nil {
		t.Fatal(err)
	}
	if extra != nil {
		extra(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var serr error
	go func() {
		serr = s.Serve(ctx)
		close(done)
	}()
	wait := func() error {
		<-done
		return serr
	}
	t.Cleanup(func() {
		cancel()
		if err := wait(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, "http://" + s.Addr(), cancel, wait
}

func do(t *testing.T, method, url, auth string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestRoutesAndRefusals(t *testing.T) {
	f := &fake{}
	_, base, _, _ := serve(t, f, nil)
	for _, tc := range []struct {
		method, path string
		body         string
		status       int
		want         string
	}{
		{"GET", "/api/v1/info", "", 200, `"device_id":"dev"`},
		{"POST", "/api/v1/grants", "{}", 201, `{"jti":"g1","disclosures":2}`},
		{"POST", "/api/v1/revocations", "{}", 404, `"reason":"unknown-grant","error":"gate: no such grant"`},
		{"POST", "/api/v1/legal", "{}", 403, `"reason":"quorum-not-met"`},
		{"POST", "/api/v1/policy", "{}", 500, `"reason":"internal","error":"disk on fire"`},
		{"POST", "/api/v1/enroll", "{}", 200, `{"kid":"k1"}`},
		{"GET", "/api/v1/policy", "", 200, `"hash":"ab","approved":true`},
		{"POST", "/api/v1/pair/hello", "not json", 400, `"ok":false`},
		{"POST", "/api/v1/grants", strings.Repeat("x", api.MaxBody+1), 400, `"reason":"body-too-large"`},
		{"GET", "/api/v1/notices", "", 401, `"reason":"no-login"`},
	} {
		status, body := do(t, tc.method, base+tc.path, "", []byte(tc.body))
		if status != tc.status || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s %s: %d %s, want %d with %s", tc.method, tc.path, status, body, tc.status, tc.want)
		}
	}
	if n := f.refusals.Load(); n != 1 {
		t.Errorf("%d unauthenticated refusals counted, want 1 (the oversized body)", n)
	}
}

func TestOwnerReads(t *testing.T) {
	f := &fake{audit: api.AuditReply{Checkpoint: audit.SignedCheckpoint{Checkpoint: audit.Checkpoint{Size: 5, Root: make([]byte, 32), Time: time.Unix(100, 0)}, Signature: make([]byte, 64)}}}
	_, base, _, _ := serve(t, f, nil)
	login := api.LoginScheme + " {}"
	if status, body := do(t, "GET", base+"/api/v1/disclosures", login, nil); status != 401 || !strings.Contains(string(body), "bad-signature") {
		t.Errorf("bad login: %d %s", status, body)
	}
	f.loginOK = true
	for path, want := range map[string]string{"/api/v1/notices": "[]\n", "/api/v1/disclosures": "[]\n"} {
		if status, body := do(t, "GET", base+path, login, nil); status != 200 || string(body) != want {
			t.Errorf("%s: %d %q, want an empty list", path, status, body)
		}
	}
	status, body := do(t, "GET", base+"/api/v1/audit?since=6", login, nil)
	if status != 400 || !strings.Contains(string(body), "from 0 to 5") {
		t.Errorf("since past the size: %d %s", status, body)
	}
	status, body = do(t, "GET", base+"/api/v1/audit?since=3", login, nil)
	var r api.AuditReply
	if status != 200 || json.Unmarshal(body, &r) != nil || r.Checkpoint.Size != 5 || r.From != 3 || len(r.Consistency) != 1 || r.Entries == nil || r.PendingRefusals["malformed"] != 1 {
		t.Errorf("audit since 3: %d %s", status, body)
	}
	if f.entries != "3..5" {
		t.Errorf("entries %s asked, want 3..5", f.entries)
	}
	f.disclosed, f.next = []api.Disclosure{{ID: "j1", State: "pending"}}, "j1"
	req, _ := http.NewRequest("GET", base+"/api/v1/disclosures?after=j0&limit=1&unfinished=1", nil)
	req.Header.Set("Authorization", login)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(api.NextHeader) != "j1" || f.query != "after=j0 limit=1 unfinished=true" {
		t.Errorf("page: %d next %q query %q", resp.StatusCode, resp.Header.Get(api.NextHeader), f.query)
	}
	if status, body := do(t, "GET", fmt.Sprintf("%s/api/v1/disclosures?limit=%d", base, api.MaxDisclosurePage+1), login, nil); status != 400 || !strings.Contains(string(body), "malformed") {
		t.Errorf("limit over the page size: %d %s", status, body)
	}
	if f.proofs.Load() != 1 {
		t.Errorf("%d consistency proofs asked, want 1", f.proofs.Load())
	}
}

// GET /api/v1/owner is the login check alone: the owner's key ID on a good
// login, the same 401 refusals as every owner read otherwise, and nothing
// about the device.
func TestOwnerCheck(t *testing.T) {
	f := &fake{}
	_, base, _, _ := serve(t, f, nil)
	if status, body := do(t, "GET", base+"/api/v1/owner", "", nil); status != 401 || !strings.Contains(string(body), `"reason":"no-login"`) {
		t.Errorf("no login: %d %s", status, body)
	}
	if status, body := do(t, "GET", base+"/api/v1/owner", api.LoginScheme+" !!", nil); status != 401 || !strings.Contains(string(body), `"reason":"malformed"`) {
		t.Errorf("a login that is not a statement: %d %s", status, body)
	}
	if status, body := do(t, "GET", base+"/api/v1/owner", api.LoginScheme+" {}", nil); status != 401 || !strings.Contains(string(body), `"reason":"bad-signature"`) {
		t.Errorf("refused login: %d %s", status, body)
	}
	f.loginOK = true
	if status, body := do(t, "GET", base+"/api/v1/owner", api.LoginScheme+" {}", nil); status != 200 || string(body) != `{"owner":"ownerkid"}`+"\n" {
		t.Errorf("good login: %d %q, want 200 with the owner's key ID alone", status, body)
	}
	if status, _ := do(t, "POST", base+"/api/v1/owner", api.LoginScheme+" {}", []byte("{}")); status != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", status)
	}
}

// A decision that committed while the agent was told to stop still gets
// its answer: Serve shuts down and waits for it.
func TestShutdownAnswersRequestInProgress(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	f := &fake{grant: func([]byte) (api.GrantReply, error) {
		close(entered)
		<-release // the decision is being committed
		return api.GrantReply{JTI: "late", Disclosures: 1}, nil
	}}
	_, base, stop, wait := serve(t, f, nil)
	type answer struct {
		status int
		body   []byte
	}
	got := make(chan answer, 1)
	go func() {
		status, body := do(t, "POST", base+"/api/v1/grants", "", []byte("{}"))
		got <- answer{status, body}
	}()
	<-entered
	stop()
	returned := make(chan error, 1)
	go func() { returned <- wait() }()
	select {
	case err := <-returned:
		t.Fatalf("Serve returned (%v) with a request in progress", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	a := <-got
	if a.status != http.StatusCreated || !strings.Contains(string(a.body), `"jti":"late"`) {
		t.Fatalf("answer %d %s, want 201 with the grant", a.status, a.body)
	}
	if err := <-returned; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(base + "/api/v1/info"); err == nil {
		t.Error("the server still answers after Serve returned")
	}
}

// An owner-signed reset stops the agent from inside the request; the 202
// still reaches the owner.
func TestResetIsAnswered(t *testing.T) {
	f := &fake{}
	var once sync.Once
	_, base, stop, wait := serve(t, f, nil)
	f.reset = func() { once.Do(stop) }
	status, body := do(t, "POST", base+"/api/v1/reset", "", []byte("{}"))
	if status != http.StatusAccepted || strings.TrimSpace(string(body)) != "{}" {
		t.Fatalf("reset: %d %q", status, body)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}

// The live view mounts its WHEP endpoints on the same server.
func TestHandle(t *testing.T) {
	s, base, _, _ := serve(t, &fake{}, func(s *lanapi.Server) {
		s.Handle("POST /api/v1/whep", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, "answer")
		}))
		s.Handle("DELETE /api/v1/whep/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "closed "+r.PathValue("id"))
		}))
	})
	if status, body := do(t, "POST", base+"/api/v1/whep", "", []byte("offer")); status != 201 || string(body) != "answer" {
		t.Errorf("POST whep: %d %q", status, body)
	}
	if status, body := do(t, "DELETE", base+"/api/v1/whep/abc", "", nil); status != 200 || string(body) != "closed abc" {
		t.Errorf("DELETE whep: %d %q", status, body)
	}
	defer func() {
		if recover() == nil {
			t.Error("Handle after Serve did not panic")
		}
	}()
	s.Handle("GET /late", http.NotFoundHandler())
}

func TestCloseWithoutServe(t *testing.T) {
	f := &fake{}
	s, err := lanapi.Listen(lanapi.Config{Addr: "127.0.0.1:0", Pairing: f, Statements: f, Reads: f, Audit: f, Refusals: f})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	s.Close()
	s.Close()
	if err := s.Serve(context.Background()); err == nil {
		t.Error("Serve after Close succeeded")
	}
	// The port is free again.
	s2, err := lanapi.Listen(lanapi.Config{Addr: addr, Pairing: f, Statements: f, Reads: f, Audit: f, Refusals: f})
	if err != nil {
		t.Fatalf("port not released: %v", err)
	}
	s2.Close()
	if _, err := lanapi.Listen(lanapi.Config{Addr: "127.0.0.1:0"}); err == nil {
		t.Error("Listen without the interfaces succeeded")
	}
}

type controller struct{ calls atomic.Int32 }

func (c *controller) Control(_ context.Context, req api.ControlRequest) api.ControlResponse {
	c.calls.Add(1)
	if req.Op != api.OpStatus {
		return api.ControlResponse{Error: "unknown op " + req.Op}
	}
	return api.ControlResponse{OK: true, Status: &api.Status{DeviceID: "dev"}}
}

func TestControlSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), api.SocketName)
	if err := os.WriteFile(path, nil, 0o600); err != nil { // stale
		t.Fatal(err)
	}
	c := &controller{}
	s, err := lanapi.ListenControl(path, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("socket: %v, mode %v; want no access for group and others", err, fi.Mode().Perm())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.Serve(ctx)
		close(done)
	}()
	resp, err := lanapi.Call(context.Background(), path, api.ControlRequest{Op: api.OpStatus})
	if err != nil || resp.Status == nil || resp.Status.DeviceID != "dev" {
		t.Fatalf("status: %+v, %v", resp, err)
	}
	if _, err := lanapi.Call(context.Background(), path, api.ControlRequest{Op: "explode"}); err == nil || err.Error() != "unknown op explode" {
		t.Errorf("refused op: %v", err)
	}
	cancel()
	<-done
	s.Close() // again: a no-op
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
	if _, err := lanapi.Call(context.Background(), path, api.ControlRequest{Op: api.OpStatus}); !errors.Is(err, lanapi.ErrNoAgent) {
		t.Errorf("after close: %v, want ErrNoAgent", err)
	}
	if c.calls.Load() != 2 {
		t.Errorf("%d calls", c.calls.Load())
	}
}

// POST /api/v1/sim/trigger fires a sensor for an owner on the sim board
// only: no login, a bad login, a real board and a bad body are refused and
// fire nothing.
func TestSimTrigger(t *testing.T) {
	var fired []string
	mk := func(sim bool) string {
		f := &fake{loginOK: true}
		cfg := lanapi.Config{Addr: "127.0.0.1:0", Pairing: f, Statements: f, Reads: f, Audit: f, Refusals: f}
		if sim {
			cfg.SimTrigger = func(ev string) error {
				if ev != "motion" && ev != "ring" {
					return &lanapi.Error{Status: http.StatusBadRequest, Reason: "bad-event", Err: errors.New("no such event")}
				}
				fired = append(fired, ev)
				return nil
			}
		}
		s, err := lanapi.Listen(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.Serve(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		return "http://" + s.Addr() + "/api/v1/sim/trigger"
	}
	sim, real := mk(true), mk(false)
	login := api.LoginScheme + " {}"
	for _, tc := range []struct {
		url, auth, body string
		status          int
		reason          string
	}{
		{sim, "", `{"event":"ring"}`, 401, "no-login"},
		{real, login, `{"event":"ring"}`, 403, "not-sim-board"},
		{sim, login, `{"event":"ring","x":1}`, 400, "malformed"},
		{sim, login, `{"event":"fire"}`, 400, "bad-event"},
		{sim, login, `{"event":"ring"}`, 202, ""},
		{sim, login, `{"event":"motion"}`, 202, ""},
	} {
		status, body := do(t, "POST", tc.url, tc.auth, []byte(tc.body))
		if status != tc.status || !strings.Contains(string(body), tc.reason) {
			t.Errorf("%s %s: %d %s, want %d %s", tc.url, tc.body, status, body, tc.status, tc.reason)
		}
	}
	if strings.Join(fired, ",") != "ring,motion" {
		t.Errorf("fired %v, want ring then motion", fired)
	}
}
