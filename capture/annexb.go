package capture

import (
	"bytes"
	"fmt"
)

// H.264 nal_unit_type values (ITU-T H.264 table 7-1) that capture looks at.
const (
	// NALSlice is a coded slice of a non-IDR picture.
	NALSlice byte = 1
	// NALIDR is a coded slice of an IDR picture: decoding can start here.
	NALIDR byte = 5
	// NALSEI is supplemental enhancement information.
	NALSEI byte = 6
	// NALSPS is a sequence parameter set.
	NALSPS byte = 7
	// NALPPS is a picture parameter set.
	NALPPS byte = 8
	// NALAUD is an access unit delimiter.
	NALAUD byte = 9
)

// NALType returns the nal_unit_type of a NAL unit given without its start
// code (the low 5 bits of its first byte), or 0 (unspecified) when nalu is
// empty.
func NALType(nalu []byte) byte {
	if len(nalu) == 0 {
		return 0
	}
	return nalu[0] & 0x1f
}

// isVCL reports whether t is a coded slice (types 1 to 5).
func isVCL(t byte) bool { return t >= NALSlice && t <= NALIDR }

// startsAU reports whether a NAL unit of type t that follows a VCL NAL unit
// begins a new access unit (H.264 7.4.1.2.3): AUD, SPS, PPS, SEI and the
// types 14 to 18.
func startsAU(t byte) bool {
	switch t {
	case NALAUD, NALSPS, NALPPS, NALSEI, 14, 15, 16, 17, 18:
		return true
	}
	return false
}

// firstSlice reports whether a slice NAL unit is the first slice of its
// picture: first_mb_in_slice, the ue(v) right after the 1-byte NAL header,
// is 0 exactly when its first bit is 1. A slice too short to tell (only
// ever a stream cut inside the NAL header) is taken to start a picture, so
// that dropping it as truncated keeps the picture before it.
func firstSlice(nalu []byte) bool { return len(nalu) < 2 || nalu[1]&0x80 != 0 }

// scanNALU finds the first NAL unit in b at or after off. sc is where its
// start code begins (the zero byte of a 4-byte start code included), start and
// end delimit the NAL unit without start code and trailing zero bytes, and
// next is where the search for the following one continues (its start code,
// or len(b)). The NAL unit may be empty (start == end).
func scanNALU(b []byte, off int) (sc, start, end, next int, ok bool) {
	code := [3]byte{0, 0, 1}
	i := bytes.Index(b[off:], code[:])
	if i < 0 {
		return 0, 0, 0, len(b), false
	}
	i += off
	sc = i
	if i > 0 && b[i-1] == 0 {
		sc = i - 1
	}
	start = i + 3
	end, next = len(b), len(b)
	if j := bytes.Index(b[start:], code[:]); j >= 0 {
		end, next = start+j, start+j
	}
	// A NAL unit never ends in a zero byte (it ends with the rbsp stop bit),
	// so zeros before the next start code are trailing_zero_8bits or the
	// first byte of a 4-byte start code.
	for end > start && b[end-1] == 0 {
		end--
	}
	return sc, start, end, next, true
}

// NextNALU returns the first NAL unit in b, without its start code and
// without trailing zero bytes, and rest, the bytes after it (starting at the
// next start code, or empty). Bytes before the first start code are skipped,
// 3- and 4-byte start codes are both accepted, and empty NAL units are
// skipped. ok is false when b holds no further NAL unit. It never allocates;
// nalu and rest share b's memory.
//
//	for nalu, rest, ok := capture.NextNALU(au); ok; nalu, rest, ok = capture.NextNALU(rest) {
//		// use nalu
//	}
func NextNALU(b []byte) (nalu, rest []byte, ok bool) {
	off := 0
	for off < len(b) {
		_, start, end, next, found := scanNALU(b, off)
		if !found {
			break
		}
		if end > start {
			return b[start:end:end], b[next:], true
		}
		off = next
	}
	return nil, nil, false
}

// AccessUnit is one coded picture cut out of an Annex-B byte stream.
type AccessUnit struct {
	// Data is the access unit's NAL units with their start codes: a
	// sub-slice of the data passed to SplitAccessUnits, not a copy.
	Data []byte
	// Key is true when the access unit holds an IDR slice.
	Key bool
}

// annexBHint says what SplitAccessUnits accepts and how to produce it.
const annexBHint = "a raw H.264 Annex-B byte stream starts with a 00 00 01 or 00 00 00 01 start code " +
	"and holds SPS, PPS and an IDR picture; convert a video with " +
	"ffmpeg -i in.mp4 -an -c:v libx264 -bsf:v h264_mp4toannexb -f h264 out.h264"

// SplitAccessUnits cuts an H.264 Annex-B byte stream into access units, with
// or without access unit delimiters in the stream. A new access unit begins
// at an AUD, SPS, PPS or SEI NAL unit that follows a slice, and at a slice
// whose first_mb_in_slice is 0 that follows a slice. NAL units before the
// first slice of an access unit (parameter sets, SEI, an AUD) belong to it,
// so every returned access unit holds at least one slice. Data of each
// access unit is a sub-slice of data that begins at its first start code.
//
// The stream must start with a start code (after optional zero bytes), hold
// at least one IDR picture, and carry an SPS and a PPS before the first IDR
// slice; otherwise the error says what is wrong.
//
// A stream cut short (a file truncated mid-write): Annex-B marks no end of an
// access unit, so the last one is taken as complete when it holds a slice
// and its last NAL unit is long enough to hold its header; otherwise it is
// dropped and the complete ones before it are returned. A cut inside slice
// data cannot be told from a whole slice without decoding it; such a last
// picture is kept and a decoder conceals the damage. It is an error when no
// complete access unit remains.
//
// SplitAccessUnits never panics on malformed input.
func SplitAccessUnits(data []byte) ([]AccessUnit, error) {
	lead := 0
	for lead < len(data) && data[lead] == 0 {
		lead++
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("capture: no H.264 data (empty input); %s", annexBHint)
	}
	if lead < 2 || lead >= len(data) || data[lead] != 1 {
		what := "does not start with a start code"
		if len(data) >= 8 && string(data[4:8]) == "ftyp" {
			what = "is an MP4 file, not a raw H.264 stream"
		}
		return nil, fmt.Errorf("capture: no Annex-B start code found: the data %s (first bytes % x); %s",
			what, data[:min(len(data), 8)], annexBHint)
	}

	aus := make([]AccessUnit, 0, 64)
	var (
		cur                             AccessUnit
		curStart                        = -1 // offset of cur's first start code
		curVCL                          bool
		lastLen                         int // length of the last NAL unit seen
		lastType                        byte
		sawSPS, sawPPS, sawIDR, sawVCL0 bool
	)
	flush := func(at int) {
		cur.Data = data[curStart:at:at]
		aus = append(aus, cur)
		cur, curStart, curVCL = AccessUnit{}, at, false
	}
	for off := 0; off < len(data); {
		sc, start, end, next, ok := scanNALU(data, off)
		if !ok {
			break
		}
		off = next
		if end == start {
			continue
		}
		nalu := data[start:end]
		t := NALType(nalu)
		if curStart < 0 {
			curStart = sc
		}
		vcl := isVCL(t)
		if curVCL && (startsAU(t) || vcl && firstSlice(nalu)) {
			flush(sc)
		}
		switch {
		case t == NALSPS:
			sawSPS = true
		case t == NALPPS:
			sawPPS = true
		case t == NALIDR && !sawIDR:
			sawIDR = true
			if !sawSPS || !sawPPS {
				missing := "SPS and PPS"
				if sawSPS {
					missing = "PPS"
				} else if sawPPS {
					missing = "SPS"
				}
				return nil, fmt.Errorf("capture: no %s before the first IDR slice (byte offset %d, access unit %d): "+
					"a decoder cannot start without them; re-encode with parameter sets in-band, "+
					"e.g. ffmpeg -i in.mp4 -an -c:v libx264 -bsf:v h264_mp4toannexb -f h264 out.h264",
					missing, start, len(aus))
			}
		}
		if vcl {
			curVCL, sawVCL0 = true, true
			cur.Key = cur.Key || t == NALIDR
		}
		lastLen, lastType = len(nalu), t
	}
	if curStart >= 0 && curVCL && lastLen >= minNALULen(lastType) {
		flush(len(data))
	}
	if !sawVCL0 && (sawSPS || sawPPS) {
		return nil, fmt.Errorf("capture: truncated H.264 stream: no complete access unit (the %d bytes hold parameter sets but end before the first picture's slice)", len(data))
	}
	if !sawVCL0 {
		return nil, fmt.Errorf("capture: no H.264 picture found (no coded slice NAL unit of type 1 to 5); %s", annexBHint)
	}
	if !sawIDR {
		return nil, fmt.Errorf("capture: no IDR picture (keyframe) in %d access units: decoding needs one to start; "+
			"encode with periodic keyframes, e.g. ffmpeg -i in.mp4 -an -c:v libx264 -x264-params keyint=30 -bsf:v h264_mp4toannexb -f h264 out.h264",
			len(aus))
	}
	if len(aus) == 0 {
		return nil, fmt.Errorf("capture: truncated H.264 stream: no complete access unit (the %d bytes end inside the first picture)", len(data))
	}
	for _, au := range aus {
		if au.Key {
			return aus, nil
		}
	}
	return nil, fmt.Errorf("capture: truncated H.264 stream: the only IDR picture (keyframe) is cut off at the end of the %d bytes", len(data))
}

// minNALULen is the shortest a NAL unit of type t can be and still hold its
// header, used to spot a stream cut inside its last NAL unit.
func minNALULen(t byte) int {
	switch t {
	case NALSPS:
		return 4 // header, profile_idc, constraint flags, level_idc
	default:
		return 2 // header and at least one byte of payload
	}
}
