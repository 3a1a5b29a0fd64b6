package pairing

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"
)

// Sentinel errors. Device-side refusals map to stable reason codes in
// Result (see ResultFor and Result.Err), so the client sees the same
// sentinel the device returned.
var (
	// ErrBadMAC: a MAC over the transcript did not check. On the client:
	// the device did not prove it knows the code (a wrong code, or someone
	// in between). On the device: the owner did not.
	ErrBadMAC = errors.New("pairing: bad MAC: the other side does not know the code, or someone in between changed a message")
	// ErrBadSignature: the owner's signature over the transcript did not
	// verify.
	ErrBadSignature = errors.New("pairing: the owner's signature over the transcript does not verify")
	// ErrSlowDown: after FreeFailures failed proofs the device waits
	// before it checks another; try the same Finish again later (the
	// device's *SlowDownError says how long).
	ErrSlowDown = errors.New("pairing: too many failed attempts, the device is slowing down")
	// ErrAlreadyPaired: this Pairer has paired once and pairs no more.
	ErrAlreadyPaired = errors.New("pairing: the device is already paired; a factory reset is needed to pair again")
	// ErrUnknownSession: Finish named a session the device does not have
	// (never opened, already used, or forgotten after it expired).
	ErrUnknownSession = errors.New("pairing: unknown pairing session; start again with hello")
	// ErrExpired: the session outlived SessionTTL.
	ErrExpired = errors.New("pairing: pairing session expired; start again with hello")
	// ErrMalformed: a message is not valid (bad JSON, a missing or unknown
	// field, a wrong size); the wrapping error names the field.
	ErrMalformed = errors.New("pairing: malformed message")
	// ErrOrder: a Client method was called out of order.
	ErrOrder = errors.New("pairing: client steps out of order")
)

// Hello is the client's first message (POST to the device's hello
// endpoint).
type Hello struct {
	// OwnerNonce is 32 random bytes from the client.
	OwnerNonce []byte `json:"owner_nonce"`
	// OwnerKey is the owner's Ed25519 signing public key.
	OwnerKey ed25519.PublicKey `json:"owner_key"`
	// OwnerRecipients are the owner's age recipients, in canonical form
	// (as age prints them), all of one family.
	OwnerRecipients []string `json:"owner_recipients"`
}

// HelloReply is the device's answer to Hello.
type HelloReply struct {
	// Session names the pairing session for Finish.
	Session string `json:"session"`
	// DeviceNonce is 32 random bytes from the device.
	DeviceNonce []byte `json:"device_nonce"`
	// DeviceKey is the device's Ed25519 identity key, which the client
	// pins after pairing.
	DeviceKey ed25519.PublicKey `json:"device_key"`
	// DeviceID is derived from DeviceKey (see DeviceID).
	DeviceID string `json:"device_id"`
	// Policy is the proposed trust policy, JSON, as exact bytes (base64 on
	// the wire, so that no JSON re-encoding changes them).
	Policy []byte `json:"policy"`
	// PolicyHash is PolicyHash(Policy), 32 bytes.
	PolicyHash []byte `json:"policy_hash"`
	// DeviceMAC is HMAC-SHA256(k_device, transcript).
	DeviceMAC []byte `json:"device_mac"`
}

// Finish is the client's second message, sent after the owner approved the
// policy.
type Finish struct {
	Session string `json:"session"`
	// OwnerMAC is HMAC-SHA256(k_owner, transcript).
	OwnerMAC []byte `json:"owner_mac"`
	// Signature is the owner's Ed25519 signature over
	// SignatureContext ‖ transcript.
	Signature []byte `json:"signature"`
}

// Result is the device's answer to Finish. Reason is empty when OK, and
// otherwise one of the stable codes of ResultFor.
type Result struct {
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"`
}

// Upper bounds on encoded messages, for the HTTP layer's body limits; the
// Decode functions enforce them.
const (
	MaxHelloSize      = 64 << 10
	MaxHelloReplySize = 32 << 10
	MaxFinishSize     = 4 << 10
	MaxResultSize     = 1 << 10
)

// maxSessionLen bounds a session name; the device makes 22-character ones.
const maxSessionLen = 64

var reasons = []struct {
	code string
	err  error
}{
	{"bad_mac", ErrBadMAC},
	{"bad_signature", ErrBadSignature},
	{"slow_down", ErrSlowDown},
	{"already_paired", ErrAlreadyPaired},
	{"unknown_session", ErrUnknownSession},
	{"expired", ErrExpired},
	{"malformed", ErrMalformed},
}

// ResultFor turns the outcome of Pairer.Finish (or Hello) into the Result
// to send: {ok: true} for nil, otherwise a stable reason code: bad_mac,
// bad_signature, slow_down, already_paired, unknown_session, expired,
// malformed, or "refused" for anything else.
func ResultFor(err error) Result {
	if err == nil {
		return Result{OK: true}
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return Result{Reason: r.code}
		}
	}
	return Result{Reason: "refused"}
}

// Err turns a Result back into an error for the client: nil when OK, the
// matching sentinel for a known reason code, and a plain error naming the
// code otherwise. A Result that is neither OK nor gives a reason is an
// error too.
func (r Result) Err() error {
	if r.OK {
		if r.Reason != "" {
			return fmt.Errorf("%w: result is ok but gives reason %q", ErrMalformed, r.Reason)
		}
		return nil
	}
	if r.Reason == "bad_mac" {
		return &explained{"pairing: the device refused the owner's proof of the code: wrong code, or someone in between changed a message", ErrBadMAC}
	}
	for _, x := range reasons {
		if x.code == r.Reason {
			return x.err
		}
	}
	if r.Reason == "" {
		return errors.New("pairing: the device refused without a reason")
	}
	return fmt.Errorf("pairing: the device refused: %q", r.Reason)
}

// explained is a sentinel with a message for one side's point of view.
type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }

var (
	errDeviceMAC = &explained{"pairing: the device did not prove it knows the code: wrong code, or someone in between", ErrBadMAC}
	errOwnerMAC  = &explained{"pairing: the owner did not prove it knows the code: wrong code, or someone in between", ErrBadMAC}
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

func checkLen(name string, b []byte, want int) error {
	if len(b) != want {
		return malformed("%s is %d bytes, want %d", name, len(b), want)
	}
	return nil
}

func checkSession(s string) error {
	if s == "" {
		return malformed("session is missing")
	}
	if len(s) > maxSessionLen {
		return malformed("session is %d characters, at most %d", len(s), maxSessionLen)
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return malformed("session has a character other than A-Z, a-z, 0-9, - and _")
		}
	}
	return nil
}

// Validate checks the shape of h: sizes, counts and lengths. Whether the
// recipients are valid age recipients is checked by Pairer.Hello.
func (h Hello) Validate() error {
	if err := checkLen("owner_nonce", h.OwnerNonce, NonceSize); err != nil {
		return err
	}
	if err := checkLen("owner_key", h.OwnerKey, ed25519.PublicKeySize); err != nil {
		return err
	}
	if len(h.OwnerRecipients) == 0 {
		return malformed("owner_recipients is empty; give at least one age recipient")
	}
	if len(h.OwnerRecipients) > MaxRecipients {
		return malformed("owner_recipients has %d entries, at most %d", len(h.OwnerRecipients), MaxRecipients)
	}
	for i, r := range h.OwnerRecipients {
		if len(r) > MaxRecipientLen {
			return malformed("owner_recipients[%d] is %d bytes, at most %d", i, len(r), MaxRecipientLen)
		}
		if !utf8.ValidString(r) {
			return malformed("owner_recipients[%d] is not valid UTF-8", i)
		}
	}
	return nil
}

// Validate checks the shape of r: sizes and lengths. The client's
// CheckReply checks the rest.
func (r HelloReply) Validate() error {
	if err := checkSession(r.Session); err != nil {
		return err
	}
	if err := checkLen("device_nonce", r.DeviceNonce, NonceSize); err != nil {
		return err
	}
	if err := checkLen("device_key", r.DeviceKey, ed25519.PublicKeySize); err != nil {
		return err
	}
	if r.DeviceID == "" || len(r.DeviceID) > maxDeviceIDLen {
		return malformed("device_id is %d bytes, want 1 to %d", len(r.DeviceID), maxDeviceIDLen)
	}
	if len(r.Policy) == 0 {
		return malformed("policy is missing")
	}
	if len(r.Policy) > MaxPolicySize {
		return malformed("policy is %d bytes, at most %d", len(r.Policy), MaxPolicySize)
	}
	if err := checkLen("policy_hash", r.PolicyHash, 32); err != nil {
		return err
	}
	return checkLen("device_mac", r.DeviceMAC, MACSize)
}

// Validate checks the shape of f.
func (f Finish) Validate() error {
	if err := checkSession(f.Session); err != nil {
		return err
	}
	if err := checkLen("owner_mac", f.OwnerMAC, MACSize); err != nil {
		return err
	}
	return checkLen("signature", f.Signature, ed25519.SignatureSize)
}

// DecodeHello reads one Hello strictly: at most MaxHelloSize bytes, one
// JSON object, every field present exactly once with its exact name, no
// unknown fields, nothing after the object, and a valid shape (Validate).
// Errors wrap ErrMalformed and name the problem.
func DecodeHello(r io.Reader) (Hello, error) {
	var h Hello
	if err := decodeStrict(r, MaxHelloSize, "hello", &h); err != nil {
		return Hello{}, err
	}
	if err := h.Validate(); err != nil {
		return Hello{}, err
	}
	return h, nil
}

// DecodeHelloReply reads one HelloReply as strictly as DecodeHello, at
// most MaxHelloReplySize bytes.
func DecodeHelloReply(r io.Reader) (HelloReply, error) {
	var h HelloReply
	if err := decodeStrict(r, MaxHelloReplySize, "hello reply", &h); err != nil {
		return HelloReply{}, err
	}
	if err := h.Validate(); err != nil {
		return HelloReply{}, err
	}
	return h, nil
}

// DecodeFinish reads one Finish as strictly as DecodeHello, at most
// MaxFinishSize bytes.
func DecodeFinish(r io.Reader) (Finish, error) {
	var f Finish
	if err := decodeStrict(r, MaxFinishSize, "finish", &f); err != nil {
		return Finish{}, err
	}
	if err := f.Validate(); err != nil {
		return Finish{}, err
	}
	return f, nil
}

// DecodeResult reads one Result strictly, at most MaxResultSize bytes.
// "ok" must be present; "reason" may be left out.
func DecodeResult(r io.Reader) (Result, error) {
	var res Result
	if err := decodeStrict(r, MaxResultSize, "result", &res); err != nil {
		return Result{}, err
	}
	if res.OK && res.Reason != "" {
		return Result{}, malformed("result is ok but gives reason %q", res.Reason)
	}
	if !res.OK && res.Reason == "" {
		return Result{}, malformed("result is not ok and gives no reason")
	}
	if len(res.Reason) > 64 {
		return Result{}, malformed("result reason is %d bytes, at most 64", len(res.Reason))
	}
	return res, nil
}

// decodeStrict decodes one JSON object into v (a pointer to a struct with
// json tags). Every tagged field must appear exactly once, spelled exactly
// (encoding/json alone would match "OWNER_KEY" and let a later duplicate
// win), except fields tagged omitempty, which may be left out.
func decodeStrict(r io.Reader, limit int64, what string, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return fmt.Errorf("pairing: read %s: %w", what, err)
	}
	if int64(len(data)) > limit {
		return malformed("%s is larger than %d bytes", what, limit)
	}
	required, optional := jsonFields(reflect.TypeOf(v).Elem())
	seen := map[string]bool{}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return malformed("%s is not JSON: %v", what, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return malformed("%s is not a JSON object", what)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return malformed("%s: %v", what, err)
		}
		key, _ := tok.(string)
		if !required[key] && !optional[key] {
			return malformed("%s has unknown field %q (fields are %s)", what, truncate(key), fieldList(required, optional))
		}
		if seen[key] {
			return malformed("%s has field %q twice", what, key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return malformed("%s field %q: %v", what, key, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return malformed("%s: %v", what, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return malformed("%s has data after its JSON object", what)
	}
	for k := range required {
		if !seen[k] {
			return malformed("%s lacks field %q", what, k)
		}
	}
	dec = json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return malformed("%s: %v", what, err)
	}
	return nil
}

// jsonFields lists a struct's JSON field names: required ones, and those
// tagged omitempty.
func jsonFields(t reflect.Type) (required, optional map[string]bool) {
	required, optional = map[string]bool{}, map[string]bool{}
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" {
			continue
		}
		if strings.Contains(opts, "omitempty") {
			optional[name] = true
		} else {
			required[name] = true
		}
	}
	return required, optional
}

func fieldList(a, b map[string]bool) string {
	var names []string
	for k := range a {
		names = append(names, k)
	}
	for k := range b {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
