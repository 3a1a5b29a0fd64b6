// Package api holds the agent's wire types, defined once: the LAN API
// (/api/v1/..., served by device/lanapi, spoken by device/lanclient and
// doorwardctl) and the control socket (served by device/lanapi, spoken by
// the doorward command). Both sides import these types, so a field cannot
// drift between server and client.
//
// The package links no storage: it imports consent and consent/audit
// (formats only), never bbolt, the vault or the gate, so that the owner's
// tool stays small (see the test in cmd/doorwardctl).
//
// The LAN API:
//
//	GET  /api/v1/info                     Info
//	POST /api/v1/pair/hello, /pair/finish the pairing handshake (consent/pairing types)
//	POST /api/v1/grants                   owner-signed grant    → 201 GrantReply
//	POST /api/v1/revocations              owner-signed revoke   → 200 RevokeReply
//	POST /api/v1/legal                    legal-process token   → 202 LegalReply
//	GET  /api/v1/policy                   PolicyInfo
//	POST /api/v1/policy                   owner-signed policy   → 200 PolicyReply
//	POST /api/v1/enroll                   owner-signed enroll   → 200 EnrollReply
//	POST /api/v1/reset                    owner-signed reset    → 202 {}, then the device erases itself
//	GET  /api/v1/owner                    owner only: OwnerReply (the login check alone)
//	GET  /api/v1/notices                  owner only: []Notice
//	GET  /api/v1/disclosures              owner only: []Disclosure
//	GET  /api/v1/audit?since=N            owner only: AuditReply
//	GET  /api/v1/status                   owner only: Status
//	GET  /api/v1/clips                    owner only: []OwnerClip
//	GET  /api/v1/clips/{id}/{piece}       owner only: the piece's age ciphertext
//
// Refusals are Error with a stable reason code. Owner reads carry
// "Authorization: Doorward <login statement>" (LoginScheme).
package api
