package live

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/simcam"
)

// nalus lists the NAL units of an Annex-B access unit, less AUDs and filler.
func nalus(au []byte) [][]byte {
	var out [][]byte
	for n, rest, ok := capture.NextNALU(au); ok; n, rest, ok = capture.NextNALU(rest) {
		if t := capture.NALType(n); t != capture.NALAUD && t != nalFiller {
			out = append(out, n)
		}
	}
	return out
}

// depacketize reassembles payloads as a viewer does (pion's depacketizer).
func depacketize(t *testing.T, payloads [][]byte) []byte {
	t.Helper()
	var d codecs.H264Packet
	var au []byte
	for i, p := range payloads {
		b, err := d.Unmarshal(p)
		if err != nil {
			t.Fatalf("payload %d: %v", i, err)
		}
		au = append(au, b...)
	}
	return au
}

func sameNALUs(t *testing.T, name string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d NAL units, want %d", name, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s: NAL unit %d (type %d, %d bytes) differs from the sent one (type %d, %d bytes)",
				name, i, capture.NALType(got[i]), len(got[i]), capture.NALType(want[i]), len(want[i]))
		}
	}
}

// Every access unit of the sim clip, packetized and depacketized by pion's
// receiver, gives back its NAL units; no payload exceeds the MTU, and
// SPS+PPS travel as one STAP-A.
func TestPacketizeRoundTrip(t *testing.T) {
	aus, err := capture.SplitAccessUnits(simcam.Clip())
	if err != nil {
		t.Fatal(err)
	}
	for _, mtu := range []int{rtpMTU, 100} {
		for i, au := range aus {
			p := packetize(au.Data, au.Key, nil, nil, mtu)
			for _, pl := range p.payloads {
				if len(pl) > mtu {
					t.Fatalf("mtu %d, frame %d: a payload of %d bytes", mtu, i, len(pl))
				}
			}
			sameNALUs(t, fmt.Sprintf("mtu %d, frame %d", mtu, i), nalus(depacketize(t, p.payloads)), nalus(au.Data))
			if p.size != len(au.Data) {
				t.Errorf("size %d, want %d", p.size, len(au.Data))
			}
			if au.Key && mtu == rtpMTU && p.payloads[0][0]&0x1f != nalSTAPA {
				t.Errorf("frame %d: the keyframe's first payload is NAL type %d, want STAP-A", i, p.payloads[0][0]&0x1f)
			}
		}
	}
}

// A keyframe without SPS and PPS gets the ones in force, first; one with
// its own keeps them; other frames get none.
func TestPacketizeInjectsParameterSets(t *testing.T) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1f, 0xda}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	idr := append([]byte{0, 0, 0, 1, 0x65}, bytes.Repeat([]byte{0x88}, 3000)...)
	p := packetize(idr, true, sps, pps, rtpMTU)
	sameNALUs(t, "bare keyframe", nalus(depacketize(t, p.payloads)), [][]byte{sps, pps, idr[4:]})

	own := append(append(append([]byte{0, 0, 0, 1}, sps[:4]...), append([]byte{0, 0, 1}, pps...)...), idr...)
	p = packetize(own, true, sps, pps, rtpMTU)
	sameNALUs(t, "keyframe with its own", nalus(depacketize(t, p.payloads)), [][]byte{sps[:4], pps, idr[4:]})

	slice := []byte{0, 0, 1, 0x41, 0x9a, 0x01}
	p = packetize(slice, false, sps, pps, rtpMTU)
	sameNALUs(t, "P frame", nalus(depacketize(t, p.payloads)), [][]byte{slice[3:]})
}

// The cache packetizes a frame once, whoever asks, and tells frames and
// injected parameter sets apart.
func TestPacketCacheSharesFrames(t *testing.T) {
	var c packetCache
	data := append([]byte{0, 0, 0, 1, 0x65}, bytes.Repeat([]byte{1}, 5000)...)
	f := capture.Frame{Data: data, Key: true, PTS: time.Second}
	sps, pps := []byte{0x67, 1}, []byte{0x68, 2}
	a, b := c.get(f, sps, pps), c.get(f, sps, pps)
	if a != b {
		t.Error("the same frame was packetized twice")
	}
	if c.get(f, nil, nil) == a {
		t.Error("a frame without parameter sets to inject shares the packets of one with")
	}
	other := capture.Frame{Data: append([]byte(nil), data...), Key: true}
	if c.get(other, sps, pps) == a {
		t.Error("another frame's packets were returned")
	}
	for i := range packetCacheFrames {
		c.get(capture.Frame{Data: []byte{0, 0, 1, 0x41, byte(i)}}, nil, nil)
	}
	if c.get(f, sps, pps) == a {
		t.Error("the cache holds more than packetCacheFrames frames")
	}
}

func TestHistory(t *testing.T) {
	var h history
	for seq := uint16(65000); seq != 1500; seq++ {
		h.put(sentPacket{seq: seq, ts: uint32(seq), payload: []byte{byte(seq)}})
	}
	if p, ok := h.get(1499); !ok || p.ts != 1499 || p.payload[0] != byte(1499&0xff) {
		t.Errorf("the newest packet: %+v %v", p, ok)
	}
	if _, ok := h.get(1500 - historySize); !ok {
		t.Error("the oldest packet kept is gone")
	}
	if _, ok := h.get(1500 - historySize - 1); ok {
		t.Error("a packet older than the history is still returned")
	}
	if _, ok := h.get(1500); ok {
		t.Error("a packet never sent is returned")
	}
}

func BenchmarkPacketize(b *testing.B) {
	aus, err := capture.SplitAccessUnits(simcam.Clip())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		au := aus[i%len(aus)]
		packetize(au.Data, au.Key, nil, nil, rtpMTU)
	}
}
