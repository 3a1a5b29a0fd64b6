package relay_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/uplink"
	"github.com/doorward/doorward/uplink/mqtt"
	"github.com/doorward/doorward/uplink/relay"
	"github.com/doorward/doorward/uplink/s3test"
	"github.com/doorward/doorward/uplink/wire"
)

const (
	benchPieces    = 50
	benchPieceSize = 4 << 20 // 50 × 4 MiB = 200 MiB
)

// presigner answers the uploader's requests at once with presigned PUTs
// from the store (the relay's job, without the broker in the way).
type presigner struct {
	store relay.Store
	up    *uplink.Uploader
}

func (p *presigner) Publish(sub string, _ mqtt.Class, _ bool, body []byte) (uint64, error) {
	if sub == wire.TopicUploadRequest {
		var req wire.UploadRequest
		json.Unmarshal(body, &req)
		go func() {
			u, err := p.store.PresignPut(context.Background(), req.Object, req.Size, req.SHA256, time.Hour)
			if err == nil {
				p.up.Offer(wire.UploadURL{Object: req.Object, URL: u})
			}
		}()
	}
	return 1, nil
}

func benchFiles(b *testing.B) []string {
	dir := b.TempDir()
	buf := make([]byte, benchPieceSize)
	var files []string
	for i := range benchPieces {
		rand.Read(buf)
		f := filepath.Join(dir, fmt.Sprintf("%06d.m4s.age", i+1))
		if err := os.WriteFile(f, buf, 0o600); err != nil {
			b.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

func cpu(who int) time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkUploadVersity: the device's uploader sends 200 MiB of pieces
// (files) to versitygw through presigned PUTs with their checksums; MB/s
// and CPU per MB are reported, and BenchmarkCurlVersity measures curl -T
// to the same kind of URLs in the same run.
func BenchmarkUploadVersity(b *testing.B) {
	s3 := s3test.Start(b)
	store := relay.NewS3Store(s3.Client, s3.Bucket)
	files := benchFiles(b)
	p := &presigner{store: store}
	p.up = uplink.NewUploader(uplink.UploaderOptions{DeviceID: dev, Session: p})
	var pieces []uplink.Piece
	for _, f := range files {
		pieces = append(pieces, uplink.Piece{Name: filepath.Base(f), Size: benchPieceSize, Open: func() (io.ReadCloser, error) { return os.Open(f) }})
	}
	b.SetBytes(benchPieces * benchPieceSize)
	b.ReportAllocs()
	b.ResetTimer()
	start, c0 := time.Now(), cpu(syscall.RUSAGE_SELF)
	for i := 0; i < b.N; i++ {
		if err := p.up.Upload(context.Background(), uplink.Job{ID: "j", Authority: fmt.Sprintf("grant:bench-%d", i), Clip: "c"}, pieces); err != nil {
			b.Fatal(err)
		}
	}
	mb := float64(b.N*benchPieces*benchPieceSize) / 1e6
	b.ReportMetric(mb/time.Since(start).Seconds(), "MB/s")
	b.ReportMetric(float64((cpu(syscall.RUSAGE_SELF)-c0).Microseconds())/mb, "cpu-µs/MB")
}

// BenchmarkCurlVersity: curl -T of the same files to presigned PUTs, one
// curl per piece, with the checksum header (CPU: curl's, from its rusage).
func BenchmarkCurlVersity(b *testing.B) {
	curl := capturetest.Tool(b, "curl")
	s3 := s3test.Start(b)
	store := relay.NewS3Store(s3.Client, s3.Bucket)
	files := benchFiles(b)
	sums := make([]string, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data, _ := os.ReadFile(f)
			s := sha256.Sum256(data)
			sums[i] = hex.EncodeToString(s[:])
		}()
	}
	wg.Wait()
	b.SetBytes(benchPieces * benchPieceSize)
	b.ResetTimer()
	start, c0 := time.Now(), cpu(syscall.RUSAGE_CHILDREN)
	for i := 0; i < b.N; i++ {
		for j, f := range files {
			key := fmt.Sprintf("%s/disclosures/curl-%d/c/%s", dev, i, filepath.Base(f))
			u, err := store.PresignPut(context.Background(), key, benchPieceSize, sums[j], time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			raw, _ := hex.DecodeString(sums[j])
			out, err := exec.Command(curl, "-sS", "-f", "-H", "Expect:", "-T", f, "-H", "x-amz-checksum-sha256: "+base64.StdEncoding.EncodeToString(raw), u).CombinedOutput()
			if err != nil {
				b.Fatalf("curl: %v\n%s", err, out)
			}
		}
	}
	mb := float64(b.N*benchPieces*benchPieceSize) / 1e6
	b.ReportMetric(mb/time.Since(start).Seconds(), "MB/s")
	b.ReportMetric(float64((cpu(syscall.RUSAGE_CHILDREN)-c0).Microseconds())/mb, "cpu-µs/MB")
}
