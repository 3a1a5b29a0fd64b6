package consent

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestKeyID(t *testing.T) {
	id := KeyID(pubOf(judge1))
	if len(id) != 26 || strings.ToLower(id) != id || strings.ContainsAny(id, "=018") {
		t.Errorf("kid %q: want 26 lower-case base32 characters", id)
	}
	// Pinned: kids name keys in every statement ever signed.
	if id != "e3acyv4miv2zexfedp72v2wfcm" {
		t.Errorf("KeyID changed: %s", id)
	}
	if KeyID(pubOf(judge2)) == id {
		t.Error("two keys, one kid")
	}
}

func TestSignShape(t *testing.T) {
	data, err := Sign(KindGrant, map[string]any{"jti": "x"}, judge1, kidOf(judge1))
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil || len(top) != 2 || top["payload"] == nil || top["signatures"] == nil {
		t.Fatalf("not the general serialization: %s", data)
	}
	var w wireJWS
	json.Unmarshal(data, &w)
	h, _ := b64.DecodeString(w.Signatures[0].Protected)
	var hdr map[string]any
	json.Unmarshal(h, &hdr)
	if len(hdr) != 3 || hdr["alg"] != "EdDSA" || hdr["typ"] != "doorward-grant/1" || hdr["kid"] != kidOf(judge1) {
		t.Errorf("protected header %s", h)
	}
	st, err := ParseStatement(data, KindGrant)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.VerifySignature(0, pubOf(judge1)); err != nil {
		t.Error(err)
	}
	if err := st.VerifySignature(0, pubOf(judge2)); ReasonOf(err) != ReasonBadSignature {
		t.Errorf("wrong key: %v", err)
	}
	if err := st.VerifySignature(0, pubOf(judge1)[:31]); ReasonOf(err) != ReasonBadSignature {
		t.Errorf("short key: %v", err)
	}
	if err := st.VerifySignature(1, pubOf(judge1)); err == nil {
		t.Error("signature 2 of 1 verified")
	}
	var v struct {
		ID string `json:"jti"`
	}
	if err := st.Decode(&v); err != nil || v.ID != "x" {
		t.Errorf("decode: %v %q", err, v.ID)
	}
	var strict struct{}
	if err := st.Decode(&strict); ReasonOf(err) != ReasonUnknownField || !strings.HasPrefix(err.Error(), "consent: unknown-field: payload: ") {
		t.Errorf("strict decode: %v", err)
	}
}

func TestSignRefuses(t *testing.T) {
	if _, err := Sign(KindGrant, map[string]any{}, judge1, kidOf(judge2)); err == nil || !strings.Contains(err.Error(), "does not name the signing key") {
		t.Errorf("kid of another key: %v", err)
	}
	if _, err := Sign("warrant", map[string]any{}, judge1, kidOf(judge1)); err == nil || !strings.Contains(err.Error(), "unknown statement kind") {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := Sign(KindGrant, make(chan int), judge1, kidOf(judge1)); err == nil {
		t.Error("unencodable payload")
	}
	if _, err := Sign(KindGrant, map[string]string{"x": strings.Repeat("a", 13<<10)}, judge1, kidOf(judge1)); err == nil || !strings.Contains(err.Error(), "at most 16384") {
		t.Errorf("oversized: %v", err)
	}
	if _, err := ParseStatement([]byte("{}"), "warrant"); err == nil || ReasonOf(err) != "" {
		t.Errorf("parse of unknown kind: %v", err)
	}
}

func TestCheckJSON(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		lower bool
		want  Reason // "" = accepted
	}{
		{"flat", `{"a":1,"b":"x"}`, true, ""},
		{"nested", `{"a":{"b":[{"c":1},{"c":2}]}}`, true, ""},
		{"same key in sibling objects", `{"a":{"x":1},"b":{"x":1}}`, true, ""},
		{"whitespace", " \n{ \"a\" : [ ] }\n ", true, ""},
		{"duplicate", `{"a":1,"a":2}`, false, ReasonDuplicateKey},
		{"duplicate by case", `{"aud":1,"AUD":2}`, false, ReasonDuplicateKey},
		{"duplicate by case, upper first, strict keys", `{"AUD":1,"aud":2}`, true, ReasonDuplicateKey},
		{"duplicate deep in arrays", `{"a":[[{"b":{"k":1,"K":2}}]]}`, false, ReasonDuplicateKey},
		{"duplicate by Kelvin sign", "{\"k\":1,\"\u212a\":2}", false, ReasonDuplicateKey},
		{"duplicate by long s", "{\"s\":1,\"\u017f\":2}", false, ReasonDuplicateKey},
		{"duplicate through an escape", `{"aud":1,"\u0061ud":2}`, false, ReasonDuplicateKey},
		{"upper-case key, strict keys", `{"Aud":1}`, true, ReasonUnknownField},
		{"upper-case key, envelope rules", `{"Aud":1}`, false, ""},
		{"key with a space", `{"a b":1}`, true, ReasonUnknownField},
		{"empty key", `{"":1}`, true, ReasonUnknownField},
		{"not an object", `[1]`, false, ReasonMalformed},
		{"string", `"x"`, false, ReasonMalformed},
		{"two objects", `{}{}`, false, ReasonMalformed},
		{"truncated", `{"a":[1,2`, false, ReasonMalformed},
		{"bad literal", `{"a":tru}`, false, ReasonMalformed},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", false, ReasonMalformed},
		{"16 levels", `{"a":` + strings.Repeat("[", 15) + strings.Repeat("]", 15) + `}`, false, ""},
		{"17 levels", `{"a":` + strings.Repeat("[", 16) + strings.Repeat("]", 16) + `}`, false, ReasonMalformed},
		{"17 levels of objects", strings.Repeat(`{"a":`, 17) + "1" + strings.Repeat("}", 17), false, ReasonMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkJSON([]byte(tc.in), tc.lower)
			if got := ReasonOf(err); got != tc.want {
				t.Fatalf("reason %q, want %q (%v)", got, tc.want, err)
			}
		})
	}
}

// foldKey must fold exactly as encoding/json matches names to fields, or
// a key could slip past the duplicate check and still override a field.
func TestFoldKeyMatchesEncodingJSON(t *testing.T) {
	keys := []string{"aud", "AUD", "Aud", "aUd", "scope", "ſcope", "SCOPE", "kid", "\u212aid", "KID", "ki\u0307d", "a\u0301ud", "aud ", "audience"}
	for _, field := range []string{"aud", "scope", "kid"} {
		for _, k := range keys {
			doc, _ := json.Marshal(map[string]int{k: 1})
			var v struct {
				Aud   int `json:"aud"`
				Scope int `json:"scope"`
				Kid   int `json:"kid"`
			}
			json.Unmarshal(doc, &v)
			matched := map[string]int{"aud": v.Aud, "scope": v.Scope, "kid": v.Kid}[field] == 1
			if folded := foldKey(k) == foldKey(field); folded != matched {
				t.Errorf("key %q, field %q: encoding/json matches %v, foldKey %v", k, field, matched, folded)
			}
		}
	}
}

func TestNewJTI(t *testing.T) {
	a, b := NewJTI(), NewJTI()
	if a == b || !validJTI(a) || len(a) < 26 {
		t.Errorf("NewJTI: %q %q", a, b)
	}
}
