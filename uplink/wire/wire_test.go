package wire

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeCmd(t *testing.T) {
	jws := `{"payload":"e30","signatures":[{"protected":"e30","signature":"AA"}]}`
	good := []string{
		`{"id":"abc","kind":"legal","jws":` + jws + `}`,
		`{"id":"j-1_2","kind":"statement","statement":"grant","jws":` + jws + `}`,
		`{"id":"r1","kind":"upload","upload":{"object":"o","url":"http://x/o","expires":"2026-01-01T00:00:00Z"}}`,
		`{"id":"j1","kind":"whep","jws":` + jws + `,"sdp":"v=0\r\n"}`,
		`{"id":"e1","kind":"whep-end","session":"0123abcd"}`,
		`{"id":"l1","kind":"read","read":"audit","since":3,"jws":` + jws + `}`,
		`{"id":"l2","kind":"read","read":"notices","jws":` + jws + `}`,
		`{"id":"l3","kind":"read","read":"owner","jws":` + jws + `}`,
	}
	for _, g := range good {
		if _, err := DecodeCmd([]byte(g)); err != nil {
			t.Errorf("%s: %v", g, err)
		}
	}
	bad := map[string]string{
		`{"id":"abc","kind":"legal"}`:                                           "jws",
		`{"id":"a/b","kind":"legal","jws":{}}`:                                  "request id",
		`{"id":"#","kind":"legal","jws":{}}`:                                    "request id",
		`{"id":"","kind":"legal","jws":{}}`:                                     "request id",
		`{"id":"a","kind":"legal","jws":{},"id":"b"}`:                           "twice",
		`{"id":"a","ID":"b","kind":"legal","jws":{}}`:                           "lower-case",
		`{"id":"a","kind":"legal","jws":{},"extra":1}`:                          "unknown field",
		`{"id":"a","kind":"bogus","jws":{}}`:                                    "kind",
		`{"id":"a","kind":"statement","statement":"steal","jws":{}}`:            "statement",
		`{"id":"a","kind":"legal","statement":"grant","jws":{}}`:                "nothing else",
		`{"id":"a","kind":"upload","upload":{"object":"o","url":""}}`:           "required",
		`{"id":"a","kind":"upload","jws":{},"upload":{"object":"o","url":"u"}}`: "nothing else",
		`{"id":"a","kind":"legal","jws":{}} {}`:                                 "after",
		`{"id":"a","kind":"whep","jws":{}}`:                                     "sdp",
		`{"id":"a","kind":"whep","sdp":"v=0"}`:                                  "jws",
		`{"id":"a","kind":"whep","jws":{},"sdp":"v=0","session":"s"}`:           "nothing else",
		`{"id":"a","kind":"whep-end"}`:                                          "session",
		`{"id":"a","kind":"whep-end","session":"a/b"}`:                          "session",
		`{"id":"a","kind":"whep-end","session":"s","jws":{}}`:                   "nothing else",
		`{"id":"a","kind":"legal","jws":{},"sdp":"v=0"}`:                        "nothing else",
		`{"id":"a","kind":"read","read":"owner"}`:                               "nothing else",
		`{"id":"a","kind":"read","read":"owner","jws":{},"since":2}`:            "nothing else",
		`{"id":"a","kind":"read","read":"owner","jws":{},"session":"s"}`:        "nothing else",
		`{"id":"a","kind":"read","read":"owner","jws":{},"statement":"backup"}`: "nothing else",
		`{"id":"a","kind":"read","read":"clips","jws":{}}`:                      "valid: notices, audit, owner",
		`{"id":"a","kind":"read","read":"Owner","jws":{}}`:                      "read",
		`{"id":"a","kind":"legal","read":"owner","jws":{}}`:                     "go with kind read",
		`[]`:   "object",
		"\xff": "UTF-8",
		`{"id":"a","kind":"legal","jws":` + strings.Repeat("[", 40) + "1" + strings.Repeat("]", 40) + `}`: "deeply",
		`{"id":"a","kind":"legal","jws":"` + strings.Repeat("x", MaxCmdSize) + `"}`:                       "limit",
	}
	for in, want := range bad {
		_, err := DecodeCmd([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.80s: err %v, want one mentioning %q", in, err, want)
		}
	}
}

func TestEnvelope(t *testing.T) {
	p, err := Wrap(7, []byte(`{"age":"AAAA"}`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Unwrap(p)
	if err != nil || e.ID != 7 || string(e.Msg) != `{"age":"AAAA"}` {
		t.Fatalf("%+v %v", e, err)
	}
	if _, err := Wrap(1, []byte("not json")); err == nil {
		t.Fatal("wrapped a body that is not JSON")
	}
	for _, bad := range []string{`{"id":0,"msg":{}}`, `{"id":1}`, `{"id":1,"msg":{},"x":1}`} {
		if _, err := Unwrap([]byte(bad)); err == nil {
			t.Errorf("unwrapped %s", bad)
		}
	}
}

// FuzzDecodeCmd: no input makes the cmd decoder panic, and whatever it
// accepts is well formed: a safe request id, a known kind with its fields.
func FuzzDecodeCmd(f *testing.F) {
	f.Add([]byte(`{"id":"abc","kind":"legal","jws":{"payload":"e30","signatures":[]}}`))
	f.Add([]byte(`{"id":"r1","kind":"upload","upload":{"object":"o","url":"http://x/o","expires":"2026-01-01T00:00:00Z"}}`))
	f.Add([]byte(`{"id":"a","kind":"statement","statement":"backup","jws":{}}`))
	f.Add([]byte(`{"id":"j1","kind":"whep","jws":{},"sdp":"v=0\r\n"}`))
	f.Add([]byte(`{"id":"e1","kind":"whep-end","session":"0123abcd"}`))
	f.Add([]byte(`{"id":"l1","kind":"read","read":"audit","since":12,"jws":{"payload":"e30","signatures":[]}}`))
	f.Add([]byte(`{"id":"l2","kind":"read","read":"notices","since":3,"jws":{}}`))
	f.Add([]byte(`{"id":"l3","kind":"read","read":"owner","jws":{"payload":"e30","signatures":[]}}`))
	f.Add([]byte(`{"id":"l4","kind":"read","read":"owner","since":1,"jws":{}}`))
	f.Add([]byte(`{"id":"l5","kind":"read","read":"owner","jws":{},"upload":{"object":"o","url":"u"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCmd(data)
		if err != nil {
			return
		}
		if CheckRequestID(c.ID) != nil {
			t.Fatalf("accepted request id %q", c.ID)
		}
		switch c.Kind {
		case CmdLegal, CmdStatement:
			if c.Read != "" || c.Since != 0 {
				t.Fatalf("accepted %s with read fields: %+v", c.Kind, c)
			}
			if len(c.JWS) == 0 || !json.Valid(c.JWS) || c.Upload != nil || c.SDP != "" || c.Session != "" {
				t.Fatalf("accepted %s without a proper jws: %+v", c.Kind, c)
			}
		case CmdWHEP:
			if len(c.JWS) == 0 || !json.Valid(c.JWS) || c.SDP == "" || c.Upload != nil || c.Session != "" {
				t.Fatalf("accepted whep without a statement and an offer: %+v", c)
			}
		case CmdWHEPEnd:
			if CheckRequestID(c.Session) != nil || len(c.JWS) != 0 || c.SDP != "" || c.Upload != nil {
				t.Fatalf("accepted whep-end without a usable session: %+v", c)
			}
		case CmdRead:
			if (c.Read != ReadNotices && c.Read != ReadAudit && c.Read != ReadOwner) || len(c.JWS) == 0 || !json.Valid(c.JWS) || c.Upload != nil || c.SDP != "" || c.Session != "" || c.Statement != "" || (c.Since != 0 && c.Read != ReadAudit) {
				t.Fatalf("accepted a read that is not one: %+v", c)
			}
		case CmdUpload:
			if c.Upload == nil || c.Upload.URL == "" || c.Upload.Object == "" {
				t.Fatalf("accepted upload without one: %+v", c)
			}
		default:
			t.Fatalf("accepted kind %q", c.Kind)
		}
	})
}
