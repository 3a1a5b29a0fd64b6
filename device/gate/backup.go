package gate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/capture/vault"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/device/events"
)

// ErrBackupUnchanged answers a valid backup statement that asks for the
// state the backup is already in: like a repeated revocation, it is rolled
// back (no audit leaf, the jti not burned).
var ErrBackupUnchanged = errors.New("gate: the cloud backup is already in that state")

// keyBackup is the backup state's key in the meta bucket.
var keyBackup = []byte("backup")

// backupPrefix starts the authority of a backup job: "backup:<jti>" names
// the statement that turned the backup on.
const backupPrefix = "backup:"

// Backup is the owner-consented cloud backup's state. Off is the default:
// nothing is backed up until an owner signs a backup statement.
type Backup struct {
	On    bool     `json:"on"`
	Media []string `json:"media,omitempty"`
	// Statement is the jti of the statement that set this state; the
	// jobs a backup makes name it as their authority.
	Statement string    `json:"statement,omitempty"`
	Signer    string    `json:"signer,omitempty"` // owner kid
	Changed   time.Time `json:"changed,omitzero"`
}

// video reports whether the backup is on for video, the one medium the
// device records.
func (b Backup) video() bool { return b.On && slices.Contains(b.Media, consent.MediaVideo) }

func backupTx(tx *bbolt.Tx) (Backup, error) {
	var b Backup
	_, err := get(tx, bucketMeta, keyBackup, &b)
	return b, err
}

// Backup returns the cloud backup's state.
func (g *Gate) Backup() (Backup, error) {
	var b Backup
	err := g.db.View(func(tx *bbolt.Tx) error {
		var err error
		b, err = backupTx(tx)
		return err
	})
	return b, err
}

// CloudBackup reports whether this gate can back up at all: only when its
// Deliverer uploads to the cloud (the uplink is configured).
func (g *Gate) CloudBackup() bool { return g.opts.CloudBackup }

// SetBackup verifies an owner-signed backup statement and turns the cloud
// backup on or off, with its audit leaf, in one transaction that reads
// the stored state. Asking for the state it is in answers
// ErrBackupUnchanged. Turning it off fails the backup's unfinished jobs:
// nothing more is uploaded, from the clip being recorded either.
func (g *Gate) SetBackup(data []byte) (Backup, error) {
	var c *consent.BackupClaims
	var st *consent.OwnerStatement
	var next Backup
	var cancelled []Job
	err := g.decide(rule{
		kind: consent.KindBackup, refused: audit.KindBackupRefused, statement: data,
		verify: func(d *decisionTx) (string, time.Time, error) {
			var err error
			if st, err = d.ownerStatement(data, consent.KindBackup); err != nil {
				return "", time.Time{}, err
			}
			c = st.Claims.(*consent.BackupClaims)
			return c.ID, st.Expiry(), nil
		},
		apply: func(d *decisionTx) error {
			cur, err := backupTx(d.tx)
			if err != nil {
				return err
			}
			media := slices.Clone(c.Media)
			if !c.On {
				media = nil
			}
			slices.Sort(media)
			if cur.On == c.On && slices.Equal(cur.Media, media) {
				state := "off"
				if cur.On {
					state = "on for " + strings.Join(cur.Media, ", ")
				}
				return fmt.Errorf("%w: it is %s since %s", ErrBackupUnchanged, state, cur.Changed.UTC().Format(time.RFC3339))
			}
			next = Backup{On: c.On, Media: media, Statement: c.ID, Signer: st.KeyID, Changed: d.now}
			if err := put(d.tx, bucketMeta, keyBackup, next); err != nil {
				return err
			}
			if cur.On {
				// The jobs of the backup turned on before end with it.
				if cancelled, err = g.failUnfinished(d.tx, backupPrefix+cur.Statement, "backup turned off", d.now); err != nil {
					return err
				}
			}
			d.authority = st.KeyID
			d.after = append(d.after, func() {
				g.mu.Lock()
				clear(g.backupClips)
				g.mu.Unlock()
				g.withdraw(cancelled)
				g.log.Info("cloud backup changed", "on", next.On, "media", strings.Join(next.Media, ","), "uplink", g.opts.CloudBackup, "jobs_cancelled", len(cancelled))
			})
			_, err = g.opts.Audit.AppendTx(d.tx, audit.Entry{Time: d.now, Kind: audit.KindBackupChange, Subject: []string{c.ID},
				Details: map[string]string{
					"signer": st.KeyID, "on": fmt.Sprint(next.On), "media": strings.Join(next.Media, ","),
					"uplink": fmt.Sprint(g.opts.CloudBackup),
				}})
			return err
		},
	})
	if err != nil {
		return Backup{}, err
	}
	return next, nil
}

// watchBackup turns the recorder's events into backup jobs until ctx is
// done: a clip that starts while the backup is on is backed up, each
// piece as it commits (the init segment with the first media segment);
// a clip that started while it was off is not, even if it is turned on
// meanwhile. Nothing runs without a cloud Deliverer.
func (g *Gate) watchBackup(ctx context.Context) {
	sub := g.backupSub
	if sub == nil {
		return
	}
	defer sub.Close()
	var dropped uint64
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-sub.C():
			if !ok {
				return
			}
			if n := sub.Dropped(); n > dropped {
				g.log.Warn("backup: events were dropped; some pieces will not be backed up", "dropped", n-dropped)
				dropped = n
			}
			switch e.Kind {
			case events.ClipStarted:
				g.backupClipStarted(e.Clip)
			case events.SegmentCommitted:
				if err := g.backupSegment(e.Clip, e.Segment); err != nil {
					g.log.Error("backup: queueing a piece", "clip", e.Clip, "segment", e.Segment, "err", err)
				}
			case events.ClipClosed:
				g.mu.Lock()
				delete(g.backupClips, e.Clip)
				g.mu.Unlock()
			}
		}
	}
}

// backupClip is a clip being backed up: the statement that turned the
// backup on when it started, and whether its init segment is queued.
type backupClip struct {
	statement string
	init      bool
}

func (g *Gate) backupClipStarted(clip string) {
	b, err := g.Backup()
	if err != nil {
		g.log.Error("backup: reading its state", "err", err)
		return
	}
	if !b.video() {
		return
	}
	g.mu.Lock()
	g.backupClips[clip] = &backupClip{statement: b.Statement}
	g.mu.Unlock()
}

// backupSegment queues one committed segment of a clip being backed up,
// after checking in the same transaction that the backup is still on
// under the statement the clip started under.
func (g *Gate) backupSegment(clip string, seq int) error {
	g.mu.Lock()
	bc := g.backupClips[clip]
	var state backupClip
	if bc != nil {
		state = *bc
	}
	g.mu.Unlock()
	if bc == nil {
		return nil
	}
	var job Job
	err := g.db.Update(func(tx *bbolt.Tx) error {
		b, err := backupTx(tx)
		if err != nil {
			return err
		}
		if !b.video() || b.Statement != state.statement {
			return nil // turned off (or off and on again) since the clip started
		}
		rec, ok, err := vault.ClipTx(tx, clip)
		if err != nil || !ok {
			return err
		}
		owners, err := list[Owner](tx, bucketOwner)
		if err != nil {
			return err
		}
		now := g.clk.Now()
		job = Job{
			ID: fmt.Sprintf("%s-%s", now.UTC().Format("20060102T150405Z"), randomID("b")), Authority: backupPrefix + b.Statement,
			Recipients: recipientsOf(owners), Clip: clip, ClipDir: rec.Dir, Segments: []int{seq}, SkipInit: state.init,
			Created: now, State: JobPending, Strict: g.vaultIdentity() == nil,
		}
		return putJob(tx, job)
	})
	if err != nil || job.ID == "" {
		return err
	}
	g.mu.Lock()
	if bc := g.backupClips[clip]; bc != nil {
		bc.init = true
	}
	g.mu.Unlock()
	g.publishJob(job)
	g.poke()
	return nil
}

// backupActive reports whether the backup that made a job is still on.
func backupActive(tx *bbolt.Tx, authority string) (bool, string, error) {
	jti, _ := strings.CutPrefix(authority, backupPrefix)
	b, err := backupTx(tx)
	if err != nil {
		return false, "", err
	}
	if !b.video() || b.Statement != jti {
		return false, "backup turned off", nil
	}
	return true, "", nil
}

// IsBackup reports whether a job is a backup job.
func (j Job) IsBackup() bool { return strings.HasPrefix(j.Authority, backupPrefix) }
