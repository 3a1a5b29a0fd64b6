package vault

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/capture/vault/clipfile"
	"github.com/doorward/doorward/device/atomicfile"
	"github.com/doorward/doorward/device/clock"
	"github.com/doorward/doorward/device/events"
)

// File names inside a clip directory (package clipfile reads them).
const (
	InitName      = clipfile.InitName
	segmentSuffix = clipfile.SegmentSuffix
	partialSuffix = atomicfile.PartialSuffix
)

// SegmentName is the file name of media segment seq (1-based).
func SegmentName(seq int) string { return clipfile.SegmentName(seq) }

// Options configure a Vault.
type Options struct {
	Dir        string          // the clips directory, created if missing
	DB         *bbolt.DB       // the agent's state database
	Recipients []age.Recipient // every owner recipient plus the vault recipient
	Clock      clock.Clock
	Log        *slog.Logger
	MaxAge     time.Duration // segments older than this are deleted (0: no limit)
	MaxBytes   int64         // the oldest segments are deleted above this, counting state.db too (0: no limit)
	// Events receives segment-committed once a media segment is durable
	// and indexed (nil: no events).
	Events *events.Bus

	// repairHook, for tests, runs at the end of crash recovery's repair
	// transaction; an error rolls it back.
	repairHook func() error
}

// Vault is the encrypted clip store. It is safe for concurrent use.
type Vault struct {
	opts Options
	log  *slog.Logger

	bufs sync.Pool // *bufio.Writer of pieceBuffer bytes

	mu     sync.Mutex
	active map[string]*activeClip
	total  int64 // bytes of every indexed piece

	// beforeDelete, for tests, runs between retention's choice and its
	// write transaction.
	beforeDelete func()
}

type activeClip struct {
	rec      Clip
	initSize int64
	indexed  bool
}

// Open prepares the store: creates its buckets and directory and removes what
// an interrupted run left behind (partial pieces, pieces and clips that were
// never indexed, index entries whose files are gone).
func Open(opts Options) (*Vault, error) {
	if len(opts.Recipients) == 0 {
		return nil, errors.New("vault: no recipients: refusing to store clips that nobody could decrypt, or unencrypted")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	v := &Vault{opts: opts, log: opts.Log, active: map[string]*activeClip{}}
	v.bufs.New = func() any { return bufio.NewWriterSize(nil, pieceBuffer) }
	if err := opts.DB.Update(func(tx *bbolt.Tx) error { return createBuckets(tx) }); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	if err := v.recover(); err != nil {
		return nil, err
	}
	return v, nil
}

// BeginClip allocates a clip starting at start and creates its directory.
// The clip is indexed when its first media segment is committed.
func (v *Vault) BeginClip(start time.Time, trigger string) (string, error) {
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", fmt.Errorf("vault: %w", err)
	}
	utc := start.UTC()
	id := utc.Format("20060102T150405Z") + "-" + hex.EncodeToString(rnd[:])
	rel := filepath.Join(utc.Format("2006"), utc.Format("01"), utc.Format("02"), id)
	if err := os.MkdirAll(filepath.Join(v.opts.Dir, rel), 0o700); err != nil {
		return "", fmt.Errorf("vault: creating clip directory: %w", err)
	}
	v.mu.Lock()
	v.active[id] = &activeClip{rec: Clip{ID: id, Start: start, End: start, Trigger: trigger, Dir: rel, Recording: true}}
	v.mu.Unlock()
	return id, nil
}

// SetRecipients changes who new pieces are encrypted to (an owner was
// enrolled); pieces already written keep theirs.
func (v *Vault) SetRecipients(rs []age.Recipient) {
	v.mu.Lock()
	v.opts.Recipients = rs
	v.mu.Unlock()
}

// CreatePiece opens piece seq of clip id (0: the init segment) for writing.
// Everything written is encrypted before it reaches the file.
func (v *Vault) CreatePiece(id string, seq int) (*Piece, error) {
	v.mu.Lock()
	ac := v.active[id]
	recipients := v.opts.Recipients
	v.mu.Unlock()
	if ac == nil {
		return nil, fmt.Errorf("vault: clip %s is not being recorded", id)
	}
	name := InitName
	if seq > 0 {
		name = SegmentName(seq)
	}
	path := filepath.Join(v.opts.Dir, ac.rec.Dir, name)
	f, err := atomicfile.CreatePartial(path, 0o600)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	p := &Piece{v: v, clip: id, seq: seq, path: path, f: f}
	p.buf = v.bufs.Get().(*bufio.Writer)
	p.buf.Reset(f)
	p.cw.w = p.buf
	p.enc, err = age.Encrypt(&p.cw, recipients...)
	if err != nil {
		f.Abort()
		p.release()
		return nil, fmt.Errorf("vault: %w", err)
	}
	return p, nil
}

// EndClip marks the clip finished. A clip that never got a complete media
// segment is removed.
func (v *Vault) EndClip(id string) error {
	v.mu.Lock()
	ac := v.active[id]
	delete(v.active, id)
	v.mu.Unlock()
	if ac == nil {
		return fmt.Errorf("vault: clip %s is not being recorded", id)
	}
	if !ac.indexed {
		return os.RemoveAll(filepath.Join(v.opts.Dir, ac.rec.Dir))
	}
	return v.opts.DB.Update(func(tx *bbolt.Tx) error {
		rec, err := getClip(tx, id)
		if err != nil {
			return err
		}
		rec.Recording = false
		return putClip(tx, rec)
	})
}

// pieceBuffer is how much ciphertext a piece gathers before a write
// syscall: age seals 64 KiB chunks, and one write per chunk costs more CPU
// than the encryption on a Pi.
const pieceBuffer = 512 << 10

// Piece is one encrypted file being written.
type Piece struct {
	v    *Vault
	clip string
	seq  int
	path string
	f    *atomicfile.File // written as <path>.partial until Commit
	buf  *bufio.Writer    // ciphertext on its way to f, in few large writes
	cw   countingWriter
	enc  io.WriteCloser
	done bool
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Write encrypts p into the piece.
func (p *Piece) Write(b []byte) (int, error) {
	return p.enc.Write(b)
}

// Commit finishes the encryption, syncs the file, renames it into place and
// indexes it (media segments) with the time span it holds.
func (p *Piece) Commit(start, end time.Time) error {
	if p.done {
		return errors.New("vault: piece already finished")
	}
	p.done = true
	err := p.enc.Close()
	if err == nil {
		err = p.buf.Flush()
	}
	if err == nil {
		err = p.f.Commit() // fsync, rename over the final name, fsync the directory
	}
	p.f.Abort() // removes the .partial if anything above failed
	p.release()
	if err != nil {
		return fmt.Errorf("vault: writing %s: %w", filepath.Base(p.path), err)
	}
	if err := p.v.index(p.clip, p.seq, start, end, p.cw.n); err != nil {
		return err
	}
	if p.seq > 0 {
		p.v.opts.Events.Publish(events.Event{Kind: events.SegmentCommitted, Time: p.v.opts.Clock.Now(), Clip: p.clip, Segment: p.seq, Bytes: p.cw.n})
	}
	return nil
}

// release returns the write buffer to the vault's pool.
func (p *Piece) release() {
	if p.buf != nil {
		p.buf.Reset(nil)
		p.v.bufs.Put(p.buf)
		p.buf = nil
	}
}

// Abort discards the piece.
func (p *Piece) Abort() error {
	if p.done {
		return nil
	}
	p.done = true
	err := p.f.Abort()
	p.release()
	return err
}

func (v *Vault) index(id string, seq int, start, end time.Time, size int64) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	ac := v.active[id]
	if ac == nil {
		return fmt.Errorf("vault: clip %s is not being recorded", id)
	}
	if seq == 0 {
		ac.initSize = size
		return nil
	}
	rec := ac.rec
	added := size
	if !ac.indexed {
		rec.InitSize = ac.initSize
		added += ac.initSize
	}
	rec.End = end
	rec.Size += added
	rec.Segments++
	seg := Segment{Clip: id, Seq: seq, Start: start, End: end, Size: size}
	err := v.opts.DB.Update(func(tx *bbolt.Tx) error {
		if err := putSegment(tx, seg); err != nil {
			return err
		}
		return putClip(tx, rec)
	})
	if err != nil {
		return fmt.Errorf("vault: indexing %s/%s: %w", id, SegmentName(seq), err)
	}
	ac.rec, ac.indexed = rec, true
	v.total += added
	return nil
}

// Clips lists the indexed clips, oldest first.
func (v *Vault) Clips() ([]Clip, error) {
	var out []Clip
	err := v.opts.DB.View(func(tx *bbolt.Tx) error {
		var err error
		out, err = ListClips(tx)
		return err
	})
	for i := range out {
		out[i].Path = filepath.Join(v.opts.Dir, out[i].Dir)
	}
	return out, err
}

// Dir returns the clips directory.
func (v *Vault) Dir() string { return v.opts.Dir }

// TotalBytes returns the size of every indexed piece.
func (v *Vault) TotalBytes() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.total
}

// recover removes what an interrupted run left behind.
func (v *Vault) recover() error {
	indexed := map[string]Clip{}
	segs := map[string]bool{} // dir/name of indexed segments
	err := v.opts.DB.View(func(tx *bbolt.Tx) error {
		clips, err := ListClips(tx)
		if err != nil {
			return err
		}
		for _, c := range clips {
			indexed[c.Dir] = c
		}
		return forEachSegment(tx, func(s Segment) error {
			c, err := getClip(tx, s.Clip)
			if err != nil {
				return err
			}
			segs[filepath.Join(c.Dir, SegmentName(s.Seq))] = true
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("vault: reading index: %w", err)
	}
	var partials, orphans int
	seenDirs := map[string]bool{}
	err = filepath.WalkDir(v.opts.Dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(v.opts.Dir, path)
		if d.IsDir() {
			if strings.Count(rel, string(filepath.Separator)) == 3 { // YYYY/MM/DD/id
				if _, ok := indexed[rel]; !ok {
					orphans++
					v.log.Warn("removing a clip that was never indexed (interrupted before its first segment)", "dir", path)
					if err := os.RemoveAll(path); err != nil {
						return err
					}
					return filepath.SkipDir
				}
				seenDirs[rel] = true
			}
			return nil
		}
		name := d.Name()
		switch {
		case strings.HasSuffix(name, partialSuffix):
			partials++
			return os.Remove(path)
		case name == InitName:
			return nil
		case strings.HasSuffix(name, segmentSuffix) && !segs[rel]:
			orphans++
			v.log.Warn("removing a segment that was never indexed", "file", path)
			return os.Remove(path)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("vault: scanning %s: %w", v.opts.Dir, err)
	}
	if partials > 0 {
		v.log.Warn("removed unfinished pieces left by an interrupted run", "count", partials)
	}
	// Index entries whose files are gone, and clips still marked recording.
	// As in retention: index first, files after the transaction commits,
	// so a rollback never leaves index entries naming removed files.
	now := v.opts.Clock.Now()
	var doomedDirs []string
	var total int64
	err = v.opts.DB.Update(func(tx *bbolt.Tx) error {
		doomedDirs, total = nil, 0
		var missing []Segment
		if err := forEachSegment(tx, func(s Segment) error {
			c, err := getClip(tx, s.Clip)
			if err != nil {
				return err
			}
			if _, err := os.Stat(filepath.Join(v.opts.Dir, c.Dir, SegmentName(s.Seq))); errors.Is(err, os.ErrNotExist) {
				missing = append(missing, s)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, s := range missing {
			v.log.Error("index names a segment whose file is missing; dropping the entry", "clip", s.Clip, "segment", s.Seq)
			if _, err := deleteSegment(tx, s, now); err != nil {
				return err
			}
		}
		clips, err := ListClips(tx)
		if err != nil {
			return err
		}
		for _, c := range clips {
			if c.Recording {
				v.log.Info("clip was interrupted; it plays up to its last complete segment", "clip", c.ID, "segments", c.Segments)
				c.Recording = false
				if err := putClip(tx, c); err != nil {
					return err
				}
			}
			if c.Segments == 0 || !seenDirs[c.Dir] {
				if err := deleteClip(tx, c.ID); err != nil {
					return err
				}
				doomedDirs = append(doomedDirs, filepath.Join(v.opts.Dir, c.Dir))
				continue
			}
			total += c.Size
		}
		if v.opts.repairHook != nil {
			return v.opts.repairHook()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("vault: repairing index: %w", err)
	}
	v.total += total
	for _, d := range doomedDirs {
		if err := os.RemoveAll(d); err != nil {
			v.log.Warn("could not remove a clip left without segments", "dir", d, "err", err)
		}
	}
	removeEmptyDirs(v.opts.Dir)
	return nil
}

// removeEmptyDirs removes empty date directories below root.
func removeEmptyDirs(root string) {
	var dirs []string
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && path != root {
			dirs = append(dirs, path)
		}
		return nil
	})
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		os.Remove(d) // fails unless empty
	}
}
