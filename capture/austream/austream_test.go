package austream_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/austream"
)

func readTestStream(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// feed pushes data through a Splitter in chunks of the given sizes (cycled),
// flushes at the end and returns copies of the access units.
func feed(t testing.TB, s *austream.Splitter, data []byte, sizes []int) ([]capture.AccessUnit, error) {
	t.Helper()
	var out []capture.AccessUnit
	drain := func() {
		for au, ok := s.Next(); ok; au, ok = s.Next() {
			out = append(out, capture.AccessUnit{Data: bytes.Clone(au.Data), Key: au.Key})
		}
	}
	for i := 0; len(data) > 0; i++ {
		n := len(data)
		if len(sizes) > 0 {
			n = min(n, max(1, sizes[i%len(sizes)]))
		}
		if err := s.Write(data[:n]); err != nil {
			return out, err
		}
		data = data[n:]
		drain()
	}
	s.Flush()
	drain()
	return out, nil
}

func sameAUs(t testing.TB, got, want []capture.AccessUnit) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d access units, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].Data, want[i].Data) || got[i].Key != want[i].Key {
			t.Fatalf("access unit %d: got key=%v % x, want key=%v % x", i,
				got[i].Key, got[i].Data[:min(16, len(got[i].Data))], want[i].Key, want[i].Data[:min(16, len(want[i].Data))])
		}
	}
}

func TestSplitterMatchesSplitAccessUnits(t *testing.T) {
	for _, name := range []string{"tiny-aud.h264", "tiny-noaud.h264", "tiny-slices.h264"} {
		data := readTestStream(t, name)
		want, err := capture.SplitAccessUnits(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, sizes := range [][]int{nil, {1}, {2}, {3}, {5, 1, 7}, {100}, {4096}} {
			got, err := feed(t, austream.New(0), data, sizes)
			if err != nil {
				t.Fatalf("%s %v: %v", name, sizes, err)
			}
			sameAUs(t, got, want)
		}
	}
}

// An access unit is emitted as soon as the next one's first NAL header is
// in, not one NAL unit later: a live camera must not lag a frame.
func TestSplitterEmitsAtNextHeader(t *testing.T) {
	data := readTestStream(t, "tiny-noaud.h264")
	aus, err := capture.SplitAccessUnits(data)
	if err != nil {
		t.Fatal(err)
	}
	s := austream.New(0)
	first := len(aus[0].Data)
	// The first AU plus the next start code and two header bytes.
	if err := s.Write(data[:first+4+2]); err != nil {
		t.Fatal(err)
	}
	au, ok := s.Next()
	if !ok {
		t.Fatal("first access unit not emitted when the second one's header arrived")
	}
	if !bytes.Equal(au.Data, aus[0].Data) || !au.Key {
		t.Fatalf("first access unit differs (key %v)", au.Key)
	}
	if _, ok := s.Next(); ok {
		t.Fatal("a second access unit was emitted early")
	}
}

// Parameter sets in a buffer of their own (as some V4L2 drivers deliver
// them) join the picture that follows.
func TestSplitterFlushKeepsParameterSets(t *testing.T) {
	data := readTestStream(t, "tiny-noaud.h264")
	want, err := capture.SplitAccessUnits(data)
	if err != nil {
		t.Fatal(err)
	}
	var bufs [][]byte
	for _, au := range want {
		// Cut each access unit into its NAL units, one buffer each.
		rest := au.Data
		for len(rest) > 0 {
			_, after, ok := capture.NextNALU(rest[3:])
			if !ok || len(after) == 0 {
				bufs = append(bufs, rest)
				break
			}
			n := len(rest) - len(after)
			bufs = append(bufs, rest[:n])
			rest = after
		}
	}
	s := austream.New(0)
	var got []capture.AccessUnit
	for _, b := range bufs {
		if err := s.Write(b); err != nil {
			t.Fatal(err)
		}
		s.Flush()
		for au, ok := s.Next(); ok; au, ok = s.Next() {
			got = append(got, capture.AccessUnit{Data: bytes.Clone(au.Data), Key: au.Key})
		}
	}
	sameAUs(t, got, want)
}

func TestSplitterLimits(t *testing.T) {
	t.Run("no start code", func(t *testing.T) {
		s := austream.New(1000)
		junk := bytes.Repeat([]byte("not video "), 50)
		var err error
		for i := 0; i < 10 && err == nil; i++ {
			err = s.Write(junk)
			for _, ok := s.Next(); ok; _, ok = s.Next() {
			}
		}
		if !errors.Is(err, austream.ErrNoStartCode) {
			t.Fatalf("err = %v, want ErrNoStartCode", err)
		}
		if s.Buffered() > 1000 {
			t.Fatalf("holds %d bytes of junk, limit 1000", s.Buffered())
		}
	})
	t.Run("access unit too large", func(t *testing.T) {
		s := austream.New(1000)
		err := s.Write(append([]byte{0, 0, 0, 1, 0x65, 0x88}, bytes.Repeat([]byte{0x55}, 2000)...))
		if !errors.Is(err, austream.ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
	})
	t.Run("junk before the stream is skipped", func(t *testing.T) {
		data := readTestStream(t, "tiny-noaud.h264")
		want, _ := capture.SplitAccessUnits(data)
		got, err := feed(t, austream.New(0), append([]byte("ffmpeg banner\n"), data...), []int{7})
		if err != nil {
			t.Fatal(err)
		}
		sameAUs(t, got, want)
	})
}

func TestSplitterFill(t *testing.T) {
	data := readTestStream(t, "tiny-slices.h264")
	want, _ := capture.SplitAccessUnits(data)
	s := austream.New(0)
	r := io.MultiReader(bytes.NewReader(data[:100]), bytes.NewReader(data[100:]))
	var got []capture.AccessUnit
	for {
		_, err := s.Fill(r)
		if err == io.EOF {
			s.Flush()
		} else if err != nil {
			t.Fatal(err)
		}
		for au, ok := s.Next(); ok; au, ok = s.Next() {
			got = append(got, capture.AccessUnit{Data: bytes.Clone(au.Data), Key: au.Key})
		}
		if err == io.EOF {
			break
		}
	}
	sameAUs(t, got, want)
}

// FuzzSplitter checks that any chunking of any stream yields what
// SplitAccessUnits finds in the whole stream, and that nothing panics.
func FuzzSplitter(f *testing.F) {
	for _, name := range []string{"tiny-aud.h264", "tiny-noaud.h264", "tiny-slices.h264"} {
		data := readTestStream(f, name)
		f.Add(data, []byte{0})
		f.Add(data, []byte{2, 9, 0, 200})
	}
	f.Fuzz(func(t *testing.T, data, chunks []byte) {
		sizes := make([]int, len(chunks))
		for i, c := range chunks {
			sizes[i] = int(c) + 1
		}
		got, err := feed(t, austream.New(1<<20), data, sizes)
		want, werr := capture.SplitAccessUnits(data)
		if werr != nil {
			return
		}
		if err != nil {
			t.Fatalf("splitter failed on a stream SplitAccessUnits accepts: %v", err)
		}
		sameAUs(t, got, want)
	})
}

// BenchmarkSplitter measures the splitter alone on 64 KiB reads of a looping
// stream: no allocation per access unit in steady state.
func BenchmarkSplitter(b *testing.B) {
	data := bytes.Repeat(readTestStream(b, "tiny-noaud.h264"), 64)
	s := austream.New(0)
	r := bytes.NewReader(data)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	aus := 0
	for b.Loop() {
		r.Reset(data)
		s.Reset()
		for {
			_, err := s.Fill(r)
			for _, ok := s.Next(); ok; _, ok = s.Next() {
				aus++
			}
			if err != nil {
				break
			}
		}
	}
	b.ReportMetric(float64(aus)/float64(b.N), "AUs/op")
}
