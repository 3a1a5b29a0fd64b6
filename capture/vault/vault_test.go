package vault

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/capture/vault/clipfile"
	"github.com/doorward/doorward/device/clock/clocktest"
	"github.com/doorward/doorward/device/events"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

type fixture struct {
	dir   string
	db    *bbolt.DB
	owner *age.X25519Identity
	clk   *clocktest.Fake
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	owner, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: dir, owner: owner, clk: clocktest.New(t0)}
	f.reopenDB(t)
	return f
}

func (f *fixture) reopenDB(t *testing.T) {
	t.Helper()
	if f.db != nil {
		f.db.Close()
	}
	db, err := bbolt.Open(filepath.Join(f.dir, "state.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.db = db
	t.Cleanup(func() { db.Close() })
}

func (f *fixture) open(t *testing.T, maxAge time.Duration, maxBytes int64) *Vault {
	t.Helper()
	v, err := Open(Options{
		Dir: filepath.Join(f.dir, "clips"), DB: f.db, Recipients: []age.Recipient{f.owner.Recipient()},
		Clock: f.clk, Log: slog.New(slog.DiscardHandler), MaxAge: maxAge, MaxBytes: maxBytes,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// writeClip records a clip of n segments of size bytes each, starting at
// start, one second per segment.
func writeClip(t *testing.T, v *Vault, start time.Time, n, size int, end bool) string {
	t.Helper()
	id, err := v.BeginClip(start, "motion")
	if err != nil {
		t.Fatal(err)
	}
	for seq := 0; seq <= n; seq++ {
		p, err := v.CreatePiece(id, seq)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Write(bytes.Repeat([]byte{byte('A' + seq)}, size)); err != nil {
			t.Fatal(err)
		}
		s := start.Add(time.Duration(max(seq-1, 0)) * time.Second)
		if err := p.Commit(s, s.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if end {
		if err := v.EndClip(id); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

func TestPiecesAreEncryptedAndDecrypt(t *testing.T) {
	f := newFixture(t)
	v := f.open(t, 0, 0)
	id := writeClip(t, v, t0, 3, 1000, true)
	clips, err := v.Clips()
	if err != nil || len(clips) != 1 {
		t.Fatalf("clips %v, %v", clips, err)
	}
	c := clips[0]
	if c.ID != id || c.Segments != 3 || c.Recording || !c.Start.Equal(t0) || !c.End.Equal(t0.Add(3*time.Second)) {
		t.Errorf("clip record %+v", c)
	}
	var onDisk int64
	entries, _ := os.ReadDir(c.Path)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(c.Path, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		onDisk += int64(len(data))
		if !bytes.HasPrefix(data, []byte("age-encryption.org/v1\n")) || bytes.Contains(data, bytes.Repeat([]byte("A"), 64)) {
			t.Errorf("%s is not an age file", e.Name())
		}
		if info, _ := e.Info(); info.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", e.Name(), info.Mode().Perm())
		}
	}
	if onDisk != c.Size || v.TotalBytes() != c.Size {
		t.Errorf("index says %d bytes (total %d), disk has %d", c.Size, v.TotalBytes(), onDisk)
	}
	var out bytes.Buffer
	if err := clipfile.DecryptClip(c.Path, []age.Identity{f.owner}, &out); err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat("A", 1000) + strings.Repeat("B", 1000) + strings.Repeat("C", 1000) + strings.Repeat("D", 1000)
	if out.String() != want {
		t.Errorf("decrypted %d bytes, want the pieces in order", out.Len())
	}
}

func TestOpenRefusesNoRecipients(t *testing.T) {
	f := newFixture(t)
	_, err := Open(Options{Dir: filepath.Join(f.dir, "clips"), DB: f.db})
	if err == nil || !strings.Contains(err.Error(), "no recipients") {
		t.Fatalf("err = %v", err)
	}
}

func TestClipWithoutSegmentIsNotIndexed(t *testing.T) {
	f := newFixture(t)
	v := f.open(t, 0, 0)
	id := writeClip(t, v, t0, 0, 100, true)
	clips, _ := v.Clips()
	if len(clips) != 0 {
		t.Fatalf("clip %s with only an init segment was indexed", id)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "clips", "2026")); err == nil {
		entries, _ := filepath.Glob(filepath.Join(f.dir, "clips", "2026", "*", "*", "*"))
		if len(entries) != 0 {
			t.Errorf("left %v on disk", entries)
		}
	}
}

func TestRecoverAfterCrash(t *testing.T) {
	f := newFixture(t)
	v := f.open(t, 0, 0)
	done := writeClip(t, v, t0, 2, 500, true)
	// A clip interrupted mid-segment: two committed segments, a third in
	// progress, plus an unindexed complete file (crash between rename and
	// index) and a clip that never got a segment.
	live := writeClip(t, v, t0.Add(time.Minute), 2, 500, false)
	p, _ := v.CreatePiece(live, 3)
	p.Write([]byte("half a segment"))
	clips, _ := v.Clips()
	liveDir := clips[1].Path
	os.WriteFile(filepath.Join(liveDir, SegmentName(4)), []byte("age-encryption.org/v1\n..."), 0o600)
	ghost, _ := v.BeginClip(t0.Add(2*time.Minute), "ring")
	gp, _ := v.CreatePiece(ghost, 0)
	gp.Write([]byte("init"))
	gp.Commit(t0, t0)

	// "Restart": a new vault over the same files and database.
	f.reopenDB(t)
	v2 := f.open(t, 0, 0)
	clips, err := v2.Clips()
	if err != nil {
		t.Fatal(err)
	}
	if len(clips) != 2 || clips[0].ID != done || clips[1].ID != live {
		t.Fatalf("clips after recovery: %+v", clips)
	}
	if clips[1].Recording || clips[1].Segments != 2 {
		t.Errorf("interrupted clip %+v: want closed with 2 segments", clips[1])
	}
	var leftovers []string
	filepath.WalkDir(filepath.Join(f.dir, "clips"), func(path string, d os.DirEntry, err error) error {
		if !d.IsDir() && (strings.HasSuffix(path, partialSuffix) || strings.HasSuffix(path, SegmentName(4))) {
			leftovers = append(leftovers, path)
		}
		if d.IsDir() && strings.Contains(path, ghost) {
			leftovers = append(leftovers, path)
		}
		return nil
	})
	if len(leftovers) > 0 {
		t.Errorf("recovery left %v", leftovers)
	}
	for _, c := range clips {
		if err := clipfile.DecryptClip(c.Path, []age.Identity{f.owner}, io.Discard); err != nil {
			t.Errorf("clip %s does not decrypt after recovery: %v", c.ID, err)
		}
	}
	var total int64
	for _, c := range clips {
		total += c.Size
	}
	if v2.TotalBytes() != total {
		t.Errorf("total %d, clips add up to %d", v2.TotalBytes(), total)
	}
}

func TestRecoverDropsIndexEntriesWithoutFiles(t *testing.T) {
	f := newFixture(t)
	v := f.open(t, 0, 0)
	writeClip(t, v, t0, 3, 100, true)
	clips, _ := v.Clips()
	os.Remove(filepath.Join(clips[0].Path, SegmentName(3)))
	f.reopenDB(t)
	v2 := f.open(t, 0, 0)
	clips, _ = v2.Clips()
	if len(clips) != 1 || clips[0].Segments != 2 || !clips[0].End.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("after recovery: %+v", clips)
	}
}

func TestRetentionMaxAge(t *testing.T) {
	f := newFixture(t)
	v := f.open(t, 24*time.Hour, 0)
	old := writeClip(t, v, t0, 3, 100, true)
	fresh := writeClip(t, v, t0.Add(20*time.Hour), 3, 100, true)
	if n, err := v.Enforce(); err != nil || n != 0 {
		t.Fatalf("nothing is old yet: deleted %d, %v", n, err)
	}
	f.clk.Advance(24*time.Hour + 2500*time.Millisecond) // the first two segments of old are now past max age
	if n, err := v.Enforce(); err != nil || n != 2 {
		t.Fatalf("deleted %d, %v; want 2", n, err)
	}
	clips, _ := v.Clips()
	if len(clips) != 2 || clips[0].ID != old || clips[0].Segments != 1 || !clips[0].Start.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("after age retention: %+v", clips)
	}
	if err := clipfile.DecryptClip(clips[0].Path, []age.Identity{f.owner}, io.Discard); err != nil {
		t.Errorf("trimmed clip does not decrypt: %v", err)
	}
	f.clk.Advance(time.Hour)
	v.Enforce()
	clips, _ = v.Clips()
	if len(clips) != 1 || clips[0].ID != fresh {
		t.Fatalf("old clip not removed whole: %+v", clips)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "clips", old[:4])); err == nil {
		if m, _ := filepath.Glob(filepath.Join(f.dir, "clips", "*", "*", "*", old)); len(m) > 0 {
			t.Errorf("directory of deleted clip left: %v", m)
		}
	}
}

func TestRetentionMaxBytesSparesActiveClip(t *testing.T) {
	f := newFixture(t)
	v := f.open(t, 0, 0)
	a := writeClip(t, v, t0, 4, 10_000, true)
	b := writeClip(t, v, t0.Add(time.Hour), 4, 10_000, false) // still recording
	clips, _ := v.Clips()
	db := v.dbBytes() // max_bytes counts state.db too
	v.opts.MaxBytes = db + clips[1].Size + clips[0].Size/2
	n, err := v.Enforce()
	if err != nil {
		t.Fatal(err)
	}
	if v.TotalBytes()+db > v.opts.MaxBytes {
		t.Errorf("total %d still above %d", v.TotalBytes(), v.opts.MaxBytes)
	}
	clips, _ = v.Clips()
	if n == 0 || clips[0].ID != a || clips[len(clips)-1].ID != b || clips[len(clips)-1].Segments != 4 {
		t.Errorf("deleted %d; clips %+v", n, clips)
	}
	// Below the limit only the active clip would be left to evict: it is spared.
	v.opts.MaxBytes = 1
	v.Enforce()
	clips, _ = v.Clips()
	if len(clips) != 1 || clips[0].ID != b || clips[0].Segments != 4 {
		t.Errorf("active clip evicted: %+v", clips)
	}
}

func TestSegmentCommittedEvent(t *testing.T) {
	f := newFixture(t)
	bus := events.New()
	sub := bus.Subscribe("test", 16)
	defer sub.Close()
	v, err := Open(Options{
		Dir: filepath.Join(f.dir, "clips"), DB: f.db, Recipients: []age.Recipient{f.owner.Recipient()},
		Clock: f.clk, Events: bus,
	})
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.BeginClip(t0, "ring")
	if err != nil {
		t.Fatal(err)
	}
	for seq := 0; seq <= 2; seq++ {
		p, err := v.CreatePiece(id, seq)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Write(bytes.Repeat([]byte{'x'}, 5000*(seq+1))); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-sub.C():
			t.Fatalf("event %+v before piece %d was committed", e, seq)
		default:
		}
		if err := p.Commit(t0, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if seq == 0 {
			select {
			case e := <-sub.C():
				t.Fatalf("event %+v for the init segment, want none", e)
			default:
			}
			continue
		}
		var e events.Event
		select {
		case e = <-sub.C():
		default:
			t.Fatalf("no segment-committed event for segment %d", seq)
		}
		// By the time the event is out, the piece is in place and indexed.
		clips, err := v.Clips()
		if err != nil || len(clips) != 1 || clips[0].Segments != seq {
			t.Fatalf("index at the event for segment %d: %+v, %v", seq, clips, err)
		}
		st, err := os.Stat(filepath.Join(clips[0].Path, SegmentName(seq)))
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind != events.SegmentCommitted || e.Clip != id || e.Segment != seq || e.Bytes != st.Size() || !e.Time.Equal(t0) {
			t.Errorf("event %+v, want segment-committed of %s segment %d with %d bytes at %v", e, id, seq, st.Size(), t0)
		}
		if err := p.Commit(t0, t0); err == nil {
			t.Error("committing a piece twice succeeded")
		}
		select {
		case e := <-sub.C():
			t.Errorf("event %+v for a failed commit", e)
		default:
		}
	}
}

func TestEventLog(t *testing.T) {
	f := newFixture(t)
	v := f.open(t, 0, 0)
	if evs, err := v.Events(); err != nil || len(evs) != 0 {
		t.Fatalf("empty log: %v, %v", evs, err)
	}
	// Noted out of order: listed in time order.
	for _, s := range []int{30, 10, 20, 10} {
		if err := v.NoteEvent(t0.Add(time.Duration(s)*time.Second), "ring", fmt.Sprint("at ", s)); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := v.Events()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Note)
		if e.Kind != "ring" || e.Time.Sub(t0) != time.Duration(strings.TrimPrefix(e.Note, "at ")[0]-'0')*10*time.Second {
			t.Errorf("event %+v", e)
		}
	}
	if strings.Join(got, ",") != "at 10,at 10,at 20,at 30" {
		t.Errorf("events %v, want time order", got)
	}
	// A stopped agent's log reads the same from the database.
	f.db.View(func(tx *bbolt.Tx) error {
		if evs2, err := ListEvents(tx); err != nil || len(evs2) != 4 {
			t.Errorf("ListEvents: %d, %v", len(evs2), err)
		}
		return nil
	})
	// The log keeps the latest maxEvents.
	f.db.NoSync = true
	for i := range maxEvents {
		if err := v.NoteEvent(t0.Add(time.Hour+time.Duration(i)*time.Second), "motion", "later"); err != nil {
			t.Fatal(err)
		}
	}
	evs, _ = v.Events()
	if len(evs) != maxEvents || evs[0].Note != "later" || !evs[0].Time.Equal(t0.Add(time.Hour)) {
		t.Errorf("%d events, first %+v; want the latest %d", len(evs), evs[0], maxEvents)
	}
}
