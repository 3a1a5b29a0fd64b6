// Package mux writes H.264 access units as fragmented MP4 (ISO BMFF) pieces:
// an init segment (ftyp + moov carrying the SPS and PPS in an avc1 sample
// entry) and fragments (moof + mdat) that can be written one after another
// into any io.Writer, such as an encrypting one.
//
// Boxes are encoded with github.com/Eyevinn/mp4ff. The mdat payload is not
// copied into a box: the caller passes the sample bytes, already in AVCC form
// (4-byte length prefixes), and they are written straight after the mdat
// header, so a fragment costs a handful of allocations whatever its size.
package mux

import (
	"errors"
	"fmt"
	"io"

	"github.com/Eyevinn/mp4ff/avc"
	"github.com/Eyevinn/mp4ff/bits"
	"github.com/Eyevinn/mp4ff/mp4"
)

// Timescale is the media timescale of the video track (90 kHz, as RTP).
const Timescale = 90000

// Limits on what the muxer accepts from a camera.
const (
	MaxWidth  = 8192
	MaxHeight = 8192
)

// ErrBadParams is wrapped by every error about invalid parameter sets.
var ErrBadParams = errors.New("mux: invalid H.264 parameter sets")

// Params are the H.264 parameter sets a clip is encoded with.
type Params struct {
	SPS, PPS      []byte // NAL units without start codes
	Width, Height int
	Profile       byte
	Level         byte
}

// Equal reports whether p and q carry the same parameter sets.
func (p *Params) Equal(q *Params) bool {
	if p == nil || q == nil {
		return p == q
	}
	return string(p.SPS) == string(q.SPS) && string(p.PPS) == string(q.PPS)
}

// ParseParams validates an SPS and a PPS NAL unit (without start codes) and
// returns them with the picture size. The slices are copied. Malformed input
// returns an error wrapping ErrBadParams; it never panics.
func ParseParams(sps, pps []byte) (p *Params, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("%w: parser failed on SPS/PPS: %v", ErrBadParams, r)
		}
	}()
	if len(sps) < 4 || sps[0]&0x1f != 7 {
		return nil, fmt.Errorf("%w: SPS NAL unit missing or too short (%d bytes)", ErrBadParams, len(sps))
	}
	if len(pps) < 2 || pps[0]&0x1f != 8 {
		return nil, fmt.Errorf("%w: PPS NAL unit missing or too short (%d bytes)", ErrBadParams, len(pps))
	}
	s, err := avc.ParseSPSNALUnit(sps, false)
	if err != nil {
		return nil, fmt.Errorf("%w: SPS: %v", ErrBadParams, err)
	}
	if s.Width == 0 || s.Height == 0 || s.Width > MaxWidth || s.Height > MaxHeight {
		return nil, fmt.Errorf("%w: SPS picture size %dx%d (valid: 1x1 to %dx%d)", ErrBadParams, s.Width, s.Height, MaxWidth, MaxHeight)
	}
	if _, err := avc.ParsePPSNALUnit(pps, map[uint32]*avc.SPS{s.ParameterID: s}); err != nil {
		return nil, fmt.Errorf("%w: PPS: %v", ErrBadParams, err)
	}
	return &Params{
		SPS:     append([]byte(nil), sps...),
		PPS:     append([]byte(nil), pps...),
		Width:   int(s.Width),
		Height:  int(s.Height),
		Profile: sps[1],
		Level:   sps[3],
	}, nil
}

// WriteInit writes the init segment (ftyp + moov) for a single H.264 track.
func WriteInit(w io.Writer, p *Params) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: init segment: %v", ErrBadParams, r)
		}
	}()
	if p == nil {
		return fmt.Errorf("%w: no parameter sets", ErrBadParams)
	}
	init := mp4.CreateEmptyInit()
	trak := init.AddEmptyTrack(Timescale, "video", "und")
	if err := trak.SetAVCDescriptor("avc1", [][]byte{p.SPS}, [][]byte{p.PPS}, true); err != nil {
		return fmt.Errorf("%w: %v", ErrBadParams, err)
	}
	if err := init.Encode(w); err != nil {
		return fmt.Errorf("mux: writing init segment: %w", err)
	}
	return nil
}

// Sample describes one access unit of a fragment.
type Sample struct {
	Duration uint32 // in Timescale units
	Size     uint32 // bytes of AVCC payload
	Key      bool
}

// FragmentWriter writes fragments of one track, numbering them in sequence.
// It reuses one set of boxes and buffers for every fragment, so writing a
// fragment costs about one allocation whatever its length. It is not safe for
// concurrent use.
type FragmentWriter struct {
	seq  uint32
	frag *mp4.Fragment
	buf  []byte
}

// WriteFragment writes one moof + mdat: the boxes describing samples, which
// start at decodeTime (in Timescale units), followed by payload, the
// samples' AVCC bytes in order. The payload slices together must hold
// exactly the sum of the samples' sizes.
func (fw *FragmentWriter) WriteFragment(w io.Writer, decodeTime uint64, samples []Sample, payload ...[]byte) error {
	if len(samples) == 0 {
		return errors.New("mux: empty fragment")
	}
	var want, have uint64
	for _, s := range samples {
		want += uint64(s.Size)
	}
	for _, p := range payload {
		have += uint64(len(p))
	}
	if want != have {
		return fmt.Errorf("mux: fragment payload is %d bytes, samples describe %d", have, want)
	}
	if fw.frag == nil {
		frag, err := mp4.CreateFragment(1, 1)
		if err != nil {
			return fmt.Errorf("mux: %w", err)
		}
		fw.frag = frag
	}
	if fw.seq == 0 {
		fw.seq = 1
	}
	moof := fw.frag.Moof
	moof.Mfhd.SequenceNumber = fw.seq
	fw.seq++
	moof.Traf.Tfdt.SetBaseMediaDecodeTime(decodeTime)
	trun := moof.Traf.Trun
	trun.Samples = trun.Samples[:0]
	for _, s := range samples {
		flags := mp4.NonSyncSampleFlags
		if s.Key {
			flags = mp4.SyncSampleFlags
		}
		trun.Samples = append(trun.Samples, mp4.Sample{Flags: flags, Dur: s.Duration, Size: s.Size})
	}
	const mdatHeader = 8
	moofSize := moof.Size()
	if moofSize+mdatHeader+want >= 1<<32 {
		return fmt.Errorf("mux: fragment of %d bytes is too large", want)
	}
	trun.DataOffset = int32(moofSize + mdatHeader)
	size := int(moofSize + mdatHeader)
	if cap(fw.buf) < size {
		fw.buf = make([]byte, size*2)
	}
	sw := bits.NewFixedSliceWriterFromSlice(fw.buf[:size])
	if err := moof.EncodeSW(sw); err != nil {
		return fmt.Errorf("mux: encoding fragment: %w", err)
	}
	if err := mp4.EncodeHeaderWithSizeSW("mdat", mdatHeader+want, false, sw); err != nil {
		return fmt.Errorf("mux: encoding fragment: %w", err)
	}
	if _, err := w.Write(sw.Bytes()); err != nil {
		return err
	}
	for _, p := range payload {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}
