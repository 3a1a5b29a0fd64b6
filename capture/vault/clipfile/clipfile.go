// Package clipfile reads a clip directory as the vault writes it: the
// age-encrypted init segment (init.mp4.age) and media segments
// (000001.m4s.age, ...), unfinished writes ending in ".partial". It links
// no storage, so the owner's tool decrypts clips with it alone.
package clipfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
)

// The file names of a clip directory.
const (
	// InitName is the init segment's file.
	InitName = "init.mp4.age"
	// SegmentSuffix ends every media segment's file (SegmentName).
	SegmentSuffix = ".m4s.age"
	// segmentDigits is the width of a segment's number.
	segmentDigits = 6
	// DisclosureInitName is the init segment's file in a disclosure
	// directory, where it sorts first (gate.FileName).
	DisclosureInitName = "000000-init.mp4.age"
)

// SegmentName is the file name of media segment seq (1-based).
func SegmentName(seq int) string { return fmt.Sprintf("%0*d%s", segmentDigits, seq, SegmentSuffix) }

// ErrNoInit is returned (wrapped) when a clip directory has no
// init.mp4.age: without the init segment the media segments cannot play.
var ErrNoInit = errors.New("clipfile: clip has no init segment (init.mp4.age)")

// ErrNoSegments is returned (wrapped) by DecryptClip when a clip
// directory has no complete media segment.
var ErrNoSegments = errors.New("clipfile: clip has no complete segments")

// ClipPieces lists the complete pieces of the clip in dir, as paths under
// dir: the init segment (init.mp4.age in a clip directory,
// 000000-init.mp4.age in a disclosure directory), then the media segments (NNNNNN.m4s.age, six
// digits from 000001) in numeric order. Unfinished writes (*.partial),
// directories and any other names are ignored. Gaps in the numbering are
// allowed, since retention removes segments, and segments may be empty. A
// missing init segment is an error wrapping ErrNoInit.
func ClipPieces(dir string) (init string, segments []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", nil, fmt.Errorf("clipfile: read clip directory: %w", err)
	}
	type seg struct {
		n    int
		path string
	}
	var segs []seg
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		name := e.Name()
		if name == InitName || name == DisclosureInitName {
			init = filepath.Join(dir, name)
			continue
		}
		if n, ok := segmentNumber(name); ok {
			segs = append(segs, seg{n, filepath.Join(dir, name)})
		}
	}
	if init == "" {
		return "", nil, fmt.Errorf("%w in %s", ErrNoInit, dir)
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].n < segs[j].n })
	for _, s := range segs {
		segments = append(segments, s.path)
	}
	return init, segments, nil
}

// segmentNumber parses "000042.m4s.age" as 42. Numbers start at 1.
func segmentNumber(name string) (int, bool) {
	digits, ok := strings.CutSuffix(name, SegmentSuffix)
	if !ok || len(digits) != segmentDigits {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 {
		return 0, false
	}
	return n, true
}

// DecryptClip decrypts the clip in dir with ids and writes the plaintext
// fragmented MP4 to w: the init segment, then every complete media segment
// in order (see ClipPieces), each streamed through age without being held
// in memory. The result plays as one MP4. Errors name the piece; when no
// identity opens a piece, the error wraps *age.NoIdentityMatchError. If an
// error occurs after some pieces were written, w holds a truncated clip, so
// callers writing a file should write it under a temporary name.
func DecryptClip(dir string, ids []age.Identity, w io.Writer) error {
	if len(ids) == 0 {
		return errors.New("clipfile: no identities to decrypt the clip with")
	}
	init, segments, err := ClipPieces(dir)
	if err != nil {
		return err
	}
	if len(segments) == 0 {
		return fmt.Errorf("%w in %s", ErrNoSegments, dir)
	}
	for _, p := range append([]string{init}, segments...) {
		if err := decryptPiece(p, ids, w); err != nil {
			return err
		}
	}
	return nil
}

func decryptPiece(path string, ids []age.Identity, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("clipfile: %w", err)
	}
	defer f.Close()
	r, err := age.Decrypt(f, ids...)
	if err != nil {
		return fmt.Errorf("clipfile: decrypt %s: %w", path, err)
	}
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("clipfile: decrypt %s: %w", path, err)
	}
	return nil
}

// ClipDirOf returns the directory of the clip id under a clips directory
// (clips/YYYY/MM/DD/<id>, as the vault names it), or an error when id is
// not a clip ID (20060102T150405Z-xxxxxx).
func ClipDirOf(clips, id string) (string, error) {
	if _, err := ClipStart(id); err != nil {
		return "", err
	}
	return filepath.Join(clips, id[0:4], id[4:6], id[6:8], id), nil
}

// ClipStart returns the UTC start time a clip ID begins with, or an error
// when id is not a clip ID (20060102T150405Z-xxxxxx).
func ClipStart(id string) (time.Time, error) {
	t, rnd, ok := strings.Cut(id, "-")
	if !ok || len(rnd) != 6 || strings.Trim(rnd, "0123456789abcdef") != "" {
		return time.Time{}, fmt.Errorf("clipfile: %q is not a clip ID (20060102T150405Z-xxxxxx)", id)
	}
	start, err := time.Parse("20060102T150405Z", t)
	if err != nil {
		return time.Time{}, fmt.Errorf("clipfile: %q is not a clip ID (20060102T150405Z-xxxxxx)", id)
	}
	return start, nil
}

// InProgress reports whether a piece of the clip in dir is being written
// (a .partial file): the clip is still recording, and decrypting it now
// gives what is committed so far.
func InProgress(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.partial"))
	return len(m) > 0
}
