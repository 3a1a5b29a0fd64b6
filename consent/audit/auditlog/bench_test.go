package auditlog

import (
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/consent/audit"
)

// BenchmarkAppend appends one leaf per transaction, as a decision does: the
// figure includes bbolt's commit and fsync on the test machine's disk.
func BenchmarkAppend(b *testing.B) {
	f := newFixture(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := f.log.Append(sample(i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkAppendTx is the tree and encoding work alone: 1000 leaves per
// transaction, reported per leaf, in a log already holding 100,000.
func BenchmarkAppendTx(b *testing.B) {
	f := newFixture(b)
	f.db.NoSync = true
	fill := func(n int) {
		if err := f.db.Update(func(tx *bbolt.Tx) error {
			for i := range n {
				if _, err := f.log.AppendTx(tx, sample(i)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	for range 100 {
		fill(1000)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		fill(1000)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/leaf")
}

// BenchmarkRecordUnauthenticated is the cost of one garbage token to the
// log, with the clock moving 1 ms per refusal (so a sync every 1000).
func BenchmarkRecordUnauthenticated(b *testing.B) {
	f := newFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := f.log.RecordUnauthenticated("malformed-token"); err != nil {
			b.Fatal(err)
		}
		f.clk.Advance(time.Millisecond)
	}
}

// BenchmarkVerify is the owner's check of a 10,000-entry log.
func BenchmarkVerify(b *testing.B) {
	f := newFixture(b)
	f.db.NoSync = true
	if err := f.db.Update(func(tx *bbolt.Tx) error {
		for i := range 10_000 {
			if _, err := f.log.AppendTx(tx, sample(i)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	cp := f.checkpoint(b)
	entries := f.all(b, cp)
	pub := f.sig.PublicKey()
	b.ReportAllocs()
	for b.Loop() {
		if err := audit.Verify(pub, cp, entries, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}
