package uplink

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/doorward/doorward/device/backoff"
	"github.com/doorward/doorward/device/events"
	"github.com/doorward/doorward/uplink/mqtt"
	"github.com/doorward/doorward/uplink/wire"
)

// Piece is one object to upload: a re-wrapped piece, streamed from the
// vault (the gate's Piece).
type Piece struct {
	Name string
	Size int64
	Open func() (io.ReadCloser, error)
}

// ErrPermanent marks an upload that retrying cannot fix.
var ErrPermanent = errors.New("uplink: upload failed permanently")

// UploaderOptions configure an Uploader.
type UploaderOptions struct {
	DeviceID string
	Session  Publisher
	Bus      *events.Bus // completion events; nil: none
	// HTTP does the PUTs; nil uses a client with dial and header
	// timeouts.
	HTTP *http.Client
	// URLTimeout is how long to wait for the relay's URL (default 1m).
	URLTimeout time.Duration
	// StallTimeout ends a PUT that moved no byte for this long (default
	// 30s).
	StallTimeout time.Duration
	// Attempts is how many PUTs one piece gets per delivery (default 8);
	// the job as a whole is retried later by the gate.
	Attempts int
	// MinBackoff and MaxBackoff bound the waits between PUTs (defaults
	// 500ms and 30s).
	MinBackoff, MaxBackoff time.Duration
	Log                    *slog.Logger
}

// Uploader delivers disclosure jobs to the relay's store: for each piece
// it asks the relay for a presigned PUT (upload/request with the object
// key, size and SHA-256), takes only a URL for exactly that object, and
// streams the piece to it with x-amz-checksum-sha256, so the store
// verifies what it keeps. Retries use backoff on 5xx and connection
// errors. Only ciphertext is uploaded: pieces are age files.
type Uploader struct {
	opts UploaderOptions
	log  *slog.Logger

	mu      sync.Mutex
	pending map[string]chan wire.UploadURL // object → the request waiting for its URL
}

// NewUploader returns an uploader.
func NewUploader(opts UploaderOptions) *Uploader {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.HTTP == nil {
		opts.HTTP = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: time.Minute,
			MaxIdleConnsPerHost:   4,
			WriteBufferSize:       256 << 10,
			ReadBufferSize:        64 << 10,
		}}
	}
	if opts.URLTimeout <= 0 {
		opts.URLTimeout = time.Minute
	}
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = 30 * time.Second
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 8
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	return &Uploader{opts: opts, log: opts.Log, pending: map[string]chan wire.UploadURL{}}
}

// DisclosureObject is the object key of a disclosed piece:
// <device>/disclosures/<jti>/<clip>/<piece>.
func DisclosureObject(device, jti, clip, piece string) string {
	return device + "/disclosures/" + jti + "/" + clip + "/" + piece
}

// BackupObject is the object key of a backed-up piece:
// <device>/backup/<clip>/<piece>.
func BackupObject(device, clip, piece string) string {
	return device + "/backup/" + clip + "/" + piece
}

// ObjectName is a piece's name in the store, chosen so that a clip's
// objects sort in playback order: the init segment first.
func ObjectName(piece string) string {
	if piece == "init.mp4.age" {
		return "000000-" + piece
	}
	return piece
}

// JTIOf returns the jti of a job's authority ("grant:<jti>",
// "legal:<jti>").
func JTIOf(authority string) (string, error) {
	_, jti, ok := strings.Cut(authority, ":")
	if !ok || wire.CheckRequestID(jti) != nil {
		return "", fmt.Errorf("%w: authority %q names no usable jti", ErrPermanent, authority)
	}
	return jti, nil
}

// Job is what the uploader needs of a disclosure job.
type Job struct {
	ID, Authority, Clip string
	Delayed             bool // its owner notice is held back: publish nothing about it
}

// Upload uploads every piece of one job in order, each under
// DisclosureObject, or BackupObject for a backup job (authority
// "backup:<jti>"). It returns once all are stored, or with the first
// error (wrapping ErrPermanent when retrying cannot help).
func (u *Uploader) Upload(ctx context.Context, j Job, pieces []Piece) error {
	jti, err := JTIOf(j.Authority)
	if err != nil {
		return err
	}
	if wire.CheckRequestID(j.Clip) != nil {
		return fmt.Errorf("%w: clip id %q is not usable in an object key", ErrPermanent, j.Clip)
	}
	backup := strings.HasPrefix(j.Authority, "backup:")
	var total int64
	for _, p := range pieces {
		if wire.CheckRequestID(strings.ReplaceAll(p.Name, ".", "_")) != nil {
			return fmt.Errorf("%w: piece name %q is not usable in an object key", ErrPermanent, p.Name)
		}
		obj := DisclosureObject(u.opts.DeviceID, jti, j.Clip, ObjectName(p.Name))
		if backup {
			obj = BackupObject(u.opts.DeviceID, j.Clip, ObjectName(p.Name))
		}
		if err := u.uploadPiece(ctx, obj, p); err != nil {
			return fmt.Errorf("uplink: uploading %s: %w", obj, err)
		}
		total += p.Size
	}
	if !j.Delayed {
		prefix := u.opts.DeviceID + "/disclosures/" + jti + "/"
		if backup {
			prefix = u.opts.DeviceID + "/backup/" + j.Clip + "/"
		}
		u.opts.Bus.Publish(events.Event{
			Kind: events.JobState, Job: j.ID, State: "uploaded", Authority: j.Authority, Clip: j.Clip, Bytes: total,
			Note: fmt.Sprintf("%d objects under %s", len(pieces), prefix),
		})
	}
	return nil
}

// uploadPiece hashes the piece, then asks for a URL and PUTs it until the
// store takes it or the attempts run out.
func (u *Uploader) uploadPiece(ctx context.Context, obj string, p Piece) error {
	sum, err := hashPiece(p)
	if err != nil {
		return err
	}
	bo := backoff.New(backoff.Policy{Min: u.opts.MinBackoff, Max: u.opts.MaxBackoff, Jitter: 0.3})
	var last error
	for attempt := 1; attempt <= u.opts.Attempts; attempt++ {
		if attempt > 1 {
			if err := bo.Wait(ctx); err != nil {
				return err
			}
		}
		target, err := u.requestURL(ctx, wire.UploadRequest{Object: obj, Size: p.Size, SHA256: hex.EncodeToString(sum)})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			last = err
			continue
		}
		err = u.put(ctx, target, p, sum)
		if err == nil {
			u.log.Debug("uplink: uploaded", "object", obj, "bytes", p.Size, "attempt", attempt)
			return nil
		}
		last = err
		if ctx.Err() != nil {
			return ctx.Err()
		}
		u.log.Warn("uplink: upload attempt failed; retrying with backoff", "object", obj, "attempt", attempt, "err", err)
	}
	return fmt.Errorf("%d attempts: %w", u.opts.Attempts, last)
}

func hashPiece(p Piece) ([]byte, error) {
	r, err := p.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: opening %s: %v", ErrPermanent, p.Name, err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p.Name, err)
	}
	if n != p.Size {
		return nil, fmt.Errorf("%w: %s is %d bytes, want %d", ErrPermanent, p.Name, n, p.Size)
	}
	return h.Sum(nil), nil
}

// requestURL publishes an upload request and waits for the relay's URL
// for exactly that object.
func (u *Uploader) requestURL(ctx context.Context, req wire.UploadRequest) (*url.URL, error) {
	ch := make(chan wire.UploadURL, 1)
	u.mu.Lock()
	u.pending[req.Object] = ch
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		if u.pending[req.Object] == ch {
			delete(u.pending, req.Object)
		}
		u.mu.Unlock()
	}()
	body, _ := json.Marshal(req)
	if _, err := u.opts.Session.Publish(wire.TopicUploadRequest, mqtt.Keep, false, body); err != nil {
		return nil, err
	}
	t := time.NewTimer(u.opts.URLTimeout)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, fmt.Errorf("no upload URL from the relay within %v", u.opts.URLTimeout)
	case got := <-ch:
		return url.Parse(got.URL) // checked by Offer
	}
}

// Offer hands the relay's answer to the request waiting for it. A URL for
// an object nobody is uploading now, or one that is not an http(s) URL
// whose path ends in exactly that object key, is refused: the relay
// chooses where an authorized upload goes, never what is uploaded.
func (u *Uploader) Offer(got wire.UploadURL) error {
	if err := checkUploadURL(got); err != nil {
		return err
	}
	u.mu.Lock()
	ch := u.pending[got.Object]
	delete(u.pending, got.Object)
	u.mu.Unlock()
	if ch == nil {
		return fmt.Errorf("uplink: no upload of %q is waiting for a URL", got.Object)
	}
	ch <- got
	return nil
}

func checkUploadURL(got wire.UploadURL) error {
	p, err := url.Parse(got.URL)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil {
		return fmt.Errorf("uplink: upload URL for %q is not an http(s) URL without credentials", got.Object)
	}
	if !strings.HasSuffix(p.Path, "/"+got.Object) {
		return fmt.Errorf("uplink: upload URL path %q is not for object %q", p.Path, got.Object)
	}
	return nil
}

// put streams the piece to target with its checksum; 2xx is success.
func (u *Uploader) put(ctx context.Context, target *url.URL, p Piece, sum []byte) error {
	r, err := p.Open()
	if err != nil {
		return fmt.Errorf("%w: opening %s: %v", ErrPermanent, p.Name, err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	body := &watchdog{r: r, last: time.Now()}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // cancel a PUT that stalls
		defer wg.Done()
		tick := time.NewTicker(min(u.opts.StallTimeout/4, time.Second))
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if body.idle() > u.opts.StallTimeout {
					cancel()
					return
				}
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, target.String(), body)
	if err != nil {
		return err
	}
	req.ContentLength = p.Size
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("x-amz-checksum-sha256", base64.StdEncoding.EncodeToString(sum))
	resp, err := u.opts.HTTP.Do(req)
	if err != nil {
		if body.idle() > u.opts.StallTimeout {
			return fmt.Errorf("stalled for %v: %w", u.opts.StallTimeout, err)
		}
		return err
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	body.touch() // reading the answer is progress too
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return fmt.Errorf("store answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
}

// watchdog is a reader that remembers when it last moved.
type watchdog struct {
	r    io.Reader
	mu   sync.Mutex
	last time.Time
}

func (w *watchdog) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	w.touch()
	return n, err
}

func (w *watchdog) touch() {
	w.mu.Lock()
	w.last = time.Now()
	w.mu.Unlock()
}

func (w *watchdog) idle() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return time.Since(w.last)
}
