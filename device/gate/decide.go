package gate

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/capture/vault"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
)

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

// ErrNotPaired is returned for statements that need an owner before one
// is installed.
var ErrNotPaired = errors.New("gate: the device is not paired")

// timeFloor is the latest accepted iat: the clock must never be below it.
func timeFloor(tx *bbolt.Tx) time.Time {
	var t time.Time
	if v := tx.Bucket(bucketMeta).Get(keyTimeFloor); v != nil {
		t.UnmarshalText(v)
	}
	return t
}

func raiseTimeFloor(tx *bbolt.Tx, t time.Time) error {
	if !t.After(timeFloor(tx)) {
		return nil
	}
	v, _ := t.UTC().MarshalText()
	return tx.Bucket(bucketMeta).Put(keyTimeFloor, v)
}

type seenToken struct {
	Accepted time.Time `json:"accepted"`
	Expires  time.Time `json:"expires"`
}

// SubmitToken verifies a legal-process token (DESIGN.md "Verifying a legal
// token") and, when it verifies, records in one transaction its jti, the
// audit leaf (a commitment while the owner notice is delayed), the notice,
// the legal hold and the disclosure jobs. A refusal records only the
// refusal in the audit log and burns nothing. It returns the token's jti.
func (g *Gate) SubmitToken(data []byte) (string, error) {
	now := g.clk.Now()
	policy, ok, err := g.Policy()
	if err != nil {
		return "", err
	}
	if !ok {
		return "", ErrNotPaired
	}
	owners, err := g.OwnerRecipients()
	if err != nil {
		return "", err
	}
	var tok *consent.Token
	var verr error
	var jobs []Job
	err = g.db.Update(func(tx *bbolt.Tx) error {
		tok, verr = consent.VerifyToken(data, consent.VerifyInput{
			Policy: &policy, DeviceID: g.opts.DeviceID, Now: now,
			ClockSynced: g.opts.ClockSynced(), TimeFloor: timeFloor(tx),
			Seen: func(jti string) bool { return tx.Bucket(bucketSeen).Get([]byte(jti)) != nil },
		})
		if verr != nil {
			return nil
		}
		if verr = checkRecipientFamily(tok.Claims.Recipient, owners); verr != nil {
			return nil
		}
		c := tok.Claims
		if err := put(tx, bucketSeen, []byte(c.ID), seenToken{Accepted: now, Expires: time.Unix(int64(c.Expiry), 0)}); err != nil {
			return err
		}
		if err := raiseTimeFloor(tx, time.Unix(int64(c.IssuedAt), 0)); err != nil {
			return err
		}
		refs, err := g.scoped(tx, c.Scope)
		if err != nil {
			return err
		}
		if c.Preserve && len(refs) > 0 {
			until := time.Unix(int64(c.Expiry), 0).Add(g.opts.HoldMargin)
			if err := vault.PlaceHoldsTx(tx, refs, until, "legal:"+c.ID); err != nil {
				return err
			}
		}
		var issuers []string
		for _, s := range tok.Signers {
			issuers = append(issuers, s.Name+" ("+s.Role+")")
		}
		body := NoticeBody{
			Time: now, Kind: "legal", Authority: c.ID, Recipient: c.Recipient, Basis: c.Basis, Case: c.Case,
			Issuers: issuers, From: c.Scope.From, Until: c.Scope.Until, Segments: len(refs), Preserve: c.Preserve,
			Strict: g.vaultIdentity() == nil,
		}
		releaseAt := now
		if c.NotifyAfter != nil && c.NotifyAfter.After(now) {
			releaseAt = *c.NotifyAfter
		}
		if cap := now.Add(time.Duration(policy.WithDefaults().MaxNoticeDelay)); releaseAt.After(cap) {
			releaseAt = cap // VerifyToken refuses this; the cap is enforced here as well
		}
		entry := audit.Entry{
			Time: now, Kind: audit.KindTokenAccepted, Subject: []string{c.ID},
			Details: map[string]string{
				"basis": c.Basis, "case": c.Case, "jurisdiction": c.Jurisdiction, "order_sha256": c.OrderSHA256,
				"recipient": c.Recipient, "issuers": fmt.Sprint(issuers), "segments": fmt.Sprint(len(refs)),
				"from": c.Scope.From.UTC().Format(time.RFC3339), "until": c.Scope.Until.UTC().Format(time.RFC3339),
				"preserve": fmt.Sprint(c.Preserve), "token_sha256": fmt.Sprintf("%x", tok.SHA256),
			},
		}
		jobs, err = g.record(tx, now, releaseAt, policy, body, entry, "legal:"+c.ID, c.Recipient, refs, owners)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("gate: recording token: %w", err)
	}
	if verr != nil {
		return "", g.refused(audit.KindTokenRefused, tokenJTI(data), data, verr)
	}
	g.log.Info("legal token accepted", "jti", tok.Claims.ID, "basis", tok.Claims.Basis, "disclosures", len(jobs))
	g.poke()
	return tok.Claims.ID, nil
}

// tokenJTI is the claimed jti of a refused token, for the audit leaf of an
// authenticated refusal (the signatures verified, so the jti is the
// issuers').
func tokenJTI(data []byte) string {
	s, err := consent.InspectToken(data)
	if err != nil {
		return ""
	}
	return s.Claims.ID
}

// checkRecipientFamily refuses a recipient that would downgrade the
// footage: clips of post-quantum (hybrid) owners are never re-wrapped for a
// classic X25519 recipient.
func checkRecipientFamily(recipient string, owners []string) error {
	to, err := consent.ParseRecipients([]string{recipient})
	if err != nil {
		return &consent.Error{Reason: consent.ReasonBadRecipient, Detail: err.Error()}
	}
	ownerRs, err := consent.ParseRecipients(owners)
	if err != nil || len(ownerRs) == 0 {
		return err
	}
	want, _ := consent.FamilyOf(ownerRs[0])
	got, _ := consent.FamilyOf(to[0])
	if want == consent.PostQuantum && got != consent.PostQuantum {
		return &consent.Error{Reason: consent.ReasonRecipientTypeNotAllowed,
			Detail: "the footage is encrypted post-quantum (hybrid); the recipient must be hybrid too (age1pq1...), never a classic X25519 key"}
	}
	return nil
}

// scoped returns the segments a scope releases: video only (the device
// records no audio or snapshots yet), never live footage here.
func (g *Gate) scoped(tx *bbolt.Tx, s consent.Scope) ([]vault.Ref, error) {
	if !slices.Contains(s.Media, "video") || !s.Until.After(s.From) {
		return nil, nil
	}
	return vault.OverlappingTx(tx, s.From, s.Until)
}

// record writes a disclosure decision's consequences into tx: the audit
// leaf (or a commitment while the notice is delayed), the notice and one
// disclosure job per clip.
func (g *Gate) record(tx *bbolt.Tx, now, releaseAt time.Time, policy consent.Policy, body NoticeBody,
	entry audit.Entry, authority, recipient string, refs []vault.Ref, owners []string) ([]Job, error) {
	delayed := releaseAt.After(now)
	notices := tx.Bucket(bucketNotices)
	id, err := notices.NextSequence()
	if err != nil {
		return nil, err
	}
	n := Notice{ID: id, Created: now, ReleaseAt: releaseAt, Released: !delayed}
	n.ReleaseUptime = g.uptime() + releaseAt.Sub(now)
	if delayed {
		p, err := g.commit(tx, entry)
		if err != nil {
			return nil, err
		}
		n.Pending = append(n.Pending, p)
	} else if _, err := g.opts.Audit.AppendTx(tx, entry); err != nil {
		return nil, err
	}
	var jobs []Job
	byClip := map[string]int{}
	for _, r := range refs {
		i, ok := byClip[r.Clip.ID]
		if !ok {
			i = len(jobs)
			byClip[r.Clip.ID] = i
			jobs = append(jobs, Job{
				ID: fmt.Sprintf("%s-%s", now.UTC().Format("20060102T150405Z"), randomID("")), Authority: authority,
				Recipient: recipient, Clip: r.Clip.ID, ClipDir: r.Clip.Dir, Created: now,
				Strict: g.vaultIdentity() == nil, Delayed: delayed, Notice: id,
			})
			body.Clips = append(body.Clips, r.Clip.ID)
		}
		jobs[i].Segments = append(jobs[i].Segments, r.Segment.Seq)
	}
	if n.Body, err = encryptNotice(body, owners); err != nil {
		return nil, err
	}
	if err := put(tx, bucketNotices, u64key(id), n); err != nil {
		return nil, err
	}
	for _, j := range jobs {
		if err := put(tx, bucketJobs, []byte(j.ID), j); err != nil {
			return nil, err
		}
	}
	return jobs, nil
}

// SubmitGrant verifies an owner's grant and records it, with its audit
// leaf, its notice and the disclosure jobs for its scope, in one
// transaction. A grant for live view only discloses nothing now.
func (g *Gate) SubmitGrant(data []byte) (Grant, error) {
	now := g.clk.Now()
	owners, err := g.OwnerRecipients()
	if err != nil {
		return Grant{}, err
	}
	if len(owners) == 0 {
		return Grant{}, ErrNotPaired
	}
	var grant Grant
	var verr error
	err = g.db.Update(func(tx *bbolt.Tx) error {
		keys, err := g.ownerKeys(tx)
		if err != nil {
			return err
		}
		st, err := consent.VerifyOwnerStatement(data, consent.KindGrant, keys, now, g.opts.DeviceID)
		if err != nil {
			verr = err
			return nil
		}
		c := st.Claims.(*consent.GrantClaims)
		if tx.Bucket(bucketGrants).Get([]byte(c.ID)) != nil {
			verr = consent.ErrReplayed
			return nil
		}
		if verr = checkRecipientFamily(c.Recipient, owners); verr != nil {
			return nil
		}
		grant = Grant{
			JTI: c.ID, Grantee: c.Grantee, Recipient: c.Recipient, From: c.Scope.From, Until: c.Scope.Until,
			Media: c.Scope.Media, Live: c.Scope.Live, Expires: time.Unix(int64(c.Expiry), 0), Uses: c.Uses,
			Signer: st.KeyID, Accepted: now,
		}
		refs, err := g.scoped(tx, c.Scope)
		if err != nil {
			return err
		}
		if len(refs) > 0 {
			grant.Used = 1
		}
		if err := put(tx, bucketGrants, []byte(c.ID), grant); err != nil {
			return err
		}
		entry := audit.Entry{
			Time: now, Kind: audit.KindGrantAccepted, Subject: []string{c.ID},
			Details: map[string]string{
				"signer": st.KeyID, "grantee": c.Grantee, "recipient": c.Recipient, "segments": fmt.Sprint(len(refs)),
				"from": c.Scope.From.UTC().Format(time.RFC3339), "until": c.Scope.Until.UTC().Format(time.RFC3339),
				"live": fmt.Sprint(c.Scope.Live), "expires": grant.Expires.UTC().Format(time.RFC3339),
			},
		}
		body := NoticeBody{
			Time: now, Kind: "grant", Authority: c.ID, Recipient: c.Recipient, From: c.Scope.From, Until: c.Scope.Until,
			Segments: len(refs), Strict: g.vaultIdentity() == nil,
		}
		policy, _, _ := g.policyTx(tx)
		_, err = g.record(tx, now, now, policy, body, entry, "grant:"+c.ID, c.Recipient, refs, owners)
		return err
	})
	if err != nil {
		return Grant{}, fmt.Errorf("gate: recording grant: %w", err)
	}
	if verr != nil {
		return Grant{}, g.refused(audit.KindGrantRefused, "", data, verr)
	}
	g.log.Info("grant accepted", "jti", grant.JTI, "recipient", grant.Recipient)
	g.poke()
	return grant, nil
}

func (g *Gate) policyTx(tx *bbolt.Tx) (consent.Policy, bool, error) {
	var p consent.Policy
	ok, err := get(tx, bucketPolicy, keyPolicy, &p)
	return p, ok, err
}

// Revoke verifies an owner's revocation and marks the grant revoked:
// disclosure jobs not yet written are dropped, and the grant discloses
// nothing more.
func (g *Gate) Revoke(data []byte) (string, error) {
	now := g.clk.Now()
	var grantID string
	var verr error
	err := g.db.Update(func(tx *bbolt.Tx) error {
		st, err := g.ownerStatement(tx, data, consent.KindRevoke, now)
		if err != nil {
			verr = err
			return nil
		}
		c := st.Claims.(*consent.RevokeClaims)
		if err := markSeen(tx, consent.KindRevoke, c.ID, now); err != nil {
			return err
		}
		var grant Grant
		ok, err := get(tx, bucketGrants, []byte(c.Grant), &grant)
		if err != nil {
			return err
		}
		if !ok {
			verr = fmt.Errorf("gate: no grant %q: %w", c.Grant, errUnknownGrant)
			return nil
		}
		grantID = grant.JTI
		if grant.Revoked.IsZero() {
			grant.Revoked = now
			if err := put(tx, bucketGrants, []byte(grant.JTI), grant); err != nil {
				return err
			}
		}
		_, err = g.opts.Audit.AppendTx(tx, audit.Entry{Time: now, Kind: audit.KindRevoke, Subject: []string{grant.JTI, c.ID}, Details: map[string]string{"signer": st.KeyID}})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("gate: recording revocation: %w", err)
	}
	if verr != nil {
		return "", g.refused(audit.KindRevoke, "", data, verr)
	}
	g.log.Info("grant revoked", "jti", grantID)
	return grantID, nil
}

var errUnknownGrant = errors.New("unknown grant")

// ErrUnknownGrant is returned when a revocation names no grant.
func IsUnknownGrant(err error) bool { return errors.Is(err, errUnknownGrant) }

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

// SetPolicy verifies an owner-signed policy statement and installs its
// policy.
func (g *Gate) SetPolicy(data []byte) (consent.Policy, error) {
	now := g.clk.Now()
	var p consent.Policy
	var verr error
	err := g.db.Update(func(tx *bbolt.Tx) error {
		st, err := g.ownerStatement(tx, data, consent.KindPolicy, now)
		if err != nil {
			verr = err
			return nil
		}
		c := st.Claims.(*consent.PolicyClaims)
		if err := markSeen(tx, consent.KindPolicy, c.ID, now); err != nil {
			return err
		}
		p = c.Policy
		old, _, _ := g.policyTx(tx)
		if err := put(tx, bucketPolicy, keyPolicy, p); err != nil {
			return err
		}
		_, err = g.opts.Audit.AppendTx(tx, audit.Entry{Time: now, Kind: audit.KindPolicyChange, Subject: []string{c.ID},
			Details: map[string]string{"signer": st.KeyID, "old_hash": fmt.Sprintf("%x", old.Hash()), "new_hash": fmt.Sprintf("%x", p.Hash())}})
		return err
	})
	if err != nil {
		return p, fmt.Errorf("gate: recording policy: %w", err)
	}
	if verr != nil {
		return p, g.refused(audit.KindPolicyChange, "", data, verr)
	}
	return p, nil
}

// Enroll verifies an enrollment signed by an enrolled owner and adds the
// new owner device.
func (g *Gate) Enroll(data []byte) (Owner, error) {
	now := g.clk.Now()
	var o Owner
	var verr error
	err := g.db.Update(func(tx *bbolt.Tx) error {
		st, err := g.ownerStatement(tx, data, consent.KindEnroll, now)
		if err != nil {
			verr = err
			return nil
		}
		c := st.Claims.(*consent.EnrollClaims)
		pub, _ := consent.ParseIssuerKey(c.Key)
		existing, err := list[Owner](tx, bucketOwner)
		if err != nil {
			return err
		}
		all := []string{c.Recipient}
		for _, e := range existing {
			all = append(all, e.Recipients...)
		}
		if _, err := consent.ParseRecipients(all); err != nil {
			verr = &consent.Error{Reason: consent.ReasonRecipientTypeNotAllowed, Detail: err.Error()}
			return nil
		}
		if err := markSeen(tx, consent.KindEnroll, c.ID, now); err != nil {
			return err
		}
		o = Owner{KeyID: consent.KeyID(pub), SigningKey: c.Key, Recipients: []string{c.Recipient}, Enrolled: now, EnrolledBy: st.KeyID}
		if err := put(tx, bucketOwner, []byte(o.KeyID), o); err != nil {
			return err
		}
		_, err = g.opts.Audit.AppendTx(tx, audit.Entry{Time: now, Kind: audit.KindEnroll, Subject: []string{o.KeyID, c.ID},
			Details: map[string]string{"signer": st.KeyID, "recipient": c.Recipient}})
		return err
	})
	if err != nil {
		return o, fmt.Errorf("gate: recording enrollment: %w", err)
	}
	if verr != nil {
		return o, g.refused(audit.KindEnroll, "", data, verr)
	}
	g.ownersChanged()
	return o, nil
}

// VerifyReset verifies an owner-signed reset statement and logs the
// factory reset; the agent then erases the device.
func (g *Gate) VerifyReset(data []byte) error {
	now := g.clk.Now()
	var verr error
	err := g.db.Update(func(tx *bbolt.Tx) error {
		st, err := g.ownerStatement(tx, data, consent.KindReset, now)
		if err != nil {
			verr = err
			return nil
		}
		if err := markSeen(tx, consent.KindReset, jtiOf(st), now); err != nil {
			return err
		}
		_, err = g.opts.Audit.AppendTx(tx, audit.Entry{Time: now, Kind: audit.KindFactoryReset, Subject: []string{st.Claims.(*consent.ResetClaims).ID},
			Details: map[string]string{"signer": st.KeyID}})
		return err
	})
	if err != nil {
		return fmt.Errorf("gate: recording reset: %w", err)
	}
	if verr != nil {
		return g.refused(audit.KindFactoryReset, "", data, verr)
	}
	return nil
}

// ownerStatement verifies an owner-signed statement of kind in tx and
// refuses one whose jti was accepted before; the caller records it with
// markSeen once it acts on it, in the same transaction.
func (g *Gate) ownerStatement(tx *bbolt.Tx, data []byte, kind string, now time.Time) (*consent.OwnerStatement, error) {
	keys, err := g.ownerKeys(tx)
	if err != nil {
		return nil, err
	}
	st, err := consent.VerifyOwnerStatement(data, kind, keys, now, g.opts.DeviceID)
	if err != nil {
		return nil, err
	}
	if tx.Bucket(bucketStatements).Get([]byte(kind+"/"+jtiOf(st))) != nil {
		return nil, consent.ErrReplayed
	}
	return st, nil
}

func markSeen(tx *bbolt.Tx, kind, jti string, now time.Time) error {
	v, _ := now.UTC().MarshalText()
	return tx.Bucket(bucketStatements).Put([]byte(kind+"/"+jti), v)
}

func jtiOf(st *consent.OwnerStatement) string {
	switch c := st.Claims.(type) {
	case *consent.RevokeClaims:
		return c.ID
	case *consent.PolicyClaims:
		return c.ID
	case *consent.EnrollClaims:
		return c.ID
	case *consent.ResetClaims:
		return c.ID
	case *consent.GrantClaims:
		return c.ID
	case *consent.LoginClaims:
		return c.ID
	}
	return ""
}

// VerifyLogin checks an owner's login statement (the bearer of owner-only
// LAN API calls). Each login is good for one request: a bearer sniffed on
// the LAN cannot be used again.
func (g *Gate) VerifyLogin(data []byte) error {
	var keys consent.KeySet
	err := g.db.View(func(tx *bbolt.Tx) error {
		var err error
		keys, err = g.ownerKeys(tx)
		return err
	})
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return ErrNotPaired
	}
	now := g.clk.Now()
	st, err := consent.VerifyOwnerStatement(data, consent.KindLogin, keys, now, g.opts.DeviceID)
	if err != nil {
		return err
	}
	c := st.Claims.(*consent.LoginClaims)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.logins == nil {
		g.logins = map[string]time.Time{}
	}
	for jti, exp := range g.logins {
		if now.After(exp) {
			delete(g.logins, jti)
		}
	}
	if _, used := g.logins[c.ID]; used {
		return consent.ErrReplayed
	}
	g.logins[c.ID] = c.Expiry.Time()
	return nil
}
