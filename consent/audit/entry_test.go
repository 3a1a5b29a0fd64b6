package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEntryCanonical(t *testing.T) {
	e := Entry{
		Seq:     7,
		Time:    time.Date(2026, 11, 27, 10, 0, 0, 500_000_000, time.FixedZone("CET", 3600)),
		Kind:    KindTokenRefused,
		Reason:  "below-quorum",
		Subject: []string{"jti-1"},
		Details: map[string]string{"z": "1", "a": "<&>"},
	}
	b, err := e.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"seq":7,"time":"2026-11-27T09:00:00.5Z","kind":"token-refused","reason":"below-quorum","subject":["jti-1"],"details":{"a":"\u003c\u0026\u003e","z":"1"}}`
	if string(b) != want {
		t.Fatalf("canonical\n got %s\nwant %s", b, want)
	}
	d, err := DecodeEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Time.Equal(e.Time) || d.Seq != 7 || d.Details["a"] != "<&>" {
		t.Fatalf("decoded %+v", d)
	}
	// Through encoding/json, indented, as an HTTP handler might serve it.
	doc, err := json.MarshalIndent([]Entry{e, {Kind: KindRevoke, Time: start}}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var back []Entry
	if err := json.Unmarshal(doc, &back); err != nil {
		t.Fatal(err)
	}
	if c, _ := back[0].Canonical(); !bytes.Equal(c, b) || back[1].Kind != KindRevoke {
		t.Fatalf("JSON round trip: %s", doc)
	}
	// Empty subject and details are omitted, not written as [] and {}.
	b2, _ := Entry{Kind: KindRevoke, Time: start, Subject: []string{}, Details: map[string]string{}}.Canonical()
	if string(b2) != `{"seq":0,"time":"2026-11-27T10:00:00Z","kind":"revoke"}` {
		t.Fatalf("empty fields: %s", b2)
	}
}

func TestDecodeEntryStrict(t *testing.T) {
	const good = `{"seq":1,"time":"2026-11-27T10:00:00Z","kind":"revoke","reason":"r"}`
	if _, err := DecodeEntry([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]string{
		"empty":          ``,
		"garbage":        `hello`,
		"truncated":      good[:30],
		"array":          `[1]`,
		"null":           `null`,
		"whitespace":     `{"seq":1, "time":"2026-11-27T10:00:00Z","kind":"revoke","reason":"r"}`,
		"trailing":       good + `{}`,
		"trailing-space": good + ` `,
		"unknown-field":  `{"seq":1,"time":"2026-11-27T10:00:00Z","kind":"revoke","reason":"r","x":1}`,
		"duplicate":      `{"seq":1,"time":"2026-11-27T10:00:00Z","kind":"revoke","kind":"pairing","reason":"r"}`,
		"case-dup":       `{"seq":1,"time":"2026-11-27T10:00:00Z","kind":"revoke","KIND":"pairing","reason":"r"}`,
		"upper-key":      `{"SEQ":1,"time":"2026-11-27T10:00:00Z","kind":"revoke","reason":"r"}`,
		"field-order":    `{"time":"2026-11-27T10:00:00Z","seq":1,"kind":"revoke","reason":"r"}`,
		"offset-time":    `{"seq":1,"time":"2026-11-27T11:00:00+01:00","kind":"revoke","reason":"r"}`,
		"zero-fraction":  `{"seq":1,"time":"2026-11-27T10:00:00.000Z","kind":"revoke","reason":"r"}`,
		"bad-time":       `{"seq":1,"time":"yesterday","kind":"revoke","reason":"r"}`,
		"no-kind":        `{"seq":1,"time":"2026-11-27T10:00:00Z","kind":"","reason":"r"}`,
		"bad-kind":       `{"seq":1,"time":"2026-11-27T10:00:00Z","kind":"Re voke","reason":"r"}`,
		"empty-subject":  `{"seq":1,"time":"2026-11-27T10:00:00Z","kind":"revoke","subject":[]}`,
		"empty-reason":   `{"seq":1,"time":"2026-11-27T10:00:00Z","kind":"revoke","reason":""}`,
		"escaped":        `{"seq":1,"time":"2026-11-27T10:00:00Z","kind":"revoke","reason":"\u0072"}`,
		"negative-seq":   `{"seq":-1,"time":"2026-11-27T10:00:00Z","kind":"revoke"}`,
		"float-seq":      `{"seq":1.0,"time":"2026-11-27T10:00:00Z","kind":"revoke"}`,
		"seq-overflow":   `{"seq":18446744073709551616,"time":"2026-11-27T10:00:00Z","kind":"revoke"}`,
		"bad-utf8":       "{\"seq\":1,\"time\":\"2026-11-27T10:00:00Z\",\"kind\":\"revoke\",\"reason\":\"\xff\"}",
		"too-big":        `{"seq":1,"time":"2026-11-27T10:00:00Z","kind":"revoke","reason":"` + strings.Repeat("a", MaxEntrySize) + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeEntry([]byte(in))
			if !errors.Is(err, ErrBadEntry) {
				t.Fatalf("err = %v, want ErrBadEntry", err)
			}
			if !strings.HasPrefix(err.Error(), "audit: ") {
				t.Fatalf("err %q lacks the package prefix", err)
			}
		})
	}
	// An unknown but well-formed kind decodes (newer device, older
	// verifier), but cannot be appended.
	if _, err := DecodeEntry([]byte(`{"seq":1,"time":"2026-11-27T10:00:00Z","kind":"future-kind"}`)); err != nil {
		t.Fatalf("unknown kind: %v", err)
	}
}

func TestCheckpointText(t *testing.T) {
	s := newSigner(t)
	c := Checkpoint{Size: 42, Root: bytes.Repeat([]byte{0xab}, 32), Time: time.Unix(1795860000, 0).UTC()}
	sc := SignedCheckpoint{Checkpoint: c, Signature: s.Sign(c.Body())}
	want := "doorward-audit/v1\n42\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n1795860000\n"
	if string(c.Body()) != want {
		t.Fatalf("body\n%q\nwant\n%q", c.Body(), want)
	}
	text := sc.Marshal()
	back, err := ParseCheckpoint(text)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyCheckpoint(s.PublicKey(), back); err != nil {
		t.Fatal(err)
	}
	if back.Size != 42 || !back.Time.Equal(c.Time) || !bytes.Equal(back.Root, c.Root) {
		t.Fatalf("round trip: %+v", back)
	}
	// In JSON, as a string.
	j, _ := json.Marshal(map[string]SignedCheckpoint{"checkpoint": sc})
	var m map[string]SignedCheckpoint
	if err := json.Unmarshal(j, &m); err != nil || !bytes.Equal(m["checkpoint"].Marshal(), text) {
		t.Fatalf("JSON round trip: %v", err)
	}
	sig := base64.StdEncoding.EncodeToString(sc.Signature)
	body := string(c.Body())
	for name, in := range map[string]string{
		"empty":          "",
		"other-origin":   strings.Replace(string(text), "doorward-audit/v1", "doorward-audit/v2", 1),
		"no-blank":       body + sig + "\n",
		"no-final-nl":    strings.TrimSuffix(string(text), "\n"),
		"crlf":           strings.ReplaceAll(string(text), "\n", "\r\n"),
		"leading-zero":   strings.Replace(string(text), "\n42\n", "\n042\n", 1),
		"plus-size":      strings.Replace(string(text), "\n42\n", "\n+42\n", 1),
		"hex-size":       strings.Replace(string(text), "\n42\n", "\n0x2a\n", 1),
		"size-overflow":  strings.Replace(string(text), "\n42\n", "\n18446744073709551616\n", 1),
		"negative-time":  strings.Replace(string(text), "1795860000", "-1", 1),
		"far-time":       strings.Replace(string(text), "1795860000", "99999999999999", 1),
		"short-root":     strings.Replace(string(text), "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=", "q6urq6ur", 1),
		"unpadded-root":  strings.Replace(string(text), "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=", "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s", 1),
		"noncanon-root":  strings.Replace(string(text), "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=", "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6t=", 1),
		"short-sig":      body + "\n" + sig[:20] + "\n",
		"extra-line":     string(text) + "x\n",
		"too-long":       string(text) + strings.Repeat("\n", 600),
		"signature-only": sig + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseCheckpoint([]byte(in)); !errors.Is(err, ErrBadCheckpoint) {
				t.Fatalf("err = %v, want ErrBadCheckpoint", err)
			}
		})
	}
}
