package capture_test

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/simcam"
)

func nalus(b []byte) [][]byte {
	var out [][]byte
	for nalu, rest, ok := capture.NextNALU(b); ok; nalu, rest, ok = capture.NextNALU(rest) {
		out = append(out, nalu)
	}
	return out
}

func TestNextNALU(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want [][]byte
	}{
		{"empty", nil, nil},
		{"no start code", []byte{0x67, 0x42, 0, 0x1f}, nil},
		{"only a start code", []byte{0, 0, 0, 1}, nil},
		{"3-byte start codes", []byte{0, 0, 1, 0x67, 0xaa, 0, 0, 1, 0x68, 0xbb}, [][]byte{{0x67, 0xaa}, {0x68, 0xbb}}},
		{"4-byte start codes", []byte{0, 0, 0, 1, 0x67, 0xaa, 0, 0, 0, 1, 0x68, 0xbb}, [][]byte{{0x67, 0xaa}, {0x68, 0xbb}}},
		{"trailing zeros", []byte{0, 0, 1, 0x65, 0x88, 0, 0, 0, 0, 0, 1, 0x41, 0x9a, 0, 0}, [][]byte{{0x65, 0x88}, {0x41, 0x9a}}},
		{"leading garbage", []byte{0xde, 0xad, 0, 0, 1, 0x09, 0xf0}, [][]byte{{0x09, 0xf0}}},
		{"empty NAL units skipped", []byte{0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0x06, 0x05}, [][]byte{{0x06, 0x05}}},
		{"emulation prevention kept", []byte{0, 0, 1, 0x41, 0, 0, 3, 1, 0x80}, [][]byte{{0x41, 0, 0, 3, 1, 0x80}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := nalus(tc.in)
			if !slices.EqualFunc(got, tc.want, bytes.Equal) {
				t.Errorf("NAL units of % x = % x, want % x", tc.in, got, tc.want)
			}
		})
	}
}

func TestNextNALUDoesNotAllocate(t *testing.T) {
	clip := simcam.Clip()
	n := 0
	allocs := testing.AllocsPerRun(10, func() {
		n = 0
		for _, rest, ok := capture.NextNALU(clip); ok; _, rest, ok = capture.NextNALU(rest) {
			n++
		}
	})
	if allocs != 0 {
		t.Errorf("iterating %d NAL units allocated %v times, want 0", n, allocs)
	}
}

func TestNALType(t *testing.T) {
	for in, want := range map[byte]byte{0x67: capture.NALSPS, 0x68: capture.NALPPS, 0x65: capture.NALIDR,
		0x41: capture.NALSlice, 0x06: capture.NALSEI, 0x09: capture.NALAUD} {
		if got := capture.NALType([]byte{in}); got != want {
			t.Errorf("NALType(%#x) = %d, want %d", in, got, want)
		}
	}
	if got := capture.NALType(nil); got != 0 {
		t.Errorf("NALType(nil) = %d, want 0", got)
	}
}

// checkAUs checks the invariants every successful split keeps: the access
// units are consecutive sub-slices of data, each starts with a start code
// and holds a slice, and at least one is a keyframe.
func checkAUs(t *testing.T, data []byte, aus []capture.AccessUnit) {
	t.Helper()
	if len(aus) == 0 {
		t.Fatal("no access units and no error")
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	prevEnd := -1
	key := false
	for i, au := range aus {
		off := int(uintptr(unsafe.Pointer(unsafe.SliceData(au.Data))) - base)
		if off < 0 || off+len(au.Data) > len(data) {
			t.Fatalf("access unit %d is not a sub-slice of the input", i)
		}
		if prevEnd >= 0 && off != prevEnd {
			t.Fatalf("access unit %d starts at %d, previous ended at %d", i, off, prevEnd)
		}
		prevEnd = off + len(au.Data)
		if !bytes.HasPrefix(au.Data, []byte{0, 0, 1}) && !bytes.HasPrefix(au.Data, []byte{0, 0, 0, 1}) {
			t.Fatalf("access unit %d starts % x, want a start code", i, au.Data[:min(4, len(au.Data))])
		}
		vcl, idr := false, false
		for _, n := range nalus(au.Data) {
			typ := capture.NALType(n)
			vcl = vcl || typ >= 1 && typ <= 5
			idr = idr || typ == capture.NALIDR
		}
		if !vcl {
			t.Fatalf("access unit %d holds no slice", i)
		}
		if idr != au.Key {
			t.Fatalf("access unit %d: Key = %v, holds an IDR slice: %v", i, au.Key, idr)
		}
		key = key || au.Key
	}
	if !key {
		t.Fatal("no keyframe among the access units")
	}
}

func TestSplitAccessUnitsFiles(t *testing.T) {
	for _, name := range []string{"tiny-noaud.h264", "tiny-aud.h264", "tiny-slices.h264"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile("testdata/" + name)
			if err != nil {
				t.Fatal(err)
			}
			aus, err := capture.SplitAccessUnits(data)
			if err != nil {
				t.Fatal(err)
			}
			checkAUs(t, data, aus)
			var keys []bool
			for _, au := range aus {
				keys = append(keys, au.Key)
			}
			if want := []bool{true, false, true, false}; !slices.Equal(keys, want) {
				t.Errorf("keyframes %v, want %v", keys, want)
			}
			if got := aus[len(aus)-1].Data; &got[len(got)-1] != &data[len(data)-1] {
				t.Error("the last access unit does not end at the end of the data")
			}
			if name == "tiny-slices.h264" {
				slicesIn := 0
				for _, n := range nalus(aus[1].Data) {
					if capture.NALType(n) == capture.NALSlice {
						slicesIn++
					}
				}
				if slicesIn != 2 {
					t.Errorf("access unit 1 holds %d slices, want 2", slicesIn)
				}
			}
		})
	}
}

// Hand-made NAL units: slices with first_mb_in_slice 0 (first bit set) and
// not 0.
var (
	sps     = []byte{0x67, 0x42, 0xc0, 0x1f, 0xaa}
	pps     = []byte{0x68, 0xce, 0x3c, 0x80}
	sei     = []byte{0x06, 0x05, 0x01, 0x80}
	aud     = []byte{0x09, 0xf0}
	idr0    = []byte{0x65, 0x88, 0x84}
	idr1    = []byte{0x65, 0x44, 0x84} // first_mb_in_slice != 0
	p0      = []byte{0x41, 0x9a, 0x02}
	p1      = []byte{0x41, 0x22, 0x02} // first_mb_in_slice != 0
	trailer = []byte{0x41, 0x9a, 0x03, 0x55}
)

func stream(units ...[]byte) []byte {
	var b []byte
	for i, u := range units {
		if i%2 == 0 {
			b = append(b, 0, 0, 0, 1)
		} else {
			b = append(b, 0, 0, 1)
		}
		b = append(b, u...)
	}
	return b
}

func TestSplitAccessUnitsGrouping(t *testing.T) {
	for _, tc := range []struct {
		name  string
		units [][]byte
		want  [][][]byte // NAL units per access unit
		keys  []bool
	}{
		{
			name:  "no AUDs, multi-slice pictures",
			units: [][]byte{sps, pps, sei, idr0, idr1, p0, p1, p0, sei, p0},
			want:  [][][]byte{{sps, pps, sei, idr0, idr1}, {p0, p1}, {p0}, {sei, p0}},
			keys:  []bool{true, false, false, false},
		},
		{
			name:  "AUDs",
			units: [][]byte{aud, sps, pps, idr0, aud, p0, p1, aud, sps, pps, idr0},
			want:  [][][]byte{{aud, sps, pps, idr0}, {aud, p0, p1}, {aud, sps, pps, idr0}},
			keys:  []bool{true, false, true},
		},
		{
			name:  "AUD without picture merges into the next",
			units: [][]byte{aud, aud, sps, pps, idr0, p0},
			want:  [][][]byte{{aud, aud, sps, pps, idr0}, {p0}},
			keys:  []bool{true, false},
		},
		{
			name:  "leading P frames",
			units: [][]byte{sps, pps, p0, p0, idr0, p0},
			want:  [][][]byte{{sps, pps, p0}, {p0}, {idr0}, {p0}},
			keys:  []bool{false, false, true, false},
		},
		{
			name:  "trailing parameter sets without a picture are dropped",
			units: [][]byte{sps, pps, idr0, p0, sps, pps},
			want:  [][][]byte{{sps, pps, idr0}, {p0}},
			keys:  []bool{true, false},
		},
		{
			name:  "last NAL unit cut inside its header",
			units: [][]byte{sps, pps, idr0, p0, {0x41}},
			want:  [][][]byte{{sps, pps, idr0}, {p0}},
			keys:  []bool{true, false},
		},
		{
			name:  "last access unit kept",
			units: [][]byte{sps, pps, idr0, trailer},
			want:  [][][]byte{{sps, pps, idr0}, {trailer}},
			keys:  []bool{true, false},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := stream(tc.units...)
			aus, err := capture.SplitAccessUnits(data)
			if err != nil {
				t.Fatal(err)
			}
			checkAUs(t, data, aus)
			if len(aus) != len(tc.want) {
				t.Fatalf("%d access units, want %d", len(aus), len(tc.want))
			}
			for i, au := range aus {
				if got := nalus(au.Data); !slices.EqualFunc(got, tc.want[i], bytes.Equal) {
					t.Errorf("access unit %d: % x, want % x", i, got, tc.want[i])
				}
				if au.Key != tc.keys[i] {
					t.Errorf("access unit %d: Key = %v, want %v", i, au.Key, tc.keys[i])
				}
			}
		})
	}
}

func TestSplitAccessUnitsErrors(t *testing.T) {
	tiny, err := os.ReadFile("testdata/tiny-noaud.h264")
	if err != nil {
		t.Fatal(err)
	}
	mp4 := append([]byte{0, 0, 0, 0x20}, "ftypisom\x00\x00\x02\x00isomiso2avc1mp41"...)
	for _, tc := range []struct {
		name string
		in   []byte
		want []string
	}{
		{"empty", nil, []string{"empty input", "h264_mp4toannexb"}},
		{"garbage", []byte("hello, world"), []string{"no Annex-B start code", "68 65 6c", "00 00 01", "-f h264"}},
		{"mp4", mp4, []string{"MP4 file", "h264_mp4toannexb"}},
		{"AVCC length prefix", append([]byte{0, 0, 0, 5}, sps...), []string{"no Annex-B start code"}},
		{"zeros", make([]byte, 100), []string{"no Annex-B start code"}},
		{"no slices", stream(sei, aud), []string{"no H.264 picture"}},
		{"parameter sets only", stream(sps, pps, sei), []string{"truncated", "no complete access unit"}},
		{"no IDR", stream(sps, pps, p0, p0), []string{"no IDR picture (keyframe)", "keyint"}},
		{"no SPS", stream(pps, idr0, p0), []string{"no SPS before the first IDR"}},
		{"no PPS", stream(sps, idr0, p0), []string{"no PPS before the first IDR"}},
		{"no SPS and PPS", stream(idr0, p0), []string{"no SPS and PPS before the first IDR"}},
		{"PPS after IDR", stream(sps, idr0, pps, p0), []string{"no PPS before the first IDR"}},
		{"cut inside the first picture", stream(sps, pps, []byte{0x65}), []string{"truncated", "no complete access unit"}},
		{"only IDR cut off", stream(sps, pps, p0, []byte{0x65}), []string{"truncated", "IDR"}},
		{"real file cut inside the first SEI", tiny[:300], []string{"truncated", "no complete access unit"}},
		{"real file cut inside the first IDR header", tiny[:bytes.Index(tiny, []byte{0, 1, 0x65})+3], []string{"truncated", "no complete access unit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			aus, err := capture.SplitAccessUnits(tc.in)
			if err == nil {
				t.Fatalf("got %d access units, want an error", len(aus))
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "capture: ") {
				t.Errorf("error %q lacks the capture: prefix", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
		})
	}
}

func TestSplitAccessUnitsTruncatedFile(t *testing.T) {
	data, err := os.ReadFile("testdata/tiny-noaud.h264")
	if err != nil {
		t.Fatal(err)
	}
	whole, err := capture.SplitAccessUnits(data)
	if err != nil {
		t.Fatal(err)
	}
	last := whole[len(whole)-1].Data
	lastOff := len(data) - len(last)
	// Cut right after the last access unit's start code and NAL header:
	// the complete access units before it survive.
	for _, cut := range []int{lastOff + 1, lastOff + 4, lastOff + 5} {
		aus, err := capture.SplitAccessUnits(data[:cut])
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		checkAUs(t, data[:cut], aus)
		if len(aus) != len(whole)-1 {
			t.Errorf("cut at %d: %d access units, want %d", cut, len(aus), len(whole)-1)
		}
	}
}

// A cut inside slice data cannot be seen without decoding the slice: the
// damaged last picture is kept (see SplitAccessUnits).
func TestSplitAccessUnitsCutInsideSliceData(t *testing.T) {
	data, err := os.ReadFile("testdata/tiny-noaud.h264")
	if err != nil {
		t.Fatal(err)
	}
	cut := data[:len(data)-5]
	aus, err := capture.SplitAccessUnits(cut)
	if err != nil {
		t.Fatal(err)
	}
	checkAUs(t, cut, aus)
	if len(aus) != 4 {
		t.Errorf("%d access units, want 4", len(aus))
	}
}

func FuzzSplitAccessUnits(f *testing.F) {
	f.Add(stream(sps, pps, idr0, p0, p1))
	f.Add(stream(aud, sps, pps, sei, idr0, aud, p0))
	f.Fuzz(func(t *testing.T, data []byte) {
		aus, err := capture.SplitAccessUnits(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "capture: ") {
				t.Fatalf("error %q lacks the capture: prefix", err)
			}
			return
		}
		checkAUs(t, data, aus)
	})
}

func BenchmarkSplitAccessUnits(b *testing.B) {
	clip := simcam.Clip()
	b.ReportAllocs()
	b.SetBytes(int64(len(clip)))
	for b.Loop() {
		if _, err := capture.SplitAccessUnits(clip); err != nil {
			b.Fatal(err)
		}
	}
}
