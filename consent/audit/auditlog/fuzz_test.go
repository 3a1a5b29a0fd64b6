package auditlog

import (
	"crypto/ed25519"
	"encoding/json"
	"slices"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/consent/audit"
)

// fuzzLog is a small log the verifier knows up to size 5 and the device
// extends to 9 (with a commitment, an opening of an older one, refusals).
type fuzzLog struct {
	pub       ed25519.PublicKey
	prev, cp  audit.SignedCheckpoint
	st        audit.VerifierState
	news      []audit.Entry
	canonical [][]byte
	reply     []byte
}

func newFuzzLog(t *testing.F) (l fuzzLog) {
	f := newFixture(t)
	f.appendN(t, 3)
	e := audit.Entry{Time: start, Kind: audit.KindTokenAccepted, Subject: []string{"jti"}}
	n := make([]byte, 32)
	c := f.commitTB(t, e, n)
	f.appendN(t, 1)
	l.prev = f.checkpoint(t)
	l.st, _ = audit.NewVerifierState(f.all(t, l.prev))
	f.appendN(t, 2)
	f.open(c, e, n)
	f.commitTB(t, audit.Entry{Time: start, Kind: audit.KindDisclosure}, n)
	var cons [][]byte
	l.cp, cons, l.news = f.since(t, l.prev.Size)
	for _, e := range l.news {
		b, _ := e.Canonical()
		l.canonical = append(l.canonical, b)
	}
	l.pub = f.sig.PublicKey()
	l.reply, _ = json.Marshal(struct {
		Entries     []audit.Entry `json:"entries"`
		Consistency [][]byte      `json:"consistency"`
	}{l.news, cons})
	return l
}

func (f *fixture) commitTB(t testing.TB, e audit.Entry, n []byte) uint64 {
	t.Helper()
	var idx uint64
	if err := f.db.Update(func(tx *bbolt.Tx) error {
		var err error
		idx, err = f.log.AppendCommitment(tx, e, n)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return idx
}

// FuzzVerifyNew: whatever entries and proof a device sends for a signed
// checkpoint, VerifyNew never panics and accepts only the very leaves the
// checkpoint commits to.
func FuzzVerifyNew(f *testing.F) {
	l := newFuzzLog(f)
	f.Add(l.reply)
	f.Fuzz(func(t *testing.T, in []byte) {
		var r struct {
			Entries     []audit.Entry `json:"entries"`
			Consistency [][]byte      `json:"consistency"`
		}
		if json.Unmarshal(in, &r) != nil {
			return
		}
		st, _, err := audit.VerifyNew(l.pub, l.cp, l.prev, l.st, r.Consistency, r.Entries)
		if err != nil {
			return
		}
		if len(r.Entries) != len(l.canonical) {
			t.Fatalf("accepted %d entries, the checkpoint commits to %d", len(r.Entries), len(l.canonical))
		}
		for i, e := range r.Entries {
			b, _ := e.Canonical()
			if !slices.Equal(b, l.canonical[i]) {
				t.Fatalf("accepted a forged entry %d: %s", i, b)
			}
		}
		if st.Size != l.cp.Size {
			t.Fatalf("state size %d", st.Size)
		}
	})
}
