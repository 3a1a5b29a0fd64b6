package selftest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"filippo.io/age"

	"github.com/doorward/doorward/device/clock"
)

// StorageCheck measures the state directory's file system: free space,
// sequential write throughput (written, then fsynced) and the latency of
// small fsynced writes, the pattern of segment and index writes. It writes
// only random bytes, into a temporary file it removes.
type StorageCheck struct {
	// Dir is the state directory. When it does not exist yet, its nearest
	// existing parent is measured instead (the agent creates it there on
	// its first run); the check creates no directory.
	Dir string
	// WriteBytes is how much the throughput test writes (e.g. 32 MiB).
	WriteBytes int
	// Syncs is how many 4 KiB write+fsync rounds the latency test does.
	Syncs int
	// MinFreeBytes: less free space than this warns.
	MinFreeBytes uint64
	// Clock times the writes; nil means the real clock.
	Clock clock.Clock
}

// Check returns the storage check.
func (c StorageCheck) Check() Check {
	return Check{Name: "storage", Required: true, Run: c.run}
}

func (c StorageCheck) run(ctx context.Context) Result {
	clk := c.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	// A state directory not created yet (a fresh install, before the
	// agent's first run) is measured where the agent will create it: in
	// its nearest existing parent. The check creates no directory.
	dir, missing, err := nearestDir(c.Dir)
	if err != nil {
		return Result{Status: Fail, Detail: err.Error()}
	}
	where := c.Dir
	if missing {
		where = fmt.Sprintf("%s does not exist yet; measured %s, where the agent will create it", c.Dir, dir)
	}
	figs := map[string]float64{}
	avail, total, err := freeSpace(dir)
	if err != nil {
		return Result{Status: Fail, Detail: err.Error()}
	}
	figs["free_gib"] = float64(avail) / (1 << 30)
	figs["size_gib"] = float64(total) / (1 << 30)

	f, err := os.CreateTemp(dir, ".doorward-selftest-*")
	if err != nil {
		if missing {
			return Result{Status: Fail, Detail: fmt.Sprintf("%s, but it is not writable: %v (the agent must be able to create its state directory there; run the selftest as the agent's user)", where, unwrapPath(err))}
		}
		return Result{Status: Fail, Detail: fmt.Sprintf("state directory %s is not writable: %v", c.Dir, err)}
	}
	defer os.Remove(f.Name())
	defer f.Close()

	chunk := make([]byte, 1<<20)
	fillRandom(chunk)
	start := clk.Now()
	for left := c.WriteBytes; left > 0; left -= len(chunk) {
		if err := ctx.Err(); err != nil {
			return Result{Status: Skip, Detail: "interrupted: " + err.Error()}
		}
		if _, err := f.Write(chunk[:min(left, len(chunk))]); err != nil {
			return Result{Status: Fail, Detail: fmt.Sprintf("writing %s: %v", f.Name(), err)}
		}
	}
	if err := f.Sync(); err != nil {
		return Result{Status: Fail, Detail: fmt.Sprintf("fsync %s: %v", f.Name(), err)}
	}
	if secs := clk.Now().Sub(start).Seconds(); secs > 0 && c.WriteBytes > 0 {
		figs["write_mb_per_s"] = float64(c.WriteBytes) / 1e6 / secs
	}

	var lat []time.Duration
	for range c.Syncs {
		if err := ctx.Err(); err != nil {
			return Result{Status: Skip, Detail: "interrupted: " + err.Error()}
		}
		t0 := clk.Now()
		if _, err := f.Write(chunk[:4096]); err != nil {
			return Result{Status: Fail, Detail: fmt.Sprintf("writing %s: %v", f.Name(), err)}
		}
		if err := f.Sync(); err != nil {
			return Result{Status: Fail, Detail: fmt.Sprintf("fsync %s: %v", f.Name(), err)}
		}
		lat = append(lat, clk.Now().Sub(t0))
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		figs["fsync_ms_p50"] = ms(lat[len(lat)/2])
		figs["fsync_ms_max"] = ms(lat[len(lat)-1])
	}

	detail := fmt.Sprintf("%s: %.1f GiB free of %.1f GiB", where, figs["free_gib"], figs["size_gib"])
	if avail < c.MinFreeBytes {
		return Result{Status: Warn, Figures: figs, Detail: fmt.Sprintf("%s, below %.1f GiB: retention will delete clips early", detail, float64(c.MinFreeBytes)/(1<<30))}
	}
	return Result{Status: Pass, Figures: figs, Detail: detail}
}

// nearestDir returns dir when it exists, or else its nearest existing
// parent with missing set. An existing path that is not a directory (dir
// itself, or the parent where dir would be created) is an error.
func nearestDir(dir string) (string, bool, error) {
	if dir == "" {
		return "", false, errors.New("no state directory given (valid: a directory such as /var/lib/doorward)")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", false, fmt.Errorf("state directory %s: %w", dir, err)
	}
	for p := abs; ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		switch {
		case err == nil && st.IsDir():
			return p, p != abs, nil
		case err == nil && p == abs:
			return "", false, fmt.Errorf("state directory %s is not a directory (it is a %s)", dir, kind(st.Mode()))
		case err == nil:
			return "", false, fmt.Errorf("state directory %s cannot be created: %s is a %s, not a directory", dir, p, kind(st.Mode()))
		case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
			return "", false, fmt.Errorf("state directory %s: %w", dir, err)
		}
		if filepath.Dir(p) == p {
			return "", false, fmt.Errorf("state directory %s: no parent of it exists", dir)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// fillRandom fills b with fast non-cryptographic random bytes, so that a
// compressing file system cannot flatter the throughput.
func fillRandom(b []byte) {
	r := rand.NewChaCha8([32]byte{'d', 'o', 'o', 'r', 'w', 'a', 'r', 'd'})
	_, _ = r.Read(b)
}

// AgeCheck measures age encryption throughput to a fresh X25519 recipient,
// the work every clip segment goes through.
type AgeCheck struct {
	// Bytes is how much plaintext to encrypt (e.g. 32 MiB).
	Bytes int
	// Clock times the encryption; nil means the real clock.
	Clock clock.Clock
}

// Check returns the age throughput check.
func (c AgeCheck) Check() Check {
	return Check{Name: "age encryption", Required: true, Run: c.run}
}

func (c AgeCheck) run(ctx context.Context) Result {
	clk := c.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return Result{Status: Fail, Detail: "generating an X25519 identity: " + err.Error()}
	}
	chunk := make([]byte, 256<<10)
	fillRandom(chunk)
	start := clk.Now()
	w, err := age.Encrypt(io.Discard, id.Recipient())
	if err != nil {
		return Result{Status: Fail, Detail: "age: " + err.Error()}
	}
	for left := c.Bytes; left > 0; left -= len(chunk) {
		if err := ctx.Err(); err != nil {
			return Result{Status: Skip, Detail: "interrupted: " + err.Error()}
		}
		if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
			return Result{Status: Fail, Detail: "age: " + err.Error()}
		}
	}
	if err := w.Close(); err != nil {
		return Result{Status: Fail, Detail: "age: " + err.Error()}
	}
	secs := clk.Now().Sub(start).Seconds()
	figs := map[string]float64{"mb": float64(c.Bytes) / 1e6}
	if secs > 0 {
		figs["mb_per_s"] = float64(c.Bytes) / 1e6 / secs
	}
	return Result{Status: Pass, Figures: figs, Detail: fmt.Sprintf("encrypted %.0f MB to a fresh X25519 recipient at %.1f MB/s", figs["mb"], figs["mb_per_s"])}
}
