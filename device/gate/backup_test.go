package gate

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/capture/record"
	"github.com/doorward/doorward/capture/simcam"
	"github.com/doorward/doorward/capture/vault"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/device/events"
)

// pieceSink keeps every delivered piece of backup jobs, by job, in
// delivery order; a withdrawn job's pieces are dropped, as a delivery the
// gate cancelled.
type pieceSink struct {
	mu    sync.Mutex
	byJob map[string][]gotPiece
	jobs  []Job
	fail  func(Job) error
}

var (
	_ Deliverer  = (*pieceSink)(nil)
	_ Withdrawer = (*pieceSink)(nil)
)

type gotPiece struct {
	name string
	data []byte
}

func (s *pieceSink) Deliver(ctx context.Context, d Delivery) error {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail != nil {
		if err := fail(d.Job); err != nil {
			return err
		}
	}
	var got []gotPiece
	for _, p := range d.Pieces {
		rc, err := p.Open()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		got = append(got, gotPiece{p.Name, b})
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !d.Job.IsBackup() {
		return nil // a disclosure (the refusal test's grant)
	}
	if s.byJob == nil {
		s.byJob = map[string][]gotPiece{}
	}
	s.byJob[d.Job.ID] = got
	s.jobs = append(s.jobs, d.Job)
	return nil
}

func (s *pieceSink) Withdraw(_ context.Context, j Job) error {
	s.mu.Lock()
	delete(s.byJob, j.ID)
	s.mu.Unlock()
	return nil
}

// clips returns the delivered pieces by clip, in delivery order.
func (s *pieceSink) clips() map[string][]gotPiece {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]gotPiece{}
	for _, j := range s.jobs {
		if got, ok := s.byJob[j.ID]; ok {
			out[j.Clip] = append(out[j.Clip], got...)
		}
	}
	return out
}

// backupFixture is a paired device whose recorder, vault and gate share
// an event bus, with the gate running: what a real agent wires.
type backupFixture struct {
	*fixture
	bus    *events.Bus
	vault2 *vault.Vault
	sink   *pieceSink
	stop   func()
}

// newBackupFixture opens the fixture's device again with an event bus and,
// when cloud, a cloud Deliverer (an uplink); without it the gate has its
// default DirDeliverer, as an agent without mqtt.broker.
func newBackupFixture(t *testing.T, strict, cloud bool) *backupFixture {
	f := &backupFixture{fixture: newFixture(t, strict), bus: events.New(), sink: &pieceSink{}}
	recipients := []age.Recipient{f.owner.Recipient()}
	if !strict {
		recipients = append(recipients, f.vaultR)
	}
	var err error
	if f.vault2, err = vault.Open(vault.Options{Dir: filepath.Join(f.dir, "clips"), DB: f.db, Recipients: recipients, Clock: f.clk, Events: f.bus}); err != nil {
		t.Fatal(err)
	}
	opts := Options{
		DB: f.db, Vault: f.vault2, Audit: f.log, DeviceID: f.devID, DisclosureDir: filepath.Join(f.dir, "disclosures"),
		ClockSynced: func() bool { return true }, Clock: f.clk, Log: slog.New(slog.DiscardHandler), Events: f.bus,
	}
	if cloud {
		opts.Deliverer, opts.CloudBackup = f.sink, true
	}
	if !strict {
		opts.VaultIdentity = f.vaultID
	}
	if f.gate, err = Open(opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.gate.Run(ctx)
	}()
	f.stop = func() { cancel(); <-done }
	t.Cleanup(f.stop)
	return f
}

// record records one clip of about 12 s starting at start through a
// recorder on the bus, and returns its ID.
func (f *backupFixture) record(start time.Time) string {
	f.t.Helper()
	before, _ := f.vault2.Clips()
	cfg := record.DefaultConfig()
	cfg.Events = f.bus
	r, err := record.New(cfg, record.StoreOf(f.vault2), slog.New(slog.DiscardHandler))
	if err != nil {
		f.t.Fatal(err)
	}
	defer r.Close()
	aus, err := capture.SplitAccessUnits(simcam.Clip())
	if err != nil {
		f.t.Fatal(err)
	}
	frames := make(chan capture.Frame, 1000)
	for i := 0; i < 12*30; i++ {
		pts := time.Duration(i) * time.Second / 30
		au := aus[i%len(aus)]
		frames <- capture.Frame{Data: au.Data, Key: au.Key, PTS: pts, Time: start.Add(pts)}
	}
	close(frames)
	r.Trigger(capture.Event{Kind: capture.Motion, Time: start})
	time.Sleep(10 * time.Millisecond)
	r.Run(context.Background(), frames)
	after, _ := f.vault2.Clips()
	if len(after) != len(before)+1 {
		f.t.Fatalf("recorded %d clips, want one more than %d", len(after), len(before))
	}
	return after[len(after)-1].ID
}

func (f *backupFixture) backup(on bool, mut func(*consent.BackupClaims)) []byte {
	c := consent.BackupClaims{Claims: f.baseClaims(), On: on}
	if on {
		c.Media = []string{consent.MediaVideo}
	}
	if mut != nil {
		mut(&c)
	}
	return f.ownerSigned(consent.KindBackup, c)
}

// settle waits until the gate has taken every recorder event from the
// bus and no job is pending or running.
func (f *backupFixture) settle() {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	quiet := 0
	for time.Now().Before(deadline) {
		if f.pending() == 0 && (f.gate.backupSub == nil || len(f.gate.backupSub.C()) == 0) {
			if quiet++; quiet == 5 {
				return
			}
		} else {
			quiet = 0
		}
		f.gate.poke()
		time.Sleep(50 * time.Millisecond)
	}
	f.t.Fatalf("jobs still pending: %+v", f.jobs())
}

// waitPieces waits until n pieces of clip were delivered.
func (f *backupFixture) waitPieces(clip string, n int) {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if len(f.sink.clips()[clip]) >= n {
			return
		}
		f.gate.poke()
		time.Sleep(50 * time.Millisecond)
	}
	f.t.Fatalf("clip %s: %d pieces delivered, want %d; jobs %+v", clip, len(f.sink.clips()[clip]), n, f.jobs())
}

func (f *fixture) backupLeaves() []audit.Entry {
	var out []audit.Entry
	for _, e := range f.entries() {
		if e.Kind == audit.KindBackupChange {
			out = append(out, e)
		}
	}
	return out
}

// Backup on: a clip recorded afterwards is uploaded piece by piece, the
// init segment first, re-wrapped for the owners alone: the owner key
// opens it into an MP4 ffprobe reads, the vault key and a stranger's do
// not. The clip recorded before it was turned on is not backed up. Backup
// off: the next clip is not uploaded. Each change is one audit leaf.
func TestBackupUploadsNewClipsForOwnersAlone(t *testing.T) {
	f := newBackupFixture(t, false, true)
	if b, _ := f.gate.Backup(); b.On {
		t.Fatal("backup is on by default")
	}
	old, _ := f.vault2.Clips()
	on := f.backup(true, nil)
	b, err := f.gate.SetBackup(on)
	if err != nil || !b.On || !slices.Equal(b.Media, []string{"video"}) {
		t.Fatalf("backup on: %+v, %v", b, err)
	}
	clip := f.record(t0.Add(10 * time.Minute))
	var segments int
	if cs, _ := f.vault2.Clips(); len(cs) > 0 {
		segments = cs[len(cs)-1].Segments
	}
	if segments < 2 {
		cs, _ := f.vault2.Clips()
		t.Fatalf("recorded %d segments: %+v", segments, cs)
	}
	f.waitPieces(clip, segments+1)
	f.settle()
	got := f.sink.clips()
	if len(got) != 1 || len(got[clip]) == 0 {
		t.Fatalf("backed up %d clips (%v), want only %s", len(got), slices.Collect(mapKeys(got)), clip)
	}
	if _, ok := got[old[0].ID]; ok {
		t.Error("a clip recorded before the backup was turned on was uploaded")
	}
	pieces := got[clip]
	if pieces[0].name != vault.InitName {
		t.Fatalf("first piece %s, want %s", pieces[0].name, vault.InitName)
	}
	var names []string
	for _, p := range pieces {
		names = append(names, p.name)
	}
	if len(slices.Compact(slices.Clone(names))) != len(names) || strings.Count(strings.Join(names, " "), vault.InitName) != 1 {
		t.Errorf("pieces %v: each once, the init segment once", names)
	}
	var mp4 bytes.Buffer
	stranger, _ := age.GenerateX25519Identity()
	for _, p := range pieces {
		r, err := age.Decrypt(bytes.NewReader(p.data), f.owner.Identity())
		if err != nil {
			t.Fatalf("%s does not open with the owner key: %v", p.name, err)
		}
		io.Copy(&mp4, r)
		for name, id := range map[string]age.Identity{"vault": f.vaultID, "stranger": stranger} {
			if _, err := age.Decrypt(bytes.NewReader(p.data), id); err == nil {
				t.Errorf("%s opens with the %s key", p.name, name)
			}
		}
	}
	if p := capturetest.ProbeBytes(t, mp4.Bytes(), false); p.Codec != "h264" || !p.FirstKey {
		t.Errorf("backed-up clip: %+v", p)
	}
	for _, j := range f.sink.jobs {
		if j.Authority != "backup:"+consentID(t, on) || j.Recipient != "" {
			t.Errorf("job %+v", j)
		}
	}

	off := f.backup(false, nil)
	if b, err := f.gate.SetBackup(off); err != nil || b.On {
		t.Fatalf("backup off: %+v, %v", b, err)
	}
	next := f.record(t0.Add(20 * time.Minute))
	f.settle()
	if _, ok := f.sink.clips()[next]; ok {
		t.Error("the clip recorded after backup off was uploaded")
	}
	leaves := f.backupLeaves()
	if len(leaves) != 2 || leaves[0].Details["on"] != "true" || leaves[1].Details["on"] != "false" || leaves[0].Details["uplink"] != "true" {
		t.Fatalf("backup leaves: %+v", leaves)
	}
	for _, e := range f.entries() {
		if e.Kind == audit.KindDisclosure {
			t.Errorf("a backup upload logged as a disclosure: %+v", e)
		}
	}
}

func consentID(t *testing.T, data []byte) string {
	st, err := consent.ParseStatement(data, consent.KindBackup)
	if err != nil {
		t.Fatal(err)
	}
	var c consent.BackupClaims
	if err := st.Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Only an enrolled owner turns the backup on, once per statement: a
// stranger's key, a grantee's key, a replayed statement, one for another
// device, an expired one and one living too long are refused, burn
// nothing, change nothing and upload nothing; each is counted in the audit
// log. Asking for the state the backup is in changes nothing either.
func TestBackupRefusals(t *testing.T) {
	f := newBackupFixture(t, false, true)
	stranger, _ := consent.GenerateOwnerKey(false)
	grantee := newKey(t)
	strangerSigned, _ := consent.Sign(consent.KindBackup, consent.BackupClaims{Claims: f.baseClaims(), On: true, Media: []string{"video"}},
		stranger.SigningKey(), consent.KeyID(stranger.SigningPublicKey()))
	// A grantee of a live grant holds a signing key the device knows.
	g := f.grant(f.owner.RecipientString(), t0, t0.Add(time.Hour), func(c *consent.GrantClaims) {
		c.Grantee = consent.FormatIssuerKey(pubOf(grantee))
		c.Scope.Live = true
	})
	if _, err := f.gate.SubmitGrant(g); err != nil {
		t.Fatal(err)
	}
	granteeSigned, _ := consent.Sign(consent.KindBackup, consent.BackupClaims{Claims: f.baseClaims(), On: true, Media: []string{"video"}}, grantee, consent.KeyID(pubOf(grantee)))

	on := f.backup(true, nil)
	if _, err := f.gate.SetBackup(on); err != nil {
		t.Fatal(err)
	}
	off := f.backup(false, nil)
	if _, err := f.gate.SetBackup(off); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
		want consent.Reason
	}{
		{"stranger's key", strangerSigned, consent.ReasonUnknownKey},
		{"grantee's key", granteeSigned, consent.ReasonUnknownKey},
		{"replayed", on, consent.ReasonReplayed},
		{"another device", f.backup(true, func(c *consent.BackupClaims) { c.Audience = "aaaaaaaaaaaaaaaa" }), consent.ReasonWrongAudience},
		{"expired", f.backup(true, func(c *consent.BackupClaims) {
			c.IssuedAt = consent.NewNumericDate(f.clk.Now().Add(-time.Hour))
			c.Expiry = consent.NewNumericDate(f.clk.Now().Add(-time.Minute))
		}), consent.ReasonExpired},
		{"living a day", f.backup(true, func(c *consent.BackupClaims) { c.Expiry = consent.NewNumericDate(f.clk.Now().Add(24 * time.Hour)) }), consent.ReasonLifetimeExceedsPolicy},
		{"no media", f.backup(true, func(c *consent.BackupClaims) { c.Media = nil }), consent.ReasonMalformed},
		{"a grant presented as backup", g, consent.ReasonBadTyp},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.gate.SetBackup(tc.data)
			if got := consent.ReasonOf(err); got != tc.want {
				t.Fatalf("reason %q, want %q (%v)", got, tc.want, err)
			}
			if b, _ := f.gate.Backup(); b.On {
				t.Fatal("a refused statement turned the backup on")
			}
		})
	}
	// A repeat of the state it is in: reported, rolled back, not burned.
	again := f.backup(false, nil)
	if _, err := f.gate.SetBackup(again); !errors.Is(err, ErrBackupUnchanged) {
		t.Fatalf("off while off: %v", err)
	}
	if leaves := f.backupLeaves(); len(leaves) != 2 {
		t.Fatalf("%d backup leaves, want 2 (on, off)", len(leaves))
	}
	f.record(t0.Add(30 * time.Minute))
	f.settle()
	if got := f.sink.clips(); len(got) != 0 {
		t.Fatalf("uploaded after refusals: %d clips", len(got))
	}
	if err := f.log.FlushRefusals(); err != nil {
		t.Fatal(err)
	}
	refusals := 0
	for _, e := range f.entries() {
		if e.Kind == audit.KindBackupRefused {
			refusals++
		}
	}
	if refusals == 0 {
		t.Error("no backup-refused leaf in the audit log")
	}
}

// Without an uplink nothing is ever backed up: the owner's statement is
// recorded (and says uplink false in its leaf), but no clip makes a job
// and nothing reaches the disclosure directory; a backup job left from a
// run with an uplink fails instead of being delivered anywhere else.
func TestBackupWithoutUplinkUploadsNothing(t *testing.T) {
	f := newBackupFixture(t, false, false)
	if _, err := f.gate.SetBackup(f.backup(true, nil)); err != nil {
		t.Fatal(err)
	}
	f.record(t0.Add(10 * time.Minute))
	f.settle()
	if js := f.jobs(); len(js) != 0 {
		t.Fatalf("jobs without an uplink: %+v", js)
	}
	if leaves := f.backupLeaves(); len(leaves) != 1 || leaves[0].Details["uplink"] != "false" {
		t.Fatalf("leaves %+v", leaves)
	}
	b, _ := f.gate.Backup()
	clips, _ := f.vault2.Clips()
	left := Job{ID: "20260101T000000Z-bleft", Authority: "backup:" + b.Statement, Recipients: []string{f.owner.RecipientString()},
		Clip: clips[0].ID, ClipDir: clips[0].Dir, Segments: []int{1}, Created: f.clk.Now(), State: JobPending}
	if err := f.db.Update(func(tx *bbolt.Tx) error { return putJob(tx, left) }); err != nil {
		t.Fatal(err)
	}
	f.settle()
	js := f.jobs()
	if len(js) != 1 || js[0].State != JobFailed || !strings.Contains(js[0].Error, "no uplink") {
		t.Fatalf("left-over backup job: %+v", js)
	}
	if entries, _ := os.ReadDir(filepath.Join(f.dir, "disclosures")); len(entries) != 0 {
		t.Fatalf("the disclosure directory holds %d entries", len(entries))
	}
}

// Turning the backup off fails its unfinished jobs: a piece waiting for a
// retry is never uploaded.
func TestBackupOffStopsPendingUploads(t *testing.T) {
	f := newBackupFixture(t, false, true)
	f.sink.fail = func(Job) error { return errors.New("store unreachable") }
	if _, err := f.gate.SetBackup(f.backup(true, nil)); err != nil {
		t.Fatal(err)
	}
	f.record(t0.Add(10 * time.Minute))
	deadline := time.Now().Add(10 * time.Second)
	for f.pending() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if f.pending() == 0 {
		t.Fatal("no backup job queued")
	}
	if _, err := f.gate.SetBackup(f.backup(false, nil)); err != nil {
		t.Fatal(err)
	}
	// The store is back: whatever the gate still delivers now lands.
	f.sink.mu.Lock()
	f.sink.fail = nil
	f.sink.mu.Unlock()
	f.clk.Advance(2 * time.Hour) // every retry due
	f.settle()
	if got := f.sink.clips(); len(got) != 0 {
		t.Fatalf("uploaded after backup off: %d clips; jobs %+v; delivered %+v", len(got), f.jobs(), f.sink.jobs)
	}
	for _, j := range f.jobs() {
		if j.IsBackup() && (j.State != JobFailed || j.Error != "backup turned off") {
			t.Errorf("job %s: %s %q", j.ID, j.State, j.Error)
		}
	}
}
