package gate

import (
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/capture/vault"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
)

// SubmitGrant verifies an owner's grant and records it, with its audit
// leaf, its notice and the disclosure jobs for its scope, in one
// transaction. A grant for live view only discloses nothing now.
func (g *Gate) SubmitGrant(data []byte) (Grant, error) {
	var c *consent.GrantClaims
	var st *consent.OwnerStatement
	var grant Grant
	err := g.decide(rule{
		kind: consent.KindGrant, refused: audit.KindGrantRefused, statement: data,
		verify: func(d *decisionTx) (string, time.Time, error) {
			var err error
			if st, err = d.ownerStatement(data, consent.KindGrant); err != nil {
				return "", time.Time{}, err
			}
			c = st.Claims.(*consent.GrantClaims)
			if slices.Contains(c.Scope.Media, "snapshot") {
				return c.ID, time.Time{}, &consent.Error{Reason: consent.ReasonMediaNotRecorded,
					Detail: "media snapshot: this device records no snapshots; grant video (its clips) instead"}
			}
			if err := checkRecipientFamily(c.Recipient, d.recipients); err != nil {
				return c.ID, time.Time{}, err
			}
			return c.ID, st.Expiry(), nil
		},
		apply: func(d *decisionTx) error {
			grant = Grant{
				JTI: c.ID, Grantee: c.Grantee, Recipient: c.Recipient, From: c.Scope.From, Until: c.Scope.Until,
				Media: c.Scope.Media, Live: c.Scope.Live, Expires: c.Expiry.Time(), Uses: c.Uses,
				Signer: st.KeyID, Accepted: d.now,
			}
			refs, err := g.scoped(d.tx, c.Scope)
			if err != nil {
				return err
			}
			if len(refs) > 0 {
				grant.Used = 1
			}
			// A window reaching past now keeps disclosing what is
			// committed inside it (follow.go).
			grant.Follow = c.Scope.Until.After(d.now) && slices.Contains(c.Scope.Media, "video")
			for _, r := range refs {
				if r.Segment.End.After(grant.FollowedTo) {
					grant.FollowedTo = r.Segment.End
				}
			}
			jobs, err := g.record(d, disclosure{
				authority: "grant:" + c.ID, recipient: c.Recipient, refs: refs, releaseAt: d.now,
				body: NoticeBody{
					Time: d.now, Kind: "grant", Authority: c.ID, Recipient: c.Recipient, From: c.Scope.From, Until: c.Scope.Until,
					Segments: len(refs), Strict: g.vaultIdentity() == nil,
				},
				entry: audit.Entry{
					Time: d.now, Kind: audit.KindGrantAccepted, Subject: []string{c.ID},
					Details: map[string]string{
						"signer": st.KeyID, "grantee": c.Grantee, "recipient": c.Recipient, "segments": fmt.Sprint(len(refs)),
						"from": c.Scope.From.UTC().Format(time.RFC3339), "until": c.Scope.Until.UTC().Format(time.RFC3339),
						"live": fmt.Sprint(c.Scope.Live), "expires": grant.Expires.UTC().Format(time.RFC3339),
					},
				},
			})
			if err != nil {
				return err
			}
			grant.Disclosures = len(jobs)
			grant.Notice = d.notice
			d.after = append(d.after, func() { g.log.Info("grant accepted", "jti", grant.JTI, "recipient", grant.Recipient) })
			return put(d.tx, bucketGrants, []byte(c.ID), grant)
		},
	})
	if err != nil {
		return Grant{}, err
	}
	return grant, nil
}

// Grants lists the accepted grants.
func (g *Gate) Grants() ([]Grant, error) {
	var out []Grant
	err := g.db.View(func(tx *bbolt.Tx) error {
		var err error
		out, err = list[Grant](tx, bucketGrants)
		return err
	})
	return out, err
}

// scoped returns the segments a scope releases: video only (the device
// records no audio or snapshots yet), never live footage here.
func (g *Gate) scoped(tx *bbolt.Tx, s consent.Scope) ([]vault.Ref, error) {
	if !slices.Contains(s.Media, "video") || !s.Until.After(s.From) {
		return nil, nil
	}
	return vault.OverlappingTx(tx, s.From, s.Until)
}

// disclosure is what record writes for an accepted grant or token.
type disclosure struct {
	authority string // "grant:<jti>" or "legal:<jti>"
	recipient string
	refs      []vault.Ref
	// releaseAt is when the owners are told: now, or later for a token
	// that asks for a delay.
	releaseAt time.Time
	body      NoticeBody
	entry     audit.Entry
}

// record writes a disclosure decision's consequences into d's transaction:
// the audit leaf (or a commitment while the notice is delayed), the notice
// and one pending, indexed disclosure job per clip.
func (g *Gate) record(d *decisionTx, w disclosure) ([]Job, error) {
	tx, now := d.tx, d.now
	delayed := w.releaseAt.After(now)
	notices := tx.Bucket(bucketNotices)
	id, err := notices.NextSequence()
	if err != nil {
		return nil, err
	}
	n := Notice{ID: id, Created: now, ReleaseAt: w.releaseAt, Released: !delayed}
	n.ReleaseUptime = g.uptime() + w.releaseAt.Sub(now)
	if delayed {
		p, err := g.commit(tx, w.entry)
		if err != nil {
			return nil, err
		}
		n.Pending = append(n.Pending, p)
	} else {
		if _, err := g.opts.Audit.AppendTx(tx, w.entry); err != nil {
			return nil, err
		}
		d.authority = w.authority
	}
	body := w.body
	jobs := g.newJobs(w.authority, w.recipient, w.refs, now, delayed, id)
	for _, j := range jobs {
		body.Clips = append(body.Clips, j.Clip)
	}
	d.notice = id
	for _, j := range jobs {
		n.Jobs = append(n.Jobs, j.ID)
	}
	if n.Body, err = encryptNotice(body, d.recipients); err != nil {
		return nil, err
	}
	if err := put(tx, bucketNotices, u64key(id), n); err != nil {
		return nil, err
	}
	if delayed {
		if err := tx.Bucket(bucketNoticesDue).Put(u64key(id), nil); err != nil {
			return nil, err
		}
	}
	for _, j := range jobs {
		if err := putJob(tx, j); err != nil {
			return nil, err
		}
	}
	d.after = append(d.after, func() {
		for _, j := range jobs {
			g.publishJob(j)
		}
		g.poke()
	})
	return jobs, nil
}

// newJobs makes one pending disclosure job per clip of refs, each in the
// authority's directory for its clip.
func (g *Gate) newJobs(authority, recipient string, refs []vault.Ref, now time.Time, delayed bool, notice uint64) []Job {
	var jobs []Job
	byClip := map[string]int{}
	for _, r := range refs {
		i, ok := byClip[r.Clip.ID]
		if !ok {
			i = len(jobs)
			byClip[r.Clip.ID] = i
			jobs = append(jobs, Job{
				ID: fmt.Sprintf("%s-%s", now.UTC().Format("20060102T150405Z"), randomID("")), Authority: authority,
				Recipient: recipient, Clip: r.Clip.ID, ClipDir: r.Clip.Dir, Created: now, State: JobPending,
				Strict: g.vaultIdentity() == nil, Delayed: delayed, Notice: notice, Dir: disclosureDir(authority, r.Clip.ID),
			})
		}
		jobs[i].Segments = append(jobs[i].Segments, r.Segment.Seq)
	}
	return jobs
}
