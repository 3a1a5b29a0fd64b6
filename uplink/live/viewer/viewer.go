package viewer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/doorward/doorward/capture/vault/clipfile"
	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/device/lanclient"
	"github.com/doorward/doorward/uplink/live"
)

//go:embed page
var pageFS embed.FS

var pageTmpl = template.Must(template.ParseFS(pageFS, "page/index.html"))

// Owner is what the page reads from the device as its owner (each call
// signs its own single-use login). Through a relay, the reads it does not
// carry (clips, status, triggers) return an error the page shows.
type Owner interface {
	Clips(ctx context.Context) ([]api.OwnerClip, error)
	// Piece writes one piece of a clip, the age ciphertext as stored.
	Piece(ctx context.Context, clip string, p api.Piece, w io.Writer) error
	// Notices returns the owner notices, decrypted.
	Notices(ctx context.Context) ([]api.NoticeBody, error)
	Status(ctx context.Context) (api.Status, error)
	// Audit fetches the audit log and says whether it verifies.
	Audit(ctx context.Context) (AuditStatus, error)
	// Trigger fires motion or ring on the sim board.
	Trigger(ctx context.Context, event string) error
}

// AuditStatus is what the page shows of the audit log.
type AuditStatus struct {
	// Verified: the checkpoint is signed by the device's pinned key and
	// the entries hash to its root.
	Verified bool      `json:"verified"`
	Error    string    `json:"error,omitempty"`
	Entries  uint64    `json:"entries"`
	Time     time.Time `json:"time"`
	// LiveSessions counts live-session leaves (each start of a view).
	LiveSessions int `json:"live_sessions"`
}

// Options configure a Server.
type Options struct {
	// Listen is a loopback host:port (port 0: any free one).
	Listen   string
	DeviceID string
	// Via names the path to the device for the page ("LAN https://..." or
	// "relay https://...").
	Via string
	// Sign returns a live statement bound to binding (live.Signer).
	Sign   func(binding string) ([]byte, error)
	Signal live.Signaler
	// Owner reads clips, notices, status and the audit log; nil: none
	// (the page shows the live view alone).
	Owner Owner
	// Identities decrypt clips (the owner key).
	Identities []age.Identity
	Log        *slog.Logger
}

// MaxClipBytes bounds a clip the page plays (held in memory once
// decrypted); doorwardctl fetch saves larger ones.
const MaxClipBytes = 512 << 20

// clipCache is how many decrypted clips stay in memory.
const clipCache = 3

// Server is a running viewer.
type Server struct {
	opts    Options
	log     *slog.Logger
	token   string
	ln      net.Listener
	srv     *http.Server
	allowed map[string]bool // Host values that name this server

	mu       sync.Mutex
	sessions map[string]string // local id → the device's session location
	clips    map[string]*clipEntry
}

type clipEntry struct {
	done chan struct{}
	data []byte
	err  error
	used time.Time
}

// New listens on opts.Listen, which must be a loopback address.
func New(opts Options) (*Server, error) {
	if opts.Sign == nil || opts.Signal == nil {
		return nil, errors.New("viewer: Options need Sign and Signal")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	host, _, err := net.SplitHostPort(opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("viewer: --listen %q: expected host:port on loopback, e.g. 127.0.0.1:0", opts.Listen)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("viewer: --listen %q: the viewer serves loopback only (127.0.0.1 or [::1]); the owner key signs for whoever reaches it", opts.Listen)
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("viewer: listen %s: %w", opts.Listen, err)
	}
	tok := make([]byte, 24)
	rand.Read(tok)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	s := &Server{
		opts: opts, log: opts.Log, token: base64.RawURLEncoding.EncodeToString(tok), ln: ln,
		allowed: map[string]bool{
			"127.0.0.1:" + port: true, "localhost:" + port: true, "[::1]:" + port: true,
		},
		sessions: map[string]string{}, clips: map[string]*clipEntry{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page)
	mux.HandleFunc("GET /view.js", s.asset)
	mux.HandleFunc("GET /view.css", s.asset)
	mux.HandleFunc("POST /api/whep", s.whep)
	mux.HandleFunc("DELETE /api/whep/{id}", s.endWHEP)
	mux.HandleFunc("GET /api/state", s.state)
	mux.HandleFunc("POST /api/trigger/{event}", s.trigger)
	mux.HandleFunc("GET /clips/{file}", s.clip)
	s.srv = &http.Server{Handler: s.guard(mux), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10}
	return s, nil
}

// URL is the page's address with its token: the one thing to open.
func (s *Server) URL() string {
	return "http://" + s.ln.Addr().String() + "/?t=" + s.token
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx is done, then ends the live sessions still open.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	s.srv.Shutdown(sctx)
	s.mu.Lock()
	locs := make([]string, 0, len(s.sessions))
	for _, l := range s.sessions {
		locs = append(locs, l)
	}
	s.sessions = map[string]string{}
	s.mu.Unlock()
	for _, l := range locs {
		if e := s.opts.Signal.EndWHEP(sctx, l); e != nil {
			s.log.Warn("viewer: ending a live session", "err", e)
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// guard refuses any request whose Host does not name this loopback server
// (DNS rebinding), whose Origin is another site's, or that lacks the
// token; and sets headers that keep the page to itself.
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.allowed[r.Host] {
			http.Error(w, "viewer: this server answers only to 127.0.0.1, localhost or [::1] with its own port", http.StatusForbidden)
			return
		}
		if o := r.Header.Get("Origin"); o != "" {
			u, err := url.Parse(o)
			if err != nil || u.Scheme != "http" || !s.allowed[u.Host] {
				http.Error(w, "viewer: cross-origin request refused", http.StatusForbidden)
				return
			}
		}
		if !s.tokenOK(r.URL.Query().Get("t")) {
			http.Error(w, "viewer: open the URL doorwardctl view printed (with its token)", http.StatusForbidden)
			return
		}
		hd := w.Header()
		hd.Set("Cache-Control", "no-store")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; media-src 'self' blob:; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.ServeHTTP(w, r)
	})
}

func (s *Server) tokenOK(t string) bool {
	return len(t) == len(s.token) && subtle.ConstantTimeCompare([]byte(t), []byte(s.token)) == 1
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, struct{ Token, Device string }{s.token, s.opts.DeviceID}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Write(b.Bytes())
}

func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	b, err := pageFS.ReadFile("page" + r.URL.Path)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(r.URL.Path)))
	w.Write(b)
}

// whep takes the page's SDP offer, signs a live statement bound to its
// DTLS fingerprint and forwards both to the device; the device's answer
// goes back to the page.
func (s *Server) whep(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/sdp" {
		jsonError(w, http.StatusUnsupportedMediaType, "content-type", "viewer: expected Content-Type: application/sdp")
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, live.MaxOfferSize+1))
	if err != nil {
		jsonError(w, http.StatusBadRequest, "bad-offer", err.Error())
		return
	}
	offer, err := live.ParseOffer(raw)
	if err != nil {
		jsonError(w, http.StatusBadRequest, "bad-offer", err.Error())
		return
	}
	statement, err := s.opts.Sign(live.Binding(offer.Fingerprint))
	if err != nil {
		jsonError(w, http.StatusInternalServerError, "sign", err.Error())
		return
	}
	answer, loc, err := s.opts.Signal.WHEP(r.Context(), statement, raw)
	if err != nil {
		status, reason, msg := http.StatusBadGateway, "device", err.Error()
		var ae *lanclient.APIError
		if errors.As(err, &ae) {
			status, reason, msg = ae.Status, ae.Reason, "refused by the device: "+ae.Message
		}
		s.log.Warn("viewer: no live view", "err", err)
		jsonError(w, status, reason, msg)
		return
	}
	id := newID()
	s.mu.Lock()
	s.sessions[id] = loc
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/api/whep/"+id)
	w.WriteHeader(http.StatusCreated)
	w.Write(answer)
}

func (s *Server) endWHEP(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	loc, ok := s.sessions[id]
	delete(s.sessions, id)
	s.mu.Unlock()
	if !ok {
		jsonError(w, http.StatusNotFound, "unknown-session", "viewer: no such live session")
		return
	}
	if err := s.opts.Signal.EndWHEP(r.Context(), loc); err != nil {
		jsonError(w, http.StatusBadGateway, "device", err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Clip is a clip as the page lists it.
type Clip struct {
	ID        string    `json:"id"`
	Start     time.Time `json:"start"`
	Duration  float64   `json:"duration"`
	Trigger   string    `json:"trigger"`
	Recording bool      `json:"recording,omitempty"`
	Bytes     int64     `json:"bytes"`
}

// State is GET /api/state: everything the page shows but the video. A
// part that could not be read has its error in Errors under its name.
type State struct {
	Device  string            `json:"device"`
	Via     string            `json:"via"`
	LANRead bool              `json:"lan_reads"` // clips, notices, status and audit are available
	Status  *api.Status       `json:"status,omitempty"`
	Clips   []Clip            `json:"clips"`
	Notices []api.NoticeBody  `json:"notices"`
	Audit   *AuditStatus      `json:"audit,omitempty"`
	Errors  map[string]string `json:"errors,omitempty"`
}

func (s *Server) state(w http.ResponseWriter, r *http.Request) {
	st := State{Device: s.opts.DeviceID, Via: s.opts.Via, Clips: []Clip{}, Notices: []api.NoticeBody{}, Errors: map[string]string{}}
	o := s.opts.Owner
	if o != nil {
		st.LANRead = true
		ctx := r.Context()
		if v, err := o.Status(ctx); err != nil {
			st.Errors["status"] = err.Error()
		} else {
			st.Status = &v
		}
		if cs, err := o.Clips(ctx); err != nil {
			st.Errors["clips"] = err.Error()
		} else {
			for i := len(cs) - 1; i >= 0; i-- { // newest first
				c := cs[i]
				st.Clips = append(st.Clips, Clip{ID: c.ID, Start: c.Start, Duration: c.Duration, Trigger: c.Trigger, Recording: c.Recording, Bytes: c.Size()})
			}
		}
		if ns, err := o.Notices(ctx); err != nil {
			st.Errors["notices"] = err.Error()
		} else if ns != nil {
			st.Notices = ns
		}
		if a, err := o.Audit(ctx); err != nil {
			st.Errors["audit"] = err.Error()
		} else {
			st.Audit = &a
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(st)
}

func (s *Server) trigger(w http.ResponseWriter, r *http.Request) {
	ev := r.PathValue("event")
	if ev != "motion" && ev != "ring" {
		jsonError(w, http.StatusNotFound, "bad-event", "viewer: the events are motion and ring")
		return
	}
	if s.opts.Owner == nil {
		jsonError(w, http.StatusNotImplemented, "lan-only", "viewer: triggers go over the LAN")
		return
	}
	if err := s.opts.Owner.Trigger(r.Context(), ev); err != nil {
		jsonError(w, http.StatusBadGateway, "device", err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// clip serves /clips/<id>.mp4: the clip's pieces fetched from the device
// as ciphertext, decrypted in memory (Range requests served from there).
func (s *Server) clip(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("file"), ".mp4")
	if !ok || id == "" {
		http.NotFound(w, r)
		return
	}
	if s.opts.Owner == nil {
		jsonError(w, http.StatusNotImplemented, "lan-only", "viewer: clips are fetched over the LAN")
		return
	}
	data, err := s.decrypted(r.Context(), id)
	if err != nil {
		s.log.Warn("viewer: a clip", "clip", id, "err", err)
		jsonError(w, http.StatusBadGateway, "clip", err.Error())
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	http.ServeContent(w, r, id+".mp4", time.Time{}, bytes.NewReader(data))
}

// decrypted returns clip id decrypted, from the cache or fetched once for
// all the requests that ask at the same time.
func (s *Server) decrypted(ctx context.Context, id string) ([]byte, error) {
	s.mu.Lock()
	e, ok := s.clips[id]
	if !ok {
		e = &clipEntry{done: make(chan struct{})}
		s.clips[id] = e
		s.evict()
	}
	e.used = time.Now()
	s.mu.Unlock()
	if !ok {
		go func() {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
			defer cancel()
			e.data, e.err = s.fetch(fctx, id)
			if e.err != nil {
				s.mu.Lock()
				if s.clips[id] == e {
					delete(s.clips, id)
				}
				s.mu.Unlock()
			}
			close(e.done)
		}()
	}
	select {
	case <-e.done:
		return e.data, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// evict drops the least recently used finished clips beyond clipCache.
func (s *Server) evict() {
	for len(s.clips) > clipCache {
		var oldest string
		for k, c := range s.clips {
			select {
			case <-c.done:
			default:
				continue // being fetched
			}
			if oldest == "" || c.used.Before(s.clips[oldest].used) {
				oldest = k
			}
		}
		if oldest == "" {
			return
		}
		delete(s.clips, oldest)
	}
}

// fetch downloads a clip's ciphertext into memory and decrypts it.
func (s *Server) fetch(ctx context.Context, id string) ([]byte, error) {
	cs, err := s.opts.Owner.Clips(ctx)
	if err != nil {
		return nil, err
	}
	var clip *api.OwnerClip
	for i := range cs {
		if cs[i].ID == id {
			clip = &cs[i]
		}
	}
	if clip == nil {
		return nil, fmt.Errorf("viewer: the device has no clip %q", id)
	}
	if len(clip.Pieces) < 2 || clip.Pieces[0].Name != clipfile.InitName {
		return nil, fmt.Errorf("viewer: clip %s has no complete segment yet", id)
	}
	if clip.Size() > MaxClipBytes {
		return nil, fmt.Errorf("viewer: clip %s is %d MB, more than the viewer plays (%d MB); save it with doorwardctl fetch", id, clip.Size()>>20, MaxClipBytes>>20)
	}
	var out bytes.Buffer
	var piece bytes.Buffer
	for i, p := range clip.Pieces {
		if i > 0 && (!strings.HasSuffix(p.Name, clipfile.SegmentSuffix) || path.Base(p.Name) != p.Name || strings.HasPrefix(p.Name, ".")) {
			return nil, fmt.Errorf("viewer: the device names a piece %q", p.Name)
		}
		piece.Reset()
		if err := s.opts.Owner.Piece(ctx, id, p, &piece); err != nil {
			return nil, fmt.Errorf("viewer: clip %s piece %s: %w", id, p.Name, err)
		}
		rd, err := age.Decrypt(&piece, s.opts.Identities...)
		if err != nil {
			return nil, fmt.Errorf("viewer: clip %s piece %s: %w", id, p.Name, err)
		}
		if _, err := io.Copy(&out, io.LimitReader(rd, MaxClipBytes-int64(out.Len())+1)); err != nil {
			return nil, fmt.Errorf("viewer: clip %s piece %s: %w", id, p.Name, err)
		}
		if out.Len() > MaxClipBytes {
			return nil, fmt.Errorf("viewer: clip %s decrypts to more than %d MB", id, MaxClipBytes>>20)
		}
	}
	return out.Bytes(), nil
}

func jsonError(w http.ResponseWriter, status int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		Reason string `json:"reason"`
		Error  string `json:"error"`
	}{reason, msg})
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
