package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/device/lanclient"
)

// TestGrantFollowsTheFutureE2E (issue 11, bug 4): a grant whose window
// reaches into the future discloses a clip recorded after it was
// accepted; doorwardctl disclosures lists it, in a directory named after
// the grant and the clip; a revocation stops it. --media snapshot is
// refused by doorwardctl and by the device.
func TestGrantFollowsTheFutureE2E(t *testing.T) {
	b := e2e(t)
	dir := t.TempDir()
	d := startDevice(t, b, dir+"/state", writeConfig(t, dir, ""))
	owner := newHome(t, b)
	pairOwner(t, b, d, owner)
	grantee, granteeRcpt := ageIdentity(t, dir, "grantee.txt")

	// Snapshots: refused by doorwardctl before anything is sent...
	wantFail(t, ctl(t, b, owner.dir, "", "grant", "--device", d.url, "-i", owner.key, "--to", granteeRcpt, "--from", "-1h", "--until", "now", "--media", "video,snapshot"),
		"--media snapshot", "records no snapshots")
	// ...and by the device, for a grant signed by other means.
	ctx := context.Background()
	s, err := connect(ctx, d.url, owner.key)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	jws, err := s.sign(consent.KindGrant, consent.GrantClaims{
		Claims: s.claims(time.Hour), Grantee: consent.FormatIssuerKey(pub), Recipient: granteeRcpt,
		Scope: consent.Scope{From: time.Now().Add(-time.Hour), Until: time.Now(), Media: []string{"snapshot"}}, Uses: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.Grant(ctx, jws); lanclient.ReasonOf(err) != string(consent.ReasonMediaNotRecorded) || !strings.Contains(err.Error(), "records no snapshots") {
		t.Fatalf("a snapshot grant sent to the device: %v; want %s", err, consent.ReasonMediaNotRecorded)
	}

	// A grant for the next two minutes: nothing yet, and it says it follows.
	out := mustCtl(t, b, owner.dir, "grant", "--device", d.url, "-i", owner.key, "--to", granteeRcpt, "--from", "now", "--until", "+2m", "--media", "video")
	jti, _, _ := strings.Cut(out, "\n")
	for _, want := range []string{"disclosures: 0\n", "follows:", "where:       " + filepath.Join(d.state, "disclosures", jti), "doorwardctl disclosures --device " + d.info().DeviceID + " -i " + owner.key + " " + jti} {
		if !strings.Contains(out, want) {
			t.Errorf("grant printed %q; want %q", out, want)
		}
	}
	// A clip recorded after the grant is disclosed under it.
	clip := d.recordClip(2)
	jobs := jobsFor(waitJobs(t, d, owner), "grant:"+jti)
	if len(jobs) == 0 || jobs[0].Clip != clip.ID || jobs[0].State != "delivered" || jobs[0].Dir != jti+"/"+clip.ID {
		t.Fatalf("jobs for the grant: %+v; want clip %s delivered into %s/%s", jobs, clip.ID, jti, clip.ID)
	}
	// The directory named after the grant and the clip decrypts, with the
	// grantee's key, into a clip ffprobe reads.
	movie := filepath.Join(dir, "followed.mp4")
	mustCtl(t, b, dir, "decrypt", "-i", grantee, filepath.Join(d.state, "disclosures", jti, clip.ID), "-o", movie)
	if p := capturetest.ProbeFile(t, movie, true); p.Codec != "h264" || p.Frames < 30 {
		t.Errorf("followed disclosure: %+v", p)
	}

	// doorwardctl disclosures lists it by grant, with its directory.
	out = mustCtl(t, b, owner.dir, "disclosures", "--device", d.url, "-i", owner.key)
	for _, want := range []string{"grant " + jti + "  to " + granteeRcpt, "clip " + clip.ID + "  delivered", "in:    disclosures/" + jti + "/" + clip.ID} {
		if !strings.Contains(out, want) {
			t.Errorf("disclosures printed:\n%s\nwant %q", out, want)
		}
	}
	var listed []api.Disclosure
	if err := json.Unmarshal([]byte(mustCtl(t, b, owner.dir, "disclosures", "--device", d.url, "-i", owner.key, "--json", jti)), &listed); err != nil || len(listed) != len(jobs) {
		t.Fatalf("disclosures --json %s: %v %+v", jti, err, listed)
	}
	if out := mustCtl(t, b, owner.dir, "disclosures", "--device", d.url, "-i", owner.key, "no-such-grant"); out != "nothing disclosed under no-such-grant\n" {
		t.Errorf("disclosures of an unknown grant: %q", out)
	}
	stranger := newHome(t, b)
	wantFail(t, ctl(t, b, stranger.dir, "", "disclosures", "--device", d.url, "-i", stranger.key), "pair it first")

	// Revoked: the next clip is not disclosed.
	mustCtl(t, b, owner.dir, "revoke", "--device", d.url, "-i", owner.key, jti)
	before := len(jobsFor(waitJobs(t, d, owner), "grant:"+jti))
	d.recordClip(1)
	time.Sleep(time.Second)
	if after := jobsFor(waitJobs(t, d, owner), "grant:"+jti); len(after) != before {
		t.Fatalf("a revoked grant disclosed %d more clips: %+v", len(after)-before, after)
	}
}
