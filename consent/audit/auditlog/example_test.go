package auditlog_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/consent/audit/auditlog"
	"github.com/doorward/doorward/device/clock/clocktest"
)

type signer struct{ ed25519.PrivateKey }

func (s signer) Sign(m []byte) []byte         { return ed25519.Sign(s.PrivateKey, m) }
func (s signer) PublicKey() ed25519.PublicKey { return s.Public().(ed25519.PublicKey) }

// A token is accepted: the jti and the audit leaf go into one transaction.
// The owner then verifies the log against the checkpoint stored last time.
func Example() {
	dir, _ := os.MkdirTemp("", "audit")
	defer os.RemoveAll(dir)
	db, _ := bbolt.Open(filepath.Join(dir, "state.db"), 0o600, nil)
	defer db.Close()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	clk := clocktest.New(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
	log, _ := auditlog.Open(db, signer{priv}, clk)

	log.Append(audit.Entry{Kind: audit.KindPairing})
	stored, _ := log.Checkpoint() // the owner's client keeps this

	err := db.Update(func(tx *bbolt.Tx) error {
		seen, _ := tx.CreateBucketIfNotExists([]byte("tokens_seen"))
		seen.Put([]byte("jti-4711"), []byte{1})
		_, err := log.AppendTx(tx, audit.Entry{Kind: audit.KindTokenAccepted, Subject: []string{"jti-4711"}})
		return err
	})
	fmt.Println("accept:", err)

	clk.Advance(time.Minute)
	cp, _ := log.Checkpoint()
	entries, _ := log.Entries(0, cp.Size)
	proof, _ := log.ConsistencyProof(stored.Size, cp.Size)
	pub := priv.Public().(ed25519.PublicKey)
	fmt.Println("verify:", audit.Verify(pub, cp, entries, &stored, proof))
	fmt.Println("older checkpoint served:", audit.Verify(pub, stored, entries[:1], &cp, nil) != nil)
	fmt.Printf("%s", cp.Body()[:20])
	// Output:
	// accept: <nil>
	// verify: <nil>
	// older checkpoint served: true
	// doorward-audit/v1
	// 2
}
