// Package lanclient speaks a Doorward agent's LAN API (/api/v1/...) for the
// owner's tool: pairing, owner statements (grants, revocations, policy,
// enrollment, reset), legal-process tokens, and the owner-only reads
// (notices, disclosures, the audit log) that carry a signed login bearer.
//
// The client only moves bytes: it signs nothing and trusts nothing it reads.
// Callers verify what matters — the pairing reply with pairing.Client, the
// device key against the key pinned at pairing, checkpoints with audit.Verify.
// Refusals come back as *APIError with the agent's stable reason code.
package lanclient

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/doorward/doorward/consent/pairing"
	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/device/lantls"
)

// MaxResponseSize bounds any response body the client reads. Audit logs are
// the largest responses; 64 MiB is far beyond a doorbell's log.
const MaxResponseSize = 64 << 20

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 16 << 10

// DefaultTimeout is used when Client.HTTP is nil.
const DefaultTimeout = 30 * time.Second

// APIError is a refusal or failure reported by the agent: the HTTP status,
// the stable reason code (a consent reason such as "bad-signature", or a
// pairing code such as "bad_mac") and the agent's human text.
type APIError struct {
	Status  int
	Reason  string
	Message string
	// Err is the matching sentinel where one exists (the pairing
	// package's, for pairing refusals), for errors.Is.
	Err error
}

// Unwrap returns Err.
func (e *APIError) Unwrap() error { return e.Err }

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Reason != "" {
		return fmt.Sprintf("lanclient: device refused (%d %s): %s", e.Status, e.Reason, msg)
	}
	return fmt.Sprintf("lanclient: device answered %d: %s", e.Status, msg)
}

// ReasonOf returns the reason code of an *APIError in err's chain, or "".
func ReasonOf(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Reason
	}
	return ""
}

// Client talks to one agent. The zero value is not usable: set Base.
//
// Over https (every device on the LAN) the client speaks TLS 1.3 and trusts
// no certificate authority: it accepts exactly the certificates that one
// of the identity keys given to Pin signed (see package lantls). With no
// pin (pairing) it accepts any certificate, and PeerCertificate tells the
// caller which one it was shown, to check once pairing has proved the
// device's identity.
type Client struct {
	// Base is the agent's URL, e.g. https://192.168.1.20:8080 or
	// http://127.0.0.1:8080 (no path).
	Base *url.URL
	// HTTP is the client used for requests; nil means one with
	// DefaultTimeout and the pinned TLS configuration.
	HTTP *http.Client
	// RelayDevice, when set, makes Base a cloud relay (doorwardctl relay)
	// and this the device ID behind it: statements and tokens are
	// forwarded to the device, which answers as on the LAN, and so are
	// the owner reads of notices and the audit log (with their login).
	RelayDevice string

	mu     sync.Mutex
	pins   []ed25519.PublicKey
	client *http.Client
	peer   *x509.Certificate
}

// NewRelay returns a client that reaches device through the relay at
// relayURL.
// The relay is an ordinary web server: it is reached with the system's
// certificate authorities (https) and may be plain http; what it forwards
// is signed statements, and the device's answers are checked by the caller.
func NewRelay(relayURL, device string) (*Client, error) {
	u, err := parseURL(relayURL, "http://")
	if err != nil {
		return nil, fmt.Errorf("%w (the relay's URL)", err)
	}
	c := &Client{Base: u}
	if device == "" || strings.ContainsAny(device, "/?#:") {
		return nil, fmt.Errorf("lanclient: through a relay --device must be the device ID, not %q", device)
	}
	c.RelayDevice = device
	return c, nil
}

// relayPaths maps the LAN API's statement endpoints to the relay's.
var relayPaths = map[string]string{
	"/api/v1/grants":      "statements/grant",
	"/api/v1/revocations": "statements/revoke",
	"/api/v1/policy":      "statements/policy",
	"/api/v1/enroll":      "statements/enroll",
	"/api/v1/reset":       "statements/reset",
	"/api/v1/backup":      "statements/backup",
	"/api/v1/legal":       "legal",
}

// relayReads maps the LAN API's owner reads that a relay forwards (with
// their login) to the relay's.
var relayReads = map[string]string{
	"/api/v1/notices": "notices",
	"/api/v1/audit":   "audit",
}

// New parses the agent's URL as the owner typed it. A device on the LAN is
// reached over https only (its LAN API is TLS pinned at pairing); http is
// for a device on this machine's loopback ("make run", tests). A bare
// host:port is taken as http on loopback and https elsewhere.
func New(device string) (*Client, error) {
	scheme := "https://"
	if h, _, err := net.SplitHostPort(strings.TrimSpace(device)); err == nil && lantls.IsLoopback(h) {
		scheme = "http://"
	}
	u, err := parseURL(device, scheme)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "http" && !lantls.IsLoopback(u.Hostname()) {
		https := *u
		https.Scheme = "https"
		return nil, fmt.Errorf("lanclient: device URL %q: a device on the network is reached over https only (its LAN API is TLS, checked against the key pinned at pairing); use %s", device, https.String())
	}
	return &Client{Base: u}, nil
}

// parseURL parses scheme://host[:port], adding defaultScheme to a bare
// host:port.
func parseURL(device, defaultScheme string) (*url.URL, error) {
	s := strings.TrimSpace(device)
	if s == "" {
		return nil, errors.New("lanclient: no device URL (want, for example, https://192.168.1.20:8080)")
	}
	if !strings.Contains(s, "://") {
		s = defaultScheme + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("lanclient: device URL %q: %w (want, for example, https://192.168.1.20:8080)", device, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("lanclient: device URL %q: scheme %q is not https (or http on loopback)", device, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("lanclient: device URL %q has no host (want, for example, https://192.168.1.20:8080)", device)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("lanclient: device URL %q: give only scheme, host and port", device)
	}
	u.Path = ""
	return u, nil
}

// String returns the agent's URL.
func (c *Client) String() string { return c.Base.String() }

// TLS reports whether the client speaks https to a device (pinned TLS;
// a relay's https is the web's).
func (c *Client) TLS() bool { return c.Base != nil && c.Base.Scheme == "https" && c.RelayDevice == "" }

// Pin makes the client accept only TLS certificates that one of keys (the
// device identities pinned at pairing) signed. Call it before the first
// request.
func (c *Client) Pin(keys ...ed25519.PublicKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pins = slices.Clone(keys)
	c.client = nil
}

// PeerCertificate returns the TLS certificate of the last answer (nil over
// plain http or before any answer).
func (c *Client) PeerCertificate() *x509.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peer
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		c.client = &http.Client{Timeout: DefaultTimeout}
		if c.RelayDevice == "" {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.Proxy = nil // a device on the LAN is never reached through a proxy
			t.TLSClientConfig = lantls.ClientConfig(c.pins...)
			c.client.Transport = t
		}
	}
	return c.client
}

// Info fetches the device's identity. It is unauthenticated: compare the
// key with the pinned one before trusting anything else the device says.
func (c *Client) Info(ctx context.Context) (api.Info, error) {
	var info api.Info
	err := c.do(ctx, http.MethodGet, "/api/v1/info", "", nil, []int{http.StatusOK}, &info)
	if err == nil && (info.DeviceID == "" || info.DeviceKey == "") {
		err = errors.New("lanclient: /api/v1/info: the answer lacks device_id or device_key")
	}
	return info, err
}

// PairHello sends the pairing Hello and decodes the reply strictly.
func (c *Client) PairHello(ctx context.Context, h pairing.Hello) (pairing.HelloReply, error) {
	body, err := json.Marshal(h)
	if err != nil {
		return pairing.HelloReply{}, fmt.Errorf("lanclient: encode hello: %w", err)
	}
	resp, raw, err := c.send(ctx, http.MethodPost, "/api/v1/pair/hello", "", body)
	if err != nil {
		return pairing.HelloReply{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return pairing.HelloReply{}, pairError(resp.StatusCode, raw)
	}
	r, err := pairing.DecodeHelloReply(bytes.NewReader(raw))
	if err != nil {
		return pairing.HelloReply{}, fmt.Errorf("lanclient: pairing reply: %w", err)
	}
	return r, nil
}

// PairFinish sends Finish and returns the device's Result (status 200 when
// ok, 403 with the Result otherwise). Call Result.Err on it.
func (c *Client) PairFinish(ctx context.Context, f pairing.Finish) (pairing.Result, error) {
	body, err := json.Marshal(f)
	if err != nil {
		return pairing.Result{}, fmt.Errorf("lanclient: encode finish: %w", err)
	}
	resp, raw, err := c.send(ctx, http.MethodPost, "/api/v1/pair/finish", "", body)
	if err != nil {
		return pairing.Result{}, err
	}
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusForbidden {
		if r, err := pairing.DecodeResult(bytes.NewReader(raw)); err == nil {
			return r, nil
		}
	}
	if resp.StatusCode == http.StatusOK {
		return pairing.Result{}, fmt.Errorf("lanclient: pairing result does not decode: %q", shorten(raw))
	}
	return pairing.Result{}, pairError(resp.StatusCode, raw)
}

// pairError turns a refused pairing request into an *APIError carrying the
// pairing sentinel its reason code names (pairing.Result.Err), so the
// owner reads "already paired" or "locked" rather than a status code.
func pairError(status int, raw []byte) error {
	if res, err := pairing.DecodeResult(bytes.NewReader(raw)); err == nil && !res.OK && res.Reason != "" {
		perr := res.Err()
		return &APIError{Status: status, Reason: clean(res.Reason, 64), Message: clean(perr.Error(), 300), Err: perr}
	}
	return apiError(status, raw)
}

// Grant posts an owner-signed grant (201).
func (c *Client) Grant(ctx context.Context, jws []byte) (api.GrantReply, error) {
	var r api.GrantReply
	err := c.do(ctx, http.MethodPost, "/api/v1/grants", "", jws, []int{http.StatusCreated, http.StatusOK}, &r)
	return r, err
}

// Revoke posts an owner-signed revocation and returns the revoked grant's jti.
func (c *Client) Revoke(ctx context.Context, jws []byte) (string, error) {
	var r api.RevokeReply
	err := c.do(ctx, http.MethodPost, "/api/v1/revocations", "", jws, []int{http.StatusOK}, &r)
	return r.Grant, err
}

// Legal submits a legal-process token (202) and returns its jti.
func (c *Client) Legal(ctx context.Context, token []byte) (string, error) {
	var r api.LegalReply
	err := c.do(ctx, http.MethodPost, "/api/v1/legal", "", token, []int{http.StatusAccepted}, &r)
	return r.JTI, err
}

// Policy fetches the device's trust policy and its hash. The policy is
// decoded strictly: a field this client does not know is an error, since
// the owner must not approve rules they were not shown. The caller checks
// the hash.
func (c *Client) Policy(ctx context.Context) (api.PolicyInfo, error) {
	var r api.PolicyInfo
	raw, err := c.raw(ctx, http.MethodGet, "/api/v1/policy", "", nil, []int{http.StatusOK})
	if err != nil {
		return r, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("lanclient: the device's trust policy does not decode: %w", err)
	}
	return r, nil
}

// SetPolicy posts an owner-signed policy statement and returns the new
// policy's hash.
func (c *Client) SetPolicy(ctx context.Context, jws []byte) (string, error) {
	var r api.PolicyReply
	err := c.do(ctx, http.MethodPost, "/api/v1/policy", "", jws, []int{http.StatusOK}, &r)
	return r.Hash, err
}

// Enroll posts an enrollment signed by an enrolled owner and returns the
// new key's kid.
func (c *Client) Enroll(ctx context.Context, jws []byte) (string, error) {
	var r api.EnrollReply
	err := c.do(ctx, http.MethodPost, "/api/v1/enroll", "", jws, []int{http.StatusOK}, &r)
	return r.KID, err
}

// Backup posts an owner-signed backup statement and returns the cloud
// backup's new state.
func (c *Client) Backup(ctx context.Context, jws []byte) (api.BackupReply, error) {
	var r api.BackupReply
	err := c.do(ctx, http.MethodPost, "/api/v1/backup", "", jws, []int{http.StatusOK}, &r)
	return r, err
}

// Reset posts an owner-signed factory reset (202).
func (c *Client) Reset(ctx context.Context, jws []byte) error {
	return c.do(ctx, http.MethodPost, "/api/v1/reset", "", jws, []int{http.StatusAccepted, http.StatusOK}, nil)
}

// Notices fetches the owner notices; login is a signed login statement.
func (c *Client) Notices(ctx context.Context, login []byte) ([]api.Notice, error) {
	var r []api.Notice
	err := c.do(ctx, http.MethodGet, "/api/v1/notices", bearer(login), nil, []int{http.StatusOK}, &r)
	return r, err
}

// Disclosures lists the disclosure jobs.
func (c *Client) Disclosures(ctx context.Context, login []byte) ([]api.Disclosure, error) {
	var r []api.Disclosure
	err := c.do(ctx, http.MethodGet, "/api/v1/disclosures", bearer(login), nil, []int{http.StatusOK}, &r)
	return r, err
}

// DisclosuresPage fetches one page of disclosure jobs after the job ID
// after ("" for the first page) and returns the after of the next page
// ("" on the last). Each page takes its own login (logins are single use).
func (c *Client) DisclosuresPage(ctx context.Context, login []byte, after string) ([]api.Disclosure, string, error) {
	path := "/api/v1/disclosures?limit=" + strconv.Itoa(api.MaxDisclosurePage)
	if after != "" {
		path += "&after=" + url.QueryEscape(after)
	}
	resp, raw, err := c.send(ctx, http.MethodGet, path, bearer(login), nil)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", apiError(resp.StatusCode, raw)
	}
	var r []api.Disclosure
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, "", fmt.Errorf("lanclient: GET /api/v1/disclosures: the answer does not decode: %w", err)
	}
	return r, resp.Header.Get(api.NextHeader), nil
}

// Audit fetches a checkpoint and the entries from since on (since 0: the
// whole log) with, when 0 < since < size, the consistency proof from the
// tree of size since. It checks nothing: audit.VerifyNew (or audit.Verify
// for the whole log) does.
func (c *Client) Audit(ctx context.Context, login []byte, since uint64) (api.AuditReply, error) {
	var r api.AuditReply
	err := c.do(ctx, http.MethodGet, "/api/v1/audit?since="+strconv.FormatUint(since, 10), bearer(login), nil, []int{http.StatusOK}, &r)
	return r, err
}

// bearer renders a login statement as the Authorization header value.
// Statements are compact JSON; any line breaks are removed all the same,
// since a header cannot hold them.
func bearer(login []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, login); err != nil {
		return api.LoginScheme + " " + string(login)
	}
	return api.LoginScheme + " " + b.String()
}

// do sends a request and decodes a JSON answer with one of the wanted
// statuses into out (nil: ignore the body).
func (c *Client) do(ctx context.Context, method, path, auth string, body []byte, want []int, out any) error {
	raw, err := c.raw(ctx, method, path, auth, body, want)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("lanclient: %s %s: the answer does not decode: %w", method, path, err)
	}
	return nil
}

func (c *Client) raw(ctx context.Context, method, path, auth string, body []byte, want []int) ([]byte, error) {
	resp, raw, err := c.send(ctx, method, path, auth, body)
	if err != nil {
		return nil, err
	}
	for _, s := range want {
		if resp.StatusCode == s {
			return raw, nil
		}
	}
	return nil, apiError(resp.StatusCode, raw)
}

func (c *Client) send(ctx context.Context, method, path, auth string, body []byte) (*http.Response, []byte, error) {
	if c == nil || c.Base == nil {
		return nil, nil, errors.New("lanclient: no device URL")
	}
	if c.RelayDevice != "" {
		p, query, _ := strings.Cut(path, "?")
		paths := relayPaths
		if method == http.MethodGet {
			paths = relayReads
		}
		rp, ok := paths[p]
		if !ok || (method != http.MethodPost && method != http.MethodGet) {
			return nil, nil, fmt.Errorf("lanclient: %s %s is not available through a relay (statements, tokens, notices and the audit log are forwarded); use the device's LAN URL", method, p)
		}
		path = "/v1/devices/" + c.RelayDevice + "/" + rp
		if query != "" {
			path += "?" + query
		}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base.String()+path, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("lanclient: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.http().Do(req)
	if errors.Is(err, lantls.ErrNotSigned) {
		return nil, nil, fmt.Errorf("lanclient: %s: %w: this is not the device you paired with (someone in between, or another device at this address); refusing to talk to it", c.Base, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("lanclient: cannot reach the device at %s: %w", c.Base, err)
	}
	defer resp.Body.Close()
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		c.mu.Lock()
		c.peer = resp.TLS.PeerCertificates[0]
		c.mu.Unlock()
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("lanclient: %s %s: reading the answer: %w", method, path, err)
	}
	if len(raw) > MaxResponseSize {
		return nil, nil, fmt.Errorf("lanclient: %s %s: the answer is larger than %d bytes", method, path, MaxResponseSize)
	}
	return resp, raw, nil
}

// apiError decodes {"reason", "error"}; a body that is not that JSON is
// quoted (shortened) as the message.
func apiError(status int, raw []byte) *APIError {
	if len(raw) > maxErrorBody {
		raw = raw[:maxErrorBody]
	}
	var e api.Error
	if json.Unmarshal(raw, &e) == nil && (e.Reason != "" || e.Error != "") {
		return &APIError{Status: status, Reason: clean(e.Reason, 64), Message: clean(e.Error, 300)}
	}
	return &APIError{Status: status, Message: shorten(raw)}
}

// shorten quotes at most 200 bytes of raw as one printable line.
func shorten(raw []byte) string {
	return clean(string(raw), 200)
}

// clean keeps s to one printable line of at most n runes, so a hostile
// device cannot put terminal escapes or fake lines into our output.
func clean(s string, n int) string {
	var b strings.Builder
	count := 0
	for _, r := range s {
		if count == n {
			b.WriteString("…")
			break
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			r = ' '
		}
		b.WriteRune(r)
		count++
	}
	return strings.TrimSpace(b.String())
}

// Clips lists the device's clips with their pieces (owner only).
func (c *Client) Clips(ctx context.Context, login []byte) ([]api.OwnerClip, error) {
	var r []api.OwnerClip
	err := c.do(ctx, http.MethodGet, "/api/v1/clips", bearer(login), nil, []int{http.StatusOK}, &r)
	return r, err
}

// Piece streams one piece of a clip, the age ciphertext as stored, into w
// (owner only; login is single use, so each piece takes a new one). It
// fails unless exactly size bytes, as the clip list stated, arrive.
func (c *Client) Piece(ctx context.Context, login []byte, clip string, p api.Piece, w io.Writer) error {
	if c == nil || c.Base == nil || c.RelayDevice != "" {
		return errors.New("lanclient: clips are fetched from the device's LAN URL")
	}
	path := "/api/v1/clips/" + url.PathEscape(clip) + "/" + url.PathEscape(p.Name)
	return c.getPiece(ctx, path, bearer(login), p, w)
}

// getPiece streams the piece at path into w and checks its size.
func (c *Client) getPiece(ctx context.Context, path, auth string, p api.Piece, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base.String()+path, nil)
	if err != nil {
		return fmt.Errorf("lanclient: %w", err)
	}
	req.Header.Set("Authorization", auth)
	hc := *c.http()
	hc.Timeout = 0 // a piece may take longer than one request's default; ctx bounds it
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("lanclient: cannot reach the device at %s: %w", c.Base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return apiError(resp.StatusCode, raw)
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, p.Size+1))
	if err != nil {
		return fmt.Errorf("lanclient: GET %s: %w", path, err)
	}
	if n != p.Size {
		return fmt.Errorf("lanclient: GET %s: %d bytes, the listing said %d", path, n, p.Size)
	}
	return nil
}

// GrantDisclosuresPath is the path of a grant's disclosures; a grantee's
// fetch statement binds "GET " and the path of its one request.
func GrantDisclosuresPath(grant string) string {
	return "/api/v1/grants/" + url.PathEscape(grant) + "/disclosures"
}

// GrantPiecePath is the path of one piece a grant disclosed.
func GrantPiecePath(grant, clip, piece string) string {
	return GrantDisclosuresPath(grant) + "/" + url.PathEscape(clip) + "/" + url.PathEscape(piece)
}

// GrantDisclosures lists what a grant disclosed on the device; fetch is
// the grantee's fetch statement for GET GrantDisclosuresPath(grant).
func (c *Client) GrantDisclosures(ctx context.Context, fetch []byte, grant string) (api.GrantDisclosures, error) {
	var r api.GrantDisclosures
	err := c.do(ctx, http.MethodGet, GrantDisclosuresPath(grant), bearer(fetch), nil, []int{http.StatusOK}, &r)
	return r, err
}

// GrantPiece streams one disclosed piece into w; fetch is the grantee's
// fetch statement for GET GrantPiecePath(grant, clip, p.Name).
func (c *Client) GrantPiece(ctx context.Context, fetch []byte, grant, clip string, p api.Piece, w io.Writer) error {
	if c == nil || c.Base == nil || c.RelayDevice != "" {
		return errors.New("lanclient: disclosures are fetched from the device's LAN URL")
	}
	return c.getPiece(ctx, GrantPiecePath(grant, clip, p.Name), bearer(fetch), p, w)
}

// Status fetches the device's status (owner only).
func (c *Client) Status(ctx context.Context, login []byte) (api.Status, error) {
	var r api.Status
	err := c.do(ctx, http.MethodGet, "/api/v1/status", bearer(login), nil, []int{http.StatusOK}, &r)
	return r, err
}

// SimTrigger fires motion or ring on a sim board (owner only; real boards
// refuse with 403 not-sim-board).
func (c *Client) SimTrigger(ctx context.Context, login []byte, event string) error {
	body, _ := json.Marshal(api.SimTrigger{Event: event})
	return c.do(ctx, http.MethodPost, "/api/v1/sim/trigger", bearer(login), body, []int{http.StatusAccepted}, nil)
}
