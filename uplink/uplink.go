package uplink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"filippo.io/age"

	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/device/events"
	"github.com/doorward/doorward/uplink/mqtt"
	"github.com/doorward/doorward/uplink/wire"
)

// Publisher queues a message for the device's topic sub (the MQTT
// session).
type Publisher interface {
	Publish(sub string, class mqtt.Class, retained bool, body []byte) (uint64, error)
}

// Refusals counts refused inbound messages in the audit log's aggregate
// (consent/audit's Log).
type Refusals interface {
	RecordUnauthenticated(reason string) error
}

// Uploads takes the relay's answers to upload requests (the Uploader).
type Uploads interface {
	Offer(u wire.UploadURL) error
}

// Options configure an Uplink.
type Options struct {
	// Session publishes; its Inbound must be the Uplink's HandleCmd.
	Session Publisher
	// Bus is the agent's event bus.
	Bus *events.Bus
	// Owners returns the owner recipients events are encrypted to; with
	// none, events are not published (nobody could read them).
	Owners func() []age.Recipient
	// LAN is the LAN API's handler: statements and tokens from cmd go
	// through it, so they meet the same gate and get the same answers.
	LAN http.Handler
	// Refusals counts malformed inbound messages; nil counts nothing.
	Refusals Refusals
	// Uploads takes upload URLs; nil refuses them all.
	Uploads Uploads
	// Checkpoint returns the latest signed audit checkpoint, published
	// retained on audit/checkpoint after every decision.
	Checkpoint func() ([]byte, error)
	Log        *slog.Logger
}

// Uplink publishes the agent's events, encrypted to the owners, and
// answers cmd messages.
type Uplink struct {
	opts Options
	log  *slog.Logger
	sub  *events.Sub
	mu   sync.Mutex // one cmd at a time
}

// New returns an uplink, already subscribed to the bus so that no event
// published from now on is missed; Run publishes them.
func New(opts Options) *Uplink {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Uplink{opts: opts, log: opts.Log, sub: opts.Bus.Subscribe("uplink", 1024, Forwarded...)}
}

// Forwarded are the event kinds published on events: metadata the owners
// want, never media. Segments and clip starts stay on the device.
var Forwarded = []events.Kind{
	events.Motion, events.Ring, events.ClipClosed, events.NoticeReleased,
	events.JobState, events.RecordingStopped, events.RecordingResumed,
	events.ClockState, events.CameraStalled, events.CameraBack, events.Decision,
}

// Run publishes events until ctx is done; then it queues what is still
// waiting (the outbox keeps it for the next run) and unsubscribes.
func (u *Uplink) Run(ctx context.Context) {
	defer u.sub.Close()
	u.publishCheckpoint()
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case e, ok := <-u.sub.C():
					if !ok {
						return
					}
					u.handle(e)
				default:
					return
				}
			}
		case e, ok := <-u.sub.C():
			if !ok {
				return
			}
			u.handle(e)
		}
	}
}

func (u *Uplink) handle(e events.Event) {
	// A job whose authority is withheld belongs to a disclosure whose
	// owner notice is still delayed: nothing may reveal it early, so its
	// states are not published.
	delayed := e.Kind == events.JobState && e.Authority == ""
	if e.Kind != events.Decision && !delayed {
		u.publishEvent(e)
	}
	if e.Kind == events.Decision || e.Kind == events.NoticeReleased {
		u.publishCheckpoint() // each decision and opening is a new leaf
	}
}

// publishEvent encrypts e to the owners and queues it.
func (u *Uplink) publishEvent(e events.Event) {
	var owners []age.Recipient
	if u.opts.Owners != nil {
		owners = u.opts.Owners()
	}
	if len(owners) == 0 {
		return
	}
	body, err := wire.SealEvent(e, owners...)
	if err != nil {
		u.log.Error("uplink: encrypting an event", "kind", e.Kind, "err", err)
		return
	}
	class := mqtt.Event
	if e.Kind == events.NoticeReleased {
		class = mqtt.Keep // owner notices are never dropped
	}
	if _, err := u.opts.Session.Publish(wire.TopicEvents, class, false, body); err != nil {
		u.log.Error("uplink: queueing an event", "kind", e.Kind, "err", err)
	}
}

func (u *Uplink) publishCheckpoint() {
	if u.opts.Checkpoint == nil {
		return
	}
	cp, err := u.opts.Checkpoint()
	if err != nil {
		u.log.Error("uplink: reading the audit checkpoint", "err", err)
		return
	}
	body, _ := json.Marshal(wire.Checkpoint{Checkpoint: string(cp)})
	if _, err := u.opts.Session.Publish(wire.TopicCheckpoint, mqtt.Latest, true, body); err != nil {
		u.log.Error("uplink: queueing the audit checkpoint", "err", err)
	}
}

// lanPaths maps cmd statements to the LAN API endpoint that takes them.
var lanPaths = map[string]string{
	"grant":  "/api/v1/grants",
	"revoke": "/api/v1/revocations",
	"policy": "/api/v1/policy",
	"enroll": "/api/v1/enroll",
	"reset":  "/api/v1/reset",
	"backup": "/api/v1/backup",
	"legal":  "/api/v1/legal",
}

// HandleCmd answers one inbound cmd message: statements and tokens go
// through the LAN API's handler, upload URLs to the uploader. Anything
// malformed or unknown is refused with a reason (on reply/<id> when the id
// is usable), counted, and never causes an upload.
func (u *Uplink) HandleCmd(ctx context.Context, payload []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	c, err := wire.DecodeCmd(payload)
	if err != nil {
		u.refuse(payload, "malformed", err)
		return
	}
	switch c.Kind {
	case wire.CmdUpload:
		if u.opts.Uploads == nil {
			u.reply(c.ID, http.StatusNotFound, apiError{"upload-unrequested", "uplink: the device asked for no upload"})
			u.count("upload-unrequested")
			return
		}
		if err := u.opts.Uploads.Offer(*c.Upload); err != nil {
			u.log.Warn("uplink: refused an upload URL", "object", c.Upload.Object, "err", err)
			u.count("upload-unrequested")
			u.reply(c.ID, http.StatusForbidden, apiError{"upload-unrequested", err.Error()})
			return
		}
		u.reply(c.ID, http.StatusAccepted, struct {
			Object string `json:"object"`
		}{c.Upload.Object})
	case wire.CmdRead:
		status, body := u.read(ctx, c)
		if status >= 400 {
			u.log.Info("uplink: owner read refused", "read", c.Read, "status", status, "reply", string(bytes.TrimSpace(body)))
		}
		u.publishReply(c.ID, status, body)
	case wire.CmdWHEP, wire.CmdWHEPEnd:
		status, body := u.whep(ctx, c)
		if status >= 400 {
			u.log.Info("uplink: live view refused", "kind", c.Kind, "status", status, "reply", string(bytes.TrimSpace(body)))
		}
		u.publishReply(c.ID, status, body)
	default:
		kind := c.Statement
		if c.Kind == wire.CmdLegal {
			kind = "legal"
		}
		status, body := u.lan(ctx, lanPaths[kind], c.JWS)
		if status >= 400 {
			u.log.Info("uplink: cmd refused", "statement", kind, "status", status, "reply", string(bytes.TrimSpace(body)))
		}
		u.publishReply(c.ID, status, body)
	}
}

// lan runs one request through the LAN API's handler in-process.
func (u *Uplink) lan(ctx context.Context, path string, jws []byte) (int, []byte) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(jws))
	if err != nil {
		return http.StatusInternalServerError, nil
	}
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = "mqtt"
	rec := &recorder{h: http.Header{}}
	u.opts.LAN.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.status, rec.body.Bytes()
}

// read runs an owner read through the LAN API's handler in-process, with
// the login statement as its Authorization, so it meets the same check
// (an owner's single-use login) and gets the same answer.
func (u *Uplink) read(ctx context.Context, c wire.Cmd) (int, []byte) {
	var path string
	switch c.Read {
	case wire.ReadNotices:
		path = "/api/v1/notices"
	case wire.ReadAudit:
		path = "/api/v1/audit?since=" + strconv.FormatUint(c.Since, 10)
	case wire.ReadOwner:
		path = "/api/v1/owner"
	default: // DecodeCmd lets no other through
		return http.StatusBadRequest, mustJSON(apiError{"malformed", "uplink: unknown owner read " + c.Read})
	}
	var login bytes.Buffer
	if err := json.Compact(&login, c.JWS); err != nil {
		return http.StatusBadRequest, mustJSON(apiError{"malformed", "uplink: the login statement is not JSON"})
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, path, http.NoBody)
	if err != nil {
		return http.StatusInternalServerError, nil
	}
	req.Header.Set("Authorization", api.LoginScheme+" "+login.String())
	req.RemoteAddr = "mqtt"
	rec := &recorder{h: http.Header{}}
	u.opts.LAN.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.status, rec.body.Bytes()
}

// whepPath is the LAN API's WHEP endpoint (uplink/live's WHEPPath).
const whepPath = "/api/v1/whep"

// whep runs a live view offer (or the end of a session) through the LAN
// API's WHEP endpoint in-process, so the statement meets the same gate:
// a 201 becomes a wire.WHEPAnswer, anything else is the API's own answer.
func (u *Uplink) whep(ctx context.Context, c wire.Cmd) (int, []byte) {
	var req *http.Request
	var err error
	if c.Kind == wire.CmdWHEPEnd {
		req, err = http.NewRequestWithContext(ctx, http.MethodDelete, whepPath+"/"+c.Session, http.NoBody)
	} else {
		var jws bytes.Buffer
		if err := json.Compact(&jws, c.JWS); err != nil {
			return http.StatusBadRequest, mustJSON(apiError{"malformed", "uplink: the live statement is not JSON"})
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, whepPath, strings.NewReader(c.SDP))
		if err == nil {
			req.Header.Set("Content-Type", "application/sdp")
			req.Header.Set("Authorization", "Doorward "+jws.String())
		}
	}
	if err != nil {
		return http.StatusInternalServerError, mustJSON(apiError{"internal", err.Error()})
	}
	req.RemoteAddr = "mqtt"
	rec := &recorder{h: http.Header{}}
	u.opts.LAN.ServeHTTP(rec, req)
	switch {
	case rec.status == http.StatusNoContent:
		return rec.status, []byte("{}")
	case rec.status != http.StatusCreated:
		return rec.status, rec.body.Bytes()
	}
	session, ok := strings.CutPrefix(rec.h.Get("Location"), whepPath+"/")
	if !ok || wire.CheckRequestID(session) != nil {
		return http.StatusInternalServerError, mustJSON(apiError{"internal", "uplink: the live view answered without a session"})
	}
	return http.StatusCreated, mustJSON(wire.WHEPAnswer{SDP: rec.body.String(), Session: session})
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

type apiError struct {
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

func (u *Uplink) refuse(payload []byte, reason string, err error) {
	u.log.Warn("uplink: refused an inbound cmd message", "reason", reason, "bytes", len(payload), "err", err)
	u.count(reason)
	// Answer when the message names a usable request id, so a relay
	// waiting on it hears why.
	var probe struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(payload, &probe) == nil && wire.CheckRequestID(probe.ID) == nil {
		u.reply(probe.ID, http.StatusBadRequest, apiError{reason, err.Error()})
	}
}

func (u *Uplink) count(reason string) {
	if u.opts.Refusals == nil {
		return
	}
	if err := u.opts.Refusals.RecordUnauthenticated(reason); err != nil {
		u.log.Error("uplink: counting a refusal", "err", err)
	}
}

func (u *Uplink) reply(id string, status int, v any) {
	body, _ := json.Marshal(v)
	u.publishReply(id, status, body)
}

func (u *Uplink) publishReply(id string, status int, body []byte) {
	body = bytes.TrimSpace(body)
	if !json.Valid(body) {
		body, _ = json.Marshal(apiError{"internal", string(body)})
	}
	msg, _ := json.Marshal(wire.Reply{Re: id, Status: status, Body: body})
	if _, err := u.opts.Session.Publish(wire.TopicReply+id, mqtt.Keep, false, msg); err != nil {
		u.log.Error("uplink: queueing a reply", "err", errors.Unwrap(err))
	}
}

// recorder is an in-memory http.ResponseWriter.
type recorder struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.body.Len()+len(p) > 1<<20 {
		return 0, errors.New("uplink: reply too large")
	}
	return r.body.Write(p)
}
