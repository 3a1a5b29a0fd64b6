package pairing_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/doorward/doorward/consent/pairing"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/; f.Add adds a fresh
// valid message of each kind on top.

func FuzzParseSecret(f *testing.F) {
	s, _ := pairing.NewSecret()
	f.Add(s.Reveal())
	f.Add(pairing.URIScheme + strings.ReplaceAll(s.Reveal(), "-", ""))
	f.Fuzz(func(t *testing.T, in string) {
		got, err := pairing.ParseSecret(in)
		if err != nil {
			if !errors.Is(err, pairing.ErrMalformedSecret) || !got.IsZero() {
				t.Fatalf("error %v with secret set %v", err, !got.IsZero())
			}
			return
		}
		again, err := pairing.ParseSecret(got.Reveal())
		if err != nil || !again.Equal(got) {
			t.Fatalf("Reveal does not round-trip: %v", err)
		}
		if strings.Contains(got.String()+got.GoString(), got.Reveal()) {
			t.Fatal("String leaks the code")
		}
	})
}

// FuzzDecodeHello feeds decoded Hellos to a real Pairer: whatever the decoder
// accepts must be handled without a panic.
func FuzzDecodeHello(f *testing.F) {
	hello, _, _ := validMessages(f)
	f.Add(hello)
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := pairing.DecodeHello(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, pairing.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if err := h.Validate(); err != nil {
			t.Fatalf("decoded Hello does not validate: %v", err)
		}
		reply, err := fx.p.Hello(h)
		if err == nil {
			if err := reply.Validate(); err != nil {
				t.Fatalf("device made an invalid reply: %v", err)
			}
			// do not fill the sessions
			fx.clk.Advance(pairing.SessionTTL)
		}
		b, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pairing.DecodeHello(bytes.NewReader(b)); err != nil {
			t.Fatalf("re-encoded Hello refused: %v", err)
		}
	})
}

func FuzzDecodeHelloReply(f *testing.F) {
	_, reply, _ := validMessages(f)
	f.Add(reply)
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := pairing.DecodeHelloReply(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, pairing.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		c, err := pairing.NewClient(fx.secret, fx.owner, nil)
		if err != nil {
			t.Fatal(err)
		}
		// a reply not made for this client's nonce never checks
		if _, _, err := c.CheckReply(r); !errors.Is(err, pairing.ErrBadMAC) {
			t.Fatalf("CheckReply of a foreign reply: %v", err)
		}
	})
}

func FuzzDecodeFinish(f *testing.F) {
	_, _, finish := validMessages(f)
	f.Add(finish)
	f.Fuzz(func(t *testing.T, data []byte) {
		fin, err := pairing.DecodeFinish(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, pairing.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		fx := newFixture(t)
		if _, err := fx.p.Finish(fin); err == nil {
			t.Fatal("a Finish without a session paired")
		}
	})
}

func FuzzDecodeResult(f *testing.F) {
	f.Add([]byte(`{"ok":true}`))
	f.Add([]byte(`{"ok":false,"reason":"slow_down"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := pairing.DecodeResult(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, pairing.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if (r.Err() == nil) != r.OK {
			t.Fatalf("Result %+v: Err %v", r, r.Err())
		}
	})
}
