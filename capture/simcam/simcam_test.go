package simcam_test

import (
	"testing"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/simcam"
)

func TestClipSplitsIntoGOPs(t *testing.T) {
	clip := simcam.Clip()
	if n := len(clip); n == 0 || n > 400<<10 {
		t.Fatalf("clip is %d bytes, want 1..400 KiB", n)
	}
	aus, err := capture.SplitAccessUnits(clip)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(aus), 6*simcam.FPS; got != want {
		t.Fatalf("clip has %d access units, want %d (6 s at %d fps)", got, want, simcam.FPS)
	}
	for i, au := range aus {
		if want := i%simcam.GOP == 0; au.Key != want {
			t.Errorf("access unit %d: Key = %v, want %v (an IDR every %d frames)", i, au.Key, want, simcam.GOP)
		}
	}

	// The first access unit is a keyframe that carries its parameter sets,
	// so a decoder can start at the first byte (and at every loop).
	var types []byte
	for nalu, rest, ok := capture.NextNALU(aus[0].Data); ok; nalu, rest, ok = capture.NextNALU(rest) {
		types = append(types, capture.NALType(nalu))
	}
	idx := func(t byte) int {
		for i, x := range types {
			if x == t {
				return i
			}
		}
		return -1
	}
	sps, pps, idr := idx(capture.NALSPS), idx(capture.NALPPS), idx(capture.NALIDR)
	if sps < 0 || pps < 0 || idr < 0 || sps > idr || pps > idr {
		t.Fatalf("first access unit NAL types %v: want SPS (7) and PPS (8) before an IDR slice (5)", types)
	}

	// Constrained Baseline (profile_idc 66 with constraint_set1_flag), level 3.1.
	var sp []byte
	for nalu, rest, ok := capture.NextNALU(aus[0].Data); ok; nalu, rest, ok = capture.NextNALU(rest) {
		if capture.NALType(nalu) == capture.NALSPS {
			sp = nalu
			break
		}
	}
	if len(sp) < 4 || sp[1] != 66 || sp[2]&0x40 == 0 || sp[3] != 31 {
		t.Errorf("SPS starts % x: want profile_idc 66, constraint_set1_flag, level_idc 31", sp[:min(len(sp), 4)])
	}
}
