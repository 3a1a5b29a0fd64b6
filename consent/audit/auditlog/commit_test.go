package auditlog

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/consent/audit"
)

func nonce(t testing.TB) []byte {
	t.Helper()
	n := make([]byte, 32)
	rand.Read(n)
	return n
}

func (f *fixture) commit(t *testing.T, e audit.Entry, n []byte) uint64 {
	t.Helper()
	var idx uint64
	err := f.db.Update(func(tx *bbolt.Tx) error {
		var err error
		idx, err = f.log.AppendCommitment(tx, e, n)
		return err
	})
	if err != nil {
		t.Fatalf("AppendCommitment: %v", err)
	}
	return idx
}

func (f *fixture) open(c uint64, e audit.Entry, n []byte) (uint64, error) {
	var idx uint64
	err := f.db.Update(func(tx *bbolt.Tx) error {
		var err error
		idx, err = f.log.AppendOpening(tx, c, e, n)
		return err
	})
	return idx, err
}

func TestDelayedNotice(t *testing.T) {
	f := newFixture(t)
	f.appendN(t, 3)
	secret := audit.Entry{
		Time:    f.clk.Now(),
		Kind:    audit.KindDisclosure,
		Reason:  "token",
		Subject: []string{"jti-warrant-4711", "clip-20261127-0930/000042.m4s"},
		Details: map[string]string{"recipient": "age1agency", "case": "CR-2026-0815"},
	}
	n := nonce(t)
	ci := f.commit(t, secret, n)
	f.appendN(t, 2)

	// Before release: the owner's log shows a commitment, verifies, and
	// reveals nothing of the disclosure.
	prev, err := f.verify(t, nil)
	if err != nil {
		t.Fatalf("verify with an unopened commitment: %v", err)
	}
	entries := f.all(t, prev)
	c := entries[ci]
	if c.Kind != audit.KindCommitment {
		t.Fatalf("leaf %d is %q", ci, c.Kind)
	}
	leaf, _ := c.Canonical()
	for _, s := range []string{"jti-warrant-4711", "000042", "age1agency", "CR-2026", "disclosure"} {
		if bytes.Contains(leaf, []byte(s)) {
			t.Fatalf("commitment leaf reveals %q: %s", s, leaf)
		}
	}
	opened, unopened, err := audit.Commitments(entries)
	if err != nil || len(opened) != 0 || !slices.Equal(unopened, []uint64{ci}) {
		t.Fatalf("audit.Commitments before release = %v, %v, %v; want none opened, %d pending", opened, unopened, err, ci)
	}

	// Wrong nonce, wrong entry, wrong index: refused, nothing appended.
	size, _ := f.log.Size()
	wrong := bytes.Clone(n)
	wrong[0] ^= 1
	other := secret
	other.Subject = []string{"jti-warrant-4711", "clip-20261127-0930/000043.m4s"}
	later := secret
	later.Time = secret.Time.Add(time.Second)
	for name, tc := range map[string]struct {
		idx   uint64
		e     audit.Entry
		nonce []byte
	}{
		"wrong-nonce":    {ci, secret, wrong},
		"short-nonce":    {ci, secret, n[:15]},
		"other-segment":  {ci, other, n},
		"other-time":     {ci, later, n},
		"not-commitment": {0, secret, n},
		"no-such-leaf":   {size + 5, secret, n},
	} {
		if _, err := f.open(tc.idx, tc.e, tc.nonce); !errors.Is(err, audit.ErrBadCommitment) {
			t.Errorf("%s: err = %v, want audit.ErrBadCommitment", name, err)
		}
	}
	if s, _ := f.log.Size(); s != size {
		t.Fatalf("refused openings appended %d leaves", s-size)
	}

	// Release: the opening verifies, and reveals the entry.
	f.clk.Advance(24 * time.Hour)
	oi, err := f.open(ci, secret, n)
	if err != nil {
		t.Fatalf("AppendOpening: %v", err)
	}
	cp, err := f.verify(t, &prev)
	if err != nil {
		t.Fatalf("verify after the opening: %v", err)
	}
	opened, unopened, err = audit.Commitments(f.all(t, cp))
	if err != nil || len(opened) != 1 || len(unopened) != 0 {
		t.Fatalf("audit.Commitments after release = %v, %v, %v", opened, unopened, err)
	}
	got := opened[0]
	a, _ := got.Entry.Canonical()
	b, _ := secret.Canonical()
	if got.Commitment != ci || got.Index != oi || !bytes.Equal(a, b) {
		t.Fatalf("opening = %+v, want commitment %d, index %d, entry %s", got, ci, oi, b)
	}
	// A second opening of the same commitment is refused.
	if _, err := f.open(ci, secret, n); !errors.Is(err, audit.ErrBadCommitment) {
		t.Fatalf("second opening: %v, want audit.ErrBadCommitment", err)
	}
}

// TestVerifierChecksOpenings writes openings past AppendOpening's checks
// (a device that lies) and expects the owner's verifier to catch each.
func TestVerifierChecksOpenings(t *testing.T) {
	secret := audit.Entry{Time: start, Kind: audit.KindDisclosure, Subject: []string{"seg-1"}}
	for name, forge := range map[string]func(f *fixture, ci uint64, n []byte) audit.Entry{
		"wrong-nonce": func(f *fixture, ci uint64, n []byte) audit.Entry {
			o := opening(t, ci, secret, n)
			o.Details[detailNonce] = strings.Repeat("00", 32)
			return o
		},
		"other-entry": func(f *fixture, ci uint64, n []byte) audit.Entry {
			e := secret
			e.Subject = []string{"seg-2"}
			return opening(t, ci, e, n)
		},
		"not-a-commitment": func(f *fixture, ci uint64, n []byte) audit.Entry { return opening(t, 0, secret, n) },
		"future-index":     func(f *fixture, ci uint64, n []byte) audit.Entry { return opening(t, 99, secret, n) },
		"uppercase-nonce": func(f *fixture, ci uint64, n []byte) audit.Entry {
			o := opening(t, ci, secret, n)
			o.Details[detailNonce] = strings.ToUpper(o.Details[detailNonce])
			return o
		},
		"extra-detail": func(f *fixture, ci uint64, n []byte) audit.Entry {
			o := opening(t, ci, secret, n)
			o.Details["x"] = "y"
			return o
		},
		"entry-not-canonical": func(f *fixture, ci uint64, n []byte) audit.Entry {
			o := opening(t, ci, secret, n)
			o.Details[detailEntry] = " " + o.Details[detailEntry]
			return o
		},
		"opened-twice": func(f *fixture, ci uint64, n []byte) audit.Entry {
			if _, err := f.open(ci, secret, n); err != nil {
				t.Fatal(err)
			}
			return opening(t, ci, secret, n)
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			f.appendN(t, 2)
			n := nonce(t)
			ci := f.commit(t, secret, n)
			forged := forge(f, ci, n)
			if _, err := f.log.appendTxUpdate(forged); err != nil {
				t.Fatal(err)
			}
			if _, err := f.verify(t, nil); !errors.Is(err, audit.ErrBadCommitment) {
				t.Fatalf("err = %v, want audit.ErrBadCommitment", err)
			}
		})
	}
	// A malformed commitment leaf is caught too.
	f := newFixture(t)
	if _, err := f.log.appendTxUpdate(audit.Entry{Kind: audit.KindCommitment, Details: map[string]string{detailCommitment: "abcd"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.verify(t, nil); !errors.Is(err, audit.ErrBadCommitment) {
		t.Fatalf("malformed commitment: %v, want audit.ErrBadCommitment", err)
	}
}

// opening builds an opening leaf the way AppendOpening would, unchecked.
func opening(t *testing.T, ci uint64, e audit.Entry, n []byte) audit.Entry {
	t.Helper()
	c, err := e.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	return audit.Entry{Kind: audit.KindOpening, Details: map[string]string{
		detailCommitment: itoa(ci),
		detailNonce:      hexs(n),
		detailEntry:      string(c),
	}}
}

// appendTxUpdate appends without AppendTx's kind check or AppendOpening's
// checks, as a lying device could.
func (l *Log) appendTxUpdate(e audit.Entry) (uint64, error) {
	var idx uint64
	err := l.db.Update(func(tx *bbolt.Tx) error {
		var err error
		idx, err = l.appendTx(tx, e)
		return err
	})
	return idx, err
}

func TestCommitRefuses(t *testing.T) {
	ok := audit.Entry{Time: start, Kind: audit.KindDisclosure}
	n := make([]byte, 16)
	for name, tc := range map[string]struct {
		e audit.Entry
		n []byte
	}{
		"short-nonce":       {ok, n[:15]},
		"long-nonce":        {ok, make([]byte, audit.MaxNonce+1)},
		"no-time":           {audit.Entry{Kind: audit.KindDisclosure}, n},
		"commit-commitment": {audit.Entry{Time: start, Kind: audit.KindCommitment}, n},
		"commit-opening":    {audit.Entry{Time: start, Kind: audit.KindOpening}, n},
		"unknown-kind":      {audit.Entry{Time: start, Kind: "whatever"}, n},
		"too-big":           {audit.Entry{Time: start, Kind: audit.KindDisclosure, Subject: []string{strings.Repeat("a", 8000), strings.Repeat("b", 8000), strings.Repeat("c", 1000)}}, n},
	} {
		if _, err := audit.Commit(tc.e, tc.n); !errors.Is(err, audit.ErrBadCommitment) {
			t.Errorf("%s: err = %v, want audit.ErrBadCommitment", name, err)
		}
	}
	a, _ := audit.Commit(ok, n)
	n2 := bytes.Clone(n)
	n2[15] = 1
	b, _ := audit.Commit(ok, n2)
	if len(a) != 32 || bytes.Equal(a, b) {
		t.Fatal("commitment does not depend on the nonce")
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
func hexs(b []byte) string { return hex.EncodeToString(b) }

// The detail keys of commitment and opening leaves (audit's format).
const (
	detailCommitment = "commitment"
	detailNonce      = "nonce"
	detailEntry      = "entry"
)
