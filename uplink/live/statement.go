package live

import (
	"crypto/ed25519"
	"time"

	"github.com/doorward/doorward/consent"
)

// StatementLifetime is how long the live statements Signer makes stay
// valid: long enough to reach a device, far below consent.MaxLiveLifetime.
const StatementLifetime = 2 * time.Minute

// Signer returns a Sign function for WatchOptions: each call makes a fresh
// live statement (new jti) for deviceID, signed by key (an owner's signing
// key, or a grantee key a grant with live names), bound to the offer.
func Signer(key ed25519.PrivateKey, deviceID string) func(binding string) ([]byte, error) {
	kid := consent.KeyID(key.Public().(ed25519.PublicKey))
	return func(binding string) ([]byte, error) {
		now := time.Now()
		return consent.Sign(consent.KindLive, consent.LiveClaims{
			Claims: consent.Claims{
				ID: consent.NewJTI(), Audience: deviceID,
				IssuedAt: consent.NewNumericDate(now), Expiry: consent.NewNumericDate(now.Add(StatementLifetime)),
			},
			DTLSFingerprint: binding,
		}, key, kid)
	}
}
