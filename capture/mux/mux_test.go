package mux

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/capture/simcam"
)

// simParams returns the sim clip's SPS and PPS.
func simParams(t testing.TB) (sps, pps []byte) {
	t.Helper()
	for b := simcam.Clip(); ; {
		nalu, rest, ok := capture.NextNALU(b)
		if !ok {
			break
		}
		b = rest
		switch capture.NALType(nalu) {
		case capture.NALSPS:
			sps = nalu
		case capture.NALPPS:
			pps = nalu
		}
		if sps != nil && pps != nil {
			return sps, pps
		}
	}
	t.Fatal("sim clip has no SPS/PPS")
	return nil, nil
}

func TestParseParams(t *testing.T) {
	sps, pps := simParams(t)
	p, err := ParseParams(sps, pps)
	if err != nil {
		t.Fatal(err)
	}
	if p.Width != 640 || p.Height != 480 || p.Profile != 66 || p.Level != 31 {
		t.Errorf("params %dx%d profile %d level %d", p.Width, p.Height, p.Profile, p.Level)
	}
	sps[len(sps)-1] ^= 0 // the copy must not alias the input
	q, _ := ParseParams(sps, pps)
	if !p.Equal(q) || p.Equal(nil) || !(*Params)(nil).Equal(nil) {
		t.Error("Equal")
	}
}

func TestParseParamsRefusesBadInput(t *testing.T) {
	sps, pps := simParams(t)
	cases := map[string][2][]byte{
		"empty":             {nil, nil},
		"sps is a pps":      {pps, pps},
		"pps is an sps":     {sps, sps},
		"truncated sps":     {sps[:3], pps},
		"garbage sps":       {[]byte{0x67, 0xff, 0xff, 0xff, 0xff}, pps},
		"zero size":         {[]byte{0x67, 0x42, 0xc0, 0x1f, 0x00}, pps},
		"pps names no sps":  {sps, []byte{0x68, 0x7f, 0xff}},
		"one-byte pps":      {sps, pps[:1]},
		"huge sps exponent": {append([]byte{0x67, 0x42, 0xc0, 0x1f}, bytes.Repeat([]byte{0}, 40)...), pps},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseParams(c[0], c[1])
			if !errors.Is(err, ErrBadParams) {
				t.Fatalf("err = %v, want ErrBadParams", err)
			}
		})
	}
}

func FuzzParseParams(f *testing.F) {
	sps, pps := simParams(f)
	f.Add(sps, pps)
	f.Add([]byte{0x67, 0x64, 0, 0x28}, []byte{0x68})
	f.Fuzz(func(t *testing.T, sps, pps []byte) {
		p, err := ParseParams(sps, pps)
		if err != nil {
			if !errors.Is(err, ErrBadParams) {
				t.Fatalf("error %v does not wrap ErrBadParams", err)
			}
			return
		}
		if p.Width <= 0 || p.Height <= 0 || p.Width > MaxWidth || p.Height > MaxHeight {
			t.Fatalf("accepted size %dx%d", p.Width, p.Height)
		}
		if err := WriteInit(&bytes.Buffer{}, p); err != nil && !errors.Is(err, ErrBadParams) {
			t.Fatalf("WriteInit: %v", err)
		}
	})
}

func TestWriteFragmentChecksPayload(t *testing.T) {
	var fw FragmentWriter
	err := fw.WriteFragment(&bytes.Buffer{}, 0, []Sample{{Duration: 3000, Size: 10, Key: true}}, make([]byte, 9))
	if err == nil {
		t.Fatal("payload shorter than the samples was accepted")
	}
	if err := fw.WriteFragment(&bytes.Buffer{}, 0, nil); err == nil {
		t.Fatal("empty fragment was accepted")
	}
}

// An init segment and fragments written from the sim clip play in ffprobe
// with the right timing, and keyframes land where the samples say.
func TestInitAndFragmentsPlay(t *testing.T) {
	sps, pps := simParams(t)
	p, err := ParseParams(sps, pps)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := WriteInit(&out, p); err != nil {
		t.Fatal(err)
	}
	aus, err := capture.SplitAccessUnits(simcam.Clip())
	if err != nil {
		t.Fatal(err)
	}
	var fw FragmentWriter
	var samples []Sample
	var payload []byte
	var dts uint64
	flush := func() {
		if len(samples) == 0 {
			return
		}
		// Split the payload in two to exercise multi-slice payloads.
		half := len(payload) / 2
		if err := fw.WriteFragment(&out, dts, samples, payload[:half], payload[half:]); err != nil {
			t.Fatal(err)
		}
		dts += uint64(len(samples)) * 3000
		samples, payload = samples[:0], payload[:0]
	}
	for _, au := range aus {
		if au.Key {
			flush()
		}
		n := len(payload)
		for b := au.Data; ; {
			nalu, rest, ok := capture.NextNALU(b)
			if !ok {
				break
			}
			b = rest
			if t := capture.NALType(nalu); t == capture.NALSPS || t == capture.NALPPS {
				continue
			}
			l := len(nalu)
			payload = append(payload, byte(l>>24), byte(l>>16), byte(l>>8), byte(l))
			payload = append(payload, nalu...)
		}
		samples = append(samples, Sample{Duration: 3000, Size: uint32(len(payload) - n), Key: au.Key})
	}
	flush()
	path := filepath.Join(t.TempDir(), "sim.mp4")
	os.WriteFile(path, out.Bytes(), 0o600)
	pr := capturetest.ProbeFile(t, path, true)
	if pr.Codec != "h264" || pr.Width != 640 || pr.Height != 480 || !pr.FirstKey || pr.Frames != len(aus) {
		t.Errorf("probe %+v, want %d frames of h264 640x480", pr, len(aus))
	}
	if want := float64(len(aus)) / 30; pr.Duration < want-0.05 || pr.Duration > want+0.05 {
		t.Errorf("duration %.3f, want %.3f", pr.Duration, want)
	}
}

func BenchmarkWriteFragment(b *testing.B) {
	samples := make([]Sample, 30)
	payload := make([]byte, 30*1000)
	for i := range samples {
		samples[i] = Sample{Duration: 3000, Size: 1000, Key: i == 0}
	}
	var fw FragmentWriter
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if err := fw.WriteFragment(discard{}, 0, samples, payload); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func ExampleWriteInit() {
	sps := []byte{0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x3d, 0xa1, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2e, 0x48}
	pps := []byte{0x68, 0xcb, 0x83, 0xcb, 0x20}
	p, err := ParseParams(sps, pps)
	if err != nil {
		fmt.Println(err)
		return
	}
	var init bytes.Buffer
	if err := WriteInit(&init, p); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%dx%d, init segment starts with %q\n", p.Width, p.Height, init.Bytes()[4:8])
	// Output: 640x480, init segment starts with "ftyp"
}
