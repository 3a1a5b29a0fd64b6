package api_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/device/api"
)

// The JSON field names are the wire format earlier releases speak; they
// must not change with a Go rename.
func TestWireNames(t *testing.T) {
	cp := audit.SignedCheckpoint{Checkpoint: audit.Checkpoint{Size: 1, Root: make([]byte, 32), Time: time.Unix(100, 0)}, Signature: make([]byte, 64)}
	for _, tc := range []struct {
		v    any
		want string
	}{
		{api.Info{DeviceID: "d", DeviceKey: "k", Paired: true, Version: "v"}, `{"device_id":"d","device_key":"k","paired":true,"version":"v"}`},
		{api.GrantReply{JTI: "j", Disclosures: 2}, `{"jti":"j","disclosures":2}`},
		{api.RevokeReply{Grant: "g"}, `{"grant":"g"}`},
		{api.LegalReply{JTI: "j"}, `{"jti":"j"}`},
		{api.PolicyReply{Hash: "h"}, `{"hash":"h"}`},
		{api.EnrollReply{KID: "k"}, `{"kid":"k"}`},
		{api.Error{Reason: "r", Error: "e"}, `{"reason":"r","error":"e"}`},
		{api.ControlRequest{Op: api.OpTrigger, Event: "ring"}, `{"op":"trigger","event":"ring"}`},
		{api.AuditReply{Checkpoint: cp, Entries: []audit.Entry{}}, `{"checkpoint":"doorward-audit/v1\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n100\n\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n","from":0,"entries":[]}`},
		{api.AuditLog{Entries: []audit.Entry{}}, `{"entries":[]}`},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil || string(b) != tc.want {
			t.Errorf("%T: %s, %v\nwant %s", tc.v, b, err, tc.want)
		}
	}
	// The checkpoint is a real type on both sides: it parses back.
	var r api.AuditReply
	b, _ := json.Marshal(api.AuditReply{Checkpoint: cp})
	if err := json.Unmarshal(b, &r); err != nil || r.Checkpoint.Size != 1 {
		t.Errorf("round trip: %+v, %v", r, err)
	}
	if err := json.Unmarshal([]byte(`{"checkpoint":"garbage"}`), &r); err == nil {
		t.Error("a malformed checkpoint decoded")
	}
}

func TestDecryptNotice(t *testing.T) {
	owner, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	body := api.NoticeBody{Time: time.Unix(100, 0).UTC(), Kind: "grant", Authority: "jti", Segments: 3}
	var ct bytes.Buffer
	w, err := age.Encrypt(&ct, owner.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	json.NewEncoder(w).Encode(body)
	w.Close()
	got, err := api.DecryptNotice(ct.Bytes(), owner)
	if err != nil || got.Kind != "grant" || got.Authority != "jti" || got.Segments != 3 || !got.Time.Equal(body.Time) {
		t.Fatalf("DecryptNotice: %+v, %v", got, err)
	}
	if _, err := api.DecryptNotice(ct.Bytes(), other); err == nil || !strings.HasPrefix(err.Error(), "api: notice: ") {
		t.Errorf("another owner's key: %v", err)
	}
	// Ciphertext of something that is not a notice.
	ct.Reset()
	w, _ = age.Encrypt(&ct, owner.Recipient())
	w.Write([]byte("not json"))
	w.Close()
	if _, err := api.DecryptNotice(ct.Bytes(), owner); err == nil {
		t.Error("a body that is not JSON decoded")
	}
}

// FuzzDecryptNotice: whatever the device sends as a notice body, opening
// it never panics.
func FuzzDecryptNotice(f *testing.F) {
	id, _ := age.GenerateX25519Identity()
	var ct bytes.Buffer
	w, _ := age.Encrypt(&ct, id.Recipient())
	w.Write([]byte(`{"kind":"status","note":"x"}`))
	w.Close()
	f.Add(ct.Bytes())
	f.Add([]byte("age-encryption.org/v1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		api.DecryptNotice(b, id)
	})
}
