package consent

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	jose "github.com/go-jose/go-jose/v4"
)

// withClaims issues a token from edited valid claims, signed by the
// standard quorum.
func withClaims(t testing.TB, edit func(c *TokenClaims)) []byte {
	c := validClaims()
	edit(&c)
	return issue(t, c, judge1, prosecute)
}

// withPayload edits the valid payload as a generic map (so that claims
// IssueToken would refuse can be signed) and signs it by hand.
func withPayload(t testing.TB, edit func(m map[string]any)) []byte {
	var m map[string]any
	if err := json.Unmarshal(validPayload(t), &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return std(b)
}

// withPayloadText edits the valid payload as text.
func withPayloadText(t testing.TB, old, new string) []byte {
	p := string(validPayload(t))
	if !strings.Contains(p, old) {
		t.Fatalf("payload has no %q", old)
	}
	return std([]byte(strings.Replace(p, old, new, 1)))
}

// withHeader signs the valid payload with the standard quorum, judge1's
// protected header replaced.
func withHeader(t testing.TB, header string) []byte {
	return rawToken(validPayload(t), rawSig{header: header, key: judge1}, rawSig{header: stdHeader(prosecute), key: prosecute})
}

func judgeOnlyPolicy(quorum int) func(in *VerifyInput) {
	return func(in *VerifyInput) { in.Policy.Quorum = map[string]int{"judge": quorum} }
}

type hostile struct {
	name string
	data func(t testing.TB) []byte
	in   func(in *VerifyInput) // optional change to the input
	want Reason
}

func hostileTokens() []hostile {
	ok := func(t testing.TB) []byte { return validToken(t) }
	return []hostile{
		// Signatures and quorum (step 3).
		{"forged signature", func(t testing.TB) []byte {
			tok := validToken(t)
			var w wireJWS
			json.Unmarshal(tok, &w)
			sig, _ := b64.DecodeString(w.Signatures[1].Signature)
			sig[5] ^= 1
			w.Signatures[1].Signature = b64.EncodeToString(sig)
			out, _ := json.Marshal(w)
			return out
		}, nil, ReasonBadSignature},
		{"signature from another payload", func(t testing.TB) []byte {
			other := withClaims(t, func(c *TokenClaims) { c.ID = "other" })
			var w, o wireJWS
			json.Unmarshal(validToken(t), &w)
			json.Unmarshal(other, &o)
			w.Signatures[0] = o.Signatures[0]
			out, _ := json.Marshal(w)
			return out
		}, nil, ReasonBadSignature},
		{"valid first signature, forged second by the same key", func(t testing.TB) []byte {
			tok := rawToken(validPayload(t), rawSig{header: stdHeader(judge1), key: judge1}, rawSig{header: stdHeader(judge1), key: stranger}, rawSig{header: stdHeader(prosecute), key: prosecute})
			return tok
		}, nil, ReasonBadSignature},
		{"kid names a key, signed by another", func(t testing.TB) []byte {
			return rawToken(validPayload(t), rawSig{header: stdHeader(judge1), key: stranger}, rawSig{header: stdHeader(prosecute), key: prosecute})
		}, nil, ReasonBadSignature},
		{"unknown issuers only", func(t testing.TB) []byte {
			return issue(t, validClaims(), stranger, testKey("stranger 2"))
		}, nil, ReasonUnknownKey},
		{"unknown issuer makes up the quorum", func(t testing.TB) []byte {
			return issue(t, validClaims(), judge1, stranger)
		}, nil, ReasonQuorumNotMet},
		{"below quorum: one judge", func(t testing.TB) []byte { return issue(t, validClaims(), judge1) }, nil, ReasonQuorumNotMet},
		{"below quorum: two judges, no prosecutor", func(t testing.TB) []byte { return issue(t, validClaims(), judge1, judge2) }, nil, ReasonQuorumNotMet},
		{"one signature stripped by a relay", func(t testing.TB) []byte {
			var w wireJWS
			json.Unmarshal(validToken(t), &w)
			w.Signatures = w.Signatures[:1]
			out, _ := json.Marshal(w)
			return out
		}, nil, ReasonQuorumNotMet},
		{"one issuer signing twice (quorum judge:2)", func(t testing.TB) []byte {
			return rawToken(validPayload(t), rawSig{header: stdHeader(judge1), key: judge1}, rawSig{header: stdHeader(judge1), key: judge1})
		}, judgeOnlyPolicy(2), ReasonQuorumNotMet},
		{"one issuer signing twice (quorum judge:1, 2 in all)", func(t testing.TB) []byte {
			return rawToken(validPayload(t), rawSig{header: stdHeader(judge1), key: judge1}, rawSig{header: stdHeader(judge1), key: judge1})
		}, judgeOnlyPolicy(1), ReasonQuorumNotMet},
		{"one issuer with two keys (quorum judge:2)", func(t testing.TB) []byte {
			return issue(t, validClaims(), judge1, judge1b)
		}, judgeOnlyPolicy(2), ReasonQuorumNotMet},
		{"revoked key's signature counts for nothing", func(t testing.TB) []byte {
			return issue(t, validClaims(), retired, prosecute)
		}, nil, ReasonQuorumNotMet},
		{"revoked keys only", func(t testing.TB) []byte { return issue(t, validClaims(), retired) }, nil, ReasonRevokedKey},
		{"role claimed in the header is ignored", func(t testing.TB) []byte {
			return withHeader(t, `{"alg":"EdDSA","kid":"`+kidOf(judge1)+`","typ":"doorward-legal/1","role":"prosecutor"}`)
		}, nil, ReasonForbiddenHeader},

		// Headers and envelope (step 1).
		{"alg none", func(t testing.TB) []byte {
			return withHeader(t, `{"alg":"none","kid":"`+kidOf(judge1)+`","typ":"doorward-legal/1"}`)
		}, nil, ReasonBadAlg},
		{"alg HS256", func(t testing.TB) []byte {
			return withHeader(t, `{"alg":"HS256","kid":"`+kidOf(judge1)+`","typ":"doorward-legal/1"}`)
		}, nil, ReasonBadAlg},
		{"alg ES256", func(t testing.TB) []byte {
			return withHeader(t, `{"alg":"ES256","kid":"`+kidOf(judge1)+`","typ":"doorward-legal/1"}`)
		}, nil, ReasonBadAlg},
		{"alg eddsa (case)", func(t testing.TB) []byte {
			return withHeader(t, `{"alg":"eddsa","kid":"`+kidOf(judge1)+`","typ":"doorward-legal/1"}`)
		}, nil, ReasonBadAlg},
		{"alg missing", func(t testing.TB) []byte {
			return withHeader(t, `{"kid":"`+kidOf(judge1)+`","typ":"doorward-legal/1"}`)
		}, nil, ReasonBadAlg},
		{"jwk header", func(t testing.TB) []byte {
			return withHeader(t, `{"alg":"EdDSA","jwk":{"kty":"OKP","crv":"Ed25519","x":"`+b64.EncodeToString(pubOf(judge1))+`"},"kid":"`+kidOf(judge1)+`","typ":"doorward-legal/1"}`)
		}, nil, ReasonForbiddenHeader},
		{"jku header", func(t testing.TB) []byte {
			return withHeader(t, `{"alg":"EdDSA","jku":"https://evil.example/keys","kid":"`+kidOf(judge1)+`","typ":"doorward-legal/1"}`)
		}, nil, ReasonForbiddenHeader},
		{"x5u header", func(t testing.TB) []byte {
			return withHeader(t, `{"alg":"EdDSA","kid":"`+kidOf(judge1)+`","typ":"doorward-legal/1","x5u":"https://evil.example/c"}`)
		}, nil, ReasonForbiddenHeader},
		{"x5c header", func(t testing.TB) []byte {
			return withHeader(t, `{"alg":"EdDSA","kid":"`+kidOf(judge1)+`","typ":"doorward-legal/1","x5c":["MII="]}`)
		}, nil, ReasonForbiddenHeader},
		{"crit header", func(t testing.TB) []byte {
			return withHeader(t, `{"alg":"EdDSA","crit":["exp"],"exp":1,"kid":"`+kidOf(judge1)+`","typ":"doorward-legal/1"}`)
		}, nil, ReasonForbiddenHeader},
		{"b64 false", func(t testing.TB) []byte {
			return withHeader(t, `{"alg":"EdDSA","b64":false,"crit":["b64"],"kid":"`+kidOf(judge1)+`","typ":"doorward-legal/1"}`)
		}, nil, ReasonForbiddenHeader},
		{"unknown header member", func(t testing.TB) []byte {
			return withHeader(t, `{"alg":"EdDSA","kid":"`+kidOf(judge1)+`","typ":"doorward-legal/1","zzz":1}`)
		}, nil, ReasonForbiddenHeader},
		{"duplicate alg in header", func(t testing.TB) []byte {
			return withHeader(t, `{"alg":"none","alg":"EdDSA","kid":"`+kidOf(judge1)+`","typ":"doorward-legal/1"}`)
		}, nil, ReasonDuplicateKey},
		{"ALG next to alg in header", func(t testing.TB) []byte {
			return withHeader(t, `{"alg":"EdDSA","ALG":"none","kid":"`+kidOf(judge1)+`","typ":"doorward-legal/1"}`)
		}, nil, ReasonDuplicateKey},
		{"kid missing", func(t testing.TB) []byte {
			return withHeader(t, `{"alg":"EdDSA","typ":"doorward-legal/1"}`)
		}, nil, ReasonMalformed},
		{"kid not a string", func(t testing.TB) []byte {
			return withHeader(t, `{"alg":"EdDSA","kid":7,"typ":"doorward-legal/1"}`)
		}, nil, ReasonMalformed},
		{"typ of another kind", func(t testing.TB) []byte {
			return withHeader(t, `{"alg":"EdDSA","kid":"`+kidOf(judge1)+`","typ":"doorward-grant/1"}`)
		}, nil, ReasonBadTyp},
		{"typ JWT", func(t testing.TB) []byte {
			return withHeader(t, `{"alg":"EdDSA","kid":"`+kidOf(judge1)+`","typ":"JWT"}`)
		}, nil, ReasonBadTyp},
		{"typ missing", func(t testing.TB) []byte {
			return withHeader(t, `{"alg":"EdDSA","kid":"`+kidOf(judge1)+`"}`)
		}, nil, ReasonBadTyp},
		{"header not JSON", func(t testing.TB) []byte { return withHeader(t, `{"alg":"EdDSA",`) }, nil, ReasonMalformed},
		{"unprotected kid in a signature's header", func(t testing.TB) []byte {
			return rawToken(validPayload(t), rawSig{header: `{"alg":"EdDSA","typ":"doorward-legal/1","kid":"` + kidOf(judge1) + `"}`, key: judge1, extra: `,"header":{"kid":"` + kidOf(judge2) + `"}`}, rawSig{header: stdHeader(prosecute), key: prosecute})
		}, nil, ReasonUnprotectedHeader},
		{"empty unprotected header", func(t testing.TB) []byte {
			return rawToken(validPayload(t), rawSig{header: stdHeader(judge1), key: judge1, extra: `,"header":{}`}, rawSig{header: stdHeader(prosecute), key: prosecute})
		}, nil, ReasonUnprotectedHeader},
		{"top-level header", func(t testing.TB) []byte {
			tok := validToken(t)
			return append([]byte(`{"header":{"kid":"x"},`), tok[1:]...)
		}, nil, ReasonUnprotectedHeader},
		{"flattened serialization", func(t testing.TB) []byte {
			var w wireJWS
			json.Unmarshal(validToken(t), &w)
			out, _ := json.Marshal(map[string]string{"payload": w.Payload, "protected": w.Signatures[0].Protected, "signature": w.Signatures[0].Signature})
			return out
		}, nil, ReasonMalformed},
		{"compact serialization", func(t testing.TB) []byte {
			var w wireJWS
			json.Unmarshal(validToken(t), &w)
			return []byte(w.Signatures[0].Protected + "." + w.Payload + "." + w.Signatures[0].Signature)
		}, nil, ReasonMalformed},
		{"unknown top-level member", func(t testing.TB) []byte {
			return append([]byte(`{"x":1,`), validToken(t)[1:]...)
		}, nil, ReasonMalformed},
		{"duplicate payload member", func(t testing.TB) []byte {
			other := withClaims(t, func(c *TokenClaims) { c.Scope.Media = []string{MediaVideo, MediaAudio} })
			var o wireJWS
			json.Unmarshal(other, &o)
			return append([]byte(`{"payload":"`+o.Payload+`",`), validToken(t)[1:]...)
		}, nil, ReasonDuplicateKey},
		{"nine signatures", func(t testing.TB) []byte {
			var sigs []rawSig
			for range 9 {
				sigs = append(sigs, rawSig{header: stdHeader(judge1), key: judge1})
			}
			return rawToken(validPayload(t), sigs...)
		}, nil, ReasonTooManySignatures},
		{"empty signatures list", func(t testing.TB) []byte { return rawToken(validPayload(t)) }, nil, ReasonMalformed},
		{"signatures not an array", func(t testing.TB) []byte {
			return []byte(`{"payload":"e30","signatures":{}}`)
		}, nil, ReasonMalformed},
		{"signature not base64url", func(t testing.TB) []byte {
			return bytes.Replace(validToken(t), []byte(`"signature":"`), []byte(`"signature":"+/`), 1)
		}, nil, ReasonMalformed},
		{"signature too short", func(t testing.TB) []byte {
			return bytes.Replace(validToken(t), []byte(`"signature":"`), []byte(`"signature":"AAAA","x":"`), 1)
		}, nil, ReasonMalformed},
		{"17 KiB body", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) {})[:0:0]
		}, nil, ReasonBodyTooLarge},
		{"payload not base64url", func(t testing.TB) []byte {
			return rawTokenEncoded("eyJqdGki*OiJ4In0", rawSig{header: stdHeader(judge1), key: judge1})
		}, nil, ReasonMalformed},
		{"payload padded base64", func(t testing.TB) []byte {
			return rawTokenEncoded(b64.EncodeToString([]byte(`{"a":1}`))+"=", rawSig{header: stdHeader(judge1), key: judge1})
		}, nil, ReasonMalformed},
		{"payload with non-canonical trailing bits", func(t testing.TB) []byte {
			return rawTokenEncoded("e30B", rawSig{header: stdHeader(judge1), key: judge1}) // "e30" + junk bits
		}, nil, ReasonMalformed},
		{"payload a JSON array", func(t testing.TB) []byte { return std([]byte(`[1,2]`)) }, nil, ReasonMalformed},
		{"payload empty", func(t testing.TB) []byte { return std(nil) }, nil, ReasonMalformed},
		{"payload nested too deep", func(t testing.TB) []byte {
			return std([]byte(`{"scope":` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `}`))
		}, nil, ReasonMalformed},
		{"truncated JSON", func(t testing.TB) []byte { tok := validToken(t); return tok[:len(tok)/2] }, nil, ReasonMalformed},
		{"garbage", func(t testing.TB) []byte { return []byte("\x00\xffnot json at all") }, nil, ReasonMalformed},
		{"empty body", func(t testing.TB) []byte { return nil }, nil, ReasonMalformed},
		{"JSON null", func(t testing.TB) []byte { return []byte("null") }, nil, ReasonMalformed},
		{"trailing data", func(t testing.TB) []byte { return append(validToken(t), " {}"...) }, nil, ReasonMalformed},

		// Strict payload decoding (step 1).
		{"duplicate claim aud/AUD", func(t testing.TB) []byte {
			return withPayloadText(t, `{"jti"`, `{"AUD":"someone-else","jti"`)
		}, nil, ReasonDuplicateKey},
		{"duplicate claim aud/aud", func(t testing.TB) []byte {
			return withPayloadText(t, `{"jti"`, `{"aud":"someone-else","jti"`)
		}, nil, ReasonDuplicateKey},
		{"duplicate key nested in scope (until/UNTIL)", func(t testing.TB) []byte {
			return withPayloadText(t, `"until":`, `"UNTIL":"2030-01-01T00:00:00Z","until":`)
		}, nil, ReasonDuplicateKey},
		{"duplicate by Unicode folding (ſcope)", func(t testing.TB) []byte {
			return withPayloadText(t, `{"jti"`, `{"ſcope":{},"jti"`)
		}, nil, ReasonDuplicateKey},
		{"upper-case claim alone (AUD)", func(t testing.TB) []byte {
			return withPayloadText(t, `"aud":`, `"AUD":`)
		}, nil, ReasonUnknownField},
		{"unknown claim", func(t testing.TB) []byte {
			return withPayload(t, func(m map[string]any) { m["role"] = "judge" })
		}, nil, ReasonUnknownField},
		{"unknown claim nested in scope", func(t testing.TB) []byte {
			return withPayload(t, func(m map[string]any) { m["scope"].(map[string]any)["cameras"] = "all" })
		}, nil, ReasonUnknownField},
		{"iat as a string", func(t testing.TB) []byte {
			return withPayload(t, func(m map[string]any) { m["iat"] = "1780311600" })
		}, nil, ReasonMalformed},
		{"jti missing", func(t testing.TB) []byte {
			return withPayload(t, func(m map[string]any) { delete(m, "jti") })
		}, nil, ReasonMalformed},
		{"jti with a slash", func(t testing.TB) []byte {
			return withPayload(t, func(m map[string]any) { m["jti"] = "a/b" })
		}, nil, ReasonMalformed},
		{"nbf missing", func(t testing.TB) []byte {
			return withPayload(t, func(m map[string]any) { delete(m, "nbf") })
		}, nil, ReasonMalformed},
		{"exp before iat", func(t testing.TB) []byte {
			return withPayload(t, func(m map[string]any) { m["exp"] = m["iat"].(float64) - 1 })
		}, nil, ReasonMalformed},
		{"unknown basis", func(t testing.TB) []byte {
			return withPayload(t, func(m map[string]any) { m["basis"] = "subpoena" })
		}, nil, ReasonMalformed},
		{"order_sha256 not hex", func(t testing.TB) []byte {
			return withPayload(t, func(m map[string]any) { m["order_sha256"] = strings.ToUpper(testOrder) })
		}, nil, ReasonMalformed},
		{"terminal escape in case", func(t testing.TB) []byte {
			return withPayload(t, func(m map[string]any) { m["case"] = "42\x1b[2J" })
		}, nil, ReasonMalformed},
		{"bidi override in jurisdiction", func(t testing.TB) []byte {
			return withPayload(t, func(m map[string]any) { m["jurisdiction"] = "court\u202e" })
		}, nil, ReasonMalformed},
		{"unknown media", func(t testing.TB) []byte {
			return withPayload(t, func(m map[string]any) { m["scope"].(map[string]any)["media"] = []string{"thermal"} })
		}, nil, ReasonMalformed},
		{"scope until before from", func(t testing.TB) []byte {
			return withPayload(t, func(m map[string]any) { m["scope"].(map[string]any)["until"] = "2026-06-01T08:00:00Z" })
		}, nil, ReasonMalformed},
		{"scope time not RFC 3339", func(t testing.TB) []byte {
			return withPayload(t, func(m map[string]any) { m["scope"].(map[string]any)["from"] = "yesterday" })
		}, nil, ReasonMalformed},
		{"scope null", func(t testing.TB) []byte {
			return withPayload(t, func(m map[string]any) { m["scope"] = nil })
		}, nil, ReasonMalformed},

		// Clock (step 2).
		{"unsynced clock", ok, func(in *VerifyInput) { in.ClockSynced = false }, ReasonClockUnsynced},
		{"clock below floor", ok, func(in *VerifyInput) { in.TimeFloor = testNow.Add(time.Second) }, ReasonClockBelowFloor},

		// Claims (step 4).
		{"wrong aud", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) { c.Audience = "qqqqqqqqqqqqqqqq" })
		}, nil, ReasonWrongAudience},
		{"expired", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) { c.Expiry = NewNumericDate(testNow.Add(-time.Second)) })
		}, nil, ReasonExpired},
		{"expires exactly now", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) { c.Expiry = NewNumericDate(testNow) })
		}, nil, ReasonExpired},
		{"not yet valid", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) { c.NotBefore = NewNumericDate(testNow.Add(time.Second)) })
		}, nil, ReasonNotYetValid},
		{"issued in the future (would raise the time floor)", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) {
				c.IssuedAt = NewNumericDate(testNow.Add(time.Hour))
				c.Expiry = NewNumericDate(testNow.Add(2 * time.Hour))
			})
		}, nil, ReasonNotYetValid},
		{"lifetime over policy", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) { c.Expiry = c.IssuedAt + NumericDate(7*24*3600+1) })
		}, nil, ReasonLifetimeExceedsPolicy},
		{"scope span over policy", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) { c.Scope.From = c.Scope.Until.Add(-24*time.Hour - time.Second) })
		}, nil, ReasonScopeSpanExceedsPolicy},
		{"scope in the future", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) { c.Scope.Until = testNow.Add(6 * time.Minute) })
		}, nil, ReasonScopeInFuture},
		{"live scope", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) { c.Scope.Live = true })
		}, nil, ReasonScopeInFuture},
		{"emergency with notice delay", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) {
				c.Basis = BasisEmergency
				c.Expiry = NewNumericDate(testNow.Add(time.Hour))
				na := testNow.Add(time.Hour)
				c.NotifyAfter = &na
			})
		}, nil, ReasonEmergencyDelay},
		{"emergency lifetime over emergency limit", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) {
				c.Basis = BasisEmergency
				c.Expiry = c.IssuedAt + NumericDate(24*3600+1)
			})
		}, nil, ReasonLifetimeExceedsPolicy},
		{"emergency scope over emergency limit", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) {
				c.Basis = BasisEmergency
				c.Expiry = NewNumericDate(testNow.Add(time.Hour))
				c.Scope.From = c.Scope.Until.Add(-7 * time.Hour)
			})
		}, nil, ReasonScopeSpanExceedsPolicy},
		{"notice delay over cap", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) {
				na := testNow.Add(90*24*time.Hour + time.Second)
				c.NotifyAfter = &na
			})
		}, nil, ReasonNoticeDelayExceedsCap},
		{"malformed recipient", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) { c.Recipient = testRecipient[:len(testRecipient)-1] + "q" })
		}, nil, ReasonBadRecipient},
		{"SSH recipient", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) { c.Recipient = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW" })
		}, nil, ReasonBadRecipient},
		{"secret key as recipient", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) {
				c.Recipient = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
			})
		}, nil, ReasonBadRecipient},
		{"recipient with a space", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) { c.Recipient = " " + testRecipient })
		}, nil, ReasonBadRecipient},
		{"classic recipient where policy demands hybrid", ok, func(in *VerifyInput) {
			in.Policy.AllowedRecipients = []string{RecipientHybrid}
		}, ReasonRecipientTypeNotAllowed},

		// Replay (step 5).
		{"replayed", ok, func(in *VerifyInput) {
			in.Seen = func(jti string) bool { return jti == "tok-0001" }
		}, ReasonReplayed},
	}
}

// rawTokenEncoded is rawToken with the payload given already encoded.
func rawTokenEncoded(payload string, sigs ...rawSig) []byte {
	tok := rawToken([]byte("{}"), sigs...)
	return bytes.Replace(tok, []byte(`"payload":"e30"`), []byte(`"payload":"`+payload+`"`), 1)
}

func TestVerifyTokenHostile(t *testing.T) {
	cases := hostileTokens()
	if len(cases) < 30 {
		t.Fatalf("only %d hostile cases", len(cases))
	}
	valid := validToken(t)
	seen := seenSet{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data(t)
			if tc.name == "17 KiB body" {
				data = bigToken(t)
			}
			in := testInput(seen)
			if tc.in != nil {
				tc.in(&in)
			}
			tok, err := VerifyToken(data, in)
			if err == nil {
				t.Fatalf("accepted: %+v", tok.Claims)
			}
			if got := ReasonOf(err); got != tc.want {
				t.Fatalf("reason %q, want %q (%v)", got, tc.want, err)
			}
			if !strings.HasPrefix(err.Error(), "consent: "+string(tc.want)) {
				t.Errorf("error %q does not start with consent: %s", err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Detail == "" {
				t.Errorf("refusal without detail: %v", err)
			}
			// Nothing was burned: the valid token still verifies.
			if len(seen) != 0 {
				t.Fatalf("VerifyToken wrote to the replay store: %v", seen)
			}
			if _, err := VerifyToken(valid, testInput(seen)); err != nil {
				t.Fatalf("valid token refused after the hostile one: %v", err)
			}
		})
	}
}

// bigToken is a validly signed token over 17 KiB, padded in a claim.
func bigToken(t testing.TB) []byte {
	c := validClaims()
	c.Case = strings.Repeat("x", 200)
	tok := issue(t, c, judge1, prosecute)
	// Pad with whitespace, which JSON allows: the size rule comes first.
	return append(tok, bytes.Repeat([]byte(" "), 17<<10-len(tok))...)
}

func TestVerifyTokenValid(t *testing.T) {
	tok, err := VerifyToken(validToken(t), testInput(seenSet{}))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Claims.ID != "tok-0001" || tok.Family != Classic || tok.Recipient == nil {
		t.Errorf("token %+v", tok)
	}
	names := map[string]string{}
	for _, s := range tok.Signers {
		names[s.Name] = s.Role
	}
	want := map[string]string{"court-1": "judge", "court-2": "judge", "da-office": "prosecutor"}
	if len(names) != 3 || names["court-1"] != want["court-1"] || names["court-2"] != want["court-2"] || names["da-office"] != want["da-office"] {
		t.Errorf("signers %+v", tok.Signers)
	}
}

// Accepted variants: each exercises an allowance next to a refusal.
func TestVerifyTokenAccepts(t *testing.T) {
	hybrid, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data func(t testing.TB) []byte
		in   func(in *VerifyInput)
	}{
		{"minimum quorum", func(t testing.TB) []byte { return issue(t, validClaims(), judge1, prosecute) }, nil},
		{"second key of an issuer", func(t testing.TB) []byte { return issue(t, validClaims(), judge1b, prosecute) }, nil},
		{"two judges under judge:2", func(t testing.TB) []byte { return issue(t, validClaims(), judge1, judge2) }, judgeOnlyPolicy(2)},
		{"unknown and revoked signatures beside a quorum", func(t testing.TB) []byte {
			return issue(t, validClaims(), stranger, judge1, retired, prosecute)
		}, nil},
		{"one issuer twice beside a quorum", func(t testing.TB) []byte {
			return issue(t, validClaims(), judge1, judge1b, prosecute)
		}, nil},
		{"eight signatures", func(t testing.TB) []byte {
			return issue(t, validClaims(), judge1, judge1b, judge2, prosecute, retired, stranger, testKey("s2"), testKey("s3"))
		}, nil},
		{"exactly the policy's lifetime and span", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) {
				c.Expiry = c.IssuedAt + NumericDate(7*24*3600)
				c.Scope.From = c.Scope.Until.Add(-24 * time.Hour)
			})
		}, nil},
		{"scope until within skew", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) { c.Scope.Until = testNow.Add(5 * time.Minute) })
		}, nil},
		{"notice delay at the cap", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) {
				na := testNow.Add(90 * 24 * time.Hour)
				c.NotifyAfter = &na
			})
		}, nil},
		{"emergency within its limits", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) {
				c.Basis = BasisEmergency
				c.Expiry = c.IssuedAt + NumericDate(24*3600)
			})
		}, nil},
		{"hybrid recipient under hybrid-only", func(t testing.TB) []byte {
			return withClaims(t, func(c *TokenClaims) { c.Recipient = hybrid.Recipient().String() })
		}, func(in *VerifyInput) { in.Policy.AllowedRecipients = []string{RecipientHybrid} }},
		{"clock exactly at the floor", func(t testing.TB) []byte { return validToken(t) }, func(in *VerifyInput) { in.TimeFloor = testNow }},
		{"other jti seen", func(t testing.TB) []byte { return validToken(t) }, func(in *VerifyInput) {
			in.Seen = func(jti string) bool { return jti != "tok-0001" }
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput(seenSet{})
			if tc.in != nil {
				tc.in(&in)
			}
			if _, err := VerifyToken(tc.data(t), in); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The checks run in DESIGN.md's order: when a token breaks several rules,
// the earliest step's reason wins.
func TestVerifyTokenOrder(t *testing.T) {
	expiredBadAud := func(c *TokenClaims) {
		c.Expiry = NewNumericDate(testNow.Add(-time.Minute))
		c.Audience = "qqqqqqqqqqqqqqqq"
	}
	cases := []struct {
		name string
		data []byte
		in   func(in *VerifyInput)
		want Reason
	}{
		{"header before clock", withHeader(t, `{"alg":"none","kid":"x","typ":"doorward-legal/1"}`), func(in *VerifyInput) { in.ClockSynced = false }, ReasonBadAlg},
		{"strict decoding before clock", withPayloadText(t, `{"jti"`, `{"AUD":"x","jti"`), func(in *VerifyInput) { in.ClockSynced = false }, ReasonDuplicateKey},
		{"clock before signatures", issue(t, validClaims(), stranger), func(in *VerifyInput) { in.ClockSynced = false }, ReasonClockUnsynced},
		{"unsynced before below floor", validToken(t), func(in *VerifyInput) { in.ClockSynced = false; in.TimeFloor = testNow.Add(time.Hour) }, ReasonClockUnsynced},
		{"signatures before claims", issue(t, func() TokenClaims { c := validClaims(); expiredBadAud(&c); return c }(), judge1), nil, ReasonQuorumNotMet},
		{"aud before expiry", withClaims(t, expiredBadAud), nil, ReasonWrongAudience},
		{"claims before replay", withClaims(t, func(c *TokenClaims) { c.Expiry = NewNumericDate(testNow) }), func(in *VerifyInput) { in.Seen = func(string) bool { return true } }, ReasonExpired},
		{"scope span before future", withClaims(t, func(c *TokenClaims) {
			c.Scope.Until = testNow.Add(time.Hour)
			c.Scope.From = c.Scope.Until.Add(-48 * time.Hour)
		}), nil, ReasonScopeSpanExceedsPolicy},
		{"emergency delay before notice cap", withClaims(t, func(c *TokenClaims) {
			c.Basis = BasisEmergency
			c.Expiry = NewNumericDate(testNow.Add(time.Hour))
			na := testNow.Add(365 * 24 * time.Hour)
			c.NotifyAfter = &na
		}), nil, ReasonEmergencyDelay},
		{"notice cap before recipient", withClaims(t, func(c *TokenClaims) {
			na := testNow.Add(365 * 24 * time.Hour)
			c.NotifyAfter = &na
			c.Recipient = "age1bogus"
		}), nil, ReasonNoticeDelayExceedsCap},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput(seenSet{})
			if tc.in != nil {
				tc.in(&in)
			}
			_, err := VerifyToken(tc.data, in)
			if got := ReasonOf(err); got != tc.want {
				t.Fatalf("reason %q, want %q (%v)", got, tc.want, err)
			}
		})
	}
}

func TestVerifyTokenCallerErrors(t *testing.T) {
	in := testInput(seenSet{})
	in.Seen = nil
	if _, err := VerifyToken(validToken(t), in); err == nil || ReasonOf(err) != "" {
		t.Errorf("nil Seen: %v", err)
	}
	in = testInput(seenSet{})
	in.Policy = nil
	if _, err := VerifyToken(validToken(t), in); err == nil || ReasonOf(err) != "" {
		t.Errorf("nil policy: %v", err)
	}
	in = testInput(seenSet{})
	in.Policy.Issuers = in.Policy.Issuers[:1]
	if _, err := VerifyToken(validToken(t), in); err == nil || ReasonOf(err) != "" || !strings.Contains(err.Error(), "trust policy is invalid") {
		t.Errorf("invalid policy: %v", err)
	}
}

// go-jose, verifying each of our signatures as its own JWS, agrees with
// VerifySignature, and our own signatures verify with go-jose.
func TestSignaturesAgreeWithGoJose(t *testing.T) {
	tok := issue(t, validClaims(), judge1, prosecute, judge2)
	var w wireJWS
	if err := json.Unmarshal(tok, &w); err != nil {
		t.Fatal(err)
	}
	keys := []ed25519.PrivateKey{judge1, prosecute, judge2}
	for i, s := range w.Signatures {
		flat, _ := json.Marshal(map[string]string{"payload": w.Payload, "protected": s.Protected, "signature": s.Signature})
		obj, err := jose.ParseSignedJSON(string(flat), []jose.SignatureAlgorithm{jose.EdDSA})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := obj.Verify(pubOf(keys[i])); err != nil {
			t.Errorf("go-jose refuses signature %d: %v", i+1, err)
		}
		if _, err := obj.Verify(pubOf(keys[(i+1)%3])); err == nil {
			t.Errorf("go-jose accepts signature %d under the wrong key", i+1)
		}
		if obj.Signatures[0].Protected.KeyID != kidOf(keys[i]) {
			t.Errorf("kid %q", obj.Signatures[0].Protected.KeyID)
		}
	}
}

func TestCosignToken(t *testing.T) {
	tok := issue(t, validClaims(), judge1)
	if _, err := CosignToken(tok, judge1, kidOf(judge1)); err == nil || !strings.Contains(err.Error(), "already signed") {
		t.Errorf("second signature by the same kid: %v", err)
	}
	if _, err := CosignToken(tok, judge2, kidOf(stranger)); err == nil || !strings.Contains(err.Error(), "does not name") {
		t.Errorf("kid of another key: %v", err)
	}
	if _, err := CosignToken([]byte(`{"payload":"e30","signatures":[]}`), judge2, kidOf(judge2)); ReasonOf(err) != ReasonMalformed {
		t.Errorf("cosigning garbage: %v", err)
	}
	// A cosignature covers the same payload: the original signature stays
	// valid and the payload is unchanged.
	two, err := CosignToken(tok, prosecute, kidOf(prosecute))
	if err != nil {
		t.Fatal(err)
	}
	var a, b wireJWS
	json.Unmarshal(tok, &a)
	json.Unmarshal(two, &b)
	if a.Payload != b.Payload || len(b.Signatures) != 2 || b.Signatures[0] != a.Signatures[0] {
		t.Errorf("cosign changed the token: %s", two)
	}
	if _, err := VerifyToken(two, testInput(seenSet{})); err != nil {
		t.Error(err)
	}
	// Eight is the most a token may carry.
	full := issue(t, validClaims(), judge1, judge1b, judge2, prosecute, retired, stranger, testKey("s2"), testKey("s3"))
	if _, err := CosignToken(full, testKey("s4"), kidOf(testKey("s4"))); err == nil {
		t.Error("ninth signature added")
	}
}

func TestIssueTokenRefusesMalformedClaims(t *testing.T) {
	c := validClaims()
	c.Basis = "subpoena"
	if _, err := IssueToken(c, judge1, kidOf(judge1)); ReasonOf(err) != ReasonMalformed {
		t.Errorf("bad basis: %v", err)
	}
	if _, err := IssueToken(validClaims(), ed25519.PrivateKey{1, 2}, "x"); err == nil {
		t.Error("short key accepted")
	}
}

func TestInspectToken(t *testing.T) {
	s, err := InspectToken(validToken(t))
	if err != nil {
		t.Fatal(err)
	}
	out := s.String()
	for _, want := range []string{"NOT verified", "tok-0001", "2026-CR-00042", "warrant", kidOf(judge2), "notify after: immediately"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if _, err := InspectToken([]byte("{")); ReasonOf(err) != ReasonMalformed {
		t.Errorf("garbage: %v", err)
	}
}

func TestUnauthenticated(t *testing.T) {
	for _, tc := range hostileTokens() {
		pre := map[Reason]bool{ReasonQuorumNotMet: false, ReasonWrongAudience: false, ReasonReplayed: false, ReasonExpired: false}
		if v, ok := pre[tc.want]; ok && tc.want.Unauthenticated() != v {
			t.Errorf("%s: Unauthenticated() = %v", tc.want, !v)
		}
	}
	for _, r := range []Reason{ReasonBadSignature, ReasonUnknownKey, ReasonRevokedKey, ReasonMalformed, ReasonClockUnsynced, ReasonBodyTooLarge} {
		if !r.Unauthenticated() || !Unauthenticated(&Error{Reason: r}) {
			t.Errorf("%s should be unauthenticated", r)
		}
	}
	if Unauthenticated(errors.New("x")) || Unauthenticated(nil) {
		t.Error("a non-refusal is not unauthenticated")
	}
	err := error(refuse(ReasonReplayed, "jti %s", "x"))
	if !errors.Is(err, ErrReplayed) || errors.Is(err, ErrExpired) {
		t.Error("sentinels do not match by reason")
	}
}

func BenchmarkVerifyToken(b *testing.B) {
	tok := validToken(b) // three signatures
	in := testInput(seenSet{})
	b.ReportAllocs()
	b.SetBytes(int64(len(tok)))
	for b.Loop() {
		if _, err := VerifyToken(tok, in); err != nil {
			b.Fatal(err)
		}
	}
}

// An empty policy is valid (the owner went back to "accept no legal
// process") and refuses every token, even one its old issuers signed.
func TestEmptyPolicyAcceptsNoToken(t *testing.T) {
	empty := Policy{}
	if err := empty.Validate(); err != nil {
		t.Fatalf("empty policy: %v", err)
	}
	in := testInput(seenSet{})
	in.Policy = &empty
	_, err := VerifyToken(validToken(t), in)
	if ReasonOf(err) != ReasonUnknownKey || !strings.Contains(err.Error(), "accepts no legal process") {
		t.Fatalf("token under the empty policy: %v (reason %q)", err, ReasonOf(err))
	}
	bad := Policy{RevokedKeys: []string{"ed25519:AAAA"}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "revoked_keys[0]") {
		t.Fatalf("empty policy with a bad revoked key: %v", err)
	}
}
