package live_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/simcam"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/clock"
	"github.com/doorward/doorward/device/lanclient"
	"github.com/doorward/doorward/uplink/live"
)

// fakeAuth stands in for the gate: a statement is JSON {"jti","binding",
// "refuse"}; it refuses replayed jtis, another offer's binding and any
// "refuse" reason, and lets the test end an authority (a revocation).
type fakeAuth struct {
	mu      sync.Mutex
	used    map[string]bool
	ends    map[string]string // session id → end reason
	active  map[string]*fakeAuthority
	started int
}

type fakeStatement struct {
	JTI     string `json:"jti"`
	Binding string `json:"binding"`
	Refuse  string `json:"refuse,omitempty"`
}

func newFakeAuth() *fakeAuth {
	return &fakeAuth{used: map[string]bool{}, ends: map[string]string{}, active: map[string]*fakeAuthority{}}
}

func (f *fakeAuth) AuthorizeLive(statement []byte, binding string) (live.Authority, error) {
	var st fakeStatement
	if err := json.Unmarshal(statement, &st); err != nil {
		return nil, &consent.Error{Reason: consent.ReasonMalformed, Detail: err.Error()}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case st.Refuse != "":
		return nil, &consent.Error{Reason: consent.Reason(st.Refuse)}
	case f.used[st.JTI]:
		return nil, consent.ErrReplayed
	case st.Binding != binding:
		return nil, &consent.Error{Reason: "binding-mismatch", Detail: "statement is bound to another offer"}
	}
	f.used[st.JTI] = true
	f.started++
	a := &fakeAuthority{f: f, id: st.JTI, done: make(chan struct{})}
	f.active[st.JTI] = a
	return a, nil
}

func (f *fakeAuth) revoke(jti string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.active[jti].done)
}

func (f *fakeAuth) endReason(jti string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ends[jti]
}

type fakeAuthority struct {
	f    *fakeAuth
	id   string
	done chan struct{}
}

func (a *fakeAuthority) ID() string            { return a.id }
func (a *fakeAuthority) Viewer() string        { return "owner-" + a.id }
func (a *fakeAuthority) Done() <-chan struct{} { return a.done }
func (a *fakeAuthority) End(reason string) error {
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	if _, dup := a.f.ends[a.id]; dup {
		return errors.New("ended twice")
	}
	a.f.ends[a.id] = reason
	return nil
}

// rig is a Hub fed by the sim clip in real time, a live server over it and
// the WHEP endpoints on an HTTP server.
type rig struct {
	hub    *capture.Hub
	auth   *fakeAuth
	srv    *live.Server
	client *lanclient.Client
}

func newRig(t *testing.T, cfg live.Config, opts ...func(*live.Options)) *rig {
	t.Helper()
	src, err := capture.NewFileSource(simcam.Clip(), simcam.FPS, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	hub := capture.NewHub(nil)
	ctx, cancel := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() { defer close(hubDone); hub.Run(ctx, src) }()
	auth := newFakeAuth()
	o := live.Options{Config: cfg, Feed: hub, Auth: auth}
	for _, f := range opts {
		f(&o)
	}
	srv, err := live.New(o)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	client, err := lanclient.New(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
		cancel()
		<-hubDone
		src.Close()
	})
	// Let the hub hold a GOP, as a running device does.
	time.Sleep(1200 * time.Millisecond)
	return &rig{hub: hub, auth: auth, srv: srv, client: client}
}

// signer returns a Sign function issuing the fake statement jti.
func signer(jti string) func(string) ([]byte, error) {
	return func(binding string) ([]byte, error) {
		return json.Marshal(fakeStatement{JTI: jti, Binding: binding})
	}
}

func TestWatchReceivesTheSimClip(t *testing.T) {
	r := newRig(t, live.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := live.Watch(ctx, live.WatchOptions{Sign: signer("j1"), Signal: r.client, Duration: 2 * time.Second})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	t.Logf("result: %+v", res)
	if res.Frames < 40 {
		t.Errorf("%d frames in 2 s of a 30 fps stream", res.Frames)
	}
	if res.Width != 640 || res.Height != 480 {
		t.Errorf("picture %dx%d, want 640x480", res.Width, res.Height)
	}
	if res.FirstFrame > 2*time.Second {
		t.Errorf("first frame after %s", res.FirstFrame)
	}
	waitFor(t, func() bool { return r.auth.endReason("j1") != "" })
	if got := r.auth.endReason("j1"); got != live.EndViewer {
		t.Errorf("session ended with %q, want %q (the viewer's DELETE)", got, live.EndViewer)
	}
	if n := len(r.srv.Sessions()); n != 0 {
		t.Errorf("%d sessions left after DELETE", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Refusals: no media flows and no session exists.
func TestRefusals(t *testing.T) {
	r := newRig(t, live.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	watch := func(sign func(string) ([]byte, error)) (live.Result, error) {
		return live.Watch(ctx, live.WatchOptions{Sign: sign, Signal: r.client, Duration: 500 * time.Millisecond})
	}
	if _, err := watch(signer("used")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		sign   func(string) ([]byte, error)
		status int
		reason string
	}{
		{"no statement", func(string) ([]byte, error) { return nil, nil }, http.StatusUnauthorized, live.ReasonNoStatement},
		{"replayed jti", signer("used"), http.StatusForbidden, string(consent.ReasonReplayed)},
		{"another offer's fingerprint", func(string) ([]byte, error) {
			return json.Marshal(fakeStatement{JTI: "other", Binding: live.Binding("sha-256 " + fp32("AB"))})
		}, http.StatusForbidden, "binding-mismatch"},
		{"expired", func(b string) ([]byte, error) {
			return json.Marshal(fakeStatement{JTI: "exp", Binding: b, Refuse: string(consent.ReasonExpired)})
		}, http.StatusForbidden, string(consent.ReasonExpired)},
		{"malformed", func(string) ([]byte, error) { return []byte("{not json"), nil }, http.StatusBadRequest, string(consent.ReasonMalformed)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := watch(c.sign)
			var ae *lanclient.APIError
			if !errors.As(err, &ae) || ae.Status != c.status || ae.Reason != c.reason {
				t.Fatalf("err = %v, want %d %s", err, c.status, c.reason)
			}
			if res.Frames != 0 {
				t.Errorf("%d frames flowed", res.Frames)
			}
			if n := len(r.srv.Sessions()); n != 0 {
				t.Errorf("%d sessions running", n)
			}
		})
	}
}

func fp32(b string) string {
	s := b
	for range 31 {
		s += ":" + b
	}
	return s
}

// When the authority ends (a revocation), frames stop within a second and
// the end is recorded with its reason.
func TestRevocationEndsSession(t *testing.T) {
	r := newRig(t, live.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	var last time.Time
	revoked := make(chan time.Time, 1)
	frames := 0
	done := make(chan live.Result, 1)
	go func() {
		res, err := live.Watch(ctx, live.WatchOptions{Sign: signer("rv"), Signal: r.client, OnFrame: func([]byte, bool) {
			mu.Lock()
			defer mu.Unlock()
			last = time.Now()
			frames++
			if frames == 30 {
				go func() { r.auth.revoke("rv"); revoked <- time.Now() }()
			}
		}})
		if err != nil {
			t.Errorf("Watch: %v", err)
		}
		done <- res
	}()
	var at time.Time
	select {
	case at = <-revoked:
	case <-ctx.Done():
		t.Fatal("no 30 frames")
	}
	var res live.Result
	select {
	case res = <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Watch still running 3 s after the revocation")
	}
	mu.Lock()
	defer mu.Unlock()
	if d := last.Sub(at); d > time.Second {
		t.Errorf("frames kept coming %s after the revocation", d)
	}
	if !res.EndedByDevice {
		t.Error("Watch did not see the device end the session")
	}
	waitFor(t, func() bool { return r.auth.endReason("rv") != "" })
	if got := r.auth.endReason("rv"); got != live.EndAuthority {
		t.Errorf("end reason %q, want %q", got, live.EndAuthority)
	}
}

// One more viewer than live.max_viewers gets 503 with a reason, and its
// statement is not consumed.
func TestMaxViewers(t *testing.T) {
	r := newRig(t, live.Config{MaxViewers: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := make(chan error, 1)
	go func() {
		_, err := live.Watch(ctx, live.WatchOptions{Sign: signer("a"), Signal: r.client, Duration: 3 * time.Second})
		first <- err
	}()
	waitFor(t, func() bool { return len(r.srv.Sessions()) == 1 })
	_, err := live.Watch(ctx, live.WatchOptions{Sign: signer("b"), Signal: r.client, Duration: time.Second})
	var ae *lanclient.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || ae.Reason != live.ReasonMaxViewers {
		t.Fatalf("second viewer: %v, want 503 %s", err, live.ReasonMaxViewers)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(r.srv.Sessions()) == 0 })
	if _, err := live.Watch(ctx, live.WatchOptions{Sign: signer("b"), Signal: r.client, Duration: 300 * time.Millisecond}); err != nil {
		t.Fatalf("the refused statement was consumed: %v", err)
	}
}

// Three viewers, one of which cannot keep up (its sender is slowed to 10
// frames a second): its Hub queue overflows and skips to keyframes, while
// the other two and the recorder's subscription see no drops.
func TestSlowViewerDoesNotSlowOthers(t *testing.T) {
	r := newRig(t, live.Config{}, func(o *live.Options) {
		o.Queue = 8
		live.WithSendDelay(o, func(id string) time.Duration {
			if id == "slow" {
				return 100 * time.Millisecond
			}
			return 0
		})
	})
	rec := r.hub.Subscribe(256)
	defer rec.Close()
	go func() {
		for range rec.C() {
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	names := []string{"slow", "fast1", "fast2"}
	results := make([]live.Result, 3)
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := live.Watch(ctx, live.WatchOptions{Sign: signer(name), Signal: r.client, Duration: 3 * time.Second})
			if err != nil {
				t.Errorf("viewer %s: %v", name, err)
			}
			results[i] = res
		}()
	}
	time.Sleep(2500 * time.Millisecond)
	dropped := map[string]uint64{}
	for _, s := range r.srv.Sessions() {
		dropped[s.Viewer] = s.Dropped
	}
	wg.Wait()
	t.Logf("dropped per viewer: %v; frames %d %d %d", dropped, results[0].Frames, results[1].Frames, results[2].Frames)
	if len(dropped) != 3 {
		t.Fatalf("sessions running mid-test: %v", dropped)
	}
	if dropped["owner-slow"] == 0 {
		t.Error("the slow viewer's queue never overflowed: the throttle did not bite")
	}
	for _, name := range names[1:] {
		if d := dropped["owner-"+name]; d != 0 {
			t.Errorf("viewer %s dropped %d frames", name, d)
		}
	}
	for i, res := range results[1:] {
		if res.Frames < 80 {
			t.Errorf("viewer %s: %d frames in 3 s", names[i+1], res.Frames)
		}
	}
	if d := rec.Dropped(); d != 0 {
		t.Errorf("the recorder's subscription dropped %d frames", d)
	}
}

// Packets lost on the way are sent again when the viewer asks (NACK), from
// the session's history, with their sequence numbers: the viewer's pion
// NACK generator asks for every packet the device lost.
func TestLostPacketsAreResent(t *testing.T) {
	var mu sync.Mutex
	lost := map[uint16]bool{}
	r := newRig(t, live.Config{}, func(o *live.Options) {
		live.WithLoss(o, func(seq uint16) bool {
			mu.Lock()
			defer mu.Unlock()
			if seq%8 == 3 && len(lost) < 10 {
				lost[seq] = true
				return true
			}
			return false
		})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var resent uint64
	_, err := live.Watch(ctx, live.WatchOptions{Sign: signer("lossy"), Signal: r.client, Duration: 2 * time.Second,
		OnFrame: func([]byte, bool) {
			for _, s := range r.srv.Sessions() {
				resent = s.Resent
			}
		}})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("lost %d packets, resent %d", len(lost), resent)
	if len(lost) < 10 {
		t.Fatalf("only %d packets were lost: the stream was too short", len(lost))
	}
	if resent < uint64(len(lost)-1) { // the last one may be asked for after the last frame
		t.Errorf("%d of %d lost packets were resent", resent, len(lost))
	}
}
