package device

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/boards"
	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/consent/pairing"
	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/device/config"
)

func simOptions(t *testing.T) Options {
	t.Helper()
	owner, err := consent.GenerateOwnerKey(false)
	if err != nil {
		t.Fatal(err)
	}
	board, err := boards.Load("sim")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.OwnerRecipients = []string{owner.RecipientString()}
	cfg.Recording.PreRoll = config.Duration(time.Second)
	cfg.Recording.PostRoll = config.Duration(time.Second)
	cfg.Listen = "127.0.0.1:0"
	return Options{Config: cfg, Board: board, StateDir: filepath.Join(t.TempDir(), "state"), Version: "test", Log: slog.New(slog.DiscardHandler)}
}

func TestAgentControlSocket(t *testing.T) {
	opts := simOptions(t)
	a, ctx := runAgent(t, opts)

	info, err := os.Stat(socketPath(opts.StateDir))
	if err != nil || info.Mode().Perm()&0o077 != 0 {
		t.Fatalf("control socket: %v, mode %v; want no access for group and others", err, info.Mode().Perm())
	}
	resp, err := Call(ctx, opts.StateDir, api.ControlRequest{Op: "status"})
	if err != nil || resp.Status.DeviceID != a.DeviceID() || resp.Status.Board != "sim" {
		t.Fatalf("status: %+v, %v", resp.Status, err)
	}
	if _, err := Call(ctx, opts.StateDir, api.ControlRequest{Op: "explode"}); err == nil || !strings.Contains(err.Error(), "valid: trigger, clips, events, status") {
		t.Errorf("unknown op: %v", err)
	}
	if err := Trigger(ctx, opts.StateDir, "doorknock"); err == nil || !strings.Contains(err.Error(), "doorknock") {
		t.Errorf("bad event: %v", err)
	}
	// A second agent on the same state directory is refused at once.
	if _, err := NewAgent(opts); !errors.Is(err, ErrAgentRunning) {
		t.Errorf("second agent: %v, want ErrAgentRunning", err)
	}
	time.Sleep(1500 * time.Millisecond) // fill the pre-roll
	if err := Trigger(ctx, opts.StateDir, capture.Ring); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		clips, err := ListClips(ctx, opts.StateDir)
		if err != nil {
			t.Fatal(err)
		}
		if len(clips) == 1 && !clips[0].Recording {
			c := clips[0]
			if c.Trigger != "ring" || c.Duration < 2 || c.Duration > 3.2 || c.Segments != 1 {
				t.Errorf("clip %+v: want a ring clip of 1 s pre-roll (GOP-aligned) + 1 s post-roll", c)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no closed clip: %+v", clips)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// runAgent starts an agent and stops it when the test ends, checking that
// Run returns cleanly. The context is done when the agent stops.
func runAgent(t *testing.T, opts Options) (*Agent, context.Context) {
	t.Helper()
	a, err := NewAgent(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return a, ctx
}

func TestAgentRefusals(t *testing.T) {
	t.Run("state under a file", func(t *testing.T) {
		opts := simOptions(t)
		file := filepath.Join(t.TempDir(), "file")
		os.WriteFile(file, nil, 0o600)
		opts.StateDir = filepath.Join(file, "state")
		_, err := NewAgent(opts)
		if err == nil || !strings.Contains(err.Error(), "state directory") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("camera not available", func(t *testing.T) {
		opts := simOptions(t)
		opts.Config.Camera.File = filepath.Join(t.TempDir(), "missing.h264")
		if _, err := NewAgent(opts); err == nil || !strings.Contains(err.Error(), "missing.h264") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestStaleSocketAndOfflineClips(t *testing.T) {
	opts := simOptions(t)
	// A socket file left by a killed agent: clients must not hang on it,
	// and the next agent replaces it.
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	stale := socketPath(opts.StateDir)
	os.WriteFile(stale, nil, 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Trigger(ctx, opts.StateDir, capture.Motion); !errors.Is(err, ErrNoAgent) {
		t.Fatalf("trigger with a stale socket: %v", err)
	}
	if _, err := ListClips(ctx, opts.StateDir); err == nil || !strings.Contains(err.Error(), "no agent state") {
		t.Fatalf("clips without a database: %v", err)
	}
	a, err := NewAgent(opts)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	if _, err := Call(ctx, opts.StateDir, api.ControlRequest{Op: "status"}); err != nil {
		t.Fatalf("agent did not replace the stale socket: %v", err)
	}
	stop()
	<-done
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after Run returned")
	}
	clips, err := ListClips(ctx, opts.StateDir)
	if err != nil || len(clips) != 0 {
		t.Errorf("offline clips: %v, %v", clips, err)
	}
}

// Footage on legal hold that alone exceeds the store's limit stops new
// clips (evidence is never evicted) and tells the owners once.
func TestHoldFullStopsRecording(t *testing.T) {
	s := &lazyStore{}
	if s.setPaused(true, errors.New("full")) {
		t.Fatal("paused before")
	}
	if _, err := s.BeginClip(time.Now(), "motion"); err == nil {
		t.Fatal("no vault: BeginClip must fail")
	}
	opts := simOptions(t)
	a, err := NewAgent(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	// A paired owner, to be told.
	owner, _ := consent.GenerateOwnerKey(false)
	policyJSON, _ := json.Marshal(opts.Config.Legal)
	if err := a.gate.InstallOwner(pairing.Owner{
		SigningKey: owner.SigningPublicKey(), Recipients: []string{owner.RecipientString()},
		PolicyHash: opts.Config.Legal.Hash(), Transcript: []byte("t"), Signature: []byte("s"),
	}, policyJSON); err != nil {
		t.Fatal(err)
	}
	a.holdFull(true, errors.New("vault: held"))
	if _, err := a.store.BeginClip(time.Now(), "motion"); err == nil || !strings.Contains(err.Error(), "held") {
		t.Errorf("BeginClip while holds fill the store: %v", err)
	}
	a.holdFull(true, errors.New("vault: held")) // no second notice
	a.holdFull(false, nil)
	if id, err := a.store.BeginClip(time.Now(), "motion"); err != nil || id == "" {
		t.Errorf("BeginClip after the holds ended: %v", err)
	}
	// One notice, readable by the owner, and one recording-stopped leaf:
	// not a policy change (issue 8, finding 11).
	notices, err := a.gate.Notices()
	if err != nil || len(notices) != 1 {
		t.Fatalf("notices: %d, %v; want the one promised", len(notices), err)
	}
	if b, err := api.DecryptNotice(notices[0].Body, owner.Identity()); err != nil || b.Kind != "status" || !strings.Contains(b.Note, "Recording stopped") {
		t.Errorf("notice %+v, %v", b, err)
	}
	entries, _, err := a.auditLog()
	if err != nil {
		t.Fatal(err)
	}
	stopped := 0
	for _, e := range entries {
		switch e.Kind {
		case audit.KindRecordingStopped:
			stopped++
		case audit.KindPolicyChange:
			t.Errorf("recording stopped logged as a policy change: %+v", e)
		}
	}
	if stopped != 1 {
		t.Errorf("%d recording-stopped leaves, want 1", stopped)
	}
}
