package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"
)

type keySigner struct{ priv ed25519.PrivateKey }

func (k keySigner) Sign(msg []byte) []byte       { return ed25519.Sign(k.priv, msg) }
func (k keySigner) PublicKey() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }

func newSigner(t testing.TB) keySigner {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keySigner{priv}
}

var start = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
