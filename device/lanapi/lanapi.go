// Package lanapi serves the agent's two doors: the LAN API over HTTP
// (pairing, owner statements, legal tokens, the owners' reads) and the
// control socket in the state directory (the doorward command's trigger,
// clips, status, pair-code, policy and audit). The wire types are
// device/api's.
//
// The server knows nothing of storage: it works over the small interfaces
// below, which the agent implements (the audit log directly). It stops with http.Server.Shutdown, so
// a request being answered (a decision that already committed) still gets
// its answer; Serve returns only once every goroutine it started is done,
// and Close may be called any number of times.
//
// Other packages add routes before Serve with Handle (the live view mounts
// its WHEP endpoints that way); Handler serves the same routes in-process
// (the uplink forwards the owner's remote commands to it).
package lanapi

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/netutil"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/consent/pairing"
	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/device/lantls"
)

// Pairing serves the pairing handshake.
type Pairing interface {
	PairHello(h pairing.Hello) (pairing.HelloReply, error)
	PairFinish(f pairing.Finish) error
}

// Statements decides the signed statements posted to the API. A refusal is
// an error carrying a consent reason (consent.ReasonOf) or an *Error.
type Statements interface {
	Grant(data []byte) (api.GrantReply, error)
	Revoke(data []byte) (api.RevokeReply, error)
	Legal(data []byte) (api.LegalReply, error)
	SetPolicy(data []byte) (api.PolicyReply, error)
	Enroll(data []byte) (api.EnrollReply, error)
	// Backup turns the owner-consented cloud backup on or off.
	Backup(data []byte) (api.BackupReply, error)
	// VerifyReset checks an owner-signed reset; Reset is called once its
	// 202 has been written, and must not block.
	VerifyReset(data []byte) error
	Reset()
}

// Reads are the public reads and the owners' reads.
type Reads interface {
	Info() api.Info
	Policy() (api.PolicyInfo, error)
	// VerifyLogin checks an owner-signed login statement (single use) and
	// returns the key ID of the owner who signed it.
	VerifyLogin(login []byte) (string, error)
	Notices() ([]api.Notice, error)
	// Disclosures returns a page of jobs after the job after ("" from the
	// first), at most limit (1 to api.MaxDisclosurePage), only pending and
	// running ones when unfinished, and the after of the next page ("" on
	// the last).
	Disclosures(after string, limit int, unfinished bool) ([]api.Disclosure, string, error)
}

// ClipReads serves the owners' clips: the list, and each piece as the
// ciphertext it is on the device. OpenPiece finds the piece by the clip's
// ID and a name from its list (never a path); an unknown one is an *Error
// with status 404.
type ClipReads interface {
	Clips() ([]api.OwnerClip, error)
	OpenPiece(clip, piece string) (io.ReadCloser, int64, error)
}

// AuditLog is the audit log the owners read (*auditlog.Log).
type AuditLog interface {
	Checkpoint() (audit.SignedCheckpoint, error)
	Entries(from, to uint64) ([]audit.Entry, error)
	ConsistencyProof(old, new uint64) ([][]byte, error)
	PendingRefusals() map[string]uint64
}

// Refusals counts the refusals the API makes before a statement is parsed
// (a body over the size limit).
type Refusals interface {
	RecordUnauthenticated(reason string) error
}

// Error is an error with the HTTP status and reason code the API answers it
// with; its text is Err's. The agent wraps the storage errors the API
// cannot know (not paired, unknown grant) in one.
type Error struct {
	Status int
	Reason string
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Config is what the LAN server serves.
type Config struct {
	Addr       string // host:port to listen on
	Pairing    Pairing
	Statements Statements
	Reads      Reads
	Audit      AuditLog
	Refusals   Refusals
	// Clips, when set, serves GET /api/v1/clips and its pieces (owner
	// only).
	Clips ClipReads
	// Grantees, when set, serves a grantee what their grant disclosed:
	// GET /api/v1/grants/{jti}/disclosures and its pieces, each request
	// carrying its own fetch statement signed by the grantee key.
	Grantees GranteeReads
	// Health, when set, answers GET /healthz: 200 when it reports true,
	// 503 otherwise, with no other information (for monitors, no login).
	Health func() bool
	// Status, when set, answers GET /api/v1/status (owner only).
	Status func() *api.Status
	// SimTrigger, when set (the sim board only), answers POST
	// /api/v1/sim/trigger (owner only): it fires motion or ring as a
	// sensor would. Unset, the route refuses with 403 not-sim-board, so
	// no LAN request can fake a sensor on a real board.
	SimTrigger func(event string) error
	Log        *slog.Logger
	// ShutdownTimeout bounds how long Serve waits for requests in progress
	// once its context ends; 0 means 5 s.
	ShutdownTimeout time.Duration
	// TLS serves the API over TLS (lantls.ServerConfig: TLS 1.3, the
	// certificate the device identity signed). It is required unless Addr
	// is loopback: on the LAN the API is never plain HTTP.
	TLS *tls.Config
	// MaxConns caps the connections served at once, TLS handshakes
	// included (0: DefaultMaxConns); more wait in the kernel's backlog.
	MaxConns int
	// IdleTimeout closes a kept-alive connection idle this long (0:
	// DefaultIdleTimeout).
	IdleTimeout time.Duration
}

// Limits of the LAN listener: a doorbell serves its owners' few commands,
// so a handful of connections is plenty, and a LAN host that opens
// connections and sends nothing must not exhaust file descriptors or
// memory. Slow requests are cut by the server's header, read and write
// timeouts.
const (
	DefaultMaxConns    = 32
	DefaultIdleTimeout = 15 * time.Second
)

// Server is the LAN API server.
type Server struct {
	cfg Config
	ln  net.Listener
	mux *http.ServeMux
	srv *http.Server

	mu      sync.Mutex
	serving bool
	closed  bool
}

// Listen binds the LAN address and prepares the routes; nothing is served
// until Serve.
func Listen(cfg Config) (*Server, error) {
	if cfg.Pairing == nil || cfg.Statements == nil || cfg.Reads == nil || cfg.Audit == nil || cfg.Refusals == nil {
		return nil, errors.New("lanapi: Config needs Pairing, Statements, Reads, Audit and Refusals")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.TLS == nil && !lantls.ListenAddrIsLoopback(cfg.Addr) {
		return nil, fmt.Errorf("lanapi: LAN API on %s: plain HTTP is for loopback only; a LAN address needs TLS", cfg.Addr)
	}
	tcp, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("lanapi: LAN API on %s (listen): %w", cfg.Addr, err)
	}
	// The cap counts TCP connections, so TLS handshakes in progress count
	// too.
	ln := netutil.LimitListener(tcp, cfg.MaxConns)
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	s := &Server{cfg: cfg, ln: ln, mux: http.NewServeMux()}
	s.routes()
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug), // failed handshakes of LAN scanners
	}
	return s, nil
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /api/v1/info", s.info)
	s.mux.HandleFunc("POST /api/v1/pair/hello", s.pairHello)
	s.mux.HandleFunc("POST /api/v1/pair/finish", s.pairFinish)
	s.mux.HandleFunc("POST /api/v1/grants", statement(s, http.StatusCreated, s.cfg.Statements.Grant))
	s.mux.HandleFunc("POST /api/v1/revocations", statement(s, http.StatusOK, s.cfg.Statements.Revoke))
	s.mux.HandleFunc("POST /api/v1/legal", statement(s, http.StatusAccepted, s.cfg.Statements.Legal))
	s.mux.HandleFunc("GET /api/v1/policy", s.getPolicy)
	s.mux.HandleFunc("POST /api/v1/policy", statement(s, http.StatusOK, s.cfg.Statements.SetPolicy))
	s.mux.HandleFunc("POST /api/v1/enroll", statement(s, http.StatusOK, s.cfg.Statements.Enroll))
	s.mux.HandleFunc("POST /api/v1/backup", statement(s, http.StatusOK, s.cfg.Statements.Backup))
	s.mux.HandleFunc("POST /api/v1/reset", s.reset)
	s.mux.HandleFunc("GET /api/v1/owner", s.ownerCheck)
	s.mux.HandleFunc("GET /api/v1/notices", s.owner(s.notices))
	s.mux.HandleFunc("GET /api/v1/disclosures", s.owner(s.disclosures))
	s.mux.HandleFunc("GET /api/v1/audit", s.owner(s.audit))
	if s.cfg.Status != nil {
		s.mux.HandleFunc("GET /api/v1/status", s.owner(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, s.cfg.Status())
		}))
	}
	if s.cfg.Health != nil {
		s.mux.HandleFunc("GET /healthz", s.healthz)
	}
	s.mux.HandleFunc("POST /api/v1/sim/trigger", s.owner(s.simTrigger))
	if s.cfg.Clips != nil {
		s.mux.HandleFunc("GET /api/v1/clips", s.owner(s.clips))
		s.mux.HandleFunc("GET /api/v1/clips/{clip}/{piece}", s.owner(s.clipPiece))
	}
	if s.cfg.Grantees != nil {
		s.mux.HandleFunc("GET /api/v1/grants/{grant}/disclosures", s.grantee(s.grantDisclosures))
		s.mux.HandleFunc("GET /api/v1/grants/{grant}/disclosures/{clip}/{piece}", s.grantee(s.grantPiece))
	}
}

// Handle adds a route (a net/http ServeMux pattern such as
// "POST /api/v1/whep") before Serve. It panics if the server already
// serves or the pattern conflicts with an existing route, as ServeMux does.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.serving || s.closed {
		panic("lanapi: Handle after Serve or Close")
	}
	s.mux.Handle(pattern, h)
}

// Handler returns the API's routes, for requests that arrive another way
// (the uplink's remote commands): the same checks and answers as on the LAN.
func (s *Server) Handler() http.Handler { return s.mux }

// TLS reports whether the server speaks TLS.
func (s *Server) TLS() bool { return s != nil && s.cfg.TLS != nil }

// Addr returns the address the server listens on (host:port).
func (s *Server) Addr() string {
	if s == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Serve answers requests until ctx ends, then shuts down: it stops
// accepting, lets the requests in progress finish (up to
// Config.ShutdownTimeout) and returns once they have. It may be called
// once.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.serving || s.closed {
		s.mu.Unlock()
		return errors.New("lanapi: Serve called twice or after Close")
	}
	s.serving = true
	s.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- s.srv.Serve(s.ln) }()
	select {
	case err := <-done: // the listener failed
		return fmt.Errorf("lanapi: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if err != nil {
		s.srv.Close() // requests that outlived the timeout
	}
	<-done // http.ErrServerClosed
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("lanapi: shutdown: %w", err)
	}
	return nil
}

// Close releases a server that never served (Serve closes its own). It
// may be called any number of times.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.serving {
		return
	}
	s.closed = true
	s.ln.Close()
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// refuse answers a refused request: 400 when the statement could not be
// parsed, 403 when it was understood and refused, with its stable reason
// code; an *Error's status and reason come first (an unknown grant is 404
// whatever else it says); 500 for anything else.
func refuse(w http.ResponseWriter, err error) {
	reason := consent.ReasonOf(err)
	var ae *Error
	switch {
	case errors.As(err, &ae):
		writeJSON(w, ae.Status, api.Error{Reason: ae.Reason, Error: err.Error()})
	case reason == consent.ReasonMalformed || reason == consent.ReasonBodyTooLarge:
		writeJSON(w, http.StatusBadRequest, api.Error{Reason: string(reason), Error: err.Error()})
	case reason != "":
		writeJSON(w, http.StatusForbidden, api.Error{Reason: string(reason), Error: err.Error()})
	default:
		writeJSON(w, http.StatusInternalServerError, api.Error{Reason: "internal", Error: err.Error()})
	}
}

// body reads a statement body, refusing one over the size limit; the
// refusal is counted like every unauthenticated refusal.
func (s *Server) body(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	data, err := io.ReadAll(io.LimitReader(r.Body, api.MaxBody+1))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Reason: "malformed", Error: "device: reading the body: " + err.Error()})
		return nil, false
	}
	if len(data) > api.MaxBody {
		if err := s.cfg.Refusals.RecordUnauthenticated(string(consent.ReasonBodyTooLarge)); err != nil {
			s.cfg.Log.Error("audit: recording a refusal", "err", err)
		}
		writeJSON(w, http.StatusBadRequest, api.Error{Reason: string(consent.ReasonBodyTooLarge), Error: fmt.Sprintf("device: body over %d bytes", api.MaxBody)})
		return nil, false
	}
	return data, true
}

// statement serves a POST of a signed statement: decide, then answer with
// status and the reply.
func statement[R any](s *Server, status int, decide func([]byte) (R, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		data, ok := s.body(w, r)
		if !ok {
			return
		}
		reply, err := decide(data)
		if err != nil {
			refuse(w, err)
			return
		}
		writeJSON(w, status, reply)
	}
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.cfg.Reads.Info())
}

func (s *Server) pairHello(w http.ResponseWriter, r *http.Request) {
	h, err := pairing.DecodeHello(r.Body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, pairing.ResultFor(err))
		return
	}
	reply, err := s.cfg.Pairing.PairHello(h)
	if err != nil {
		writeJSON(w, pairStatus(err), pairing.ResultFor(err))
		return
	}
	writeJSON(w, http.StatusOK, reply)
}

func (s *Server) pairFinish(w http.ResponseWriter, r *http.Request) {
	f, err := pairing.DecodeFinish(r.Body)
	if err == nil {
		err = s.cfg.Pairing.PairFinish(f)
	}
	if err != nil {
		s.cfg.Log.Warn("pairing refused", "reason", pairing.ResultFor(err).Reason)
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

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) {
	p, err := s.cfg.Reads.Policy()
	if err != nil {
		refuse(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) reset(w http.ResponseWriter, r *http.Request) {
	data, ok := s.body(w, r)
	if !ok {
		return
	}
	if err := s.cfg.Statements.VerifyReset(data); err != nil {
		refuse(w, err)
		return
	}
	s.cfg.Log.Warn("factory reset requested by an owner-signed statement")
	writeJSON(w, http.StatusAccepted, struct{}{})
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	s.cfg.Statements.Reset() // the agent stops; Shutdown lets this reply finish
}

// owner wraps a handler for the owners' reads: the bearer is a short-lived,
// single-use owner-signed login statement.
func (s *Server) owner(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.login(w, r); ok {
			h(w, r)
		}
	}
}

// login checks the request's login statement (single use) and returns the
// key ID of the owner who signed it, or answers 401 with the reason.
func (s *Server) login(w http.ResponseWriter, r *http.Request) (string, bool) {
	raw, ok := bearerStatement(w, r, "owner only: send Authorization: Doorward <login statement>")
	if !ok {
		return "", false
	}
	kid, err := s.cfg.Reads.VerifyLogin(raw)
	if err != nil {
		reason := string(consent.ReasonOf(err))
		if reason == "" {
			reason = "refused"
		}
		writeJSON(w, http.StatusUnauthorized, api.Error{Reason: reason, Error: err.Error()})
		return "", false
	}
	return kid, true
}

// ownerCheck answers GET /api/v1/owner: whether the login is an enrolled
// owner's valid, unused login (200 with the owner's key ID, which the
// login's own header names), and nothing else. The relay asks it, through
// the uplink, before it lists or presigns the owners' backup.
func (s *Server) ownerCheck(w http.ResponseWriter, r *http.Request) {
	if kid, ok := s.login(w, r); ok {
		writeJSON(w, http.StatusOK, api.OwnerReply{Owner: kid})
	}
}

// bearerStatement reads the statement an Authorization: Doorward header
// carries (the JWS JSON, or base64url of it), or answers 401 saying what
// is wrong; missing says what to send.
func bearerStatement(w http.ResponseWriter, r *http.Request, missing string) ([]byte, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), api.LoginScheme+" ")
	if !ok {
		writeJSON(w, http.StatusUnauthorized, api.Error{Reason: "no-login", Error: "device: " + missing})
		return nil, false
	}
	raw := []byte(tok)
	if !strings.HasPrefix(tok, "{") {
		var err error
		if raw, err = base64.RawURLEncoding.DecodeString(tok); err != nil {
			writeJSON(w, http.StatusUnauthorized, api.Error{Reason: "malformed", Error: "device: the statement must be the JWS JSON or base64url of it"})
			return nil, false
		}
	}
	if len(raw) > consent.MaxStatementSize {
		writeJSON(w, http.StatusUnauthorized, api.Error{Reason: string(consent.ReasonBodyTooLarge), Error: "device: statement too large"})
		return nil, false
	}
	return raw, true
}

// simTrigger fires a sim board's sensor for an owner: the body is
// {"event": "motion"} or {"event": "ring"}.
func (s *Server) simTrigger(w http.ResponseWriter, r *http.Request) {
	if s.cfg.SimTrigger == nil {
		writeJSON(w, http.StatusForbidden, api.Error{Reason: "not-sim-board", Error: "device: triggers are for the sim board; this board has real sensors"})
		return
	}
	var req api.SimTrigger
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Reason: "malformed", Error: `device: the body must be {"event": "motion"} or {"event": "ring"}`})
		return
	}
	if err := s.cfg.SimTrigger(req.Event); err != nil {
		refuse(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, struct{}{})
}

// healthz tells a monitor whether the device is healthy: the status code
// and one word, nothing about activity (no times, clips or events).
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.cfg.Health() {
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "ok\n")
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	io.WriteString(w, "unhealthy\n")
}

func (s *Server) clips(w http.ResponseWriter, r *http.Request) {
	cs, err := s.cfg.Clips.Clips()
	if err != nil {
		refuse(w, err)
		return
	}
	if cs == nil {
		cs = []api.OwnerClip{}
	}
	writeJSON(w, http.StatusOK, cs)
}

// clipPiece streams one piece: age ciphertext to the owners, decrypted
// only on their computer.
func (s *Server) clipPiece(w http.ResponseWriter, r *http.Request) {
	rc, size, err := s.cfg.Clips.OpenPiece(r.PathValue("clip"), r.PathValue("piece"))
	if err != nil {
		refuse(w, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	if _, err := io.CopyN(w, rc, size); err != nil {
		s.cfg.Log.Warn("sending a clip piece", "clip", r.PathValue("clip"), "piece", r.PathValue("piece"), "err", err)
	}
}

func (s *Server) notices(w http.ResponseWriter, r *http.Request) {
	ns, err := s.cfg.Reads.Notices()
	if err != nil {
		refuse(w, err)
		return
	}
	if ns == nil {
		ns = []api.Notice{}
	}
	writeJSON(w, http.StatusOK, ns)
}

func (s *Server) disclosures(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 0
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > api.MaxDisclosurePage {
			writeJSON(w, http.StatusBadRequest, api.Error{Reason: "malformed", Error: fmt.Sprintf("device: limit=%q: want 1 to %d", l, api.MaxDisclosurePage)})
			return
		}
		limit = n
	}
	ds, next, err := s.cfg.Reads.Disclosures(q.Get("after"), limit, q.Get("unfinished") == "1")
	if err != nil {
		refuse(w, err)
		return
	}
	if next != "" {
		w.Header().Set(api.NextHeader, next)
	}
	if ds == nil {
		ds = []api.Disclosure{}
	}
	writeJSON(w, http.StatusOK, ds)
}

// audit answers GET /api/v1/audit[?since=N]: a fresh checkpoint, the
// entries from N on, and the consistency proof from size N.
func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	log := s.cfg.Audit
	cp, err := log.Checkpoint()
	if err != nil {
		refuse(w, err)
		return
	}
	resp := api.AuditReply{Checkpoint: cp, PendingRefusals: log.PendingRefusals()}
	if q := r.URL.Query().Get("since"); q != "" {
		since, err := strconv.ParseUint(q, 10, 64)
		if err != nil || since > cp.Size {
			writeJSON(w, http.StatusBadRequest, api.Error{Reason: "malformed", Error: fmt.Sprintf("device: since=%q: want a tree size from 0 to %d", q, cp.Size)})
			return
		}
		resp.From = since
		if since > 0 && since < cp.Size {
			if resp.Consistency, err = log.ConsistencyProof(since, cp.Size); err != nil {
				refuse(w, err)
				return
			}
		}
	}
	if resp.Entries, err = log.Entries(resp.From, cp.Size); err != nil {
		refuse(w, err)
		return
	}
	if resp.Entries == nil {
		resp.Entries = []audit.Entry{}
	}
	writeJSON(w, http.StatusOK, resp)
}
