// Package pairing is the handshake by which an unpaired Doorward device
// takes its owner: the owner's Ed25519 signing key and age recipients are
// installed, the owner approves the trust policy the device proposes, and the
// owner's tool learns (and pins) the device's identity key.
//
// The device shows a one-time [Secret] of 128 random bits (as text and as a
// QR code); the owner types or scans it into doorwardctl. The secret never
// crosses the wire. Both sides derive two keys from it with HKDF-SHA256, one
// per direction, and MAC a transcript that binds both nonces, the owner's
// signing key and recipients, the device's key and ID, and the hash of the
// proposed trust policy (consent.Policy.Hash; see [Transcript] and
// [PolicyHasher]). The exchange is two round
// trips:
//
//	client                                   device ([Pairer])
//	Hello{owner nonce, key, recipients} ──►  Hello: new session, device nonce
//	                                    ◄──  HelloReply{..., policy, device MAC}
//	CheckReply: device MAC (hmac.Equal),
//	  then show the policy and ask
//	Finish{owner MAC, owner signature}  ──►  Finish: owner MAC, signature
//	                                    ◄──  Result{ok}; the device installs [Owner]
//
// The device proves first, so a client facing someone who does not know the
// code (a wrong code, or a man in the middle who altered any field) stops
// with [ErrBadMAC] before it shows a policy or signs anything. The device
// installs nothing until the owner's MAC checks and the owner's Ed25519
// signature over the transcript verifies. A [Pairer] succeeds once
// ([ErrAlreadyPaired] afterwards). Only failed proofs on real sessions (a
// bad MAC or signature) count, and after [FreeFailures] of them it slows
// down ([ErrSlowDown]: a wait of one second, doubling up to a minute,
// before the next proof is checked) instead of locking for good.
//
// No PAKE is needed because the secret has 128 bits: the device's MAC lets
// anyone who sends a Hello test guesses offline, which is hopeless at 128
// bits and trivial for a short code. Never shorten the code without adding a
// PAKE (for example CPace or SPAKE2) in front of this transcript.
//
// The package is pure: no I/O, no logging, time from a [clock.Clock]. The
// HTTP endpoints (hello and finish) and doorwardctl pair are thin layers over
// [Pairer], [Client] and the Decode functions.
package pairing
