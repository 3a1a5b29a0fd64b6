package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/lanclient"
)

// TestGranteeFetchE2E (issue 11): keygen prints a contact; a grant made
// for it lets its holder fetch the disclosure over the LAN, proving the
// key with single-use statements bound to each request; anyone else, a
// replay, a statement for another request and a revoked grant are
// refused, and the refusals that verified are in the audit log.
func TestGranteeFetchE2E(t *testing.T) {
	b := e2e(t)
	dir := t.TempDir()
	d := startDevice(t, b, dir+"/state", writeConfig(t, dir, ""))
	owner := newHome(t, b)
	pairOwner(t, b, d, owner)
	clip := d.recordClip(2)

	gdir := t.TempDir()
	out := mustCtl(t, b, gdir, "keygen", "-o", "grantee.key")
	_, contact, _ := strings.Cut(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(contact, consent.ContactPrefix) {
		t.Fatalf("keygen printed %q; want the contact on the second line", out)
	}
	granteeKey := filepath.Join(gdir, "grantee.key")

	// A contact with a typo is refused before anything is sent.
	typo := contact[:len(contact)-3] + "qqq"
	if typo == contact {
		typo = contact[:len(contact)-3] + "ppp"
	}
	wantFail(t, ctl(t, b, owner.dir, "", "grant", "--device", d.url, "-i", owner.key, "--to", typo, "--from", "-1h", "--until", "now"), "--to", "checksum")

	out = mustCtl(t, b, owner.dir, "grant", "--device", d.url, "-i", owner.key, "--to", contact, "--from", clip.Start.Add(-time.Second).UTC().Format(time.RFC3339), "--until", "now", "--media", "video")
	jti, _, _ := strings.Cut(out, "\n")
	if !strings.Contains(out, "disclosures: 1\n") || !strings.Contains(out, "doorwardctl fetch --device "+d.url+" --grant "+jti) {
		t.Fatalf("grant for a contact printed %q", out)
	}
	waitJobs(t, d, owner)
	// The listing command grant printed runs as printed.
	if got := mustCtl(t, b, owner.dir, printedCommand(t, out, "list them:")...); !strings.Contains(got, "grant "+jti) || !strings.Contains(got, "in:    disclosures/"+jti+"/") {
		t.Errorf("the printed disclosures command shows %q, want grant %s", got, jti)
	}

	// The grantee fetches and decrypts it.
	movie := filepath.Join(gdir, "granted.mp4")
	r := ctl(t, b, gdir, "", "fetch", "--device", d.url, "--grant", jti, "-i", granteeKey, "-o", movie)
	if r.code != 0 || r.stdout != movie+"\n" {
		t.Fatalf("grantee fetch: %+v", r)
	}
	if p := capturetest.ProbeFile(t, movie, true); p.Codec != "h264" || p.Frames < 30 {
		t.Errorf("fetched disclosure: %+v", p)
	}

	// Nobody else: not a stranger, not the owner (the grant is not theirs).
	stranger := newHome(t, b)
	wantFail(t, ctl(t, b, stranger.dir, "", "fetch", "--device", d.url, "--grant", jti, "-i", stranger.key, "-o", filepath.Join(stranger.dir, "x.mp4")), "unknown-key")
	wantFail(t, ctl(t, b, owner.dir, "", "fetch", "--device", d.url, "--grant", jti, "-i", owner.key, "-o", filepath.Join(owner.dir, "x.mp4")), "unknown-key", "not signed by the grantee key")
	if _, err := os.Stat(filepath.Join(stranger.dir, "x.mp4")); err == nil {
		t.Error("a refused fetch wrote its output")
	}

	// Statements made by hand: a replay, and one for another request.
	ctx := context.Background()
	gk, err := loadOwner(granteeKey)
	if err != nil {
		t.Fatal(err)
	}
	client, err := lanclient.New(d.url)
	if err != nil {
		t.Fatal(err)
	}
	info := d.info()
	fetchStatement := func(request string) []byte {
		now := time.Now()
		st, err := consent.Sign(consent.KindFetch, consent.FetchClaims{
			Claims: consent.Claims{ID: consent.NewJTI(), Audience: info.DeviceID, IssuedAt: consent.NewNumericDate(now), Expiry: consent.NewNumericDate(now.Add(time.Minute))},
			Grant:  jti, Request: request,
		}, gk.SigningKey(), consent.KeyID(gk.SigningPublicKey()))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := fetchStatement("GET " + lanclient.GrantDisclosuresPath(jti))
	list, err := client.GrantDisclosures(ctx, st, jti)
	if err != nil || len(list.Clips) != 1 || list.Clips[0].Clip != clip.ID || !strings.Contains(list.Clips[0].Pieces[0].Name, "init") {
		t.Fatalf("listing: %+v %v", list, err)
	}
	if _, err := client.GrantDisclosures(ctx, st, jti); lanclient.ReasonOf(err) != string(consent.ReasonReplayed) {
		t.Errorf("a fetch statement used twice: %v; want replayed", err)
	}
	other := fetchStatement("GET " + lanclient.GrantPiecePath(jti, clip.ID, list.Clips[0].Pieces[0].Name))
	if _, err := client.GrantDisclosures(ctx, other, jti); lanclient.ReasonOf(err) != string(consent.ReasonBindingMismatch) {
		t.Errorf("a statement for another request: %v; want binding-mismatch", err)
	}
	var sink strings.Builder
	if err := client.GrantPiece(ctx, fetchStatement("GET "+lanclient.GrantPiecePath(jti, clip.ID, "../../keys/device.key")), jti, clip.ID, list.Clips[0].Pieces[0], &sink); err == nil {
		t.Error("a path as piece name was served")
	}

	// Revoked: refused.
	mustCtl(t, b, owner.dir, "revoke", "--device", d.url, "-i", owner.key, jti)
	wantFail(t, ctl(t, b, gdir, "", "fetch", "--device", d.url, "--grant", jti, "-i", granteeKey, "-o", filepath.Join(gdir, "y.mp4")), "grant-inactive")

	// A plain recipient: the grant says how the grantee gets the files,
	// and the holder of that age key cannot fetch (no key of theirs is
	// named).
	out = mustCtl(t, b, owner.dir, "grant", "--device", d.url, "-i", owner.key, "--to", gk.RecipientString(), "--from", "-1h", "--until", "now")
	plain, _, _ := strings.Cut(out, "\n")
	if !strings.Contains(out, "plain age recipient") {
		t.Errorf("grant to a plain recipient printed %q", out)
	}
	wantFail(t, ctl(t, b, gdir, "", "fetch", "--device", d.url, "--grant", plain, "-i", granteeKey, "-o", filepath.Join(gdir, "z.mp4")), "unknown-key")

	// A contact grant that disclosed nothing says so.
	out = mustCtl(t, b, owner.dir, "grant", "--device", d.url, "-i", owner.key, "--to", contact, "--from", "-10h", "--until", "-9h")
	empty, _, _ := strings.Cut(out, "\n")
	wantFail(t, ctl(t, b, gdir, "", "fetch", "--device", d.url, "--grant", empty, "-i", granteeKey, "-o", filepath.Join(gdir, "e.mp4")), "disclosed nothing")

	// The refusals that verified are in the owner's verified log.
	out = mustCtl(t, b, owner.dir, "audit", "verify", "--device", d.url, "-i", owner.key)
	if !strings.Contains(out, "fetch-refused") {
		t.Errorf("audit verify lacks fetch-refused:\n%s", out)
	}
}

// printedCommand returns the doorwardctl arguments of the command a
// command printed on its line beginning with label.
func printedCommand(t *testing.T, out, label string) []string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, label); ok {
			f := strings.Fields(rest)
			if len(f) < 2 || f[0] != "doorwardctl" {
				t.Fatalf("%s %q is not a doorwardctl command", label, rest)
			}
			return f[1:]
		}
	}
	t.Fatalf("no %q line in %q", label, out)
	return nil
}
