package live

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/doorward/doorward/consent"
)

// MaxOfferSize bounds an SDP offer; browsers' offers are a few KiB.
const MaxOfferSize = 64 << 10

// ErrBadOffer means the offer could not be used; its text says why.
var ErrBadOffer = errors.New("live: unusable offer")

// Binding returns what a live statement's dtls_fingerprint holds for an offer
// whose a=fingerprint is fingerprint ("sha-256 AB:CD:..."):
// consent.LiveBinding, the lower-case hex SHA-256 of the normalized value.
func Binding(fingerprint string) string { return consent.LiveBinding(fingerprint) }

// Offer is what the device needs from a viewer's SDP offer.
type Offer struct {
	SDP string
	// Fingerprint is the one a=fingerprint the offer carries
	// ("sha-256 AB:CD:..."): the certificate its DTLS handshake must use.
	Fingerprint string
}

// ParseOffer checks an SDP offer before any WebRTC state is created: it
// parses, has at least one video section the device can send to, and names
// exactly one DTLS fingerprint, SHA-256. More than one distinct fingerprint
// is refused: the statement binds one, and a second would let a peer holding
// another certificate ride on a captured statement.
func ParseOffer(raw []byte) (Offer, error) {
	if len(raw) == 0 {
		return Offer{}, fmt.Errorf("%w: empty body (expected an SDP offer, Content-Type: application/sdp)", ErrBadOffer)
	}
	if len(raw) > MaxOfferSize {
		return Offer{}, fmt.Errorf("%w: %d bytes (at most %d)", ErrBadOffer, len(raw), MaxOfferSize)
	}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(raw); err != nil {
		return Offer{}, fmt.Errorf("%w: SDP: %v", ErrBadOffer, err)
	}
	var fps []string
	collect := func(attrs []sdp.Attribute) {
		for _, a := range attrs {
			if strings.EqualFold(a.Key, "fingerprint") {
				fps = append(fps, a.Value)
			}
		}
	}
	collect(sd.Attributes)
	video := false
	for _, m := range sd.MediaDescriptions {
		collect(m.Attributes)
		if m.MediaName.Media == "video" && m.MediaName.Port.Value != 0 {
			video = true
		}
	}
	if !video {
		return Offer{}, fmt.Errorf("%w: no video section (expected m=video, recvonly)", ErrBadOffer)
	}
	if len(fps) == 0 {
		return Offer{}, fmt.Errorf("%w: no a=fingerprint", ErrBadOffer)
	}
	fp := normalize(fps[0])
	for _, other := range fps[1:] {
		if normalize(other) != fp {
			return Offer{}, fmt.Errorf("%w: more than one DTLS fingerprint (a statement binds exactly one)", ErrBadOffer)
		}
	}
	alg, value, _ := strings.Cut(fp, " ")
	if alg != "sha-256" || !isHexPairs(value, 32) {
		return Offer{}, fmt.Errorf("%w: fingerprint %.80q: expected sha-256 and 32 colon-separated hex bytes", ErrBadOffer, fp)
	}
	return Offer{SDP: string(raw), Fingerprint: fp}, nil
}

// normalize trims a fingerprint and folds its case: "sha-256 AB:CD".
func normalize(fp string) string {
	alg, value, _ := strings.Cut(strings.TrimSpace(fp), " ")
	return strings.ToLower(alg) + " " + strings.ToUpper(strings.TrimSpace(value))
}

// isHexPairs reports whether s is n colon-separated two-digit hex bytes.
func isHexPairs(s string, n int) bool {
	if len(s) != 3*n-1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i%3 == 2 {
			if c != ':' {
				return false
			}
			continue
		}
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
