// Package austream cuts H.264 access units out of an Annex-B byte stream that
// arrives in pieces: the standard output of a camera process, or the buffers
// a V4L2 driver hands over one at a time.
//
// A Splitter applies the same rules as capture.SplitAccessUnits (a new access
// unit begins at an AUD, SPS, PPS or SEI NAL unit, or at the first slice of a
// picture, that follows a slice), so a stream fed in any chunking yields the
// access units SplitAccessUnits finds in the whole stream. An access unit is
// complete when the first NAL unit of the next one arrives (or at Flush), and
// it is emitted as soon as that NAL unit's first two bytes are in.
//
// Memory is bounded: a stream with no start code, or an access unit larger
// than the limit, is an error rather than a growing buffer. In steady state a
// Splitter allocates nothing.
package austream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/doorward/doorward/capture"
)

// DefaultMaxAU is the default limit on one access unit, and on the bytes
// skipped while looking for the first start code.
const DefaultMaxAU = 8 << 20

// ErrTooLarge is returned (wrapped) when an access unit grows beyond the
// limit; ErrNoStartCode when the limit's worth of bytes holds no start code.
var (
	ErrTooLarge    = errors.New("austream: access unit too large")
	ErrNoStartCode = errors.New("austream: no Annex-B start code")
)

// AU is one access unit. Data is its NAL units with start codes; it points
// into the Splitter's buffer and is valid only until the next call to Write,
// Fill, Flush or Reset.
type AU struct {
	Data []byte
	Key  bool
}

// span is an access unit waiting in buf.
type span struct {
	start, end int
	key        bool
}

// Splitter is a streaming access-unit splitter. It is not safe for concurrent
// use.
type Splitter struct {
	max int
	buf []byte

	ready []span // complete access units not yet returned by Next
	next  int    // index into ready of the next one to return

	skipped     int // bytes dropped since the last start code while looking for one
	garbageFrom int // where bytes that are not part of any NAL unit begin

	searchFrom int // where the next start-code search begins
	nalSC      int // start code (leading zero included) of the pending NAL unit
	nalStart   int // first byte of the pending NAL unit, -1 when none
	nalDone    bool
	zerosFrom  int // bytes of the pending NAL unit from here on are known to be zero

	curStart int // first byte of the current access unit, -1 when none
	curVCL   bool
	curKey   bool
	lastLen  int // length of the last NAL unit whose end is known
	lastType byte
}

// New returns a Splitter that refuses access units over maxAU bytes
// (DefaultMaxAU when maxAU <= 0).
func New(maxAU int) *Splitter {
	if maxAU <= 0 {
		maxAU = DefaultMaxAU
	}
	s := &Splitter{max: maxAU}
	s.Reset()
	return s
}

// Reset forgets everything buffered, for a new stream (a restarted process).
// The buffer's memory is kept.
func (s *Splitter) Reset() {
	s.buf = s.buf[:0]
	s.ready = s.ready[:0]
	s.next = 0
	s.skipped, s.garbageFrom = 0, 0
	s.searchFrom = 0
	s.nalSC, s.nalStart, s.nalDone = 0, -1, false
	s.curStart, s.curVCL, s.curKey = -1, false, false
	s.lastLen, s.lastType = 0, 0
}

// Next returns the next complete access unit, if any.
func (s *Splitter) Next() (AU, bool) {
	if s.next >= len(s.ready) {
		return AU{}, false
	}
	r := s.ready[s.next]
	s.next++
	return AU{Data: s.buf[r.start:r.end:r.end], Key: r.key}, true
}

// Write appends p to the stream and cuts the access units it completes; get
// them with Next. It returns ErrTooLarge or ErrNoStartCode (wrapped) when the
// limit is hit; the Splitter must then be Reset.
func (s *Splitter) Write(p []byte) error {
	s.compact()
	s.buf = append(s.buf, p...)
	return s.scan()
}

// readChunk is how much Fill asks a reader for at least.
const readChunk = 64 << 10

// Fill reads once from r straight into the Splitter's buffer and cuts the
// access units that completes, like Write. It returns r's error (io.EOF at
// the end of the stream) after scanning what was read.
func (s *Splitter) Fill(r io.Reader) (int, error) {
	s.compact()
	s.buf = slices.Grow(s.buf, readChunk)
	n, err := r.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	if serr := s.scan(); serr != nil {
		return n, serr
	}
	return n, err
}

// Flush ends the pending access unit, at the end of a stream or of a
// driver's buffer. Like SplitAccessUnits at the end of its input, it keeps
// the access unit when it holds a slice and its last NAL unit is long enough
// to hold a header, and drops it otherwise; NAL units before the first slice
// (parameter sets in a buffer of their own) stay pending and begin the next
// access unit.
func (s *Splitter) Flush() {
	s.compact()
	if s.nalStart >= 0 {
		if !s.nalDone {
			if nalu := trimZeros(s.buf[min(s.nalStart, len(s.buf)):]); len(nalu) > 0 {
				s.classify(nalu[0], len(nalu) < 2 || nalu[1]&0x80 != 0)
				s.lastLen, s.lastType = len(nalu), capture.NALType(nalu)
			}
		} else {
			nalu := trimZeros(s.buf[s.nalStart:])
			s.lastLen, s.lastType = len(nalu), capture.NALType(nalu)
		}
	}
	s.nalStart, s.nalDone = -1, false
	s.searchFrom, s.garbageFrom, s.skipped = len(s.buf), len(s.buf), 0
	if s.curStart >= 0 && s.curVCL {
		if s.lastLen >= minNALULen(s.lastType) {
			s.ready = append(s.ready, span{s.curStart, len(s.buf), s.curKey})
		}
		s.curStart, s.curVCL, s.curKey = -1, false, false
	}
}

// Buffered returns how many bytes the Splitter holds.
func (s *Splitter) Buffered() int { return len(s.buf) }

// compact drops the bytes of returned access units (and of skipped garbage)
// once every ready access unit has been handed out.
func (s *Splitter) compact() {
	if s.next < len(s.ready) {
		return
	}
	s.ready, s.next = s.ready[:0], 0
	var keep int // bytes before it are no longer needed
	switch {
	case s.curStart >= 0:
		keep = s.curStart
	case s.nalStart >= 0:
		keep = s.nalSC
	default:
		// Still looking for a start code: keep what could begin one, and
		// the zero byte that may precede it.
		keep = max(0, len(s.buf)-3)
		s.skipped += max(0, keep-s.garbageFrom)
	}
	if keep == 0 {
		return
	}
	n := copy(s.buf, s.buf[keep:])
	s.buf = s.buf[:n]
	s.searchFrom = max(0, s.searchFrom-keep)
	s.garbageFrom = max(0, s.garbageFrom-keep)
	if s.curStart >= 0 {
		s.curStart -= keep
	}
	if s.nalStart >= 0 {
		s.nalStart -= keep
		s.nalSC -= keep
		s.zerosFrom -= keep
	}
}

var startCode = []byte{0, 0, 1}

// scan finds start codes in the unscanned bytes and classifies NAL units as
// soon as their header is in.
func (s *Splitter) scan() error {
	for {
		if s.nalStart < 0 {
			i := bytes.Index(s.buf[s.searchFrom:], startCode)
			if i < 0 {
				s.searchFrom = max(s.searchFrom, len(s.buf)-2)
				if n := s.skipped + len(s.buf) - s.garbageFrom; n > s.max {
					return fmt.Errorf("%w in %d bytes: the input is not a raw H.264 stream "+
						"(valid: Annex-B, as written by rpicam-vid --codec h264 --inline -o - or ffmpeg -f h264 -)", ErrNoStartCode, n)
				}
				return s.checkSize()
			}
			i += s.searchFrom
			s.startNAL(i)
			continue
		}
		j := bytes.Index(s.buf[s.searchFrom:], startCode)
		if j < 0 {
			s.searchFrom = max(s.searchFrom, len(s.buf)-2)
			if !s.nalDone && s.nalStart+1 < len(s.buf) && s.hasContent() {
				// Bytes up to the last non-zero one belong to the NAL unit,
				// so its first two bytes are known.
				s.classify(s.buf[s.nalStart], s.buf[s.nalStart+1]&0x80 != 0)
				s.nalDone = true
			}
			return s.checkSize()
		}
		j += s.searchFrom
		nalu := trimZeros(s.buf[s.nalStart:j])
		if len(nalu) > 0 {
			if !s.nalDone {
				s.classify(nalu[0], len(nalu) < 2 || nalu[1]&0x80 != 0)
			}
			s.lastLen, s.lastType = len(nalu), capture.NALType(nalu)
		}
		s.startNAL(j)
	}
}

// checkSize fails when the pending access unit is over the limit.
func (s *Splitter) checkSize() error {
	from := s.curStart
	if from < 0 {
		if s.nalStart < 0 {
			return nil
		}
		from = s.nalSC
	}
	if n := len(s.buf) - from; n > s.max {
		return fmt.Errorf("%w: %d bytes and the next access unit has not begun "+
			"(valid: access units up to %d bytes of H.264 Annex-B)", ErrTooLarge, n, s.max)
	}
	return nil
}

// startNAL records a start code whose 00 00 01 is at i.
func (s *Splitter) startNAL(i int) {
	s.nalSC = i
	if i > 0 && s.buf[i-1] == 0 {
		s.nalSC = i - 1
	}
	s.nalStart, s.nalDone = i+3, false
	s.searchFrom, s.zerosFrom = i+3, i+4
	s.skipped = 0
}

// classify applies the access-unit rules to the pending NAL unit, given its
// header byte and whether it would be the first slice of a picture.
func (s *Splitter) classify(header byte, first bool) {
	t := header & 0x1f
	if s.curStart < 0 {
		s.curStart = s.nalSC
	}
	vcl := t >= capture.NALSlice && t <= capture.NALIDR
	if s.curVCL && (startsAU(t) || vcl && first) {
		s.ready = append(s.ready, span{s.curStart, s.nalSC, s.curKey})
		s.curStart, s.curVCL, s.curKey = s.nalSC, false, false
	}
	if vcl {
		s.curVCL = true
		s.curKey = s.curKey || t == capture.NALIDR
	}
}

// startsAU mirrors capture's rule (H.264 7.4.1.2.3): AUD, SPS, PPS, SEI and
// types 14 to 18 after a slice begin a new access unit.
func startsAU(t byte) bool {
	switch t {
	case capture.NALAUD, capture.NALSPS, capture.NALPPS, capture.NALSEI, 14, 15, 16, 17, 18:
		return true
	}
	return false
}

// minNALULen mirrors capture's rule for spotting a last NAL unit cut short.
func minNALULen(t byte) int {
	if t == capture.NALSPS {
		return 4
	}
	return 2
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// hasContent reports whether a byte after the pending NAL unit's header is
// not zero, remembering how far it looked so that a run of zeros arriving
// byte by byte is scanned once.
func (s *Splitter) hasContent() bool {
	for ; s.zerosFrom < len(s.buf); s.zerosFrom++ {
		if s.buf[s.zerosFrom] != 0 {
			return true
		}
	}
	return false
}
