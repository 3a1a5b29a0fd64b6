package gate

import (
	"context"
	"fmt"
	"testing"

	"go.etcd.io/bbolt"
)

// BenchmarkRunRound is one idle round of Run (nothing due) on a device
// with a long history of delivered jobs and released notices: the pending
// indexes keep it independent of the history.
func BenchmarkRunRound(b *testing.B) {
	for _, history := range []int{0, 10000} {
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			f := newFixture(b, false)
			err := f.db.Update(func(tx *bbolt.Tx) error {
				for i := range history {
					j := Job{ID: fmt.Sprintf("20261127T100000Z-%08d", i), Authority: "grant:x", State: JobDelivered, Done: t0, Files: []string{"000000-init.mp4.age"}}
					if err := putJob(tx, j); err != nil {
						return err
					}
					id, _ := tx.Bucket(bucketNotices).NextSequence()
					if err := put(tx, bucketNotices, u64key(id), Notice{ID: id, Created: t0, ReleaseAt: t0, Released: true, Body: make([]byte, 400)}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := f.gate.runDue(ctx); err != nil {
					b.Fatal(err)
				}
				if _, err := f.gate.ReleaseNotices(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
