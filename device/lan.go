package device

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/vault"
	"github.com/doorward/doorward/capture/vault/clipfile"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit/auditlog"
	"github.com/doorward/doorward/consent/pairing"
	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/device/gate"
	"github.com/doorward/doorward/device/lanapi"
	"github.com/doorward/doorward/device/lantls"
)

// door is the agent as the LAN API and the control socket see it
// (lanapi's interfaces): it turns the gate's, the vault's and the audit
// log's answers into device/api's wire types.
type door struct{ a *Agent }

var (
	_ lanapi.Pairing    = door{}
	_ lanapi.Statements = door{}
	_ lanapi.Reads      = door{}
	_ lanapi.AuditLog   = (*auditlog.Log)(nil)
	_ lanapi.Controller = door{}
)

// apiError gives the gate's errors that are not consent refusals the
// status and reason code the API answers with.
func apiError(err error) error {
	switch {
	case errors.Is(err, gate.ErrNotPaired):
		return &lanapi.Error{Status: http.StatusConflict, Reason: "not-paired", Err: err}
	case errors.Is(err, gate.ErrAlreadyRevoked):
		return &lanapi.Error{Status: http.StatusConflict, Reason: "already-revoked", Err: err}
	case errors.Is(err, gate.ErrAlreadyEnrolled):
		return &lanapi.Error{Status: http.StatusConflict, Reason: "already-enrolled", Err: err}
	case errors.Is(err, gate.ErrBackupUnchanged):
		return &lanapi.Error{Status: http.StatusConflict, Reason: "backup-unchanged", Err: err}
	case gate.IsUnknownGrant(err):
		return &lanapi.Error{Status: http.StatusNotFound, Reason: "unknown-grant", Err: err}
	}
	return err
}

func (d door) PairHello(h pairing.Hello) (pairing.HelloReply, error) { return d.a.pairHello(h) }

// PairFinish finishes pairing; a refusal is counted by the gate, and only
// a MAC or signature that fails on a real session says someone tried a
// code (the rest anyone can send).
func (d door) PairFinish(f pairing.Finish) error {
	err := d.a.pairFinish(f)
	if err != nil {
		d.a.gate.PairingRefused(pairing.ResultFor(err).Reason, errors.Is(err, pairing.ErrBadMAC) || errors.Is(err, pairing.ErrBadSignature))
	}
	return err
}

func (d door) Grant(data []byte) (api.GrantReply, error) {
	g, err := d.a.gate.SubmitGrant(data)
	if err != nil {
		return api.GrantReply{}, apiError(err)
	}
	where := filepath.Join(d.a.opts.StateDir, disclosuresDir, g.JTI)
	if d.a.upDel != nil {
		where = "the relay's store: " + d.a.id.ID() + "/disclosures/" + g.JTI + "/"
	}
	return api.GrantReply{JTI: g.JTI, Disclosures: g.Disclosures, Follows: g.Follow, Where: where}, nil
}

func (d door) Revoke(data []byte) (api.RevokeReply, error) {
	grant, err := d.a.gate.Revoke(data)
	return api.RevokeReply{Grant: grant}, apiError(err)
}

func (d door) Legal(data []byte) (api.LegalReply, error) {
	jti, err := d.a.gate.SubmitToken(data)
	return api.LegalReply{JTI: jti}, apiError(err)
}

func (d door) SetPolicy(data []byte) (api.PolicyReply, error) {
	p, err := d.a.gate.SetPolicy(data)
	if err != nil {
		return api.PolicyReply{}, apiError(err)
	}
	return api.PolicyReply{Hash: fmt.Sprintf("%x", p.Hash())}, nil
}

func (d door) Enroll(data []byte) (api.EnrollReply, error) {
	o, err := d.a.gate.Enroll(data)
	if err != nil {
		return api.EnrollReply{}, apiError(err)
	}
	return api.EnrollReply{KID: o.KeyID}, nil
}

func (d door) Backup(data []byte) (api.BackupReply, error) {
	b, err := d.a.gate.SetBackup(data)
	if err != nil {
		return api.BackupReply{}, apiError(err)
	}
	return api.BackupReply{On: b.On, Media: b.Media, JTI: b.Statement, Uplink: d.a.gate.CloudBackup()}, nil
}

// VerifyReset checks an owner-signed reset and remembers its signer, whom
// the agent's log names when it erases the device (Reset).
func (d door) VerifyReset(data []byte) error {
	kid, err := d.a.gate.VerifyResetBy(data)
	if err == nil {
		d.a.mu.Lock()
		d.a.resetSigner = kid
		d.a.mu.Unlock()
	}
	return apiError(err)
}

func (d door) Reset() {
	d.a.mu.Lock()
	kid := d.a.resetSigner
	d.a.mu.Unlock()
	d.a.requestReset(resetByOwner + kid)
}

func (d door) Info() api.Info {
	paired, _ := d.a.gate.Paired()
	return api.Info{DeviceID: d.a.id.ID(), DeviceKey: consent.FormatIssuerKey(d.a.id.PublicKey()), Paired: paired, Version: d.a.opts.Version}
}

func (d door) Policy() (api.PolicyInfo, error) {
	p, err := d.a.policyInfo()
	if err != nil {
		return api.PolicyInfo{}, apiError(err)
	}
	return *p, nil
}

func (d door) VerifyLogin(login []byte) (string, error) { return d.a.gate.VerifyLogin(login) }

func (d door) Notices() ([]api.Notice, error) {
	ns, err := d.a.gate.Notices()
	if err != nil {
		return nil, apiError(err)
	}
	out := make([]api.Notice, 0, len(ns))
	for _, n := range ns {
		out = append(out, api.Notice{ID: n.ID, Created: n.Created, ReleaseAt: n.ReleaseAt, Body: n.Body})
	}
	return out, nil
}

func (d door) Disclosures(after string, limit int, unfinished bool) ([]api.Disclosure, string, error) {
	jobs, next, err := d.a.gate.Jobs(gate.JobQuery{After: after, Limit: limit, Unfinished: unfinished})
	if err != nil {
		return nil, "", apiError(err)
	}
	out := make([]api.Disclosure, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, d.disclosureOf(j))
	}
	return out, next, nil
}

// The API's page size is the gate's (a compile error if they differ).
const _ = uint(api.MaxDisclosurePage-gate.MaxJobPage) + uint(gate.MaxJobPage-api.MaxDisclosurePage)

// disclosureOf is the owner's view of a disclosure job. A delivered job
// whose directory is not on the device went to the relay's store.
func (d door) disclosureOf(j gate.Job) api.Disclosure {
	out := api.Disclosure{
		ID: j.ID, Authority: j.Authority, Recipient: j.Recipient, Clip: j.Clip, ClipDir: j.ClipDir,
		Segments: j.Segments, Created: j.Created, State: string(j.State), Attempts: j.Attempts,
		NextAttempt: j.NextAttempt, LastError: j.LastError, Done: j.Done, Files: j.Files,
		Strict: j.Strict, Error: j.Error, Delayed: j.Delayed, Notice: j.Notice, Dir: j.DirName(),
	}
	if out.State == "delivered" && out.Dir != "" && d.a.upDel != nil {
		if _, err := os.Stat(filepath.Join(d.a.opts.StateDir, disclosuresDir, out.Dir)); errors.Is(err, fs.ErrNotExist) {
			out.Uploaded = true
		}
	}
	return out
}

// Control answers a request from the control socket.
func (d door) Control(_ context.Context, req api.ControlRequest) api.ControlResponse {
	a := d.a
	fail := func(err error) api.ControlResponse { return api.ControlResponse{Error: err.Error()} }
	switch req.Op {
	case api.OpTrigger:
		if err := a.fireSim(req.Event, "control socket"); err != nil {
			return fail(err)
		}
		return api.ControlResponse{OK: true}
	case api.OpClips:
		v := a.currentVault()
		if v == nil {
			return api.ControlResponse{OK: true}
		}
		clips, err := v.Clips()
		if err != nil {
			return fail(err)
		}
		return api.ControlResponse{OK: true, Clips: clipsOf(clips)}
	case api.OpEvents:
		v := a.currentVault()
		if v == nil {
			return api.ControlResponse{OK: true}
		}
		evs, err := v.Events()
		if err != nil {
			return fail(err)
		}
		return api.ControlResponse{OK: true, Events: eventsOf(evs)}
	case api.OpStatus:
		return api.ControlResponse{OK: true, Status: a.status()}
	case api.OpPairCode:
		a.mu.Lock()
		pairer, secret := a.pairer, a.secret
		a.mu.Unlock()
		if pairer == nil || pairer.Paired() {
			return api.ControlResponse{Error: "device: the device is paired; pairing again takes a factory reset"}
		}
		u := lantls.URLs(a.lan.Addr())[0]
		qr, _ := secret.QRURI(u)
		return api.ControlResponse{OK: true, PairCode: secret.Reveal(), PairQR: qr, PairURL: u, PairURI: pairing.FormatURI(u, secret)}
	case api.OpPolicy:
		p, err := a.policyInfo()
		if err != nil {
			return fail(err)
		}
		return api.ControlResponse{OK: true, Policy: p}
	case api.OpAudit:
		entries, cp, err := a.auditLog()
		if err != nil {
			return fail(err)
		}
		return api.ControlResponse{OK: true, Audit: &api.AuditLog{Checkpoint: &cp, Entries: entries}}
	}
	return api.ControlResponse{Error: fmt.Sprintf("device: unknown control op %q (valid: trigger, clips, events, status, pair-code, policy, audit)", req.Op)}
}

// clipsOf is how commands show the vault's clips.
func clipsOf(clips []vault.Clip) []api.Clip {
	out := make([]api.Clip, 0, len(clips))
	for _, c := range clips {
		out = append(out, api.Clip{
			ID: c.ID, Start: c.Start, End: c.End, Duration: c.Duration().Seconds(), Size: c.Size,
			Trigger: c.Trigger, Path: c.Path, Segments: c.Segments, Recording: c.Recording,
		})
	}
	return out
}

// eventsOf is how commands show the sensor events without video.
func eventsOf(evs []vault.Event) []api.Event {
	out := make([]api.Event, 0, len(evs))
	for _, e := range evs {
		out = append(out, api.Event{Time: e.Time, Kind: e.Kind, Note: e.Note})
	}
	return out
}

// socketPath is the control socket of the state directory dir.
func socketPath(dir string) string { return filepath.Join(dir, api.SocketName) }

var _ lanapi.ClipReads = door{}

// Clips lists the clips with their complete pieces (none while unpaired).
func (d door) Clips() ([]api.OwnerClip, error) {
	v := d.a.currentVault()
	if v == nil {
		return []api.OwnerClip{}, nil
	}
	clips, err := v.Clips()
	if err != nil {
		return nil, err
	}
	out := make([]api.OwnerClip, 0, len(clips))
	for _, c := range clips {
		init, segs, err := clipfile.ClipPieces(c.Path)
		if err != nil {
			continue // no init segment yet, or removed by retention
		}
		ac := api.OwnerClip{ID: c.ID, Start: c.Start, End: c.End, Duration: c.Duration().Seconds(), Trigger: c.Trigger, Recording: c.Recording}
		for _, p := range append([]string{init}, segs...) {
			st, err := os.Stat(p)
			if err != nil {
				continue
			}
			ac.Pieces = append(ac.Pieces, api.Piece{Name: filepath.Base(p), Size: st.Size()})
		}
		out = append(out, ac)
	}
	return out, nil
}

// OpenPiece opens a piece named in the clip list: the name is looked up
// among the clip's pieces, never joined to a path as given.
func (d door) OpenPiece(clip, piece string) (io.ReadCloser, int64, error) {
	notFound := func(what string) error {
		return &lanapi.Error{Status: http.StatusNotFound, Reason: "unknown-clip", Err: fmt.Errorf("device: %s", what)}
	}
	v := d.a.currentVault()
	if v == nil {
		return nil, 0, notFound("no clips: the device is not paired")
	}
	clips, err := v.Clips()
	if err != nil {
		return nil, 0, err
	}
	for _, c := range clips {
		if c.ID != clip {
			continue
		}
		init, segs, err := clipfile.ClipPieces(c.Path)
		if err != nil {
			return nil, 0, notFound("clip " + clip + " has no pieces")
		}
		for _, p := range append([]string{init}, segs...) {
			if filepath.Base(p) != piece {
				continue
			}
			f, err := os.Open(p)
			if err != nil {
				return nil, 0, notFound("clip " + clip + " piece " + piece + " is gone (retention)")
			}
			st, err := f.Stat()
			if err != nil {
				f.Close()
				return nil, 0, err
			}
			return f, st.Size(), nil
		}
		return nil, 0, notFound("clip " + clip + " has no piece " + piece)
	}
	return nil, 0, notFound("no clip " + clip)
}

// fireSim fires the sim board's sensor event (motion or ring) as if it
// came from hardware; from names who asked, for the log. Real boards
// refuse.
func (a *Agent) fireSim(event, from string) error {
	kind, err := capture.ParseEventKind(event)
	if err != nil {
		return &lanapi.Error{Status: http.StatusBadRequest, Reason: "bad-event", Err: err}
	}
	if !a.opts.Board.Sim {
		return &lanapi.Error{Status: http.StatusForbidden, Reason: "not-sim-board", Err: fmt.Errorf("device: trigger is for the sim board; board %q has real sensors", a.opts.Board.Name)}
	}
	if a.currentVault() == nil {
		// Nothing would be recorded: say why, rather than "recording".
		return &lanapi.Error{Status: http.StatusConflict, Reason: "not-paired", Err: errUnpaired}
	}
	a.log.Info("event", "kind", kind, "from", from)
	a.trigger(capture.Event{Kind: kind, Time: a.opts.Clock.Now()})
	return nil
}

// simTrigger is the LAN API's SimTrigger: set on the sim board only, so
// that on a real board the route refuses before anything else.
func (a *Agent) simTrigger() func(string) error {
	if !a.opts.Board.Sim {
		return nil
	}
	return func(event string) error { return a.fireSim(event, "LAN API (owner)") }
}
