package live

import (
	"encoding/binary"
	"sync"

	"github.com/doorward/doorward/capture"
)

// rtpMTU is the payload size each RTP packet is cut to.
const rtpMTU = 1200

// RFC 6184 NAL unit types the packetizer writes.
const (
	nalSTAPA = 24
	nalFUA   = 28
)

// packetized is one access unit cut into RTP payloads (RFC 6184,
// packetization-mode 1). It is made once per frame and shared read-only by
// every viewer: a session only writes its own RTP header (SSRC, sequence
// number, timestamp) in front of each payload.
type packetized struct {
	// payloads all point into one buffer; the last one carries the marker.
	payloads [][]byte
	size     int // bytes of the access unit (the sessions' byte counter)
}

// packetize cuts access unit au into payloads of at most mtu bytes: SPS and
// PPS aggregated into one STAP-A, NAL units that fit as single NAL unit
// packets, larger ones as FU-A fragments. AUD and filler NAL units are left
// out. A keyframe without its own SPS and PPS gets sps and pps (without start
// codes) first, when given. It makes two allocations, whatever the frame's
// size.
func packetize(au []byte, key bool, sps, pps []byte, mtu int) *packetized {
	p := &packetized{size: len(au)}
	var inSPS, inPPS []byte
	n, size := 0, 0 // packets and payload bytes, to allocate once
	count := func(l int) {
		if l <= mtu {
			n, size = n+1, size+l
			return
		}
		frags := (l - 1 + mtu - 3) / (mtu - 2)
		n, size = n+frags, size+l-1+2*frags
	}
	countParams := func(sps, pps []byte) {
		if l := 1 + 2 + len(sps) + 2 + len(pps); l <= mtu {
			n, size = n+1, size+l
		} else {
			count(len(sps))
			count(len(pps))
		}
	}
	for nalu, rest, ok := capture.NextNALU(au); ok; nalu, rest, ok = capture.NextNALU(rest) {
		switch t := capture.NALType(nalu); t {
		case capture.NALAUD, nalFiller:
		case capture.NALSPS:
			inSPS = nalu
		case capture.NALPPS:
			inPPS = nalu
		default:
			count(len(nalu))
		}
	}
	inject := key && (inSPS == nil || inPPS == nil) && len(sps) > 0 && len(pps) > 0
	if inject {
		countParams(sps, pps)
	}
	if inSPS != nil || inPPS != nil {
		countParams(inSPS, inPPS) // at most; a lone SPS or PPS goes alone
	}
	buf := make([]byte, 0, size)
	p.payloads = make([][]byte, 0, n)
	emit := func(b []byte) { p.payloads = append(p.payloads, b[:len(b):len(b)]) }
	single := func(nalu []byte) {
		if len(nalu) <= mtu {
			start := len(buf)
			buf = append(buf, nalu...)
			emit(buf[start:])
			return
		}
		ind := nalu[0]&0xe0 | nalFUA
		typ := nalu[0] & 0x1f
		data := nalu[1:]
		for first := true; len(data) > 0; first = false {
			l := min(len(data), mtu-2)
			hdr := typ
			if first {
				hdr |= 0x80
			}
			if l == len(data) {
				hdr |= 0x40
			}
			start := len(buf)
			buf = append(append(buf, ind, hdr), data[:l]...)
			emit(buf[start:])
			data = data[l:]
		}
	}
	params := func(sps, pps []byte) {
		if sps == nil || pps == nil || 1+2+len(sps)+2+len(pps) > mtu {
			if sps != nil {
				single(sps)
			}
			if pps != nil {
				single(pps)
			}
			return
		}
		start := len(buf)
		buf = append(buf, 0x78) // F 0, NRI 3, STAP-A
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(sps)))
		buf = append(buf, sps...)
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(pps)))
		buf = append(buf, pps...)
		emit(buf[start:])
	}
	if inject {
		params(sps, pps)
	}
	var heldSPS, heldPPS []byte
	for nalu, rest, ok := capture.NextNALU(au); ok; nalu, rest, ok = capture.NextNALU(rest) {
		switch t := capture.NALType(nalu); t {
		case capture.NALAUD, nalFiller:
		case capture.NALSPS:
			heldSPS = nalu
		case capture.NALPPS:
			heldPPS = nalu
		default:
			if heldSPS != nil || heldPPS != nil {
				params(heldSPS, heldPPS)
				heldSPS, heldPPS = nil, nil
			}
			single(nalu)
		}
	}
	if heldSPS != nil || heldPPS != nil {
		params(heldSPS, heldPPS)
	}
	return p
}

// nalFiller is filler data, which no viewer needs.
const nalFiller = 12

// packetCacheFrames is how many recent frames the packet cache holds.
// Viewers that keep up send the same frame within milliseconds of each
// other; one catching up through the GOP it joined in makes its own.
const packetCacheFrames = 8

// packetCache packetizes each frame once for every viewer. Frames are
// identified by their data (the Hub hands every subscriber the same
// slice) and, for keyframes, the parameter sets injected.
type packetCache struct {
	mu      sync.Mutex
	entries [packetCacheFrames]packetEntry
	next    int
}

type packetEntry struct {
	data *byte
	n    int
	sps  *byte
	pps  *byte
	p    *packetized
}

// get returns f packetized, with sps and pps injected when f is a keyframe
// without its own.
func (c *packetCache) get(f capture.Frame, sps, pps []byte) *packetized {
	if len(f.Data) == 0 {
		return &packetized{}
	}
	e := packetEntry{data: &f.Data[0], n: len(f.Data)}
	if f.Key && len(sps) > 0 && len(pps) > 0 {
		e.sps, e.pps = &sps[0], &pps[0]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range c.entries {
		if x.p != nil && x.data == e.data && x.n == e.n && x.sps == e.sps && x.pps == e.pps {
			return x.p
		}
	}
	e.p = packetize(f.Data, f.Key, sps, pps, rtpMTU)
	c.entries[c.next] = e
	c.next = (c.next + 1) % packetCacheFrames
	return e.p
}

// historySize is how many sent packets a session can resend when its
// viewer reports them lost (NACK): about 1.4 s at 7 Mb/s. The payloads are
// the shared ones, so the history costs a few bytes per packet per viewer.
const historySize = 1024

// history remembers a session's recent packets by sequence number.
type history struct {
	mu      sync.Mutex
	entries [historySize]sentPacket
}

type sentPacket struct {
	seq     uint16
	ts      uint32
	marker  bool
	payload []byte // nil: never sent
}

func (h *history) put(p sentPacket) {
	h.mu.Lock()
	h.entries[p.seq%historySize] = p
	h.mu.Unlock()
}

// get returns packet seq if it is still held.
func (h *history) get(seq uint16) (sentPacket, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.entries[seq%historySize]
	return p, p.payload != nil && p.seq == seq
}
