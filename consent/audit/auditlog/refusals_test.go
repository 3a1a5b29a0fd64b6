package auditlog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/consent/audit"
)

func (f *fixture) aggregates(t *testing.T) []audit.Entry {
	t.Helper()
	size, err := f.log.Size()
	if err != nil {
		t.Fatal(err)
	}
	es, err := f.log.Entries(0, size)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Entry
	for _, e := range es {
		if e.Kind == audit.KindRefusalsAggregate {
			out = append(out, e)
		}
	}
	return out
}

func count(t *testing.T, e audit.Entry) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(e.Details["count"], 10, 64)
	if err != nil {
		t.Fatalf("aggregate %d: count %q", e.Seq, e.Details["count"])
	}
	return n
}

// TestRefusalFlood: 10,000 garbage tokens in 50 seconds add no leaf while
// the minute lasts and exactly one when it is over.
func TestRefusalFlood(t *testing.T) {
	f := newFixture(t)
	for range 10_000 {
		if err := f.log.RecordUnauthenticated("malformed-token"); err != nil {
			t.Fatal(err)
		}
		f.clk.Advance(5 * time.Millisecond)
	}
	if size, _ := f.log.Size(); size != 0 {
		t.Fatalf("%d leaves during the minute, want 0", size)
	}
	if got := f.log.PendingRefusals()["malformed-token"]; got != 10_000 {
		t.Fatalf("pending count %d, want 10000", got)
	}
	f.clk.Advance(10 * time.Second) // into the next minute
	if err := f.log.RecordUnauthenticated("malformed-token"); err != nil {
		t.Fatal(err)
	}
	ag := f.aggregates(t)
	if len(ag) != 1 || count(t, ag[0]) != 10_000 || ag[0].Reason != "malformed-token" {
		t.Fatalf("aggregates = %+v, want one with count 10000", ag)
	}
	if ag[0].Details["from"] != "2026-11-27T10:00:00Z" || ag[0].Details["until"] != "2026-11-27T10:01:00Z" {
		t.Fatalf("aggregate window %s–%s", ag[0].Details["from"], ag[0].Details["until"])
	}
	// The checkpoint after the next minute flushes the one pending refusal.
	f.clk.Advance(time.Minute)
	if _, err := f.verify(t, nil); err != nil {
		t.Fatal(err)
	}
	ag = f.aggregates(t)
	if len(ag) != 2 || count(t, ag[1]) != 1 {
		t.Fatalf("after checkpoint: %+v", ag)
	}
	if p := f.log.PendingRefusals(); len(p) != 0 {
		t.Fatalf("pending after flush: %v", p)
	}
}

// TestRefusalFloodOverMinutes: a steady flood over 10 minutes with three
// reasons adds at most one leaf per reason per minute.
func TestRefusalFloodOverMinutes(t *testing.T) {
	f := newFixture(t)
	reasons := []string{"bad-signature", "unknown-issuer", "malformed-token"}
	var total uint64
	for i := range 6000 { // one every 100 ms: 10 minutes
		if err := f.log.RecordUnauthenticated(reasons[i%3]); err != nil {
			t.Fatal(err)
		}
		total++
		f.clk.Advance(100 * time.Millisecond)
	}
	f.clk.Advance(time.Minute)
	if err := f.log.FlushRefusals(); err != nil {
		t.Fatal(err)
	}
	ag := f.aggregates(t)
	if len(ag) > 3*10 {
		t.Fatalf("%d leaves for 10 minutes and 3 reasons", len(ag))
	}
	var sum uint64
	for _, e := range ag {
		sum += count(t, e)
	}
	if sum != total {
		t.Fatalf("aggregated %d refusals, recorded %d", sum, total)
	}
}

func TestRefusalReasonLimits(t *testing.T) {
	f := newFixture(t)
	for i := range 1000 {
		if err := f.log.RecordUnauthenticated(fmt.Sprintf("r%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []string{"", "UPPER", "spaces here", "\xff", string(make([]byte, 65))} {
		if err := f.log.RecordUnauthenticated(r); err != nil {
			t.Fatal(err)
		}
	}
	p := f.log.PendingRefusals()
	if len(p) != maxReasons+1 || p[ReasonOther] != 1000-maxReasons+5 {
		t.Fatalf("%d reasons pending, other = %d; want %d and %d", len(p), p[ReasonOther], maxReasons+1, 1000-maxReasons+5)
	}
	f2 := newFixture(t)
	for _, r := range []string{"", "UPPER"} {
		f2.log.RecordUnauthenticated(r)
	}
	if got := f2.log.PendingRefusals()[ReasonInvalid]; got != 2 {
		t.Fatalf("invalid reasons counted %d, want 2", got)
	}
}

// TestRefusalCrash: counts survive a crash (a new Log over the same file,
// without FlushRefusals), up to RefusalSyncInterval.
func TestRefusalCrash(t *testing.T) {
	f := newFixture(t)
	for range 5 {
		if err := f.log.RecordUnauthenticated("bad-signature"); err != nil {
			t.Fatal(err)
		}
		f.clk.Advance(RefusalSyncInterval)
	}
	// Two more within one interval: only in memory.
	f.log.RecordUnauthenticated("bad-signature")
	f.log.RecordUnauthenticated("bad-signature")
	// Crash: reopen the file without flushing.
	f.db.Close()
	f.db = openDB(t, f.path)
	var err error
	if f.log, err = Open(f.db, f.sig, f.clk); err != nil {
		t.Fatal(err)
	}
	got := f.log.PendingRefusals()["bad-signature"]
	if got < 5 || got > 7 {
		t.Fatalf("after the crash %d refusals counted, want 5 to 7", got)
	}
	// The first refusal of a new reason is written at once.
	f.log.RecordUnauthenticated("unknown-issuer")
	f.db.Close()
	f.db = openDB(t, f.path)
	if f.log, err = Open(f.db, f.sig, f.clk); err != nil {
		t.Fatal(err)
	}
	if f.log.PendingRefusals()["unknown-issuer"] != 1 {
		t.Fatal("a new reason's first refusal was lost in a crash")
	}
	// FlushRefusals makes everything durable (what the agent does at
	// shutdown).
	f.log.RecordUnauthenticated("unknown-issuer")
	if err := f.log.FlushRefusals(); err != nil {
		t.Fatal(err)
	}
	f.db.Close()
	f.db = openDB(t, f.path)
	if f.log, err = Open(f.db, f.sig, f.clk); err != nil {
		t.Fatal(err)
	}
	if f.log.PendingRefusals()["unknown-issuer"] != 2 {
		t.Fatal("FlushRefusals did not persist the count")
	}
	f.clk.Advance(time.Minute)
	cp, err := f.verify(t, nil)
	if err != nil || cp.Size != 2 {
		t.Fatalf("after the minute: size %d, %v; want 2 aggregate leaves", cp.Size, err)
	}
}

// TestRefusalWriteFailure: when bbolt cannot write, the error is returned
// and the counts stay in memory to be written later.
func TestRefusalWriteFailure(t *testing.T) {
	f := newFixture(t)
	f.log.RecordUnauthenticated("bad-signature")
	f.clk.Advance(time.Minute)
	// Drop the bucket so the flush fails.
	if err := f.db.Update(func(tx *bbolt.Tx) error { return tx.DeleteBucket(bucketRefusals) }); err != nil {
		t.Fatal(err)
	}
	if err := f.log.RecordUnauthenticated("bad-signature"); err == nil {
		t.Fatal("no error with the bucket gone")
	}
	if size, _ := f.log.Size(); size != 0 {
		t.Fatalf("a failed flush left %d leaves", size)
	}
	if f.log.PendingRefusals()["bad-signature"] != 1 {
		t.Fatal("the count was lost on a failed write")
	}
	if err := f.db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket(bucketRefusals)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := f.log.FlushRefusals(); err != nil {
		t.Fatal(err)
	}
	if ag := f.aggregates(t); len(ag) != 1 || count(t, ag[0]) != 1 {
		t.Fatalf("aggregates after recovery: %+v", ag)
	}
	if err := f.db.Update(func(tx *bbolt.Tx) error { return tx.DeleteBucket(bucketLeaves) }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.log.Append(sample(0)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Append without buckets: %v, want ErrCorrupt", err)
	}
}

// TestAuthenticatedRefusals (issue 8, finding 1): a statement refused
// after its signature verified gets one leaf at once; its repeats in the
// same minute are counted and logged as one aggregate when the minute is
// over; the counts survive a crash; distinct statements are bounded.
func TestAuthenticatedRefusals(t *testing.T) {
	f := newFixture(t)
	stmt := Refusal{Kind: audit.KindTokenRefused, Reason: "replayed", Subject: "jti-1", Statement: [32]byte{1}}
	for range 1000 {
		if err := f.log.RecordRefusal(stmt); err != nil {
			t.Fatal(err)
		}
		f.clk.Advance(10 * time.Millisecond)
	}
	es, _ := f.log.Entries(0, 1)
	if size, _ := f.log.Size(); size != 1 || es[0].Kind != audit.KindTokenRefused || es[0].Reason != "replayed" ||
		es[0].Subject[0] != "jti-1" || es[0].Details[audit.DetailStatement] != "01"+strings.Repeat("00", 31) {
		t.Fatalf("after 1000 replays in 10 s: %d leaves, first %+v; want the one refusal leaf", size, es)
	}
	if p := f.log.PendingRefusals()["replayed"]; p != 999 {
		t.Fatalf("pending repeats %d, want 999", p)
	}
	// Crash within the minute: the repeats written at least once a second survive.
	f.db.Close()
	f.db = openDB(t, f.path)
	var err error
	if f.log, err = Open(f.db, f.sig, f.clk); err != nil {
		t.Fatal(err)
	}
	if p := f.log.PendingRefusals()["replayed"]; p < 900 || p > 999 {
		t.Fatalf("after a crash %d repeats counted, want 900 to 999", p)
	}
	// The next minute: the aggregate, then the new minute's first leaf.
	f.clk.Advance(time.Minute)
	if err := f.log.RecordRefusal(stmt); err != nil {
		t.Fatal(err)
	}
	es, _ = f.log.Entries(0, 3)
	if len(es) != 3 || es[1].Kind != audit.KindRefusalsAggregate || es[1].Details[audit.DetailRefused] != "token-refused" ||
		es[1].Details[audit.DetailStatement] != es[0].Details[audit.DetailStatement] || es[1].Subject[0] != "jti-1" || es[2].Kind != audit.KindTokenRefused {
		t.Fatalf("after the minute: %+v", es)
	}
	// A statement refused once adds exactly its one leaf, no aggregate.
	f.clk.Advance(2 * time.Minute)
	f.log.FlushRefusals() // the aggregate of nothing: no leaf
	size, _ := f.log.Size()
	if size != 3 {
		t.Fatalf("a single refusal left %d leaves, want 3", size)
	}
	// Distinct statements: at most maxStatements keys, the rest as "other".
	for i := range maxStatements + 20 {
		if err := f.log.RecordRefusal(Refusal{Kind: audit.KindGrantRefused, Reason: "expired", Statement: [32]byte{byte(i), 2}}); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		f.log.RecordRefusal(Refusal{Kind: audit.KindGrantRefused, Reason: "expired", Statement: [32]byte{0xff, 0xff}})
	}
	size2, _ := f.log.Size()
	if added := size2 - size; added != maxStatements+1 {
		t.Fatalf("%d distinct statements added %d leaves, want %d (the rest counted as other)", maxStatements+25, added, maxStatements+1)
	}
	if _, err := f.verify(t, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.log.RecordRefusal(Refusal{Kind: audit.KindOpening, Reason: "x"}); !errors.Is(err, audit.ErrBadEntry) {
		t.Fatalf("refusal of kind opening: %v", err)
	}
}
