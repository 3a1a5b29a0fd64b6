package gate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/doorward/doorward/capture/vault"
	"github.com/doorward/doorward/device/atomicfile"
)

// Deliverer hands a job's re-wrapped pieces to where they go.
type Deliverer interface {
	Deliver(ctx context.Context, d Delivery) error
}

// Delivery is one job's pieces.
type Delivery struct {
	Job    Job
	Pieces []Piece
}

// Piece is one re-wrapped piece of a clip.
type Piece struct {
	Name string                        // "init.mp4.age", "000003.m4s.age"
	Size int64                         // bytes Open yields
	Open func() (io.ReadCloser, error) // re-wrapped for the job's recipient: new header, then the stored payload, streamed
}

// ErrPermanent wrapped in a Deliver error fails the job without retry.
var ErrPermanent = errors.New("gate: delivery failed permanently")

// Withdrawer is implemented by a Deliverer that can take back what it
// delivered, or began to deliver, for a job: a revoked grant's unfinished
// jobs are withdrawn.
type Withdrawer interface {
	Withdraw(ctx context.Context, j Job) error
}

// DirDeliverer writes each job's pieces into Dir/<jti>/<clip>/ (Job.Dir;
// jobs made by earlier releases used Dir/<job id>/), named so that they
// sort in playback order (000000-init.mp4.age, 000001.m4s.age, ...): the
// directory decrypts and concatenates into one playable MP4. The jobs of
// one grant and clip share the directory: a grant that follows the future
// adds segments to it. Each file
// is written to a temporary name, fsynced, renamed, and its directory
// fsynced, so a power cut leaves either the whole piece or none. A piece
// already written whole (before a restart) is kept.
type DirDeliverer struct {
	Dir string
}

var (
	_ Deliverer  = (*DirDeliverer)(nil)
	_ Withdrawer = (*DirDeliverer)(nil)
)

// FileName is the name a piece gets in a disclosure directory.
func FileName(piece string) string {
	if piece == initPiece {
		return "000000-" + piece
	}
	return piece
}

// Deliver writes d's pieces.
func (w *DirDeliverer) Deliver(ctx context.Context, d Delivery) error {
	if w.Dir == "" {
		return fmt.Errorf("%w: no disclosure directory", ErrPermanent)
	}
	rel := d.Job.DirName()
	if !safeRel(rel) {
		return fmt.Errorf("%w: disclosure directory %q", ErrPermanent, rel)
	}
	dir := filepath.Join(w.Dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("gate: disclosure directory: %w", err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	if filepath.Dir(dir) != filepath.Clean(w.Dir) {
		if err := atomicfile.SyncDir(w.Dir); err != nil {
			return err
		}
	}
	for _, p := range d.Pieces {
		if err := ctx.Err(); err != nil {
			return err
		}
		dst := filepath.Join(dir, FileName(p.Name))
		if st, err := os.Stat(dst); err == nil && st.Size() == p.Size {
			continue // written before a restart
		}
		if err := writePiece(ctx, dst, p); err != nil {
			return err
		}
	}
	return nil
}

// Withdraw removes what a job wrote: its directory when it has one of its
// own (earlier releases); in a directory shared with the grant's other
// jobs for the clip, its segments, and the init piece and the directory
// once no segment is left.
func (w *DirDeliverer) Withdraw(_ context.Context, j Job) error {
	rel := j.DirName()
	if w.Dir == "" || j.ID == "" || !safeRel(rel) {
		return nil
	}
	dir := filepath.Join(w.Dir, filepath.FromSlash(rel))
	if j.Dir == "" {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("gate: withdrawing %s: %w", j.ID, err)
		}
		return atomicfile.SyncDir(w.Dir)
	}
	for _, seq := range j.Segments {
		if err := os.Remove(filepath.Join(dir, FileName(vault.SegmentName(seq)))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("gate: withdrawing %s: %w", j.ID, err)
		}
	}
	left, err := filepath.Glob(filepath.Join(dir, "*.m4s.age"))
	if err != nil || len(left) > 0 {
		return atomicfile.SyncDir(dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("gate: withdrawing %s: %w", j.ID, err)
	}
	parent := filepath.Dir(dir)
	os.Remove(parent) // only when empty: the authority's other clips stay
	return atomicfile.SyncDir(filepath.Dir(parent))
}

// safeRel reports whether rel is a job directory: one safe name (a job
// ID) or two ("<jti>/<clip>").
func safeRel(rel string) bool {
	a, b, two := strings.Cut(rel, "/")
	return safeName(a) && (!two || safeName(b))
}

func writePiece(ctx context.Context, dst string, p Piece) error {
	in, err := p.Open()
	if err != nil {
		return fmt.Errorf("gate: %s: %w", p.Name, err)
	}
	defer in.Close()
	f, err := atomicfile.Create(dst, 0o600)
	if err != nil {
		return fmt.Errorf("gate: %w", err)
	}
	defer f.Abort()
	n, err := io.Copy(f, ctxReader{ctx, in})
	if err == nil && n != p.Size {
		err = fmt.Errorf("gate: %s: %d bytes, want %d", p.Name, n, p.Size)
	}
	if err != nil {
		return err
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("gate: %w", err)
	}
	return nil
}

// ctxReader stops a copy once ctx is done (a revocation cancels it).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
