package device

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"filippo.io/age"
	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/boards"
	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/record"
	"github.com/doorward/doorward/capture/vault"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/clock"
)

// Options are what the run command hands the agent.
type Options struct {
	Config   Config
	Board    boards.Profile
	StateDir string
	Version  string
	Log      *slog.Logger
	Clock    clock.Clock
}

// ErrNoOwner means the agent has no owner recipient, so it could not record
// without writing footage nobody can decrypt — or plaintext. It refuses.
var ErrNoOwner = errors.New("device: no owner recipient: refusing to record footage that no owner could decrypt")

// Agent is the running device.
type Agent struct {
	opts   Options
	log    *slog.Logger
	db     *bbolt.DB
	id     *Identity
	vault  *vault.Vault
	rec    *record.Recorder
	hub    *capture.Hub
	src    capture.Source
	ctl    *controlServer
	owners []string
	hw     hardware // GPIO sensors and LED (sensors.go)
}

// NewAgent prepares the state directory, keys, database, vault, camera and
// recorder. Every resource it opened is released when it fails.
func NewAgent(opts Options) (*Agent, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	cfg := opts.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.OwnerRecipients) == 0 {
		return nil, ErrNoOwner
	}
	owners, err := consent.ParseRecipients(cfg.OwnerRecipients)
	if err != nil {
		return nil, err
	}
	family, err := consent.FamilyOf(owners[0])
	if err != nil {
		return nil, err
	}
	src, err := openCamera(cfg.Camera, opts.Board, opts.Clock, opts.Log.With("component", "camera"))
	if err != nil {
		return nil, err
	}
	a := &Agent{opts: opts, log: opts.Log, src: src, owners: cfg.OwnerRecipients}
	if err := a.open(owners, family); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

// open acquires the agent's resources; close releases whatever it got.
func (a *Agent) open(owners []age.Recipient, family consent.RecipientFamily) (err error) {
	opts, cfg := a.opts, a.opts.Config
	if err := prepareStateDir(opts.StateDir); err != nil {
		return err
	}
	if a.db, err = openDB(opts.StateDir); err != nil {
		return err
	}
	var created bool
	a.id, created, err = LoadOrCreateIdentity(filepath.Join(opts.StateDir, keyFileName), family)
	if err != nil {
		return err
	}
	if created {
		a.log.Info("created device identity", "device", a.id.ID())
	}
	recipients := append([]age.Recipient(nil), owners...)
	if cfg.Vault == VaultDevice {
		recipients = append(recipients, a.id.VaultRecipient(family))
	}
	a.vault, err = vault.Open(vault.Options{
		Dir:        filepath.Join(opts.StateDir, clipsDir),
		DB:         a.db,
		Recipients: recipients,
		Clock:      opts.Clock,
		Log:        a.log.With("component", "vault"),
		MaxAge:     time.Duration(cfg.Retention.MaxAge),
		MaxBytes:   int64(cfg.Retention.MaxBytes),
	})
	if err != nil {
		return err
	}
	a.rec, err = record.New(record.Config{
		PreRoll:  time.Duration(cfg.Recording.PreRoll),
		PostRoll: time.Duration(cfg.Recording.PostRoll),
		MaxClip:  time.Duration(cfg.Recording.MaxClip),
		Segment:  time.Duration(cfg.Recording.Segment),
		Buffer:   int(cfg.Recording.Buffer),
	}, vaultStore{a.vault}, a.log.With("component", "recorder"))
	if err != nil {
		return err
	}
	a.hub = capture.NewHub(a.log.With("component", "hub"))
	if a.ctl, err = listenControl(opts.StateDir, a, a.log); err != nil {
		return err
	}
	return nil
}

// DeviceID returns the device's ID.
func (a *Agent) DeviceID() string { return a.id.ID() }

// Run records until ctx is done, then closes the clip in progress and
// releases everything.
func (a *Agent) Run(ctx context.Context) error {
	defer a.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopSensors, err := a.startSensors(ctx, cancel)
	if err != nil {
		return err
	}
	defer stopSensors()

	sub := a.hub.Subscribe(256)
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := a.hub.Run(ctx, a.src); err != nil {
			errc <- fmt.Errorf("device: camera: %w", err)
			cancel()
		}
	}()
	go func() {
		defer wg.Done()
		a.rec.Run(ctx, sub.C())
	}()
	go func() {
		defer wg.Done()
		a.vault.RunRetention(ctx, time.Duration(a.opts.Config.Retention.Interval))
	}()
	go a.ctl.serve()

	<-ctx.Done()
	a.ctl.close()
	wg.Wait()
	sub.Close()
	if a.hw.resetRequested.Load() {
		return a.factoryReset(ctx)
	}
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

func (a *Agent) close() {
	if a.ctl != nil {
		a.ctl.close()
		a.ctl = nil
	}
	if a.src != nil {
		a.src.Close()
	}
	if a.rec != nil {
		a.rec.Close()
	}
	if a.db != nil {
		a.db.Close()
		a.db = nil
	}
}

// control answers a request from the control socket.
func (a *Agent) control(req ControlRequest) ControlResponse {
	switch req.Op {
	case "trigger":
		kind, err := capture.ParseEventKind(req.Event)
		if err != nil {
			return ControlResponse{Error: err.Error()}
		}
		if !a.opts.Board.Sim {
			return ControlResponse{Error: fmt.Sprintf("device: trigger is for the sim board; board %q has real sensors", a.opts.Board.Name)}
		}
		a.log.Info("event", "kind", kind, "from", "control socket")
		a.rec.Trigger(capture.Event{Kind: kind, Time: a.opts.Clock.Now()})
		return ControlResponse{OK: true}
	case "clips":
		clips, err := a.vault.Clips()
		if err != nil {
			return ControlResponse{Error: err.Error()}
		}
		return ControlResponse{OK: true, Clips: clipInfos(clips)}
	case "status":
		return ControlResponse{OK: true, Status: &StatusInfo{
			DeviceID: a.id.ID(), Board: a.opts.Board.Name, Version: a.opts.Version,
			Recording: a.rec.Recording(), StateDir: a.opts.StateDir,
		}}
	}
	return ControlResponse{Error: fmt.Sprintf("device: unknown control op %q (valid: trigger, clips, status)", req.Op)}
}

// PrintBanner tells the person who started the agent where its state lives
// and how to use it.
func (a *Agent) PrintBanner(w io.Writer, self string) {
	dir := a.opts.StateDir
	fmt.Fprintf(w, "doorward %s running on board %s\n", a.opts.Version, a.opts.Board.Name)
	fmt.Fprintf(w, "  device id:  %s\n", a.id.ID())
	fmt.Fprintf(w, "  state:      %s\n", dir)
	fmt.Fprintf(w, "  clips:      %s (age-encrypted to %d owner recipient(s)", filepath.Join(dir, clipsDir), len(a.owners))
	if a.opts.Config.Vault == VaultDevice {
		fmt.Fprint(w, " and the device vault key)\n")
	} else {
		fmt.Fprint(w, "; strict mode: no device vault key)\n")
	}
	fmt.Fprintf(w, "  record:     %s trigger motion --state %s   (or: ring)\n", self, dir)
	fmt.Fprintf(w, "  list clips: %s clips --state %s\n", self, dir)
	fmt.Fprintln(w, "  stop:       Ctrl-C (the clip in progress is closed first)")
}

// vaultStore adapts the vault to the recorder's Store interface.
type vaultStore struct{ *vault.Vault }

func (s vaultStore) CreatePiece(id string, seq int) (record.Piece, error) {
	p, err := s.Vault.CreatePiece(id, seq)
	if err != nil {
		return nil, err
	}
	return p, nil
}
