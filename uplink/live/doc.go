// Package live is the device's live view: a WHEP server (pion/webrtc) that
// answers a viewer's offer with one H.264 track fed from the capture Hub,
// passed through as the camera encoded it (never transcoded), and the
// viewer's side of the same exchange (Watch) that doorwardctl uses.
//
// Nobody watches without an authorization: each offer carries a signed live
// statement bound to the offer's DTLS fingerprint (Binding), which the
// device's gate checks (single-use jti, lifetime, owner or grantee with a
// live grant) and records as an audit leaf when the session starts and ends.
// When the authority ends (a revocation, the owner removed), the session
// ends within a second.
//
// A new viewer starts at the latest keyframe the Hub holds, with the SPS and
// PPS in force, so the first picture does not wait for the next keyframe;
// the frames from that keyframe up to now are sent faster than real time
// until the viewer has caught up. Each viewer reads its own bounded Hub
// subscription, which skips to the next keyframe when the viewer falls
// behind: a slow viewer never slows recording or the other viewers.
package live
