package record

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"
	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/capture/vault"
)

// load1080p returns a 4 s 1080p30 H.264 stream at about 7 Mb/s (a keyframe
// every second, no B-frames, as doorbell cameras send).
func load1080p(b *testing.B) []capture.AccessUnit {
	b.Helper()
	data, err := os.ReadFile(capturetest.MakeStream(b, 1920, 1080, 30, 4, "7M"))
	if err != nil {
		b.Fatal(err)
	}
	aus, err := capture.SplitAccessUnits(data)
	if err != nil {
		b.Fatal(err)
	}
	return aus
}

// benchSource replays access units as fast as they are read, with the
// timestamps of a 30 fps camera, for n frames.
type benchSource struct {
	aus []capture.AccessUnit
	n   int
	i   int
	t0  time.Time
}

func (s *benchSource) ReadFrame(ctx context.Context) (capture.Frame, error) {
	if s.i >= s.n {
		return capture.Frame{}, io.EOF
	}
	au := s.aus[s.i%len(s.aus)]
	pts := time.Duration(s.i) * time.Second / 30
	s.i++
	return capture.Frame{Data: au.Data, Key: au.Key, PTS: pts, Time: s.t0.Add(pts)}, nil
}

func (s *benchSource) Close() error { return nil }

func avgFrame(aus []capture.AccessUnit) int64 {
	var total int64
	for _, au := range aus {
		total += int64(len(au.Data))
	}
	return total / int64(len(aus))
}

func benchRecipients(b *testing.B) []age.Recipient {
	owner, err := age.GenerateX25519Identity()
	if err != nil {
		b.Fatal(err)
	}
	dev, err := age.GenerateX25519Identity()
	if err != nil {
		b.Fatal(err)
	}
	return []age.Recipient{owner.Recipient(), dev.Recipient()}
}

// BenchmarkPipeline pushes unpaced 1080p frames through the whole recording
// path: Hub → recorder (pre-roll ring, AVCC) → fMP4 → age → file, fsync,
// rename and bbolt index per 4 s segment. One op is one frame.
func BenchmarkPipeline(b *testing.B) {
	aus := load1080p(b)
	dir := b.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, "state.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	v, err := vault.Open(vault.Options{Dir: filepath.Join(dir, "clips"), DB: db, Recipients: benchRecipients(b)})
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.PostRoll = 24 * time.Hour
	cfg.MaxClip = 24 * time.Hour
	r, err := New(cfg, StoreOf(v), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	hub := capture.NewHub(nil)
	sub := hub.Subscribe(b.N + 1) // the hub never blocks: make room for every frame
	src := &benchSource{aus: aus, n: b.N, t0: time.Now()}
	r.handleEvent(capture.Event{Kind: capture.Motion, Time: src.t0})

	b.SetBytes(avgFrame(aus))
	b.ReportAllocs()
	b.ResetTimer()
	done := make(chan struct{})
	go func() {
		r.Run(context.Background(), sub.C())
		close(done)
	}()
	if err := hub.Run(context.Background(), src); !errors.Is(err, io.EOF) {
		b.Fatal(err)
	}
	sub.Close()
	<-done
	b.StopTimer()
	if want := int64(b.N) * avgFrame(aus) / 2; v.TotalBytes() < want {
		b.Fatalf("vault holds %d bytes after %d frames, want at least %d", v.TotalBytes(), b.N, want)
	}
	if d := sub.Dropped(); d != 0 {
		b.Fatalf("hub dropped %d frames", d)
	}
	if b.N > 300 && r.ClipsStarted() != 1 {
		b.Fatalf("clips started: %d", r.ClipsStarted())
	}
}

// BenchmarkAgeRaw age-encrypts the same bytes to the same recipients, one
// op per frame: "discard" is the cipher alone; "files" adds what the vault
// must do anyway (a file per 4 s, fsync, rename), so the difference between
// it and BenchmarkPipeline is the cost of recording and muxing.
func BenchmarkAgeRaw(b *testing.B) {
	aus := load1080p(b)
	recipients := benchRecipients(b)
	b.Run("discard", func(b *testing.B) {
		b.SetBytes(avgFrame(aus))
		b.ReportAllocs()
		w, err := age.Encrypt(io.Discard, recipients...)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; b.Loop(); i++ {
			if i%120 == 0 {
				w.Close()
				if w, err = age.Encrypt(io.Discard, recipients...); err != nil {
					b.Fatal(err)
				}
			}
			w.Write(aus[i%len(aus)].Data)
		}
		w.Close()
	})
	b.Run("files", func(b *testing.B) {
		dir := b.TempDir()
		b.SetBytes(avgFrame(aus))
		b.ReportAllocs()
		var f *os.File
		var w io.WriteCloser
		closeFile := func() {
			if f == nil {
				return
			}
			w.Close()
			f.Sync()
			f.Close()
			os.Rename(f.Name(), f.Name()+".done")
		}
		for i := 0; b.Loop(); i++ {
			if i%120 == 0 {
				closeFile()
				var err error
				if f, err = os.Create(filepath.Join(dir, time.Now().Format("150405.000000000"))); err != nil {
					b.Fatal(err)
				}
				if w, err = age.Encrypt(f, recipients...); err != nil {
					b.Fatal(err)
				}
			}
			w.Write(aus[i%len(aus)].Data)
		}
		closeFile()
	})
}
