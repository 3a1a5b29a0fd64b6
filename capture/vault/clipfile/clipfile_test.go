package clipfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

// writePiece writes plaintext to dir/name as an age file for r.
func writePiece(t *testing.T, dir, name, plaintext string, r age.Recipient) {
	t.Helper()
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(plaintext))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newKey(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// fakeClip builds a clip directory whose names were created out of order,
// with a gap left by retention, an unfinished segment and stray files.
func fakeClip(t *testing.T, r age.Recipient) string {
	t.Helper()
	dir := t.TempDir()
	writePiece(t, dir, "000010.m4s.age", "[seg10]", r)
	writePiece(t, dir, "000002.m4s.age", "[seg2]", r)
	writePiece(t, dir, "init.mp4.age", "[init]", r)
	writePiece(t, dir, "000003.m4s.age", "", r) // an empty segment is still a segment
	writePiece(t, dir, "000011.m4s.age.partial", "[unfinished]", r)
	writePiece(t, dir, "init.mp4.age.partial", "[unfinished init]", r)
	for _, stray := range []string{"000000.m4s.age", "12.m4s.age", "00000a.m4s.age", "0000012.m4s.age", "notes.txt"} {
		os.WriteFile(filepath.Join(dir, stray), []byte("not age"), 0o600)
	}
	os.Mkdir(filepath.Join(dir, "000004.m4s.age"), 0o700)
	return dir
}

func TestClipPieces(t *testing.T) {
	k := newKey(t)
	dir := fakeClip(t, k.Recipient())
	init, segs, err := ClipPieces(dir)
	if err != nil {
		t.Fatal(err)
	}
	if init != filepath.Join(dir, "init.mp4.age") {
		t.Fatalf("init = %q", init)
	}
	var names []string
	for _, s := range segs {
		names = append(names, filepath.Base(s))
	}
	if got, want := strings.Join(names, " "), "000002.m4s.age 000003.m4s.age 000010.m4s.age"; got != want {
		t.Fatalf("segments = %s, want %s", got, want)
	}
}

func TestDecryptClip(t *testing.T) {
	k := newKey(t)
	other := newKey(t)
	dir := fakeClip(t, k.Recipient())
	var out bytes.Buffer
	// A non-matching identity first: all are tried.
	if err := DecryptClip(dir, []age.Identity{other, k}, &out); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "[init][seg2][seg10]"; got != want {
		t.Fatalf("decrypted %q, want %q", got, want)
	}
}

func TestDecryptClipLarge(t *testing.T) {
	k := newKey(t)
	dir := t.TempDir()
	big := strings.Repeat("0123456789abcdef", 1<<14) // 256 KiB, several age chunks
	writePiece(t, dir, "init.mp4.age", "I", k.Recipient())
	writePiece(t, dir, "000001.m4s.age", big, k.Recipient())
	var out bytes.Buffer
	if err := DecryptClip(dir, []age.Identity{k}, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "I"+big {
		t.Fatal("large segment not decrypted intact")
	}
}

func TestDecryptClipErrors(t *testing.T) {
	k := newKey(t)
	other := newKey(t)

	t.Run("wrong identity", func(t *testing.T) {
		dir := fakeClip(t, k.Recipient())
		var out bytes.Buffer
		err := DecryptClip(dir, []age.Identity{other}, &out)
		var nm *age.NoIdentityMatchError
		if !errors.As(err, &nm) {
			t.Fatalf("err = %v, want a *age.NoIdentityMatchError", err)
		}
		if !strings.HasPrefix(err.Error(), "clipfile: ") || !strings.Contains(err.Error(), filepath.Join(dir, "init.mp4.age")) {
			t.Fatalf("error %q does not name the piece", err)
		}
		if out.Len() != 0 {
			t.Fatal("wrote output although nothing decrypted")
		}
	})
	t.Run("no init", func(t *testing.T) {
		dir := t.TempDir()
		writePiece(t, dir, "000001.m4s.age", "x", k.Recipient())
		writePiece(t, dir, "init.mp4.age.partial", "x", k.Recipient())
		err := DecryptClip(dir, []age.Identity{k}, &bytes.Buffer{})
		if !errors.Is(err, ErrNoInit) || !strings.Contains(err.Error(), dir) {
			t.Fatalf("err = %v, want ErrNoInit naming %s", err, dir)
		}
	})
	t.Run("no segments", func(t *testing.T) {
		dir := t.TempDir()
		writePiece(t, dir, "init.mp4.age", "x", k.Recipient())
		writePiece(t, dir, "000001.m4s.age.partial", "x", k.Recipient())
		err := DecryptClip(dir, []age.Identity{k}, &bytes.Buffer{})
		if !errors.Is(err, ErrNoSegments) || !strings.Contains(err.Error(), "clip has no complete segments") {
			t.Fatalf("err = %v, want ErrNoSegments", err)
		}
	})
	t.Run("missing dir", func(t *testing.T) {
		err := DecryptClip(filepath.Join(t.TempDir(), "nope"), []age.Identity{k}, &bytes.Buffer{})
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no identities", func(t *testing.T) {
		if err := DecryptClip(t.TempDir(), nil, &bytes.Buffer{}); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("corrupt segment", func(t *testing.T) {
		dir := t.TempDir()
		writePiece(t, dir, "init.mp4.age", "[init]", k.Recipient())
		writePiece(t, dir, "000001.m4s.age", strings.Repeat("s", 100), k.Recipient())
		p := filepath.Join(dir, "000001.m4s.age")
		b, _ := os.ReadFile(p)
		b[len(b)-5] ^= 1
		os.WriteFile(p, b, 0o600)
		err := DecryptClip(dir, []age.Identity{k}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Fatalf("err = %v, want an error naming %s", err, p)
		}
	})
	t.Run("write error", func(t *testing.T) {
		dir := fakeClip(t, k.Recipient())
		err := DecryptClip(dir, []age.Identity{k}, failWriter{})
		if !errors.Is(err, errDiskFull) {
			t.Fatalf("err = %v", err)
		}
	})
}

var errDiskFull = errors.New("disk full")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func TestClipStart(t *testing.T) {
	start, err := ClipStart("20260102T030405Z-0a1b2c")
	if err != nil || !start.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("ClipStart: %v %v", start, err)
	}
	if dir, err := ClipDirOf("clips", "20260102T030405Z-0a1b2c"); err != nil || dir != filepath.Join("clips", "2026", "01", "02", "20260102T030405Z-0a1b2c") {
		t.Errorf("ClipDirOf: %q %v", dir, err)
	}
	for _, bad := range []string{"", "clip-2", "20260102T030405Z", "20260102T030405Z-0A1B2C", "20260102T030405Z-0a1b2", "20261302T030405Z-0a1b2c", "2026010T030405Z-0a1b2c", "../../etc-0a1b2c"} {
		if _, err := ClipStart(bad); err == nil || !strings.Contains(err.Error(), "20060102T150405Z-xxxxxx") {
			t.Errorf("ClipStart(%q): %v, want an error naming the form", bad, err)
		}
		if _, err := ClipDirOf("clips", bad); err == nil {
			t.Errorf("ClipDirOf(%q) took it", bad)
		}
	}
}

// FuzzClipStart: a clip ID read from outside (a relay's listing, a command
// line) never panics the parser, and what it takes names a directory
// inside the clips directory, at its start time's date.
func FuzzClipStart(f *testing.F) {
	f.Add("20260102T030405Z-0a1b2c")
	f.Add("clip-2")
	f.Add("20260102T030405Z-../../x")
	f.Fuzz(func(t *testing.T, id string) {
		start, err := ClipStart(id)
		dir, derr := ClipDirOf("clips", id)
		if (err == nil) != (derr == nil) {
			t.Fatalf("ClipStart %v but ClipDirOf %v", err, derr)
		}
		if err != nil {
			return
		}
		if want := filepath.Join("clips", start.Format("2006"), start.Format("01"), start.Format("02"), id); dir != want || strings.ContainsAny(id, "/\\.") {
			t.Fatalf("%q: dir %q, want %q", id, dir, want)
		}
	})
}
