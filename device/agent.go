package device

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"filippo.io/age"
	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/boards"
	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/record"
	"github.com/doorward/doorward/capture/vault"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/consent/audit/auditlog"
	"github.com/doorward/doorward/consent/pairing"
	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/device/clock"
	"github.com/doorward/doorward/device/config"
	"github.com/doorward/doorward/device/events"
	"github.com/doorward/doorward/device/gate"
	"github.com/doorward/doorward/device/lanapi"
	"github.com/doorward/doorward/device/lantls"
	"github.com/doorward/doorward/uplink/live"
)

// Options are what the run command hands the agent.
type Options struct {
	Config   config.Config
	Board    boards.Profile
	StateDir string
	Version  string
	Log      *slog.Logger
	Clock    clock.Clock
	// ClockSynced reports whether the kernel says the clock is
	// synchronized; nil reads adjtimex. Only the sim board may override it.
	ClockSynced func() bool
}

// ErrNoOwner means the agent has no owner recipient, so it could not record
// without writing footage nobody can decrypt — or plaintext. It refuses.
var ErrNoOwner = errors.New("device: no owner recipient: refusing to record footage that no owner could decrypt")

// Agent is the running device.
type Agent struct {
	opts  Options
	log   *slog.Logger
	db    *bbolt.DB
	id    *Identity
	audit *auditlog.Log
	gate  *gate.Gate
	store *lazyStore
	rec   *record.Recorder
	hub   *capture.Hub
	live  *live.Server // WHEP on the LAN API (live.go)
	src   capture.Source
	ctl   *lanapi.ControlServer // the control socket
	lan   *lanapi.Server        // the LAN API
	hw    hardware              // GPIO sensors and LED (sensors.go)
	bus   *events.Bus
	up    *agentUplink   // nil while mqtt.broker is empty (uplink.go)
	met   *metricsServer // nil while metrics.listen is empty (observe.go)
	upDel *uploadDeliverer

	clockWatch *clockWatch // freezes legal acceptance and age retention after a jump
	health     health      // camera delivering and recorder keeping up (health.go)
	meter      rateMeter   // the camera's measured fps and bitrate (meter.go)

	mu     sync.Mutex
	vault  *vault.Vault // nil until there is an owner to encrypt to
	owners []string     // every owner recipient: flags, config and pairing
	pairer *pairing.Pairer
	secret pairing.Secret
	stop   context.CancelFunc
	// lastEvent is the last motion or ring (status).
	lastEvent *api.Event
	// resetSigner is the kid of the owner key whose reset statement
	// verified (the log names it when the device is erased).
	resetSigner string
}

// Serve runs agents until ctx is done. A factory reset (an owner-signed
// statement or the reset switch) does not end it: once the state
// directory is erased, a new agent starts on it in the same process,
// unpaired, with new keys, and offers pairing again. started is called
// with each agent before it runs (the start-up banner); it may be nil.
func Serve(ctx context.Context, opts Options, started func(*Agent)) error {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for {
		a, err := NewAgent(opts)
		if err != nil {
			return err
		}
		if started != nil {
			started(a)
		}
		err = a.Run(ctx)
		if !errors.Is(err, ErrFactoryReset) {
			return err
		}
		if ctx.Err() != nil {
			return nil // erased, and asked to stop meanwhile
		}
		log.Warn("factory reset: starting again in place, unpaired, with new keys; pairing is offered")
	}
}

// NewAgent prepares the state directory, keys, database, audit log, camera
// and recorder, and the vault when there is an owner; without one, the
// agent starts in pairing mode and records nothing until paired. Every
// resource it opened is released when it fails.
func NewAgent(opts Options) (*Agent, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.ClockSynced == nil {
		opts.ClockSynced = kernelClockSynced
		if opts.Board.Sim {
			// Only the sim board may override the kernel's word; selftest
			// reports this as "overridden", never as a pass.
			opts.ClockSynced = func() bool { return true }
		}
	}
	cfg := opts.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.OwnerRecipients) > 0 {
		if _, err := consent.ParseRecipients(cfg.OwnerRecipients); err != nil {
			return nil, err
		}
	}
	src, err := OpenCamera(cfg.Camera, opts.Board, opts.Clock, opts.Log.With("component", "camera"))
	if err != nil {
		return nil, err
	}
	a := &Agent{opts: opts, log: opts.Log, src: src}
	if err := a.open(); err != nil {
		a.close()
		return nil, err
	}
	if opts.Board.Sim {
		if opts.ClockSynced != nil && !opts.ClockSynced() {
			a.log.Warn("clock-sync check overridden on the sim board: the clock counts as unsynchronized, so every legal token is refused as clock-unsynced")
		} else {
			a.log.Warn("clock-sync check overridden on the sim board: legal tokens are checked against this machine's clock as if synchronized")
		}
	}
	return a, nil
}

// open acquires the agent's resources; close releases whatever it got.
func (a *Agent) open() (err error) {
	opts, cfg := a.opts, a.opts.Config
	if err := prepareStateDir(opts.StateDir); err != nil {
		return err
	}
	if a.db, err = openDB(opts.StateDir); err != nil {
		return err
	}
	a.bus = events.New()
	var created bool
	a.id, created, err = LoadOrCreateIdentity(filepath.Join(opts.StateDir, keyFileName), consent.Classic)
	if err != nil {
		return err
	}
	if created {
		a.log.Info("created device identity", "device", a.id.ID())
	}
	if a.audit, err = auditlog.Open(a.db, a.id, opts.Clock); err != nil {
		return err
	}
	start := time.Now()
	uptime := func() time.Duration { return time.Since(start) } // monotonic
	a.clockWatch = newClockWatch(opts.Clock, uptime, opts.ClockSynced, a.log.With("component", "clock"))
	a.gate, err = gate.Open(gate.Options{
		DB: a.db, Audit: a.audit, DeviceID: a.id.ID(), DisclosureDir: filepath.Join(opts.StateDir, disclosuresDir),
		ClockSynced: a.clockWatch.trusted, Clock: opts.Clock, Uptime: uptime, Log: a.log.With("component", "gate"),
		HoldMargin: time.Duration(cfg.Retention.HoldMargin), Events: a.bus, Deliverer: a.uploads(cfg.MQTT),
		CloudBackup: cfg.MQTT.Broker != "",
	})
	if err != nil {
		return err
	}
	paired, err := a.gate.OwnerRecipients()
	if err != nil {
		return err
	}
	a.store = &lazyStore{}
	if err := a.setOwners(append(slices.Clone(cfg.OwnerRecipients), paired...)); err != nil {
		return err
	}
	a.gate.OnOwnersChanged(func(rs []string) {
		if err := a.setOwners(append(slices.Clone(cfg.OwnerRecipients), rs...)); err != nil {
			a.log.Error("owners changed but the vault cannot use them", "err", err)
		}
	})
	if len(paired) == 0 {
		// Recipients from flags or config let the device record at once,
		// but only a paired owner can sign grants and approve the policy.
		if err := a.startPairing(); err != nil {
			return err
		}
	}
	a.rec, err = record.New(record.Config{
		PreRoll:  time.Duration(cfg.Recording.PreRoll),
		PostRoll: time.Duration(cfg.Recording.PostRoll),
		MaxClip:  time.Duration(cfg.Recording.MaxClip),
		Segment:  time.Duration(cfg.Recording.Segment),
		Buffer:   int(cfg.Recording.Buffer),
		Events:   a.bus,
		Clock:    opts.Clock,
	}, a.store, a.log.With("component", "recorder"))
	if err != nil {
		return err
	}
	a.hub = capture.NewHub(a.log.With("component", "hub"))
	a.hub.Events, a.hub.Clock, a.hub.StallTimeout = a.bus, opts.Clock, StallTimeout(cfg.Camera, opts.Board)
	if err := a.openLive(); err != nil {
		return err
	}
	if a.ctl, err = lanapi.ListenControl(socketPath(opts.StateDir), door{a}, a.log); err != nil {
		return err
	}
	// On any address but loopback the LAN API is TLS 1.3, with a
	// certificate for <state>/keys/tls.key that the identity signs (the
	// key doorwardctl pins at pairing).
	var lanTLS *tls.Config
	if !lantls.ListenAddrIsLoopback(cfg.Listen) {
		cert, err := lantls.LoadOrCreate(filepath.Dir(filepath.Join(opts.StateDir, keyFileName)), a.id, a.id.ID())
		if err != nil {
			return err
		}
		lanTLS = lantls.ServerConfig(cert)
	}
	a.lan, err = lanapi.Listen(lanapi.Config{
		Addr: cfg.Listen, Pairing: door{a}, Statements: door{a}, Reads: door{a}, Audit: a.audit, Refusals: a.audit, Clips: door{a}, Grantees: door{a}, Health: a.Healthy, Status: a.status,
		Log: a.log, TLS: lanTLS, SimTrigger: a.simTrigger(),
	})
	if err != nil {
		return err
	}
	a.live.Register(a.lan) // POST /api/v1/whep, DELETE /api/v1/whep/{id}
	if a.up, err = openUplink(cfg.MQTT, cfg.HomeAssistant, a); err != nil {
		return err
	}
	if a.met, err = a.openMetrics(cfg.Metrics.Listen); err != nil {
		return err
	}
	return nil
}

// setOwners makes recipients the owners new clips are encrypted to,
// opening the vault the first time there are any.
func (a *Agent) setOwners(recipients []string) error {
	recipients = dedupe(recipients)
	if len(recipients) == 0 {
		return nil
	}
	owners, err := consent.ParseRecipients(recipients)
	if err != nil {
		return err
	}
	family, err := consent.FamilyOf(owners[0])
	if err != nil {
		return err
	}
	id, _, err := LoadOrCreateIdentity(filepath.Join(a.opts.StateDir, keyFileName), family)
	if err != nil {
		return err
	}
	rs := slices.Clone(owners)
	var vaultID age.Identity
	if a.opts.Config.Vault == config.VaultDevice {
		rs = append(rs, id.VaultRecipient(family))
		vaultID = id.VaultIdentity(family)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.owners = recipients
	if a.vault != nil {
		a.vault.SetRecipients(rs)
		a.gate.SetVaultIdentity(vaultID)
		return nil
	}
	v, err := vault.Open(vault.Options{
		Dir:        filepath.Join(a.opts.StateDir, clipsDir),
		DB:         a.db,
		Recipients: rs,
		Clock:      a.opts.Clock,
		Log:        a.log.With("component", "vault"),
		MaxAge:     time.Duration(a.opts.Config.Retention.MaxAge),
		MaxBytes:   int64(a.opts.Config.Retention.MaxBytes),
		Events:     a.bus,
	})
	if err != nil {
		return err
	}
	a.vault = v
	a.store.set(v)
	a.gate.SetVault(v)
	a.gate.SetVaultIdentity(vaultID)
	return nil
}

func dedupe(ss []string) []string {
	var out []string
	for _, s := range ss {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// currentVault returns the vault, nil while unpaired.
func (a *Agent) currentVault() *vault.Vault {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.vault
}

// DeviceID returns the device's ID.
func (a *Agent) DeviceID() string { return a.id.ID() }

// Run records until ctx is done, then closes the clip in progress and
// releases everything.
func (a *Agent) Run(ctx context.Context) error {
	defer a.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.mu.Lock()
	a.stop = cancel
	a.mu.Unlock()
	// The recorder's subscription exists before any sensor can publish.
	triggers := a.bus.Subscribe("recorder", triggerQueue, events.Motion, events.Ring)
	defer triggers.Close()
	stopSensors, err := a.startSensors(ctx, cancel)
	if err != nil {
		return err
	}
	defer stopSensors()

	sub := a.hub.Subscribe(256)
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Add(8)
	go func() {
		defer wg.Done()
		a.up.run(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.met.run(ctx)
	}()
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
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.runHealth(ctx, a.hub.Stalled, sub.Dropped, sdNotify)
	}()
	go func() {
		defer wg.Done()
		a.runTriggers(ctx, triggers)
	}()
	go func() {
		defer wg.Done()
		a.runRetention(ctx, time.Duration(a.opts.Config.Retention.Interval))
	}()
	go func() {
		defer wg.Done()
		a.gate.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		a.ctl.Serve(ctx)
	}()
	go func() {
		defer wg.Done()
		if err := a.lan.Serve(ctx); err != nil {
			a.log.Error("LAN API", "err", err)
		}
	}()

	<-ctx.Done()
	a.live.Close() // sessions end, and their ends are audited, before the gate stops
	wg.Wait()      // the LAN API answered every request in progress (Shutdown)
	sub.Close()
	if err := a.audit.FlushRefusals(); err != nil {
		a.log.Error("audit: flushing refusals", "err", err)
	}
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

// triggerQueue is the recorder's queue of motion and ring events. Sensors
// debounce and cool down, so a handful at once is already a burst; a lost
// one is logged.
const triggerQueue = 64

// runTriggers starts (or extends) a clip for every motion or ring on the
// bus. The recorder's Trigger never blocks, so neither the bus nor the
// sensors wait on recording.
func (a *Agent) runTriggers(ctx context.Context, sub *events.Sub) {
	var lost uint64
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-sub.C():
			if !ok {
				return
			}
			kind := capture.Motion
			if ev.Kind == events.Ring {
				kind = capture.Ring
			}
			a.rec.Trigger(capture.Event{Kind: kind, Time: ev.Time})
			if n := sub.Dropped(); n > lost {
				a.log.Error("the recorder lost sensor events to a full queue", "lost", n-lost)
				lost = n
			}
		}
	}
}

// runRetention applies the retention limits every interval once the vault
// exists.
func (a *Agent) runRetention(ctx context.Context, interval time.Duration) {
	for {
		if v := a.currentVault(); v != nil {
			enforce := v.Enforce
			if !a.clockWatch.check() {
				enforce = v.EnforceSize // a clock that jumped must not expire footage
			}
			_, err := enforce()
			held := errors.Is(err, vault.ErrHeldOverLimit)
			if err != nil && !held {
				a.log.Error("retention", "err", err)
			}
			a.holdFull(held, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-a.opts.Clock.After(interval):
		}
	}
}

// holdFull stops recording while footage on legal hold alone exceeds
// retention.max_bytes (evidence is never evicted, and the disk must not
// fill), tells the owners once, and resumes when the holds end.
func (a *Agent) holdFull(full bool, err error) {
	if a.store.setPaused(full, err) == full {
		return // no change
	}
	if !full {
		a.log.Info("recording resumed: legal holds no longer fill the store")
		return
	}
	a.log.Error("recording stopped: footage on legal hold alone exceeds retention.max_bytes; it is never evicted", "err", err)
	note := "Recording stopped: footage under legal hold alone exceeds the storage limit (retention.max_bytes). It resumes when the holds end or the limit is raised."
	if nerr := a.gate.NotifyOwners(gate.NoticeBody{Kind: "status", Note: note}, audit.KindRecordingStopped, "legal-hold-fills-store"); nerr != nil {
		a.log.Error("notifying the owners", "err", nerr)
	}
}

// The authorities a factory reset comes from, as the log names them.
const (
	// ResetBySwitch is the internal reset switch, held and then confirmed.
	ResetBySwitch = "the reset switch (held, then confirmed)"
	// resetByOwner is followed by the signing owner key's kid.
	resetByOwner = "an owner-signed reset statement from key "
)

// requestReset makes Run stop and erase the device; by names the authority
// (ResetBySwitch, or an owner statement with its signer).
func (a *Agent) requestReset(by string) {
	a.hw.resetBy.Store(&by)
	a.hw.resetRequested.Store(true)
	a.mu.Lock()
	stop := a.stop
	a.mu.Unlock()
	if stop != nil {
		stop()
	}
}

func (a *Agent) close() {
	a.met.close() // a no-op once run
	if a.lan != nil {
		a.lan.Close() // a no-op once Serve ran
	}
	if a.live != nil {
		a.live.Close()
	}
	if a.ctl != nil {
		a.ctl.Close()
	}
	if a.src != nil {
		a.src.Close()
	}
	if a.rec != nil {
		a.rec.Close()
	}
	if a.gate != nil {
		if err := a.gate.SaveUptime(); err != nil {
			a.log.Error("saving uptime", "err", err)
		}
	}
	if a.db != nil {
		a.db.Close()
		a.db = nil
	}
}

func (a *Agent) status() *api.Status {
	a.mu.Lock()
	paired, owners, pairing := len(a.owners) > 0, len(a.owners), a.pairer != nil
	v := a.vault
	last := a.lastEvent
	a.mu.Unlock()
	st := &api.Status{
		DeviceID: a.id.ID(), Board: a.opts.Board.Name, Sim: a.opts.Board.Sim, Version: a.opts.Version,
		Recording: a.rec.Recording(), StateDir: a.opts.StateDir, Paired: paired,
		Listen: a.lan.Addr(), Owners: owners, Pairing: pairing, Healthy: a.Healthy(), CameraStalled: a.hub.Stalled(),
		LastEvent: last, ClockSynced: a.opts.ClockSynced(), DiskFree: diskFree(a.opts.StateDir),
	}
	if v != nil {
		st.ClipBytes = v.TotalBytes()
		if clips, err := v.Clips(); err == nil {
			st.StoredPerDay = storageRate(clips, time.Now())
		}
		ret := a.opts.Config.Retention
		st.RetentionDays = retentionDays(st.StoredPerDay, int64(ret.MaxBytes), st.ClipBytes, st.DiskFree, time.Duration(ret.MaxAge))
	}
	st.FPS, st.BitsPerSecond = a.meter.rate()
	if a.up != nil {
		st.Uplink = a.up.status()
	}
	return st
}

// policy returns the owner-approved trust policy, or the proposed one
// before pairing.
func (a *Agent) policy() (consent.Policy, bool, error) {
	p, ok, err := a.gate.Policy()
	if err != nil || ok {
		return p, ok, err
	}
	return a.opts.Config.Legal, false, nil
}

// policyInfo is the policy as the API shows it.
func (a *Agent) policyInfo() (*api.PolicyInfo, error) {
	p, approved, err := a.policy()
	if err != nil {
		return nil, err
	}
	return &api.PolicyInfo{Policy: p, Hash: fmt.Sprintf("%x", p.Hash()), Approved: approved}, nil
}

func (a *Agent) auditLog() ([]audit.Entry, audit.SignedCheckpoint, error) {
	cp, err := a.audit.Checkpoint()
	if err != nil {
		return nil, cp, err
	}
	entries, err := a.audit.Entries(0, cp.Size)
	return entries, cp, err
}

// Banner is what the person who started the agent is told: where its
// state lives, how to reach it and, while no owner is paired, the pairing
// code. The code goes to a terminal only (cmd/doorward's banner), never to
// the log.
type Banner struct {
	Version, Board, DeviceID string
	StateDir, ClipsDir       string
	Listen                   string // the LAN API's host:port
	// URLs are where the LAN API is reached (https on a LAN address, one
	// per interface address when it listens on all); TLS is true then.
	URLs        []string
	TLS         bool
	Owners      int  // owner recipients clips are encrypted to
	DeviceVault bool // clips are also encrypted to the device's vault key
	// Pairing is true while pairing is offered; PairCode is its one-time
	// code, PairURI the pairing URI (the LAN URL and the code) and PairQR
	// the QR code of that URI.
	Pairing                   bool
	PairCode, PairQR, PairURI string
}

// Banner describes the agent for its start-up banner.
func (a *Agent) Banner() Banner {
	a.mu.Lock()
	owners, pairer, secret := len(a.owners), a.pairer, a.secret
	a.mu.Unlock()
	b := Banner{
		Version: a.opts.Version, Board: a.opts.Board.Name, DeviceID: a.id.ID(),
		StateDir: a.opts.StateDir, ClipsDir: filepath.Join(a.opts.StateDir, clipsDir), Listen: a.lan.Addr(),
		Owners: owners, DeviceVault: a.opts.Config.Vault == config.VaultDevice, Pairing: pairer != nil,
		URLs: lantls.URLs(a.lan.Addr()), TLS: a.lan.TLS(),
	}
	if pairer != nil {
		b.PairCode = secret.Reveal()
		b.PairQR, _ = secret.QRURI(b.URLs[0])
		b.PairURI = pairing.FormatURI(b.URLs[0], secret)
	}
	return b
}

// lazyStore is the recorder's Store: the vault once there is an owner to
// encrypt to. Until then clips are refused: an unpaired device records
// nothing. While footage on legal hold fills the store, new clips are
// refused too (paused); clips in progress finish.
type lazyStore struct {
	mu     sync.Mutex
	s      record.Store
	paused error
}

// errUnpaired is why an unpaired device does not record.
var errUnpaired = errors.New("device: not paired: recording starts once an owner is paired (doorward pair-code shows the code)")

// setPaused stops (paused) or resumes new clips and reports whether they
// were stopped before.
func (l *lazyStore) setPaused(paused bool, err error) (was bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	was = l.paused != nil
	l.paused = nil
	if paused {
		l.paused = err
	}
	return was
}

func (l *lazyStore) set(v *vault.Vault) {
	l.mu.Lock()
	l.s = record.StoreOf(v)
	l.mu.Unlock()
}

func (l *lazyStore) get() (record.Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s == nil {
		return nil, errUnpaired
	}
	return l.s, nil
}

func (l *lazyStore) BeginClip(start time.Time, trigger string) (string, error) {
	l.mu.Lock()
	paused := l.paused
	l.mu.Unlock()
	if paused != nil {
		return "", paused
	}
	s, err := l.get()
	if err != nil {
		return "", err
	}
	return s.BeginClip(start, trigger)
}

func (l *lazyStore) CreatePiece(id string, seq int) (record.Piece, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	return s.CreatePiece(id, seq)
}

func (l *lazyStore) EndClip(id string) error {
	s, err := l.get()
	if err != nil {
		return err
	}
	return s.EndClip(id)
}

func (l *lazyStore) NoteEvent(t time.Time, kind, note string) error {
	s, err := l.get()
	if err != nil {
		return err
	}
	return s.NoteEvent(t, kind, note)
}
