package live_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/doorward/doorward/uplink/live"
)

const chromeOffer = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=msid-semantic: WMS\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 102 96\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
	"a=ice-options:trickle\r\na=fingerprint:sha-256 " + fingerprintA + "\r\na=setup:actpass\r\na=mid:0\r\na=recvonly\r\na=rtcp-mux\r\n" +
	"a=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\na=rtpmap:96 VP8/90000\r\n"

const fingerprintA = "0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9"

func TestParseOffer(t *testing.T) {
	o, err := live.ParseOffer([]byte(chromeOffer))
	if err != nil {
		t.Fatal(err)
	}
	if o.Fingerprint != "sha-256 "+fingerprintA {
		t.Errorf("fingerprint %q", o.Fingerprint)
	}
	bad := map[string]string{
		"empty":            "",
		"not SDP":          "hello",
		"no fingerprint":   strings.Replace(chromeOffer, "a=fingerprint:sha-256 "+fingerprintA+"\r\n", "", 1),
		"two fingerprints": strings.Replace(chromeOffer, "a=setup", "a=fingerprint:sha-256 "+strings.Replace(fingerprintA, "0A", "FF", 1)+"\r\na=setup", 1),
		"sha-1":            strings.Replace(chromeOffer, "sha-256 "+fingerprintA, "sha-1 0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D", 1),
		"short hex":        strings.Replace(chromeOffer, fingerprintA, "0A:1B", 1),
		"audio only":       strings.Replace(chromeOffer, "m=video", "m=audio", 1),
		"too large":        chromeOffer + strings.Repeat("a=x:y\r\n", live.MaxOfferSize/7+1),
	}
	for name, sdp := range bad {
		if _, err := live.ParseOffer([]byte(sdp)); !errors.Is(err, live.ErrBadOffer) {
			t.Errorf("%s: err = %v, want ErrBadOffer", name, err)
		}
	}
	// The same fingerprint at session and media level, in another case, is one fingerprint.
	dup := strings.Replace(chromeOffer, "t=0 0\r\n", "t=0 0\r\na=fingerprint:SHA-256 "+strings.ToLower(fingerprintA)+"\r\n", 1)
	if o, err := live.ParseOffer([]byte(dup)); err != nil || o.Fingerprint != "sha-256 "+fingerprintA {
		t.Errorf("repeated fingerprint: %+v, %v", o, err)
	}
}

// Binding follows the contract of consent.LiveBinding: normalization, then
// lower-case hex SHA-256.
func TestBinding(t *testing.T) {
	a := live.Binding("sha-256 " + fingerprintA)
	if len(a) != 64 || strings.ToLower(a) != a {
		t.Fatalf("Binding = %q, want 64 lower-case hex digits", a)
	}
	if b := live.Binding("  SHA-256 " + strings.ToLower(fingerprintA) + " "); b != a {
		t.Errorf("normalization: %s != %s", b, a)
	}
	if b := live.Binding("sha-256 " + strings.Replace(fingerprintA, "0A", "0B", 1)); b == a {
		t.Error("two fingerprints bind the same")
	}
}

func FuzzParseOffer(f *testing.F) {
	f.Add([]byte(chromeOffer))
	f.Add([]byte("v=0\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := live.ParseOffer(data)
		if err != nil {
			if !errors.Is(err, live.ErrBadOffer) {
				t.Fatalf("error %v is not ErrBadOffer", err)
			}
			return
		}
		if !strings.HasPrefix(o.Fingerprint, "sha-256 ") || len(o.Fingerprint) != len("sha-256 ")+95 {
			t.Fatalf("accepted fingerprint %q", o.Fingerprint)
		}
		if again, err := live.ParseOffer([]byte(o.SDP)); err != nil || again.Fingerprint != o.Fingerprint {
			t.Fatalf("not stable: %v", err)
		}
	})
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add(`Doorward {"payload":"x","signatures":[]}`)
	f.Add("Doorward eyJwYXlsb2FkIjoieCJ9")
	f.Add("Bearer x")
	f.Fuzz(func(t *testing.T, h string) {
		raw, err := live.ParseAuthorization(h)
		if err == nil && len(raw) == 0 {
			t.Fatal("accepted an empty statement")
		}
	})
}
