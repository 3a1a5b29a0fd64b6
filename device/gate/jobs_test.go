package gate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/events"
)

// fakeDeliverer records deliveries, reading every piece; fail decides an
// error per job.
type fakeDeliverer struct {
	mu        sync.Mutex
	got       map[string][]byte // job ID → concatenated pieces
	attempts  map[string]int
	withdrawn map[string]bool
	fail      func(Job) error
}

var (
	_ Deliverer  = (*fakeDeliverer)(nil)
	_ Withdrawer = (*fakeDeliverer)(nil)
)

func newFakeDeliverer() *fakeDeliverer {
	return &fakeDeliverer{got: map[string][]byte{}, attempts: map[string]int{}, withdrawn: map[string]bool{}}
}

func (d *fakeDeliverer) Deliver(ctx context.Context, del Delivery) error {
	d.mu.Lock()
	d.attempts[del.Job.ID]++
	fail := d.fail
	d.mu.Unlock()
	if fail != nil {
		if err := fail(del.Job); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	for _, p := range del.Pieces {
		rc, err := p.Open()
		if err != nil {
			return err
		}
		n, err := io.Copy(&buf, rc)
		rc.Close()
		if err != nil {
			return err
		}
		if n != p.Size {
			return fmt.Errorf("piece %s: %d bytes, Size says %d", p.Name, n, p.Size)
		}
	}
	d.mu.Lock()
	d.got[del.Job.ID] = buf.Bytes()
	d.mu.Unlock()
	return nil
}

func (d *fakeDeliverer) Withdraw(_ context.Context, j Job) error {
	d.mu.Lock()
	d.withdrawn[j.ID] = true
	delete(d.got, j.ID)
	d.mu.Unlock()
	return nil
}

// decryptPieces decrypts a delivery's pieces (each its own age file,
// concatenated) with id.
func decryptPieces(t *testing.T, del Delivery, id age.Identity) []byte {
	t.Helper()
	var out bytes.Buffer
	for _, p := range del.Pieces {
		rc, err := p.Open()
		if err != nil {
			t.Fatal(err)
		}
		r, err := age.Decrypt(rc, id)
		if err != nil {
			t.Fatalf("piece %s: %v", p.Name, err)
		}
		io.Copy(&out, r)
		rc.Close()
	}
	return out.Bytes()
}

func TestJobsDeliverThroughTheDeliverer(t *testing.T) {
	f := newFixture(t, false)
	fd := newFakeDeliverer()
	var deliveries []Delivery
	fd.fail = func(j Job) error { return nil }
	f.gate.deliver = deliverFunc(func(ctx context.Context, d Delivery) error {
		deliveries = append(deliveries, d)
		return fd.Deliver(ctx, d)
	})
	bus := events.New()
	sub := bus.Subscribe("test", 64, events.JobState, events.Decision)
	defer sub.Close()
	f.gate.opts.Events = bus
	grantee, _ := age.GenerateX25519Identity()
	g, err := f.gate.SubmitGrant(f.grant(grantee.Recipient().String(), t0.Add(5*time.Second), t0.Add(9*time.Second), nil))
	if err != nil || g.Disclosures != 1 {
		t.Fatalf("grant: %+v, %v", g, err)
	}
	f.runJobs()
	if len(deliveries) != 1 {
		t.Fatalf("%d deliveries", len(deliveries))
	}
	d := deliveries[0]
	var names []string
	for _, p := range d.Pieces {
		names = append(names, p.Name)
	}
	if fmt.Sprint(names) != "[init.mp4.age 000002.m4s.age 000003.m4s.age]" {
		t.Errorf("pieces %v", names)
	}
	if p := capturetest.ProbeBytes(t, decryptPieces(t, d, grantee), true); p.Codec != "h264" || !p.FirstKey {
		t.Errorf("delivered footage: %+v", p)
	}
	jobs, _, err := f.gate.Jobs(JobQuery{})
	if err != nil || len(jobs) != 1 || jobs[0].State != JobDelivered || jobs[0].Attempts != 1 || len(jobs[0].Files) != 3 {
		t.Fatalf("jobs %+v, %v", jobs, err)
	}
	// The job's states went out on the bus, in order.
	var states []string
	var decision events.Event
	for len(sub.C()) > 0 {
		e := <-sub.C()
		switch e.Kind {
		case events.JobState:
			states = append(states, e.State)
			if e.Authority != "grant:"+g.JTI {
				t.Errorf("job event without its authority: %+v", e)
			}
		case events.Decision:
			decision = e
		}
	}
	if fmt.Sprint(states) != "[pending running delivered]" {
		t.Errorf("job states %v", states)
	}
	if decision.Decision != "grant" || decision.Outcome != "accepted" || decision.Authority != "grant:"+g.JTI {
		t.Errorf("decision event %+v", decision)
	}
	// Nothing is left in the pending index: no round reads the history.
	if n := f.pending(); n != 0 {
		t.Errorf("%d jobs left in the pending index", n)
	}
}

type deliverFunc func(context.Context, Delivery) error

func (f deliverFunc) Deliver(ctx context.Context, d Delivery) error { return f(ctx, d) }

func (f *fixture) pending() int {
	n := 0
	f.db.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket(bucketPending).Stats().KeyN
		return nil
	})
	return n
}

// A delivery that fails is retried after a backoff; it never holds back
// the others; a permanent failure fails the job at once and takes back
// what was delivered.
func TestFailingJobRetriesAndHoldsNoOneBack(t *testing.T) {
	f := newFixture(t, false)
	fd := newFakeDeliverer()
	f.gate.deliver = fd
	a, _ := age.GenerateX25519Identity()
	b, _ := age.GenerateX25519Identity()
	c, _ := age.GenerateX25519Identity()
	ga, _ := f.gate.SubmitGrant(f.grant(a.Recipient().String(), t0, t0.Add(5*time.Second), nil))
	gb, _ := f.gate.SubmitGrant(f.grant(b.Recipient().String(), t0, t0.Add(5*time.Second), nil))
	gc, _ := f.gate.SubmitGrant(f.grant(c.Recipient().String(), t0, t0.Add(5*time.Second), nil))
	byAuth := func() map[string]Job {
		out := map[string]Job{}
		for _, j := range f.jobs() {
			out[j.Authority] = j
		}
		return out
	}
	failA := true
	fd.fail = func(j Job) error {
		switch j.Authority {
		case "grant:" + ga.JTI:
			if failA {
				return errors.New("destination unreachable")
			}
		case "grant:" + gc.JTI:
			return fmt.Errorf("the store refuses this object: %w", ErrPermanent)
		}
		return nil
	}
	f.runJobs()
	jobs := byAuth()
	ja, jb, jc := jobs["grant:"+ga.JTI], jobs["grant:"+gb.JTI], jobs["grant:"+gc.JTI]
	if ja.State != JobPending || ja.Attempts != 1 || ja.LastError == "" || !ja.NextAttempt.Equal(f.clk.Now().Add(retryMin)) {
		t.Errorf("failing job: %+v", ja)
	}
	if jb.State != JobDelivered {
		t.Errorf("the other job: %+v", jb)
	}
	if jc.State != JobFailed || jc.Attempts != 1 || !fd.withdrawn[jc.ID] {
		t.Errorf("permanently failing job: %+v (withdrawn %v)", jc, fd.withdrawn[jc.ID])
	}
	// Not due yet: no attempt.
	f.runJobs()
	if fd.attempts[ja.ID] != 1 {
		t.Fatalf("attempted %d times before its backoff ended", fd.attempts[ja.ID])
	}
	// Due, still failing: the wait doubles.
	f.clk.Advance(retryMin)
	f.runJobs()
	if ja = byAuth()["grant:"+ga.JTI]; ja.Attempts != 2 || !ja.NextAttempt.Equal(f.clk.Now().Add(2*retryMin)) {
		t.Errorf("second failure: %+v", ja)
	}
	failA = false
	f.clk.Advance(2 * retryMin)
	f.runJobs()
	if ja = byAuth()["grant:"+ga.JTI]; ja.State != JobDelivered || ja.Attempts != 3 || ja.LastError != "" {
		t.Errorf("after recovery: %+v", ja)
	}
	if fd.attempts[jc.ID] != 1 {
		t.Errorf("a permanent failure was retried: %d attempts", fd.attempts[jc.ID])
	}
	if n := f.pending(); n != 0 {
		t.Errorf("%d jobs left pending", n)
	}
	if got := retryDelay(100); got != retryMax {
		t.Errorf("retryDelay(100) = %v, want the cap %v", got, retryMax)
	}
}

func TestJobsPage(t *testing.T) {
	f := newFixture(t, false)
	f.gate.deliver = newFakeDeliverer()
	for range 5 {
		r, _ := age.GenerateX25519Identity()
		if _, err := f.gate.SubmitGrant(f.grant(r.Recipient().String(), t0, t0.Add(5*time.Second), nil)); err != nil {
			t.Fatal(err)
		}
	}
	if un, _, _ := f.gate.Jobs(JobQuery{Unfinished: true}); len(un) != 5 {
		t.Fatalf("unfinished %d, want 5", len(un))
	}
	var all []string
	after := ""
	for pages := 0; ; pages++ {
		page, next, err := f.gate.Jobs(JobQuery{After: after, Limit: 2})
		if err != nil || len(page) > 2 || pages > 3 {
			t.Fatalf("page %d: %d jobs, %v", pages, len(page), err)
		}
		for _, j := range page {
			all = append(all, j.ID)
		}
		if next == "" {
			break
		}
		after = next
	}
	if len(all) != 5 {
		t.Fatalf("paged through %d jobs, want 5: %v", len(all), all)
	}
	for i := 1; i < len(all); i++ {
		if all[i] <= all[i-1] {
			t.Fatalf("pages out of order: %v", all)
		}
	}
	f.runJobs()
	if un, _, _ := f.gate.Jobs(JobQuery{Unfinished: true}); len(un) != 0 {
		t.Errorf("unfinished after delivery: %d", len(un))
	}
}

// A job interrupted by a stop is pending again at the next start.
func TestRunningJobResumesAfterRestart(t *testing.T) {
	f := newFixture(t, false)
	r, _ := age.GenerateX25519Identity()
	if _, err := f.gate.SubmitGrant(f.grant(r.Recipient().String(), t0, t0.Add(5*time.Second), nil)); err != nil {
		t.Fatal(err)
	}
	j := f.jobs()[0]
	f.db.Update(func(tx *bbolt.Tx) error {
		old := j
		j.State = JobRunning
		return putJob(tx, j, old)
	})
	g2, err := Open(f.gate.opts)
	if err != nil {
		t.Fatal(err)
	}
	if j = f.jobs()[0]; j.State != JobPending {
		t.Fatalf("after restart: %s", j.State)
	}
	f.gate = g2
	f.runJobs()
	if j = f.jobs()[0]; j.State != JobDelivered {
		t.Fatalf("resumed job: %+v", j)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "disclosures", j.DirName(), "000000-init.mp4.age")); err != nil {
		t.Error(err)
	}
}

// While a token's notice is delayed, neither the listing nor the bus
// names its authority; its release does.
func TestDelayedNoticePublishesNoAuthority(t *testing.T) {
	f := newFixture(t, false)
	bus := events.New()
	sub := bus.Subscribe("test", 64)
	defer sub.Close()
	f.gate.opts.Events = bus
	agency, _ := age.GenerateX25519Identity()
	after := f.clk.Now().Add(10 * 24 * time.Hour)
	jti, err := f.gate.SubmitToken(f.token(agency.Recipient().String(), func(c *consent.TokenClaims) { c.NotifyAfter = &after }))
	if err != nil {
		t.Fatal(err)
	}
	f.runJobs()
	if jobs, _, _ := f.gate.Jobs(JobQuery{}); len(jobs) != 0 {
		t.Errorf("delayed jobs listed: %+v", jobs)
	}
	for len(sub.C()) > 0 {
		e := <-sub.C()
		if e.Authority != "" || e.Note != "" {
			t.Errorf("event reveals the delayed disclosure: %+v", e)
		}
	}
	f.clk.Advance(11 * 24 * time.Hour)
	if n, err := f.gate.ReleaseNotices(); n != 1 || err != nil {
		t.Fatalf("released %d, %v", n, err)
	}
	var released, named bool
	for len(sub.C()) > 0 {
		e := <-sub.C()
		released = released || e.Kind == events.NoticeReleased
		named = named || (e.Kind == events.JobState && e.Authority == "legal:"+jti && e.State == string(JobDelivered))
	}
	if !released || !named {
		t.Errorf("after the release: notice-released %v, job named %v", released, named)
	}
	if jobs, _, _ := f.gate.Jobs(JobQuery{}); len(jobs) != 1 || jobs[0].Authority != "legal:"+jti {
		t.Errorf("jobs after the release: %+v", jobs)
	}
}
