package execsrc

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/austream"
	"github.com/doorward/doorward/device/clock"
)

// BenchmarkExecSplitter measures the exec source's stream path (read, split,
// stamp, hand over) per access unit. The one allocation per frame is the
// frame's own copy of the access unit, which the Hub and the pre-roll ring
// keep; the splitter itself allocates nothing.
func BenchmarkExecSplitter(b *testing.B) {
	one, err := os.ReadFile("../testdata/tiny-noaud.h264")
	if err != nil {
		b.Fatal(err)
	}
	data := bytes.Repeat(one, 256)
	aus, err := capture.SplitAccessUnits(data)
	if err != nil {
		b.Fatal(err)
	}
	s := &Source{
		cfg:   Config{Command: []string{"bench"}},
		log:   slog.New(slog.DiscardHandler),
		clk:   clock.Real{},
		Feed:  capture.NewFeed(64),
		split: austream.New(0),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			if _, err := s.ReadFrame(ctx); err != nil {
				return
			}
		}
	}()
	r := bytes.NewReader(data)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r.Reset(data)
		if err := s.readStream(r); err == nil {
			b.Fatal("readStream returned nil")
		}
	}
	b.ReportMetric(float64(len(aus)), "frames/op")
}
