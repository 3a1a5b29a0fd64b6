package rewrap

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"
)

var benchSizes = []struct {
	name string
	size int
}{{"50KB", 50_000}, {"50MB", 50_000_000}}

// BenchmarkRewrap measures the disclosure cost of one segment: header
// parse, unwrap, MAC check, wrap, new header. The source is in memory and
// the payload goes to io.Discard, so the figure is the header work alone
// and should not depend on the segment size. SetBytes makes MB/s the
// effective disclosure rate.
func BenchmarkRewrap(b *testing.B) {
	for _, pq := range []bool{false, true} {
		for _, sz := range benchSizes {
			name := map[bool]string{false: "x25519/", true: "hybrid/"}[pq] + sz.name
			b.Run(name, func(b *testing.B) {
				k := newKeys(b, pq)
				_, file := segment(b, k, sz.size)
				b.SetBytes(int64(sz.size))
				b.ReportAllocs()
				for b.Loop() {
					if err := Rewrap(io.Discard, bytes.NewReader(file), k.vault, k.granteeR); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRewrapCopy is BenchmarkRewrap with the payload really copied:
// into a reused in-memory buffer, and file to file on disk (the device's
// case: clips directory to disclosures directory). It reports what the
// io.Copy of the payload costs on top of the header work.
func BenchmarkRewrapCopy(b *testing.B) {
	k := newKeys(b, false)
	_, file := segment(b, k, 50_000_000)
	b.Run("memory/50MB", func(b *testing.B) {
		var out bytes.Buffer
		out.Grow(len(file) + 4096)
		b.SetBytes(int64(len(file)))
		for b.Loop() {
			out.Reset()
			// A reader without WriteTo, so io.Copy moves every byte.
			if err := Rewrap(&out, struct{ io.Reader }{bytes.NewReader(file)}, k.vault, k.granteeR); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("file/50MB", func(b *testing.B) {
		dir := b.TempDir()
		src := filepath.Join(dir, "000001.m4s.age")
		if err := os.WriteFile(src, file, 0o600); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(file)))
		for b.Loop() {
			in, err := os.Open(src)
			if err != nil {
				b.Fatal(err)
			}
			out, err := os.Create(filepath.Join(dir, "out.age"))
			if err != nil {
				b.Fatal(err)
			}
			if err := Rewrap(out, in, k.vault, k.granteeR); err != nil {
				b.Fatal(err)
			}
			in.Close()
			out.Close()
		}
	})
}

// BenchmarkReencrypt is what disclosure would cost without re-wrapping:
// decrypt the segment with the vault key and encrypt it again for the
// grantee. Compare with BenchmarkRewrap/x25519/50MB.
func BenchmarkReencrypt(b *testing.B) {
	k := newKeys(b, false)
	_, file := segment(b, k, 50_000_000)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := age.Decrypt(bytes.NewReader(file), k.vault)
		if err != nil {
			b.Fatal(err)
		}
		w, err := age.Encrypt(io.Discard, k.granteeR)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(w, r); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
