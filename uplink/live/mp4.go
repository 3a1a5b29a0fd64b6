package live

import (
	"fmt"
	"io"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/mux"
)

// pictureSize reads the picture size from an SPS.
func pictureSize(sps, pps []byte) (int, int, error) {
	p, err := mux.ParseParams(sps, pps)
	if err != nil {
		return 0, 0, err
	}
	return p.Width, p.Height, nil
}

// mp4Writer writes received access units as a fragmented MP4, one fragment
// per GOP, with capture/mux (the recorder's muxer).
type mp4Writer struct {
	w       io.Writer
	fw      mux.FragmentWriter
	samples []mux.Sample
	payload []byte
	start   uint64 // decode time of the pending fragment
	ts      uint32 // RTP timestamp of the last sample
	have    bool
	lastDur uint32
}

func newMP4Writer(w io.Writer, sps, pps []byte) (*mp4Writer, error) {
	p, err := mux.ParseParams(sps, pps)
	if err != nil {
		return nil, fmt.Errorf("live: the stream's parameter sets: %w", err)
	}
	if err := mux.WriteInit(w, p); err != nil {
		return nil, err
	}
	return &mp4Writer{w: w, lastDur: 3000}, nil
}

// add appends an Annex-B access unit with RTP timestamp ts.
func (m *mp4Writer) add(au []byte, key bool, ts uint32) error {
	if m.have {
		// The previous sample lasts until this one.
		d := ts - m.ts
		if d == 0 || d > 10*90000 {
			d = m.lastDur
		}
		m.samples[len(m.samples)-1].Duration = d
		m.lastDur = d
		if key {
			if err := m.flush(); err != nil {
				return err
			}
		}
	}
	m.ts, m.have = ts, true
	size := 0
	for nalu, rest, ok := capture.NextNALU(au); ok; nalu, rest, ok = capture.NextNALU(rest) {
		switch capture.NALType(nalu) {
		case capture.NALAUD, capture.NALSPS, capture.NALPPS:
			continue // the init segment carries the parameter sets
		}
		n := len(nalu)
		m.payload = append(m.payload, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		m.payload = append(m.payload, nalu...)
		size += 4 + n
	}
	m.samples = append(m.samples, mux.Sample{Duration: m.lastDur, Size: uint32(size), Key: key})
	return nil
}

func (m *mp4Writer) flush() error {
	if len(m.samples) == 0 {
		return nil
	}
	if err := m.fw.WriteFragment(m.w, m.start, m.samples, m.payload); err != nil {
		return fmt.Errorf("live: writing the MP4: %w", err)
	}
	for _, s := range m.samples {
		m.start += uint64(s.Duration)
	}
	m.samples, m.payload = m.samples[:0], m.payload[:0]
	return nil
}
