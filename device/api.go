package device

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/consent/pairing"
	"github.com/doorward/doorward/device/gate"
)

// The LAN API: pairing, owner statements, legal tokens, and the owner's
// reads (notices, disclosures, the audit log). Plain HTTP on the LAN for
// now; every write is a signed statement, so the transport adds no
// authority, and the owner pins the device key at pairing.
//
//	GET  /api/v1/info                     device id and key, paired
//	POST /api/v1/pair/hello, /pair/finish the pairing handshake
//	POST /api/v1/grants                   owner-signed grant    → 201 {"jti","disclosures"}
//	POST /api/v1/revocations              owner-signed revoke   → 200 {"grant"}
//	POST /api/v1/legal                    legal-process token   → 202 {"jti"} | 403/400 {"reason"}
//	GET  /api/v1/policy                   the policy in force (or proposed) and its hash
//	POST /api/v1/policy                   owner-signed policy   → 200 {"hash"}
//	POST /api/v1/enroll                   owner-signed enroll   → 200 {"kid"}
//	POST /api/v1/reset                    owner-signed reset    → 202, then the device erases itself
//	GET  /api/v1/notices, /disclosures, /audit   owner only: Authorization: Doorward <login statement>

// maxBody bounds every request body: statements are at most 16 KiB.
const maxBody = consent.MaxStatementSize + 1

type lanServer struct {
	ln  net.Listener
	srv *http.Server
}

func listenLAN(addr string, a *Agent) (*lanServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("device: LAN API on %s (listen): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/info", a.apiInfo)
	mux.HandleFunc("POST /api/v1/pair/hello", a.apiPairHello)
	mux.HandleFunc("POST /api/v1/pair/finish", a.apiPairFinish)
	mux.HandleFunc("POST /api/v1/grants", a.apiGrant)
	mux.HandleFunc("POST /api/v1/revocations", a.apiRevoke)
	mux.HandleFunc("POST /api/v1/legal", a.apiLegal)
	mux.HandleFunc("GET /api/v1/policy", a.apiGetPolicy)
	mux.HandleFunc("POST /api/v1/policy", a.apiSetPolicy)
	mux.HandleFunc("POST /api/v1/enroll", a.apiEnroll)
	mux.HandleFunc("POST /api/v1/reset", a.apiReset)
	mux.HandleFunc("GET /api/v1/notices", a.owner(a.apiNotices))
	mux.HandleFunc("GET /api/v1/disclosures", a.owner(a.apiDisclosures))
	mux.HandleFunc("GET /api/v1/audit", a.owner(a.apiAudit))
	return &lanServer{ln: ln, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}}, nil
}

func (s *lanServer) serve() { s.srv.Serve(s.ln) }

func (s *lanServer) close() { s.srv.Close() }

func (s *lanServer) addr() string {
	if s == nil {
		return ""
	}
	return s.ln.Addr().String()
}

type apiError struct {
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// refuse answers a refused statement: 400 when it could not be parsed,
// 403 when it was understood and refused, with its stable reason code.
func refuse(w http.ResponseWriter, err error) {
	reason := consent.ReasonOf(err)
	switch {
	case gate.IsUnknownGrant(err):
		writeJSON(w, http.StatusNotFound, apiError{"unknown-grant", err.Error()})
	case reason == consent.ReasonMalformed || reason == consent.ReasonBodyTooLarge:
		writeJSON(w, http.StatusBadRequest, apiError{string(reason), err.Error()})
	case reason != "":
		writeJSON(w, http.StatusForbidden, apiError{string(reason), err.Error()})
	case errors.Is(err, gate.ErrNotPaired):
		writeJSON(w, http.StatusConflict, apiError{"not-paired", err.Error()})
	default:
		writeJSON(w, http.StatusInternalServerError, apiError{"internal", err.Error()})
	}
}

// body reads a statement body, refusing one over the size limit; the
// refusal is counted in the audit log like every unauthenticated refusal.
func (a *Agent) body(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{"malformed", "device: reading the body: " + err.Error()})
		return nil, false
	}
	if len(data) >= maxBody {
		if err := a.audit.RecordUnauthenticated(string(consent.ReasonBodyTooLarge)); err != nil {
			a.log.Error("audit: recording a refusal", "err", err)
		}
		writeJSON(w, http.StatusBadRequest, apiError{string(consent.ReasonBodyTooLarge), fmt.Sprintf("device: body over %d bytes", consent.MaxStatementSize)})
		return nil, false
	}
	return data, true
}

// InfoResponse is GET /api/v1/info.
type InfoResponse struct {
	DeviceID  string `json:"device_id"`
	DeviceKey string `json:"device_key"`
	Paired    bool   `json:"paired"`
	Version   string `json:"version"`
}

func (a *Agent) apiInfo(w http.ResponseWriter, r *http.Request) {
	paired, _ := a.gate.Paired()
	writeJSON(w, http.StatusOK, InfoResponse{DeviceID: a.id.ID(), DeviceKey: consent.FormatIssuerKey(a.id.PublicKey()), Paired: paired, Version: a.opts.Version})
}

func (a *Agent) apiPairHello(w http.ResponseWriter, r *http.Request) {
	h, err := pairing.DecodeHello(r.Body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, pairing.ResultFor(err))
		return
	}
	reply, err := a.pairHello(h)
	if err != nil {
		writeJSON(w, pairStatus(err), pairing.ResultFor(err))
		return
	}
	writeJSON(w, http.StatusOK, reply)
}

func (a *Agent) apiPairFinish(w http.ResponseWriter, r *http.Request) {
	f, err := pairing.DecodeFinish(r.Body)
	if err == nil {
		err = a.pairFinish(f)
	}
	if err != nil {
		reason := pairing.ResultFor(err).Reason
		a.log.Warn("pairing refused", "reason", reason)
		// Only a MAC or signature that fails on a real session says
		// someone tried a code; the rest anyone can send.
		a.gate.PairingRefused(reason, errors.Is(err, pairing.ErrBadMAC) || errors.Is(err, pairing.ErrBadSignature))
		var slow *pairing.SlowDownError
		if errors.As(err, &slow) {
			w.Header().Set("Retry-After", strconv.Itoa(int(slow.Wait.Seconds()+0.999)))
		}
		writeJSON(w, pairStatus(err), pairing.ResultFor(err))
		return
	}
	writeJSON(w, http.StatusOK, pairing.ResultFor(nil))
}

func pairStatus(err error) int {
	switch {
	case errors.Is(err, pairing.ErrAlreadyPaired):
		return http.StatusConflict
	case errors.Is(err, pairing.ErrSlowDown):
		return http.StatusTooManyRequests
	case errors.Is(err, pairing.ErrMalformed):
		return http.StatusBadRequest
	}
	return http.StatusForbidden
}

func (a *Agent) apiGrant(w http.ResponseWriter, r *http.Request) {
	data, ok := a.body(w, r)
	if !ok {
		return
	}
	g, err := a.gate.SubmitGrant(data)
	if err != nil {
		refuse(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"jti": g.JTI, "disclosures": g.Disclosures})
}

func (a *Agent) apiRevoke(w http.ResponseWriter, r *http.Request) {
	data, ok := a.body(w, r)
	if !ok {
		return
	}
	grant, err := a.gate.Revoke(data)
	if err != nil {
		refuse(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"grant": grant})
}

func (a *Agent) apiLegal(w http.ResponseWriter, r *http.Request) {
	data, ok := a.body(w, r)
	if !ok {
		return
	}
	jti, err := a.gate.SubmitToken(data)
	if err != nil {
		refuse(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"jti": jti})
}

func (a *Agent) apiGetPolicy(w http.ResponseWriter, r *http.Request) {
	p, approved, err := a.policy()
	if err != nil {
		refuse(w, err)
		return
	}
	writeJSON(w, http.StatusOK, PolicyInfo{Policy: p, Hash: fmt.Sprintf("%x", p.Hash()), Approved: approved})
}

func (a *Agent) apiSetPolicy(w http.ResponseWriter, r *http.Request) {
	data, ok := a.body(w, r)
	if !ok {
		return
	}
	p, err := a.gate.SetPolicy(data)
	if err != nil {
		refuse(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"hash": fmt.Sprintf("%x", p.Hash())})
}

func (a *Agent) apiEnroll(w http.ResponseWriter, r *http.Request) {
	data, ok := a.body(w, r)
	if !ok {
		return
	}
	o, err := a.gate.Enroll(data)
	if err != nil {
		refuse(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"kid": o.KeyID})
}

func (a *Agent) apiReset(w http.ResponseWriter, r *http.Request) {
	data, ok := a.body(w, r)
	if !ok {
		return
	}
	if err := a.gate.VerifyReset(data); err != nil {
		refuse(w, err)
		return
	}
	a.log.Warn("factory reset requested by an owner-signed statement")
	writeJSON(w, http.StatusAccepted, map[string]string{})
	go a.requestReset()
}

// owner wraps a handler for the owners' reads: the bearer is a short-lived
// owner-signed login statement.
func (a *Agent) owner(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Doorward ")
		if !ok {
			writeJSON(w, http.StatusUnauthorized, apiError{"no-login", "device: owner only: send Authorization: Doorward <login statement>"})
			return
		}
		// The JWS JSON itself (header-safe when compact), or base64url of it.
		raw := []byte(tok)
		if !strings.HasPrefix(tok, "{") {
			var err error
			if raw, err = base64.RawURLEncoding.DecodeString(tok); err != nil {
				writeJSON(w, http.StatusUnauthorized, apiError{"malformed", "device: the login statement must be the JWS JSON or base64url of it"})
				return
			}
		}
		if len(raw) > consent.MaxStatementSize {
			writeJSON(w, http.StatusUnauthorized, apiError{string(consent.ReasonBodyTooLarge), "device: login statement too large"})
			return
		}
		if err := a.gate.VerifyLogin(raw); err != nil {
			reason := string(consent.ReasonOf(err))
			if reason == "" {
				reason = "refused"
			}
			writeJSON(w, http.StatusUnauthorized, apiError{reason, err.Error()})
			return
		}
		h(w, r)
	}
}

// NoticeJSON is one notice as the API returns it: the body stays
// age-encrypted to the owners.
type NoticeJSON struct {
	ID        uint64    `json:"id"`
	Created   time.Time `json:"created"`
	ReleaseAt time.Time `json:"release_at"`
	Body      []byte    `json:"body"`
}

func (a *Agent) apiNotices(w http.ResponseWriter, r *http.Request) {
	ns, err := a.gate.Notices()
	if err != nil {
		refuse(w, err)
		return
	}
	out := []NoticeJSON{}
	for _, n := range ns {
		out = append(out, NoticeJSON{ID: n.ID, Created: n.Created, ReleaseAt: n.ReleaseAt, Body: n.Body})
	}
	writeJSON(w, http.StatusOK, out)
}

// apiDisclosures lists the disclosure jobs a page at a time (?after=ID,
// ?limit=N, ?unfinished=1); the Doorward-Next header names the next
// page's after. Jobs whose owner notice is delayed are not listed.
func (a *Agent) apiDisclosures(w http.ResponseWriter, r *http.Request) {
	q := gate.JobQuery{After: r.URL.Query().Get("after"), Unfinished: r.URL.Query().Get("unfinished") == "1"}
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > gate.MaxJobPage {
			writeJSON(w, http.StatusBadRequest, apiError{"malformed", fmt.Sprintf("device: limit=%q: want 1 to %d", l, gate.MaxJobPage)})
			return
		}
		q.Limit = n
	}
	jobs, next, err := a.gate.Jobs(q)
	if err != nil {
		refuse(w, err)
		return
	}
	if next != "" {
		w.Header().Set("Doorward-Next", next)
	}
	if jobs == nil {
		jobs = []gate.Job{}
	}
	writeJSON(w, http.StatusOK, jobs)
}

// AuditResponse is GET /api/v1/audit[?since=N]: a signed checkpoint, the
// entries from From on (From is N, or 0 for the whole log), the RFC 6962
// consistency proof from the tree of size N to the checkpoint's, and the
// refusals counted but not yet logged. With since the download is bounded
// by what the log added since the owner's last verification, not by its
// size.
type AuditResponse struct {
	Checkpoint      string            `json:"checkpoint"`
	From            uint64            `json:"from"`
	Entries         []audit.Entry     `json:"entries"`
	Consistency     [][]byte          `json:"consistency,omitempty"`
	PendingRefusals map[string]uint64 `json:"pending_refusals,omitempty"`
}

func (a *Agent) apiAudit(w http.ResponseWriter, r *http.Request) {
	cp, err := a.audit.Checkpoint()
	if err != nil {
		refuse(w, err)
		return
	}
	resp := AuditResponse{Checkpoint: string(cp.Marshal()), PendingRefusals: a.audit.PendingRefusals()}
	if s := r.URL.Query().Get("since"); s != "" {
		since, err := strconv.ParseUint(s, 10, 64)
		if err != nil || since > cp.Size {
			writeJSON(w, http.StatusBadRequest, apiError{"malformed", fmt.Sprintf("device: since=%q: want a tree size from 0 to %d", s, cp.Size)})
			return
		}
		resp.From = since
		if since > 0 && since < cp.Size {
			if resp.Consistency, err = a.audit.ConsistencyProof(since, cp.Size); err != nil {
				refuse(w, err)
				return
			}
		}
	}
	if resp.Entries, err = a.audit.Entries(resp.From, cp.Size); err != nil {
		refuse(w, err)
		return
	}
	if resp.Entries == nil {
		resp.Entries = []audit.Entry{}
	}
	writeJSON(w, http.StatusOK, resp)
}
