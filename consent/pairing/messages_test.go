package pairing_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/doorward/doorward/consent/pairing"
)

// validMessages returns one valid encoded message of each kind.
func validMessages(t testing.TB) (hello, reply, finish []byte) {
	t.Helper()
	f := newFixture(t)
	c := client(t, f.secret, f.owner)
	h := c.Hello()
	r, err := f.p.Hello(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CheckReply(r); err != nil {
		t.Fatal(err)
	}
	fin, err := c.Finish()
	if err != nil {
		t.Fatal(err)
	}
	enc := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return enc(h), enc(r), enc(fin)
}

// edit decodes a JSON object into a map, applies fn, and encodes it again.
func edit(t *testing.T, b []byte, fn func(map[string]any)) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestDecodersRefuse(t *testing.T) {
	hello, reply, finish := validMessages(t)
	h := string(hello)
	type tc struct {
		name, in, want string
	}
	helloCases := []tc{
		{"empty", "", "not JSON"},
		{"null", "null", "not a JSON object"},
		{"array", "[]", "not a JSON object"},
		{"string", `"x"`, "not a JSON object"},
		{"truncated", h[:len(h)-1], "hello"},
		{"trailing data", h + "{}", "data after"},
		{"trailing garbage", h + "x", "data after"},
		{"unknown field", edit(t, hello, func(m map[string]any) { m["admin"] = true }), `unknown field "admin"`},
		{"missing field", edit(t, hello, func(m map[string]any) { delete(m, "owner_key") }), `lacks field "owner_key"`},
		{"case-variant field", strings.Replace(h, `"owner_key"`, `"OWNER_KEY"`, 1), `unknown field "OWNER_KEY"`},
		{"duplicate field", strings.Replace(h, `{`, `{"owner_key":"AAAA",`, 1), `"owner_key" twice`},
		{"bad base64", edit(t, hello, func(m map[string]any) { m["owner_nonce"] = "!!!" }), "illegal base64"},
		{"number for bytes", edit(t, hello, func(m map[string]any) { m["owner_key"] = 5 }), "owner_key"},
		{"null nonce", edit(t, hello, func(m map[string]any) { m["owner_nonce"] = nil }), "owner_nonce is 0 bytes"},
		{"recipients not a list", edit(t, hello, func(m map[string]any) { m["owner_recipients"] = "age1x" }), "owner_recipients"},
		{"too large", `{"owner_nonce":"` + strings.Repeat("A", pairing.MaxHelloSize) + `"}`, "larger than"},
	}
	for _, c := range helloCases {
		t.Run("hello/"+c.name, func(t *testing.T) {
			_, err := pairing.DecodeHello(strings.NewReader(c.in))
			checkDecodeErr(t, err, c.want)
		})
	}
	replyCases := []tc{
		{"unknown field", edit(t, reply, func(m map[string]any) { m["note"] = "x" }), "unknown field"},
		{"missing mac", edit(t, reply, func(m map[string]any) { delete(m, "device_mac") }), `lacks field "device_mac"`},
		{"empty session", edit(t, reply, func(m map[string]any) { m["session"] = "" }), "session is missing"},
		{"session with spaces", edit(t, reply, func(m map[string]any) { m["session"] = "a b" }), "session has a character"},
		{"empty policy", edit(t, reply, func(m map[string]any) { m["policy"] = "" }), "policy is missing"},
		{"short hash", edit(t, reply, func(m map[string]any) { m["policy_hash"] = "AAAA" }), "policy_hash is 3 bytes"},
		{"empty device id", edit(t, reply, func(m map[string]any) { m["device_id"] = "" }), "device_id"},
		{"too large", `{"policy":"` + strings.Repeat("A", pairing.MaxHelloReplySize) + `"}`, "larger than"},
	}
	for _, c := range replyCases {
		t.Run("reply/"+c.name, func(t *testing.T) {
			_, err := pairing.DecodeHelloReply(strings.NewReader(c.in))
			checkDecodeErr(t, err, c.want)
		})
	}
	finishCases := []tc{
		{"short signature", edit(t, finish, func(m map[string]any) { m["signature"] = "AAAA" }), "signature is 3 bytes"},
		{"long session", edit(t, finish, func(m map[string]any) { m["session"] = strings.Repeat("a", 65) }), "at most 64"},
		{"extra field", edit(t, finish, func(m map[string]any) { m["owner_key"] = "AAAA" }), "unknown field"},
		{"too large", strings.Repeat(" ", pairing.MaxFinishSize+1), "larger than"},
	}
	for _, c := range finishCases {
		t.Run("finish/"+c.name, func(t *testing.T) {
			_, err := pairing.DecodeFinish(strings.NewReader(c.in))
			checkDecodeErr(t, err, c.want)
		})
	}
	resultCases := []tc{
		{"empty object", `{}`, `lacks field "ok"`},
		{"not ok without reason", `{"ok":false}`, "gives no reason"},
		{"ok with reason", `{"ok":true,"reason":"bad_mac"}`, "ok but gives reason"},
		{"string ok", `{"ok":"true"}`, "result"},
		{"long reason", `{"ok":false,"reason":"` + strings.Repeat("x", 65) + `"}`, "at most 64"},
		{"duplicate ok", `{"ok":false,"ok":true}`, "twice"},
	}
	for _, c := range resultCases {
		t.Run("result/"+c.name, func(t *testing.T) {
			_, err := pairing.DecodeResult(strings.NewReader(c.in))
			checkDecodeErr(t, err, c.want)
		})
	}
	// A read error is reported, not mistaken for bad JSON.
	_, err := pairing.DecodeFinish(iotest.ErrReader(io.ErrUnexpectedEOF))
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read error: %v", err)
	}
}

func checkDecodeErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatal("decoded")
	}
	if !errors.Is(err, pairing.ErrMalformed) {
		t.Errorf("error %v does not wrap ErrMalformed", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if !strings.HasPrefix(err.Error(), "pairing: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
}

func TestDecodersAcceptValid(t *testing.T) {
	hello, reply, finish := validMessages(t)
	if _, err := pairing.DecodeHello(bytes.NewReader(hello)); err != nil {
		t.Error(err)
	}
	// whitespace around and inside is fine
	if _, err := pairing.DecodeHello(strings.NewReader("\n " + strings.ReplaceAll(string(hello), ",", " ,\n") + " \n")); err != nil {
		t.Error(err)
	}
	if _, err := pairing.DecodeHelloReply(bytes.NewReader(reply)); err != nil {
		t.Error(err)
	}
	if _, err := pairing.DecodeFinish(bytes.NewReader(finish)); err != nil {
		t.Error(err)
	}
}

func TestResultRoundTrip(t *testing.T) {
	for _, err := range []error{nil, pairing.ErrBadMAC, pairing.ErrBadSignature, pairing.ErrSlowDown,
		pairing.ErrAlreadyPaired, pairing.ErrUnknownSession, pairing.ErrExpired, pairing.ErrMalformed} {
		wrapped := err
		if err != nil {
			wrapped = errors.Join(errors.New("context"), err)
		}
		r := pairing.ResultFor(wrapped)
		b, _ := json.Marshal(r)
		got, derr := pairing.DecodeResult(bytes.NewReader(b))
		if derr != nil {
			t.Fatalf("%v: %s: %v", err, b, derr)
		}
		if !errors.Is(got.Err(), err) || (err == nil) != (got.Err() == nil) {
			t.Errorf("round trip of %v gave %v (%s)", err, got.Err(), b)
		}
	}
	r := pairing.ResultFor(errors.New("disk full"))
	if r.OK || r.Reason != "refused" || r.Err() == nil {
		t.Errorf("other error: %+v", r)
	}
	if err := (pairing.Result{Reason: "martian"}).Err(); err == nil || !strings.Contains(err.Error(), "martian") {
		t.Errorf("unknown reason: %v", err)
	}
	if (pairing.Result{}).Err() == nil {
		t.Error("empty Result is not an error")
	}
}
