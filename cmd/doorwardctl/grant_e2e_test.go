package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/device/lanclient"
)

// ageIdentity writes a fresh X25519 identity file as age-keygen does and
// returns its path and recipient.
func ageIdentity(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("# public key: "+id.Recipient().String()+"\n"+id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, id.Recipient().String()
}

// waitJobs waits until every disclosure job is done and returns them.
func waitJobs(t *testing.T, d *device, h home) []api.Disclosure {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := connect(ctx, d.url, h.key)
		if err != nil {
			t.Fatal(err)
		}
		login, err := s.login()
		if err != nil {
			t.Fatal(err)
		}
		jobs, err := s.client.Disclosures(ctx, login)
		if err != nil {
			t.Fatal(err)
		}
		pending := slices.ContainsFunc(jobs, func(j api.Disclosure) bool { return j.Done.IsZero() })
		if !pending {
			return jobs
		}
		if time.Now().After(deadline) {
			t.Fatalf("disclosure jobs not done within 30 s: %+v", jobs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func jobsFor(jobs []api.Disclosure, authority string) []api.Disclosure {
	var out []api.Disclosure
	for _, j := range jobs {
		if j.Authority == authority {
			out = append(out, j)
		}
	}
	return out
}

// disclosed lists a job's files in the order they sort (playback order).
func disclosed(t *testing.T, d *device, j api.Disclosure) []string {
	t.Helper()
	dir := filepath.Join(d.state, "disclosures", j.Dir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("disclosure %s: %v", j.ID, err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".partial") {
			t.Errorf("disclosure %s has an unfinished file %s", j.ID, e.Name())
			continue
		}
		out = append(out, filepath.Join(dir, e.Name()))
	}
	slices.Sort(out)
	return out
}

func TestGrantE2E(t *testing.T) {
	b := e2e(t)
	ageBin := capturetest.Tool(t, "age")
	ffprobe := capturetest.Tool(t, "ffprobe")
	dir := t.TempDir()
	d := startDevice(t, b, dir+"/state", writeConfig(t, dir, ""))
	owner := newHome(t, b)
	pairOwner(t, b, d, owner)

	early := d.recordClip(2)
	time.Sleep(4 * time.Second) // a gap longer than pre-roll and a GOP: the next clip starts after early ends
	late := d.recordClip(2)
	if !late.Start.After(early.End) {
		t.Fatalf("clips overlap: %+v %+v", early, late)
	}
	grantee, granteeRcpt := ageIdentity(t, dir, "grantee.txt")
	stranger, _ := ageIdentity(t, dir, "stranger.txt")

	// Bad grants are refused before anything is signed or sent.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--to", "age1nope", "--from", "-1h", "--until", "now"}, "--to"},
		{[]string{"--to", "ssh-ed25519 AAAA", "--from", "-1h", "--until", "now"}, "--to"},
		{[]string{"--to", granteeRcpt, "--from", "yesterday", "--until", "now"}, "--from"},
		{[]string{"--to", granteeRcpt, "--from", "now", "--until", "-1h"}, "must be after"},
		{[]string{"--to", granteeRcpt, "--from", "-1h", "--until", "now", "--media", "smell"}, "--media"},
		{[]string{"--to", granteeRcpt, "--from", "-1h", "--until", "now", "--valid-for", "0s"}, "--valid-for"},
		{[]string{"--to", granteeRcpt, "--from", "-1h", "--until", "now", "--uses", "0"}, "--uses"},
		{[]string{"--to", granteeRcpt, "--from", "-1h", "--until", "now", "--grantee", "ed25519:xx"}, "--grantee"},
		{[]string{"--from", "-1h", "--until", "now"}, `"to" not set`},
	} {
		args := append([]string{"grant", "--device", d.url, "-i", owner.key}, tc.args...)
		wantFail(t, ctl(t, b, owner.dir, "", args...), tc.want)
	}

	// A grant for the window of the late clip only.
	from := early.End.Add(time.Second).UTC().Format(time.RFC3339)
	out := mustCtl(t, b, owner.dir, "grant", "--device", d.url, "-i", owner.key, "--to", granteeRcpt, "--from", from, "--until", "now", "--media", "video")
	lines := strings.Split(out, "\n")
	jti := lines[0]
	if len(jti) < 16 || !strings.Contains(out, "disclosures: 1\n") || !strings.Contains(out, "plain age recipient") || strings.Contains(out, "secret half") {
		t.Fatalf("grant printed %q; want the jti, one disclosure and how a plain recipient gets it", out)
	}
	jobs := jobsFor(waitJobs(t, d, owner), "grant:"+jti)
	if len(jobs) != 1 || jobs[0].Clip != late.ID || jobs[0].Error != "" || jobs[0].Recipient != granteeRcpt {
		t.Fatalf("jobs for the grant: %+v; want one for clip %s (not %s)", jobs, late.ID, early.ID)
	}
	files := disclosed(t, d, jobs[0])
	if len(files) < 2 || !strings.Contains(filepath.Base(files[0]), "init") {
		t.Fatalf("disclosed files %v: want the init segment first, then media segments", files)
	}
	// Stock age with the grantee's identity opens every file; the
	// concatenation plays.
	var mp4 bytes.Buffer
	for _, f := range files {
		plain, err := exec.Command(ageBin, "-d", "-i", grantee, f).Output()
		if err != nil {
			t.Fatalf("age -d -i grantee %s: %v", f, err)
		}
		mp4.Write(plain)
		// Nobody else: not the owner, not a stranger.
		for _, other := range []string{owner.key, stranger} {
			if out, err := exec.Command(ageBin, "-d", "-i", other, f).CombinedOutput(); err == nil {
				t.Errorf("age -d -i %s opened disclosed file %s", filepath.Base(other), f)
			} else if !strings.Contains(string(out), "no identity matched") {
				t.Errorf("age -d -i %s %s: %s", filepath.Base(other), f, out)
			}
		}
	}
	movie := filepath.Join(dir, "disclosed.mp4")
	os.WriteFile(movie, mp4.Bytes(), 0o600)
	probe, err := exec.Command(ffprobe, "-v", "error", "-show_entries", "stream=codec_name,nb_read_frames", "-count_frames", "-of", "csv=p=0", movie).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(probe), "h264,") {
		t.Fatalf("ffprobe of the disclosed clip: %v\n%s", err, probe)
	}

	// The owner is told, with the grant and the recipient.
	out = mustCtl(t, b, owner.dir, "notices", "--device", d.url, "-i", owner.key)
	if !strings.Contains(out, "grant "+jti) || !strings.Contains(out, granteeRcpt) {
		t.Errorf("notices do not show the grant:\n%s", out)
	}

	// A window with no footage discloses nothing.
	out = mustCtl(t, b, owner.dir, "grant", "--device", d.url, "-i", owner.key, "--to", granteeRcpt, "--from", "-10h", "--until", "-9h")
	if !strings.Contains(out, "disclosures: 0\n") {
		t.Errorf("grant of an empty window: %q", out)
	}

	// Revocation: the grant is revoked once; unknown grants are refused.
	out = mustCtl(t, b, owner.dir, "revoke", "--device", d.url, "-i", owner.key, jti)
	if out != "revoked grant "+jti+"\n" {
		t.Errorf("revoke printed %q", out)
	}
	wantFail(t, ctl(t, b, owner.dir, "", "revoke", "--device", d.url, "-i", owner.key, "no-such-grant"), "unknown-grant")
	wantFail(t, ctl(t, b, owner.dir, "", "revoke", "--device", d.url, "-i", owner.key), "one grant ID")

	// Statements made by hand: a revoked grant re-sent, an expired grant
	// and a grant signed by a key that is not enrolled disclose nothing.
	ctx := context.Background()
	s, err := connect(ctx, d.url, owner.key)
	if err != nil {
		t.Fatal(err)
	}
	grantJWS := func(c consent.Claims, key *consent.OwnerKey) []byte {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		jws, err := consent.Sign(consent.KindGrant, consent.GrantClaims{
			Claims: c, Grantee: consent.FormatIssuerKey(pub), Recipient: granteeRcpt,
			Scope: consent.Scope{From: time.Now().Add(-time.Hour), Until: time.Now(), Media: []string{"video"}}, Uses: 1,
		}, key.SigningKey(), consent.KeyID(key.SigningPublicKey()))
		if err != nil {
			t.Fatal(err)
		}
		return jws
	}
	revokedJWS := grantJWS(s.claims(time.Hour), s.owner)
	res, err := s.client.Grant(ctx, revokedJWS)
	if err != nil {
		t.Fatal(err)
	}
	mustCtl(t, b, owner.dir, "revoke", "--device", d.url, "-i", owner.key, res.JTI)
	before := len(waitJobs(t, d, owner))
	if _, err := s.client.Grant(ctx, revokedJWS); lanclient.ReasonOf(err) == "" {
		t.Errorf("a revoked grant sent again: %v; want a refusal", err)
	}
	past := s.claims(time.Hour)
	past.IssuedAt = consent.NewNumericDate(time.Now().Add(-2 * time.Hour))
	past.Expiry = consent.NewNumericDate(time.Now().Add(-time.Hour))
	if _, err := s.client.Grant(ctx, grantJWS(past, s.owner)); lanclient.ReasonOf(err) != string(consent.ReasonExpired) {
		t.Errorf("expired grant: %v; want expired", err)
	}
	stranger2, _ := consent.GenerateOwnerKey(false)
	if _, err := s.client.Grant(ctx, grantJWS(s.claims(time.Hour), stranger2)); lanclient.ReasonOf(err) != string(consent.ReasonUnknownKey) {
		t.Errorf("grant by a key not enrolled: %v; want unknown-key", err)
	}
	if after := len(waitJobs(t, d, owner)); after != before {
		t.Errorf("refused grants started %d disclosures", after-before)
	}
	// The refusals and the revocations are in the verified log, the
	// revocation of an unknown grant among them (issue 8, finding 11).
	out = mustCtl(t, b, owner.dir, "audit", "verify", "--device", d.url, "-i", owner.key)
	for _, want := range []string{"grant-accepted", "grant-refused", "revoke", "revoke-refused", "disclosure"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit verify summary lacks %s:\n%s", want, out)
		}
	}
}
