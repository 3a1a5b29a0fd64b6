package gate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"filippo.io/age"
	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/capture/vault"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/consent/rewrap"
)

func (g *Gate) poke() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// Run carries out disclosure jobs and releases due notices until ctx is
// done. Jobs survive restarts: whatever was accepted is written out
// eventually, and a job that was cut short resumes.
func (g *Gate) Run(ctx context.Context) {
	tick := time.Second
	for {
		if err := g.runJobs(ctx); err != nil {
			g.log.Error("disclosure", "err", err)
		}
		if _, err := g.ReleaseNotices(); err != nil {
			g.log.Error("releasing notices", "err", err)
		}
		if err := g.opts.Audit.FlushRefusals(); err != nil {
			g.log.Error("audit: flushing refusals", "err", err)
		}
		select {
		case <-ctx.Done():
			g.SaveUptime()
			return
		case <-g.wake:
		case <-g.clk.After(tick):
			if tick < 30*time.Second {
				tick *= 2
			}
			continue
		}
		tick = time.Second
	}
}

// Jobs lists the disclosure jobs, oldest first.
func (g *Gate) Jobs() ([]Job, error) {
	var out []Job
	err := g.db.View(func(tx *bbolt.Tx) error {
		var err error
		out, err = list[Job](tx, bucketJobs)
		return err
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

func (g *Gate) runJobs(ctx context.Context) error {
	jobs, err := g.Jobs()
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if !j.Done.IsZero() || ctx.Err() != nil {
			continue
		}
		if err := g.runJob(j); err != nil {
			return fmt.Errorf("job %s: %w", j.ID, err)
		}
	}
	return nil
}

// authorityActive reports whether the grant behind a job may still
// disclose (tokens, once accepted, stay valid for their jobs).
func (g *Gate) authorityActive(tx *bbolt.Tx, authority string) (bool, string, error) {
	jti, ok := strings.CutPrefix(authority, "grant:")
	if !ok {
		return true, "", nil
	}
	var grant Grant
	found, err := get(tx, bucketGrants, []byte(jti), &grant)
	if err != nil || !found {
		return false, "grant not found", err
	}
	switch {
	case !grant.Revoked.IsZero():
		return false, "grant revoked", nil
	case !g.clk.Now().Before(grant.Expires):
		return false, "grant expired", nil
	}
	return true, "", nil
}

// runJob writes one clip's pieces for the job's recipient: the init
// segment then the scoped segments, named so they sort in playback order,
// each re-wrapped (header only) for the recipient alone, or copied as
// owner-only ciphertext in strict mode.
func (g *Gate) runJob(j Job) error {
	g.mu.Lock()
	v := g.vault
	g.mu.Unlock()
	if v == nil {
		return nil // not recording yet; nothing to disclose from
	}
	var active bool
	var why string
	if err := g.db.View(func(tx *bbolt.Tx) error {
		var err error
		active, why, err = g.authorityActive(tx, j.Authority)
		return err
	}); err != nil {
		return err
	}
	dir := filepath.Join(g.opts.DisclosureDir, j.ID)
	if !active {
		os.RemoveAll(dir)
		return g.finishJob(j, nil, why)
	}
	to, err := consent.ParseRecipients([]string{j.Recipient})
	if err != nil {
		return g.finishJob(j, nil, err.Error())
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	clip := vault.Clip{ID: j.Clip, Dir: j.ClipDir}
	type piece struct{ src, name string }
	pieces := []piece{{v.InitPath(clip), fmt.Sprintf("%06d-init.mp4.age", 0)}}
	for _, seq := range j.Segments {
		pieces = append(pieces, piece{v.SegmentPath(clip, seq), vault.SegmentName(seq)})
	}
	var files []string
	var missing int
	for _, p := range pieces {
		dst := filepath.Join(dir, p.name)
		if _, err := os.Stat(dst); err == nil {
			files = append(files, p.name) // written before a restart
			continue
		}
		err := g.writePiece(dst, p.src, j.Strict, to[0])
		if errors.Is(err, os.ErrNotExist) {
			missing++ // deleted by retention before the job ran (no legal hold)
			continue
		}
		if errors.Is(err, rewrap.ErrDowngrade) || errors.Is(err, rewrap.ErrRecipientType) || errors.Is(err, rewrap.ErrWrongIdentity) {
			// Retrying cannot help: disclose nothing rather than part.
			os.RemoveAll(dir)
			return g.finishJob(j, nil, err.Error())
		}
		if err != nil {
			return err
		}
		files = append(files, p.name)
	}
	note := ""
	if missing > 0 {
		note = fmt.Sprintf("%d piece(s) no longer stored", missing)
	}
	return g.finishJob(j, files, note)
}

func (g *Gate) writePiece(dst, src string, strict bool, to age.Recipient) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst+".partial", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if strict {
		_, err = io.Copy(out, in)
	} else {
		err = rewrap.Rewrap(out, in, g.vaultIdentity(), to)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(dst+".partial", dst)
	}
	if err != nil {
		os.Remove(dst + ".partial")
		return fmt.Errorf("writing %s: %w", filepath.Base(dst), err)
	}
	return nil
}

// finishJob marks a job done and logs what was disclosed: a disclosure
// leaf, or, while the job's notice is delayed, a commitment opened when
// the notice is released.
func (g *Gate) finishJob(j Job, files []string, note string) error {
	now := g.clk.Now()
	return g.db.Update(func(tx *bbolt.Tx) error {
		j.Done, j.Files, j.Error = now, files, note
		if len(files) > 0 {
			e := audit.Entry{Time: now, Kind: audit.KindDisclosure, Subject: append([]string{j.Authority, j.Clip}, files...),
				Details: map[string]string{"recipient": j.Recipient, "disclosure": j.ID, "strict": fmt.Sprint(j.Strict)}}
			if j.Delayed {
				if err := g.commitToNotice(tx, j.Notice, e); err != nil {
					return err
				}
			} else if _, err := g.opts.Audit.AppendTx(tx, e); err != nil {
				return err
			}
		}
		return put(tx, bucketJobs, []byte(j.ID), j)
	})
}
