package consent

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
)

// Limits on signed statements (DESIGN.md "Signed statements").
const (
	// MaxStatementSize is the largest statement body accepted, in bytes.
	MaxStatementSize = 16 << 10
	// MaxSignatures is the most signatures one statement may carry.
	MaxSignatures = 8
)

// Statement kinds; the protected header's typ is "doorward-<kind>/1".
const (
	KindPair   = "pair"
	KindEnroll = "enroll"
	KindGrant  = "grant"
	KindRevoke = "revoke"
	KindPolicy = "policy"
	KindReset  = "reset"
	KindBackup = "backup"
	KindLive   = "live"
	KindLogin  = "login"
	// KindFetch is a grantee's request for what their grant disclosed,
	// signed by the grantee key the grant names.
	KindFetch      = "fetch"
	KindLegal      = "legal"
	KindCheckpoint = "checkpoint"
)

func validKind(k string) bool {
	switch k {
	case KindPair, KindEnroll, KindGrant, KindRevoke, KindPolicy, KindReset, KindBackup,
		KindLive, KindLogin, KindFetch, KindLegal, KindCheckpoint:
		return true
	}
	return false
}

// TypeOf returns the protected header typ of a kind: "doorward-<kind>/1".
func TypeOf(kind string) string { return "doorward-" + kind + "/1" }

// KeyID returns the key fingerprint that statements name their signer by
// (the protected header's kid): the lower-case, unpadded base32 of the
// first 16 bytes of SHA-256 of the 32-byte Ed25519 public key, 26
// characters. 128 bits: finding a second key with the same kid is out of
// reach, and a collision could only make a signature fail to verify, since
// the key a kid names is the one the signature is checked against.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return kidEncoding.EncodeToString(sum[:16])
}

var kidEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// b64 is base64url without padding, refusing non-canonical trailing bits
// so that one payload has exactly one encoding.
var b64 = base64.RawURLEncoding.Strict()

// KeyInfo is what a KeyResolver knows about a signing key.
type KeyInfo struct {
	PublicKey ed25519.PublicKey
	// Name is the issuer's or owner device's name; signatures are counted
	// per distinct Name.
	Name string
	// Role is the issuer's role in the trust policy (empty for owners).
	Role string
	// Revoked keys' signatures count for nothing.
	Revoked bool
}

// KeyResolver finds the key a statement's kid names. The device builds
// one from its trust policy (Policy.Keys) or its enrolled owner keys.
type KeyResolver interface {
	ResolveKey(kid string) (KeyInfo, bool)
}

// KeySet is a KeyResolver held in memory, keyed by KeyID.
type KeySet map[string]KeyInfo

var _ KeyResolver = KeySet(nil)

// ResolveKey returns the key with the given kid.
func (s KeySet) ResolveKey(kid string) (KeyInfo, bool) {
	k, ok := s[kid]
	return k, ok
}

// Add files k under KeyID(k.PublicKey).
func (s KeySet) Add(k KeyInfo) { s[KeyID(k.PublicKey)] = k }

// Statement is a signed statement that passed every structural rule:
// size, envelope, protected headers, strict payload syntax. Nothing in it is
// authenticated until VerifySignature succeeds.
type Statement struct {
	// Kind is the statement kind its typ header named.
	Kind string
	// Payload is the decoded payload JSON, not yet authenticated.
	Payload []byte
	// KeyIDs holds each signature's kid, in order.
	KeyIDs []string

	payload string // base64url, as signed
	sigs    []wireSig
	jws     *jose.JSONWebSignature
}

// wireSig and wireJWS are the JWS JSON general serialization, the only
// form accepted and produced: {"payload": ..., "signatures": [{"protected":
// ..., "signature": ...}, ...]}. The flattened form is refused: one form
// means one grammar to get right, and legal tokens need the general one.
type wireSig struct {
	Protected string `json:"protected"`
	Signature string `json:"signature"`
}

type wireJWS struct {
	Payload    string    `json:"payload"`
	Signatures []wireSig `json:"signatures"`
}

// ParseStatement checks a statement of the given kind before any
// cryptography, in this order: the body is at most MaxStatementSize bytes;
// it is one JSON object with no duplicate keys (compared
// case-insensitively) holding exactly "payload" and "signatures" (an
// unprotected "header" anywhere is refused, and so is the flattened
// serialization); 1 to MaxSignatures signatures; each protected header
// holds exactly alg "EdDSA", typ TypeOf(kind) and a kid, and nothing else
// (crit, b64, jwk, jku, x5u, x5c, x5t, nonce, ... are refused); the payload
// is canonical base64url of a JSON object with no duplicate keys and only
// lower-case ASCII field names. Refusals are *Error values.
func ParseStatement(data []byte, kind string) (*Statement, error) {
	if !validKind(kind) {
		return nil, fmt.Errorf("consent: unknown statement kind %q", kind)
	}
	if len(data) > MaxStatementSize {
		return nil, refuse(ReasonBodyTooLarge, "statement is %d bytes; at most %d are accepted", len(data), MaxStatementSize)
	}
	w, err := parseEnvelope(data)
	if err != nil {
		return nil, err
	}
	st := &Statement{Kind: kind, payload: w.Payload, sigs: w.Signatures}
	for i, s := range w.Signatures {
		kid, err := checkProtected(s.Protected, kind)
		if err != nil {
			return nil, within(fmt.Sprintf("signature %d", i+1), err)
		}
		sig, err := b64.DecodeString(s.Signature)
		if err != nil || len(sig) != ed25519.SignatureSize {
			return nil, refuse(ReasonMalformed, "signature %d: not a base64url Ed25519 signature", i+1)
		}
		st.KeyIDs = append(st.KeyIDs, kid)
	}
	st.Payload, err = b64.DecodeString(w.Payload)
	if err != nil {
		return nil, refuse(ReasonMalformed, "payload is not base64url without padding")
	}
	if err := checkJSON(st.Payload, true); err != nil {
		return nil, within("payload", err)
	}
	// go-jose parses what passed the rules above; it must agree on the
	// payload, or the two parsers read different things.
	st.jws, err = jose.ParseSignedJSON(string(data), []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return nil, refuse(ReasonMalformed, "%v", err)
	}
	if len(st.jws.Signatures) != len(w.Signatures) || !bytes.Equal(st.jws.UnsafePayloadWithoutVerification(), st.Payload) {
		return nil, refuse(ReasonMalformed, "JWS parsers disagree")
	}
	return st, nil
}

// parseEnvelope checks the JWS JSON shape.
func parseEnvelope(data []byte) (*wireJWS, error) {
	if err := checkJSON(data, false); err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, refuse(ReasonMalformed, "%s", jsonErr(err))
	}
	for _, k := range sortedKeys(top) {
		switch k {
		case "payload", "signatures":
		case "header":
			return nil, refuse(ReasonUnprotectedHeader, "an unprotected \"header\" is not accepted; every header member must be in \"protected\"")
		case "protected", "signature":
			return nil, refuse(ReasonMalformed, "the flattened JWS JSON serialization is not accepted; use the general one, {\"payload\", \"signatures\": [...]}")
		default:
			return nil, refuse(ReasonMalformed, "unknown JWS member %s", shorten(k))
		}
	}
	w := &wireJWS{}
	if err := json.Unmarshal(top["payload"], &w.Payload); err != nil || top["payload"] == nil {
		return nil, refuse(ReasonMalformed, "\"payload\" must be a base64url string")
	}
	var sigs []json.RawMessage
	if err := json.Unmarshal(top["signatures"], &sigs); err != nil || top["signatures"] == nil {
		return nil, refuse(ReasonMalformed, "\"signatures\" must be an array")
	}
	switch {
	case len(sigs) == 0:
		return nil, refuse(ReasonMalformed, "no signatures")
	case len(sigs) > MaxSignatures:
		return nil, refuse(ReasonTooManySignatures, "%d signatures; at most %d are accepted", len(sigs), MaxSignatures)
	}
	for i, raw := range sigs {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil || m == nil {
			return nil, refuse(ReasonMalformed, "signature %d is not an object", i+1)
		}
		for _, k := range sortedKeys(m) {
			switch k {
			case "protected", "signature":
			case "header":
				return nil, refuse(ReasonUnprotectedHeader, "signature %d: an unprotected \"header\" is not accepted; every header member must be in \"protected\"", i+1)
			default:
				return nil, refuse(ReasonMalformed, "signature %d: unknown member %s", i+1, shorten(k))
			}
		}
		var s wireSig
		if json.Unmarshal(m["protected"], &s.Protected) != nil || s.Protected == "" {
			return nil, refuse(ReasonMalformed, "signature %d: \"protected\" must be a non-empty base64url string", i+1)
		}
		if json.Unmarshal(m["signature"], &s.Signature) != nil || s.Signature == "" {
			return nil, refuse(ReasonMalformed, "signature %d: \"signature\" must be a non-empty base64url string", i+1)
		}
		w.Signatures = append(w.Signatures, s)
	}
	return w, nil
}

// checkProtected decodes a protected header strictly and returns its kid.
func checkProtected(enc string, kind string) (string, error) {
	raw, err := b64.DecodeString(enc)
	if err != nil {
		return "", refuse(ReasonMalformed, "protected header is not base64url without padding")
	}
	if err := checkJSON(raw, false); err != nil {
		return "", within("protected header", err)
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(raw, &h); err != nil {
		return "", refuse(ReasonMalformed, "protected header: %s", jsonErr(err))
	}
	for _, k := range sortedKeys(h) {
		switch k {
		case "alg", "typ", "kid":
		default:
			return "", refuse(ReasonForbiddenHeader, "protected header member %s is not accepted; only alg, typ and kid are", shorten(k))
		}
	}
	var alg, typ, kid string
	if json.Unmarshal(h["alg"], &alg) != nil || alg != string(jose.EdDSA) {
		return "", refuse(ReasonBadAlg, "alg %s is not accepted; only EdDSA is", shorten(string(h["alg"])))
	}
	if json.Unmarshal(h["typ"], &typ) != nil || typ != TypeOf(kind) {
		return "", refuse(ReasonBadTyp, "typ %s; expected %q", shorten(string(h["typ"])), TypeOf(kind))
	}
	if json.Unmarshal(h["kid"], &kid) != nil || kid == "" || len(kid) > 64 {
		return "", refuse(ReasonMalformed, "kid must be a key fingerprint string")
	}
	return kid, nil
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Decode decodes the payload into v (a pointer to a claims struct),
// refusing fields v does not have. The payload is not authenticated by
// this: verify the signatures before acting on it.
func (s *Statement) Decode(v any) error {
	if err := decodeStrict(s.Payload, v); err != nil {
		return within("payload", err)
	}
	return nil
}

// VerifySignature verifies signature i alone against pub. It is checked
// as a one-signature JWS of its own, by go-jose, so that no other
// signature or header can affect the result (go-jose's VerifyMulti would
// report only the first signature a key made).
func (s *Statement) VerifySignature(i int, pub ed25519.PublicKey) error {
	if i < 0 || i >= len(s.KeyIDs) {
		return fmt.Errorf("consent: no signature %d", i+1)
	}
	if len(pub) != ed25519.PublicKeySize {
		return refuse(ReasonBadSignature, "signature %d: key is not an Ed25519 public key", i+1)
	}
	one := *s.jws
	one.Signatures = s.jws.Signatures[i : i+1]
	if _, err := one.Verify(pub); err != nil {
		return refuse(ReasonBadSignature, "signature %d by key %s does not verify", i+1, s.KeyIDs[i])
	}
	return nil
}

// Sign signs payload (marshalled as JSON) as a statement of the given
// kind, in the JWS JSON general serialization with one signature whose
// protected header is {alg: EdDSA, kid, typ: TypeOf(kind)}. kid must be
// KeyID of key's public half.
func Sign(kind string, payload any, key ed25519.PrivateKey, kid string) ([]byte, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("consent: encode %s statement: %w", kind, err)
	}
	enc, sig, err := signOne(kind, body, key, kid)
	if err != nil {
		return nil, err
	}
	return marshalStatement(&wireJWS{Payload: enc, Signatures: []wireSig{sig}})
}

// Cosign adds a signature by key to a statement, over the same payload.
// It refuses a statement that key already signed. It checks the
// statement's structure but cannot check the other signatures (it has no
// policy); inspect a statement before cosigning it.
func Cosign(data []byte, kind string, key ed25519.PrivateKey, kid string) ([]byte, error) {
	st, err := ParseStatement(data, kind)
	if err != nil {
		return nil, err
	}
	if slices.Contains(st.KeyIDs, kid) {
		return nil, fmt.Errorf("consent: the statement is already signed by key %s", kid)
	}
	if len(st.sigs) >= MaxSignatures {
		return nil, fmt.Errorf("consent: the statement already has %d signatures, the most accepted", MaxSignatures)
	}
	enc, sig, err := signOne(kind, st.Payload, key, kid)
	if err != nil {
		return nil, err
	}
	if enc != st.payload {
		return nil, errors.New("consent: cosign: payload encoding changed")
	}
	return marshalStatement(&wireJWS{Payload: st.payload, Signatures: append(slices.Clip(st.sigs), sig)})
}

// signOne signs body with go-jose and returns the encoded payload and the
// signature's protected header and value.
func signOne(kind string, body []byte, key ed25519.PrivateKey, kid string) (string, wireSig, error) {
	if !validKind(kind) {
		return "", wireSig{}, fmt.Errorf("consent: unknown statement kind %q", kind)
	}
	if len(key) != ed25519.PrivateKeySize {
		return "", wireSig{}, errors.New("consent: signing key is not an Ed25519 private key")
	}
	if want := KeyID(key.Public().(ed25519.PublicKey)); kid != want {
		return "", wireSig{}, fmt.Errorf("consent: kid %q does not name the signing key (its KeyID is %s)", kid, want)
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(TypeOf(kind))).WithHeader("kid", kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: key}, opts)
	if err != nil {
		return "", wireSig{}, fmt.Errorf("consent: sign: %w", err)
	}
	obj, err := signer.Sign(body)
	if err != nil {
		return "", wireSig{}, fmt.Errorf("consent: sign: %w", err)
	}
	var flat struct {
		Protected string `json:"protected"`
		Payload   string `json:"payload"`
		Signature string `json:"signature"`
	}
	if err := json.Unmarshal([]byte(obj.FullSerialize()), &flat); err != nil {
		return "", wireSig{}, fmt.Errorf("consent: sign: %w", err)
	}
	return flat.Payload, wireSig{Protected: flat.Protected, Signature: flat.Signature}, nil
}

func marshalStatement(w *wireJWS) ([]byte, error) {
	out, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("consent: encode statement: %w", err)
	}
	if len(out) > MaxStatementSize {
		return nil, fmt.Errorf("consent: signed statement is %d bytes; at most %d are accepted", len(out), MaxStatementSize)
	}
	return out, nil
}
