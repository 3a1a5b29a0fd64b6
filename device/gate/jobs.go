package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/capture/vault"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/consent/rewrap"
	"github.com/doorward/doorward/device/backoff"
	"github.com/doorward/doorward/device/events"
)

const (
	initPiece = vault.InitName
	// retryMin and retryMax bound the wait between delivery attempts.
	retryMin = 5 * time.Second
	retryMax = time.Hour
	// deliveryTimeout bounds one delivery attempt, so that a hung
	// destination cannot hold the other jobs back for long.
	deliveryTimeout = 10 * time.Minute
	// batch is how many due jobs one round takes from the index.
	batch = 32
	// uptimeEvery is how often Run persists the accumulated uptime, so a
	// power cut loses at most this much of it.
	uptimeEvery = time.Minute
	// pruneEvery is how often Run forgets the replay records of expired
	// logins and live statements.
	pruneEvery = time.Hour
)

func (g *Gate) poke() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// Run carries out disclosure jobs, follows grants that reach into the
// future (Follow, after every committed segment), releases due notices,
// ends live sessions whose authority ended and persists the uptime, until
// ctx is done. Jobs survive restarts: whatever was accepted is delivered
// eventually, and a job cut short resumes.
func (g *Gate) Run(ctx context.Context) {
	liveDone, backupDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(liveDone)
		g.watchLive(ctx)
	}()
	follow := g.subscribeFollow()
	followDone := make(chan struct{})
	go func() {
		defer close(followDone)
		g.runFollow(ctx, follow)
	}()
	go func() {
		defer close(backupDone)
		g.watchBackup(ctx)
	}()
	defer func() {
		<-followDone
		follow.Close()
		<-liveDone
		<-backupDone
		if err := g.SaveUptime(); err != nil {
			g.log.Error("saving uptime", "err", err)
		}
	}()
	lastSave, lastPrune := g.opts.Uptime(), time.Duration(-1)
	for {
		if _, err := g.Follow(); err != nil {
			g.log.Error("following grants", "err", err)
		}
		next, err := g.runDue(ctx)
		if err != nil {
			g.log.Error("disclosure", "err", err)
		}
		if _, err := g.ReleaseNotices(); err != nil {
			g.log.Error("releasing notices", "err", err)
		}
		if err := g.opts.Audit.FlushRefusals(); err != nil {
			g.log.Error("audit: flushing refusals", "err", err)
		}
		if up := g.opts.Uptime(); lastPrune < 0 || up-lastPrune >= pruneEvery {
			if _, err := g.pruneSeen(); err != nil {
				g.log.Error("pruning replay records", "err", err)
			}
			lastPrune = up
		}
		if up := g.opts.Uptime(); up-lastSave >= uptimeEvery {
			if err := g.SaveUptime(); err != nil {
				g.log.Error("saving uptime", "err", err)
			} else {
				lastSave = up
			}
		}
		wait := 30 * time.Second
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(g.clk.Now()), 10*time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return
		case <-g.wake:
		case <-g.clk.After(wait):
		}
	}
}

// runDue attempts every job due now, oldest due first, and returns when
// the next one is due (zero when none is pending).
func (g *Gate) runDue(ctx context.Context) (time.Time, error) {
	for ctx.Err() == nil {
		now := g.clk.Now()
		var due [][]byte
		var next time.Time
		err := g.db.View(func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucketPending).Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				at := pendingAt(k)
				if at.After(now) {
					next = at
					break
				}
				if len(due) == batch {
					next = now
					break
				}
				due = append(due, bytes.Clone(k))
			}
			return nil
		})
		if err != nil || len(due) == 0 {
			return next, err
		}
		var firstErr error
		for _, k := range due {
			if ctx.Err() != nil {
				break
			}
			// One job's failure is its own: it is rescheduled and the
			// others go on.
			if err := g.attempt(ctx, k); err != nil && firstErr == nil {
				firstErr = fmt.Errorf("job %s: %w", k[8:], err)
			}
		}
		if firstErr != nil {
			return time.Time{}, firstErr
		}
		if next.IsZero() || next.After(g.clk.Now()) {
			return next, nil
		}
	}
	return time.Time{}, nil
}

func pendingAt(k []byte) time.Time {
	if len(k) < 8 {
		return time.Time{}
	}
	n := u64of(k[:8])
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(n))
}

// putJob stores j and keeps the pending index in step: old is the record
// before (its index key is removed), nil for a new job.
func putJob(tx *bbolt.Tx, j Job, old ...Job) error {
	idx := tx.Bucket(bucketPending)
	for _, o := range old {
		if err := idx.Delete(pendingKey(o)); err != nil {
			return err
		}
	}
	if !j.Finished() {
		if err := idx.Put(pendingKey(j), nil); err != nil {
			return err
		}
	}
	return put(tx, bucketJobs, []byte(j.ID), j)
}

func getJob(tx *bbolt.Tx, id string) (Job, bool, error) {
	var j Job
	ok, err := get(tx, bucketJobs, []byte(id), &j)
	return j, ok, err
}

// requeueRunning puts the jobs a stop interrupted back to pending.
func requeueRunning(tx *bbolt.Tx) error {
	var ids []string
	c := tx.Bucket(bucketPending).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		ids = append(ids, string(k[8:]))
	}
	for _, id := range ids {
		j, ok, err := getJob(tx, id)
		if err != nil {
			return err
		}
		if !ok || j.Finished() {
			tx.Bucket(bucketPending).Delete(pendingKey(j))
			continue
		}
		if j.State == JobRunning {
			old := j
			j.State = JobPending
			if err := putJob(tx, j, old); err != nil {
				return err
			}
		}
	}
	return nil
}

// failUnfinished fails every unfinished job of authority (the pending
// index holds them all) and returns them.
func (g *Gate) failUnfinished(tx *bbolt.Tx, authority, why string, now time.Time) ([]Job, error) {
	var ids []string
	c := tx.Bucket(bucketPending).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		ids = append(ids, string(k[8:]))
	}
	var out []Job
	for _, id := range ids {
		j, ok, err := getJob(tx, id)
		if err != nil {
			return nil, err
		}
		if !ok || j.Authority != authority || j.Finished() {
			continue
		}
		old := j
		j.State, j.Done, j.Error, j.Files = JobFailed, now, why, nil
		if err := putJob(tx, j, old); err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// withdraw cancels the deliveries of jobs in progress and takes back what
// they wrote.
func (g *Gate) withdraw(jobs []Job) {
	for _, j := range jobs {
		g.mu.Lock()
		cancel := g.running[j.ID]
		g.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		g.withdrawOutput(j)
		g.publishJob(j)
	}
}

func (g *Gate) withdrawOutput(j Job) {
	if w, ok := g.deliver.(Withdrawer); ok {
		if err := w.Withdraw(context.Background(), j); err != nil {
			g.log.Error("withdrawing a disclosure", "job", j.ID, "err", err)
		}
	}
}

// authorityActive reports whether the grant behind a job may still
// disclose (tokens, once accepted, stay valid for their jobs).
func (g *Gate) authorityActive(tx *bbolt.Tx, authority string) (bool, string, error) {
	if strings.HasPrefix(authority, backupPrefix) {
		if !g.opts.CloudBackup {
			// Queued while an uplink was configured; never delivered
			// anywhere else.
			return false, "no uplink: backups are only uploaded", nil
		}
		return backupActive(tx, authority)
	}
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

// attempt delivers one job: running, then delivered, back to pending
// after a backoff, or failed.
func (g *Gate) attempt(ctx context.Context, key []byte) error {
	id := string(key[8:])
	g.mu.Lock()
	v := g.vault
	g.mu.Unlock()
	var j Job
	var why string
	start := false
	err := g.db.Update(func(tx *bbolt.Tx) error {
		var ok bool
		var err error
		if j, ok, err = getJob(tx, id); err != nil {
			return err
		}
		if !ok || j.Finished() {
			j = Job{}
			return tx.Bucket(bucketPending).Delete(key) // a stale index entry
		}
		old := j
		active, reason, err := g.authorityActive(tx, j.Authority)
		if err != nil {
			return err
		}
		now := g.clk.Now()
		switch {
		case !active:
			j.State, j.Done, j.Error = JobFailed, now, reason
			why = reason
		case v == nil:
			// Not recording yet: nothing to disclose from. Look again later.
			j.NextAttempt = now.Add(30 * time.Second)
			j.State = JobPending
		default:
			j.State, j.Attempts = JobRunning, j.Attempts+1
			start = true
		}
		return putJob(tx, j, old)
	})
	if err != nil || j.ID == "" {
		return err
	}
	if why != "" {
		g.withdrawOutput(j)
		g.publishJob(j)
		return nil
	}
	if !start {
		return nil
	}
	g.publishJob(j)

	pieces, missing, err := g.pieces(v, j)
	if err != nil {
		return g.retryOrFail(j, err)
	}
	dctx, cancel := context.WithTimeout(ctx, deliveryTimeout)
	g.mu.Lock()
	g.running[j.ID] = cancel
	g.mu.Unlock()
	// A revocation (or backup off) that failed the job after it was
	// marked running, but looked for its cancel before it was registered
	// above, is seen here: nothing is delivered.
	if still, err := g.stillRunning(j.ID); err != nil || !still {
		cancel()
	}
	err = g.deliver.Deliver(dctx, Delivery{Job: j, Pieces: pieces})
	g.mu.Lock()
	delete(g.running, j.ID)
	g.mu.Unlock()
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return g.requeue(j) // stopping: try again after the restart
		}
		return g.retryOrFail(j, err)
	}
	var names []string
	for _, p := range pieces {
		names = append(names, FileName(p.Name))
	}
	note := ""
	if missing > 0 {
		note = fmt.Sprintf("%d piece(s) no longer stored", missing)
	}
	return g.finishJob(j, names, note)
}

// pieces lists a job's pieces: the init segment, then the scoped
// segments, each re-wrapped (header only) for the job's recipient alone,
// or the stored owner-only ciphertext in strict mode. Pieces retention
// deleted before the job ran are left out and counted.
func (g *Gate) pieces(v *vault.Vault, j Job) ([]Piece, int, error) {
	recipients := []string{j.Recipient}
	if j.IsBackup() {
		recipients = j.Recipients
	}
	to, err := consent.ParseRecipients(recipients)
	if err != nil || len(to) == 0 {
		return nil, 0, fmt.Errorf("%w: recipient: %v", ErrPermanent, err)
	}
	clip := vault.Clip{ID: j.Clip, Dir: j.ClipDir}
	type src struct{ path, name string }
	var srcs []src
	if !j.SkipInit {
		srcs = append(srcs, src{v.InitPath(clip), initPiece})
	}
	for _, seq := range j.Segments {
		srcs = append(srcs, src{v.SegmentPath(clip, seq), vault.SegmentName(seq)})
	}
	id := g.vaultIdentity()
	var out []Piece
	missing := 0
	for _, s := range srcs {
		p, err := piece(s.path, s.name, j.Strict, id, to)
		if errors.Is(err, os.ErrNotExist) {
			missing++ // deleted by retention before the job ran (no legal hold)
			continue
		}
		if errors.Is(err, rewrap.ErrDowngrade) || errors.Is(err, rewrap.ErrRecipientType) || errors.Is(err, rewrap.ErrWrongIdentity) {
			// Retrying cannot help: disclose nothing rather than part.
			return nil, 0, fmt.Errorf("%w: %w", ErrPermanent, err)
		}
		if err != nil {
			return nil, 0, err
		}
		out = append(out, p)
	}
	return out, missing, nil
}

// piece prepares one stored piece: its new header is made now, so Size is
// exact; Open streams that header and then the stored payload.
func piece(path, name string, strict bool, id age.Identity, to []age.Recipient) (Piece, error) {
	f, err := os.Open(path)
	if err != nil {
		return Piece{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Piece{}, err
	}
	if strict {
		return Piece{Name: name, Size: st.Size(), Open: func() (io.ReadCloser, error) { return os.Open(path) }}, nil
	}
	header, skip, err := rewrap.NewHeaderMany(f, id, to)
	if err != nil {
		return Piece{}, fmt.Errorf("%s: %w", name, err)
	}
	payload := st.Size() - int64(skip)
	if payload < rewrap.MinPayload {
		return Piece{}, fmt.Errorf("%w: %s: %w", ErrPermanent, name, rewrap.ErrTruncatedPayload)
	}
	return Piece{Name: name, Size: int64(len(header)) + payload, Open: func() (io.ReadCloser, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		if _, err := f.Seek(int64(skip), io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
		return readCloser{io.MultiReader(bytes.NewReader(header), io.LimitReader(f, payload)), f}, nil
	}}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// stillRunning reports whether job id is still marked running.
func (g *Gate) stillRunning(id string) (bool, error) {
	var running bool
	err := g.db.View(func(tx *bbolt.Tx) error {
		j, ok, err := getJob(tx, id)
		running = ok && j.State == JobRunning
		return err
	})
	return running, err
}

// requeue puts a running job back to pending, due at once.
func (g *Gate) requeue(j Job) error {
	return g.db.Update(func(tx *bbolt.Tx) error {
		cur, ok, err := getJob(tx, j.ID)
		if err != nil || !ok || cur.State != JobRunning {
			return err
		}
		old := cur
		cur.State = JobPending
		return putJob(tx, cur, old)
	})
}

// retryOrFail schedules another attempt after a backoff, or fails the job
// when the error is permanent.
func (g *Gate) retryOrFail(j Job, derr error) error {
	var final Job
	failed := false
	err := g.db.Update(func(tx *bbolt.Tx) error {
		cur, ok, err := getJob(tx, j.ID)
		if err != nil || !ok || cur.Finished() {
			return err // revoked meanwhile
		}
		old := cur
		now := g.clk.Now()
		cur.LastError = derr.Error()
		if errors.Is(derr, ErrPermanent) {
			cur.State, cur.Done, cur.Error, cur.Files = JobFailed, now, derr.Error(), nil
			failed = true
		} else {
			cur.State = JobPending
			cur.NextAttempt = now.Add(retryDelay(cur.Attempts))
		}
		final = cur
		return putJob(tx, cur, old)
	})
	if err != nil {
		return err
	}
	if final.ID == "" {
		g.withdrawOutput(j)
		return nil
	}
	if failed {
		g.withdrawOutput(final)
	}
	g.publishJob(final)
	if !final.Delayed {
		g.log.Warn("disclosure delivery failed", "job", j.ID, "attempt", final.Attempts, "retry", !failed, "err", derr)
	}
	return nil
}

// retryDelay is the wait after the n-th failed attempt: doubling from
// retryMin up to retryMax (device/backoff, without jitter: the attempts
// are spread by their jobs' own times).
func retryDelay(n int) time.Duration {
	b := backoff.New(backoff.Policy{Min: retryMin, Max: retryMax})
	d := b.Next()
	for i := 1; i < n && d < retryMax; i++ {
		d = b.Next()
	}
	return d
}

// finishJob marks a delivered job done and logs what was disclosed — a
// disclosure leaf, or, while the job's notice is delayed, a commitment
// opened when the notice is released — after checking the authority once
// more: a grant revoked while the pieces were delivered discloses
// nothing, and what was delivered is withdrawn.
func (g *Gate) finishJob(j Job, files []string, note string) error {
	now := g.clk.Now()
	var final Job
	err := g.db.Update(func(tx *bbolt.Tx) error {
		cur, ok, err := getJob(tx, j.ID)
		if err != nil || !ok || cur.State != JobRunning {
			return err // failed meanwhile (revoked)
		}
		old := cur
		active, why, err := g.authorityActive(tx, cur.Authority)
		if err != nil {
			return err
		}
		if !active {
			cur.State, cur.Done, cur.Error, cur.Files = JobFailed, now, why, nil
			final = cur
			return putJob(tx, cur, old)
		}
		cur.State, cur.Done, cur.Files, cur.Error, cur.LastError = JobDelivered, now, files, note, ""
		// A backup job's upload is the consequence of the backup-change
		// leaf and opens with the owners' keys alone: no leaf per piece.
		if len(files) > 0 && !cur.IsBackup() {
			e := audit.Entry{Time: now, Kind: audit.KindDisclosure, Subject: append([]string{cur.Authority, cur.Clip}, files...),
				Details: map[string]string{"recipient": cur.Recipient, "disclosure": cur.ID, "strict": fmt.Sprint(cur.Strict)}}
			if cur.Delayed {
				if err := g.commitToNotice(tx, cur.Notice, e); err != nil {
					return err
				}
			} else if _, err := g.opts.Audit.AppendTx(tx, e); err != nil {
				return err
			}
		}
		final = cur
		return putJob(tx, cur, old)
	})
	if err != nil {
		return err
	}
	if final.ID == "" || final.State == JobFailed {
		g.withdrawOutput(j)
		if final.ID != "" {
			g.publishJob(final)
		}
		return nil
	}
	g.publishJob(final)
	return nil
}

// publishJob announces a job's state; a delayed job's names no authority.
func (g *Gate) publishJob(j Job) {
	e := events.Event{Kind: events.JobState, Job: j.ID, State: string(j.State), Authority: j.Authority, Note: j.Error}
	if j.Delayed {
		e.Authority, e.Note = "", ""
	}
	g.publish(e)
}

// JobQuery selects a page of jobs, in ID order (which is creation order).
type JobQuery struct {
	// After is the ID of the last job of the previous page ("" for the
	// first).
	After string
	// Limit is the page size: 1 to MaxJobPage, DefaultJobPage when 0.
	Limit int
	// Unfinished lists only pending and running jobs, from their index.
	Unfinished bool
}

// Page sizes of Jobs.
const (
	DefaultJobPage = 100
	MaxJobPage     = 1000
)

// Jobs returns a page of disclosure jobs and the After of the next page
// ("" on the last). A job whose owner notice is still delayed is left out:
// until the notice is released, a listing shows no more than the audit
// log's commitment does.
func (g *Gate) Jobs(q JobQuery) ([]Job, string, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultJobPage
	}
	limit = min(limit, MaxJobPage)
	var out []Job
	var next string
	err := g.db.View(func(tx *bbolt.Tx) error {
		visit := func(j Job) bool {
			if j.Delayed {
				return true
			}
			if len(out) == limit {
				next = out[len(out)-1].ID
				return false
			}
			out = append(out, j)
			return true
		}
		if q.Unfinished {
			var ids []string
			c := tx.Bucket(bucketPending).Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				if id := string(k[8:]); id > q.After {
					ids = append(ids, id)
				}
			}
			sortStrings(ids)
			for _, id := range ids {
				j, ok, err := getJob(tx, id)
				if err != nil {
					return err
				}
				if ok && !visit(j) {
					break
				}
			}
			return nil
		}
		c := tx.Bucket(bucketJobs).Cursor()
		k, v := c.First()
		if q.After != "" {
			k, v = c.Seek([]byte(q.After))
			if k != nil && bytes.Equal(k, []byte(q.After)) {
				k, v = c.Next()
			}
		}
		for ; k != nil; k, v = c.Next() {
			var j Job
			if err := unmarshalJob(k, v, &j); err != nil {
				return err
			}
			if !visit(j) {
				break
			}
		}
		return nil
	})
	return out, next, err
}

func sortStrings(s []string) { slices.Sort(s) }

func unmarshalJob(k, v []byte, j *Job) error {
	if err := json.Unmarshal(v, j); err != nil {
		return fmt.Errorf("gate: record %s/%s: %w", bucketJobs, k, err)
	}
	return nil
}
