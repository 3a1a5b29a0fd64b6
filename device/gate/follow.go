package gate

import (
	"context"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/capture/vault"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/events"
)

// followQueue is the queue of segment-committed events the gate follows
// grants with. A lost event costs nothing but time: every round of Run
// looks again.
const followQueue = 64

// subscribeFollow subscribes to the events after which a grant reaching
// into the future may have something new to disclose.
func (g *Gate) subscribeFollow() *events.Sub {
	return g.opts.Events.Subscribe("gate-follow", followQueue, events.SegmentCommitted, events.ClipClosed)
}

// Follow discloses, under every owner grant whose window reached past
// the time it was accepted, the segments committed since inside its
// window: one pending job per clip, in the grant's directory for that
// clip, until the grant's until (and the last segment overlapping it),
// its expiry or its revocation. Legal tokens stay retrospective: they
// disclose only what existed when they were accepted. It returns how
// many jobs it started. Run calls it after every committed segment and on
// every round, so a lost event only delays a disclosure.
func (g *Gate) Follow() (int, error) {
	now := g.clk.Now()
	var started []Job
	var grants []string
	err := g.db.Update(func(tx *bbolt.Tx) error {
		all, err := list[Grant](tx, bucketGrants)
		if err != nil {
			return err
		}
		for _, gr := range all {
			if !gr.following(now) {
				continue
			}
			refs, err := g.scoped(tx, consent.Scope{From: gr.From, Until: gr.Until, Media: gr.Media})
			if err != nil {
				return err
			}
			var fresh []vault.Ref
			for _, r := range refs {
				if r.Segment.End.After(gr.FollowedTo) {
					fresh = append(fresh, r)
				}
			}
			if len(fresh) == 0 {
				continue
			}
			jobs := g.newJobs("grant:"+gr.JTI, gr.Recipient, fresh, now, false, gr.Notice)
			for _, j := range jobs {
				if err := putJob(tx, j); err != nil {
					return err
				}
			}
			for _, r := range fresh {
				if r.Segment.End.After(gr.FollowedTo) {
					gr.FollowedTo = r.Segment.End
				}
			}
			gr.Followed += len(jobs)
			if gr.Used == 0 {
				gr.Used = 1
			}
			if err := put(tx, bucketGrants, []byte(gr.JTI), gr); err != nil {
				return err
			}
			started = append(started, jobs...)
			grants = append(grants, gr.JTI)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("gate: following grants: %w", err)
	}
	for _, j := range started {
		g.log.Info("grant discloses a segment committed inside its window", "grant", j.Authority, "clip", j.Clip, "segments", len(j.Segments), "job", j.ID)
		g.publishJob(j)
	}
	if len(started) > 0 {
		g.poke()
	}
	return len(started), nil
}

// runFollow calls Follow after each committed segment until ctx is done.
func (g *Gate) runFollow(ctx context.Context, sub *events.Sub) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-sub.C():
			if !ok {
				return
			}
			if _, err := g.Follow(); err != nil {
				g.log.Error("following grants", "err", err)
			}
		}
	}
}
