package consent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The seed corpora in testdata/fuzz/ are written from the hostile-token
// table and the strict-JSON cases by
//
//	DOORWARD_WRITE_FUZZ_SEEDS=1 go test -run TestWriteFuzzSeeds ./consent/
//
// so that they follow the table when it grows.

func FuzzParseStatement(f *testing.F) {
	f.Add(validToken(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, kind := range []string{KindLegal, KindGrant} {
			st, err := ParseStatement(data, kind)
			if err != nil {
				if ReasonOf(err) == "" || !strings.HasPrefix(err.Error(), "consent: ") {
					t.Fatalf("refusal without a reason: %v", err)
				}
				continue
			}
			if len(data) > MaxStatementSize || len(st.KeyIDs) < 1 || len(st.KeyIDs) > MaxSignatures {
				t.Fatalf("accepted %d bytes with %d signatures", len(data), len(st.KeyIDs))
			}
			if err := checkJSON(st.Payload, true); err != nil {
				t.Fatalf("accepted a payload that breaks the JSON rules: %v", err)
			}
			for i := range st.KeyIDs {
				// Must not panic; a fuzzed signature never verifies
				// under a key the fuzzer cannot have used.
				if st.VerifySignature(i, pubOf(testKey("never signs"))) == nil {
					t.Fatalf("signature %d verified under an unrelated key", i+1)
				}
			}
			var c TokenClaims
			_ = st.Decode(&c)
		}
	})
}

func FuzzVerifyToken(f *testing.F) {
	f.Add(validToken(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := VerifyToken(data, testInput(seenSet{}))
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("refusal without a reason: %v", err)
			}
			return
		}
		// Whatever was accepted meets the policy.
		c := tok.Claims
		if c.Audience != testDevice || !testNow.Before(c.Expiry.Time()) || testNow.Before(c.NotBefore.Time()) {
			t.Fatalf("accepted claims %+v", c)
		}
		names := map[string]bool{}
		roles := map[string]bool{}
		for _, s := range tok.Signers {
			names[s.Name], roles[s.Role] = true, true
		}
		if len(names) < 2 || !roles["judge"] || !roles["prosecutor"] {
			t.Fatalf("accepted below quorum: %+v", tok.Signers)
		}
		if s, err := InspectToken(data); err != nil || s.Claims.ID != c.ID {
			t.Fatalf("inspect disagrees: %v", err)
		}
	})
}

func FuzzDuplicateKeys(f *testing.F) {
	f.Add([]byte(`{"aud":1,"AUD":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lower := range []bool{false, true} {
			err := checkJSON(data, lower)
			if err != nil {
				if ReasonOf(err) == "" {
					t.Fatalf("refusal without a reason: %v", err)
				}
				continue
			}
			if !json.Valid(data) {
				t.Fatalf("accepted invalid JSON %q", data)
			}
			var v any
			if err := json.Unmarshal(data, &v); err != nil {
				t.Fatalf("accepted but encoding/json refuses: %v", err)
			}
			if _, ok := v.(map[string]any); !ok {
				t.Fatalf("accepted a non-object")
			}
			// No duplicate survived: the decoded tree holds as many keys
			// as the text, and no two fold alike.
			if got, want := countKeys(v), countTextKeys(data); got != want {
				t.Fatalf("%d keys decoded, %d in the text: a duplicate was accepted", got, want)
			}
			checkFolded(t, v, lower)
		}
	})
}

// countKeys counts object keys in a decoded tree.
func countKeys(v any) int {
	n := 0
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			n += 1 + countKeys(e)
		}
	case []any:
		for _, e := range v {
			n += countKeys(e)
		}
	}
	return n
}

// countTextKeys counts the keys in the text of valid JSON, reading it
// with the tokenizer: a duplicate key is counted each time it appears.
func countTextKeys(data []byte) int {
	dec := json.NewDecoder(bytes.NewReader(data))
	n := 0
	var value func()
	value = func() {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		switch tok {
		case json.Delim('{'):
			for dec.More() {
				if _, err := dec.Token(); err != nil {
					return
				}
				n++
				value()
			}
			dec.Token()
		case json.Delim('['):
			for dec.More() {
				value()
			}
			dec.Token()
		}
	}
	value()
	return n
}

func checkFolded(t *testing.T, v any, lower bool) {
	switch v := v.(type) {
	case map[string]any:
		seen := map[string]string{}
		for k, e := range v {
			if prev, dup := seen[foldKey(k)]; dup {
				t.Fatalf("keys %q and %q fold alike", prev, k)
			}
			seen[foldKey(k)] = k
			if lower && !isLowerKey(k) {
				t.Fatalf("key %q accepted under the lower-case rule", k)
			}
			checkFolded(t, e, lower)
		}
	case []any:
		for _, e := range v {
			checkFolded(t, e, lower)
		}
	}
}

func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("DOORWARD_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set DOORWARD_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz")
	}
	tokens := map[string][]byte{"valid": validToken(t), "valid-minimum-quorum": issue(t, validClaims(), judge1, prosecute)}
	for _, tc := range hostileTokens() {
		if tc.name == "17 KiB body" {
			continue // 17 KiB of seed buys nothing over the size check
		}
		tokens[tc.name] = tc.data(t)
	}
	for _, fz := range []string{"FuzzParseStatement", "FuzzVerifyToken"} {
		writeSeeds(t, fz, tokens)
	}
	jsonSeeds := map[string][]byte{}
	for i, s := range []string{
		`{"aud":1,"AUD":2}`, `{"a":{"b":[{"k":1,"K":2}]}}`, "{\"k\":1,\"\u212a\":2}", "{\"s\":1,\"\u017f\":2}",
		`{"aud":1,"\u0061ud":2}`, `{"a":1,"b":{"a":1}}`, `{"Aud":1}`, `{"":1}`, `[{"a":1,"a":2}]`, `{}{}`,
		`{"a":` + strings.Repeat("[", 16) + strings.Repeat("]", 16) + `}`, "{\"a\":\"\xff\"}", `{"a":[1,2`, string(validPayload(t)),
	} {
		jsonSeeds[fmt.Sprint("json-", i)] = []byte(s)
	}
	writeSeeds(t, "FuzzDuplicateKeys", jsonSeeds)
	writeSeeds(t, "FuzzVerifyBackup", backupSeeds())
}

func writeSeeds(t *testing.T, fuzzName string, seeds map[string][]byte) {
	dir := filepath.Join("testdata", "fuzz", fuzzName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range seeds {
		file := strings.Map(func(r rune) rune {
			if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' {
				return r
			}
			if 'A' <= r && r <= 'Z' {
				return r + 'a' - 'A'
			}
			return '-'
		}, name)
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, file), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzVerifyBackup feeds arbitrary payloads, signed by an enrolled owner
// key, to the backup statement's verifier: whatever it accepts is a
// well-formed backup statement (on with at least one known medium, or
// off), and it refuses everything else with a reason, never a panic.
func FuzzVerifyBackup(f *testing.F) {
	owner := testKey("backup owner")
	owners := KeySet{}
	owners.Add(KeyInfo{PublicKey: pubOf(owner), Name: "phone"})
	for _, s := range backupSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		if !json.Valid(payload) {
			return
		}
		data, err := Sign(KindBackup, json.RawMessage(payload), owner, KeyID(pubOf(owner)))
		if err != nil {
			return // too large, or not a JSON value Sign takes
		}
		st, err := VerifyOwnerStatement(data, KindBackup, owners, testNow, testDevice)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("refusal without a reason: %v", err)
			}
			return
		}
		c, ok := st.Claims.(*BackupClaims)
		if !ok {
			t.Fatalf("claims %T", st.Claims)
		}
		if c.On && len(c.Media) == 0 {
			t.Fatal("accepted backup on with no media")
		}
		for _, m := range c.Media {
			if m != MediaVideo && m != MediaAudio && m != MediaSnapshot {
				t.Fatalf("accepted medium %q", m)
			}
		}
		if life := c.Expiry.Time().Sub(c.IssuedAt.Time()); life > MaxBackupLifetime || c.Audience != testDevice {
			t.Fatalf("accepted lifetime %v aud %q", life, c.Audience)
		}
	})
}

func backupSeeds() map[string][]byte {
	iat, exp := testNow.Add(-time.Minute).Unix(), testNow.Add(5*time.Minute).Unix()
	head := fmt.Sprintf(`{"jti":"b1","aud":%q,"iat":%d,"exp":%d`, testDevice, iat, exp)
	return map[string][]byte{
		"on":            []byte(head + `,"on":true,"media":["video"]}`),
		"off":           []byte(head + `,"on":false}`),
		"off-media":     []byte(head + `,"on":false,"media":["video"]}`),
		"on-no-media":   []byte(head + `,"on":true}`),
		"on-string":     []byte(head + `,"on":"true","media":["video"]}`),
		"unknown-media": []byte(head + `,"on":true,"media":["jpeg"]}`),
		"twice":         []byte(head + `,"on":true,"media":["video","video"]}`),
		"dup-on":        []byte(head + `,"on":false,"ON":true,"media":["video"]}`),
		"extra-field":   []byte(head + `,"on":true,"media":["video"],"vault":true}`),
		"long-life":     []byte(fmt.Sprintf(`{"jti":"b1","aud":%q,"iat":%d,"exp":%d,"on":true,"media":["video"]}`, testDevice, iat, iat+86400)),
	}
}
