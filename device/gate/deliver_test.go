package gate

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func textPiece(name, body string) Piece {
	return Piece{Name: name, Size: int64(len(body)), Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestDirDelivererLayouts: jobs of one grant and clip share
// <jti>/<clip>/, and withdrawing one takes back only its own segments
// (the init piece and the directory go with the last); a job of an
// earlier release (no Dir) keeps its <job-id>/ directory; a directory
// that is not a plain name is refused.
func TestDirDelivererLayouts(t *testing.T) {
	root := t.TempDir()
	w := &DirDeliverer{Dir: root}
	ctx := context.Background()
	j2 := Job{ID: "j2", Dir: "g/c", Segments: []int{1}}
	j3 := Job{ID: "j3", Dir: "g/c", Segments: []int{2}}
	if err := w.Deliver(ctx, Delivery{Job: j2, Pieces: []Piece{textPiece(initPiece, "init"), textPiece("000001.m4s.age", "one")}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Deliver(ctx, Delivery{Job: j3, Pieces: []Piece{textPiece(initPiece, "init"), textPiece("000002.m4s.age", "two")}}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "g", "c")
	for _, f := range []string{"000000-init.mp4.age", "000001.m4s.age", "000002.m4s.age"} {
		if !exists(filepath.Join(dir, f)) {
			t.Fatalf("%s not delivered into g/c", f)
		}
	}
	if err := w.Withdraw(ctx, j3); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(dir, "000002.m4s.age")) || !exists(filepath.Join(dir, "000001.m4s.age")) || !exists(filepath.Join(dir, "000000-init.mp4.age")) {
		t.Fatal("withdrawing one job touched another's pieces")
	}
	if err := w.Withdraw(ctx, j2); err != nil {
		t.Fatal(err)
	}
	if exists(dir) || exists(filepath.Join(root, "g")) {
		t.Fatal("the last withdrawal left the directory")
	}

	old := Job{ID: "20250101T000000Z-abcdef", Segments: []int{1}}
	if err := w.Deliver(ctx, Delivery{Job: old, Pieces: []Piece{textPiece(initPiece, "init"), textPiece("000001.m4s.age", "one")}}); err != nil {
		t.Fatal(err)
	}
	if !exists(filepath.Join(root, old.ID, "000000-init.mp4.age")) {
		t.Fatal("a job without Dir is not delivered into its own directory")
	}
	if err := w.Withdraw(ctx, old); err != nil || exists(filepath.Join(root, old.ID)) {
		t.Fatalf("withdrawing an earlier release's job: %v", err)
	}

	for _, bad := range []string{"../x", "g/../../x", ".hidden/c", "g/c/d"} {
		err := w.Deliver(ctx, Delivery{Job: Job{ID: "j", Dir: bad}, Pieces: []Piece{textPiece(initPiece, "x")}})
		if !errors.Is(err, ErrPermanent) {
			t.Errorf("Dir %q: %v, want ErrPermanent", bad, err)
		}
	}
	if disclosureDir("grant:..", "c") != "" || disclosureDir("legal:abc", "20260101T000000Z-abcdef") != "abc/20260101T000000Z-abcdef" {
		t.Error("disclosureDir")
	}
}
