// Package relay is the reference cloud relay (doorwardctl relay). It is
// stateless and holds no key: it answers devices' upload requests with
// presigned PUTs for exactly the object asked for under the device's own
// prefix, forwards owner statements and legal tokens from its HTTP API to
// the device's cmd topic and returns the device's own reply, and serves
// manifests of presigned GETs: a disclosure's to whoever holds its JTI,
// the owners' backup (its listing and each clip's manifest) only to a
// request whose owner login the device accepted. Several relays share one
// broker: upload requests reach exactly one of them through the shared
// subscription $share/doorward-relay/...; a reply goes to the relay that
// forwarded the request, which alone subscribed to it.
package relay

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/doorward/doorward/uplink/client"
	"github.com/doorward/doorward/uplink/live"
	"github.com/doorward/doorward/uplink/wire"
)

// ShareGroup is the shared-subscription group every relay joins.
const ShareGroup = "doorward-relay"

// Options configure a relay.
type Options struct {
	MQTT client.Options
	// Listen is the HTTP API's address.
	Listen string
	Store  Store
	// StoreHandler serves the store's own URLs under /store/ (the dir
	// store); nil for S3.
	StoreHandler http.Handler
	// ReplyTimeout is how long a forwarded request waits for the device
	// (default 30s; then 504).
	ReplyTimeout time.Duration
	// URLExpiry is how long presigned URLs work (default 15m).
	URLExpiry time.Duration
	Log       *slog.Logger
}

// Relay is one running relay.
type Relay struct {
	opts Options
	log  *slog.Logger
	ln   net.Listener
	srv  *http.Server
	mqtt paho.Client

	mu      sync.Mutex
	waiters map[string]map[chan wire.Reply]string // reply topic → waiter → request id
}

// New listens on opts.Listen; Run serves.
func New(opts Options) (*Relay, error) {
	if opts.Store == nil {
		return nil, errors.New("relay: no store")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.ReplyTimeout <= 0 {
		opts.ReplyTimeout = 30 * time.Second
	}
	if opts.URLExpiry <= 0 {
		opts.URLExpiry = 15 * time.Minute
	}
	if opts.MQTT.ClientID == "" {
		b := make([]byte, 6)
		rand.Read(b)
		opts.MQTT.ClientID = "doorward-relay-" + hex.EncodeToString(b)
	}
	opts.MQTT.Clean = true
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("relay: listen %s: %w", opts.Listen, err)
	}
	r := &Relay{opts: opts, log: opts.Log, ln: ln, waiters: map[string]map[chan wire.Reply]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/devices/{id}/legal", r.postLegal)
	mux.HandleFunc("POST /v1/devices/{id}/statements/{kind}", r.postStatement)
	mux.HandleFunc("GET /v1/devices/{id}/disclosures/{jti}", r.getDisclosure)
	mux.HandleFunc("POST /v1/devices/{id}/whep", r.postWHEP)
	mux.HandleFunc("DELETE /v1/devices/{id}/whep/{session}", r.deleteWHEP)
	mux.HandleFunc("GET /v1/devices/{id}/backup", r.listBackup)
	mux.HandleFunc("GET /v1/devices/{id}/notices", r.getRead(wire.ReadNotices))
	mux.HandleFunc("GET /v1/devices/{id}/audit", r.getRead(wire.ReadAudit))
	mux.HandleFunc("GET /v1/devices/{id}/backup/{clip}", r.getBackupClip)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	if opts.StoreHandler != nil {
		mux.Handle("/store/", opts.StoreHandler)
	}
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 32 << 10}
	return r, nil
}

// Addr is the HTTP API's address.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Run connects to the broker and serves until ctx is done.
func (r *Relay) Run(ctx context.Context) error {
	po, err := r.opts.MQTT.PahoOptions()
	if err != nil {
		r.ln.Close()
		return err
	}
	shared := "$share/" + ShareGroup + "/" + wire.Root + "+/" + wire.TopicUploadRequest
	po.SetDefaultPublishHandler(func(c paho.Client, m paho.Message) {
		// In case the router does not match a shared filter to its topic.
		if strings.HasSuffix(m.Topic(), "/"+wire.TopicUploadRequest) {
			r.onUploadRequest(c, m)
		} else if strings.Contains(m.Topic(), "/"+wire.TopicReply) {
			r.onReply(c, m)
		}
	})
	po.SetOnConnectHandler(func(c paho.Client) {
		// A clean session: subscribe again on every connection.
		if t := c.Subscribe(shared, 1, r.onUploadRequest); t.WaitTimeout(10*time.Second) && t.Error() != nil {
			r.log.Error("relay: subscribing to upload requests", "err", t.Error())
		}
		r.mu.Lock()
		topics := make([]string, 0, len(r.waiters))
		for t := range r.waiters {
			topics = append(topics, t)
		}
		r.mu.Unlock()
		for _, t := range topics {
			c.Subscribe(t, 1, r.onReply)
		}
		r.log.Info("relay: connected to the broker", "broker", r.opts.MQTT.Broker)
	})
	po.SetConnectionLostHandler(func(_ paho.Client, err error) {
		r.log.Warn("relay: connection to the broker lost; reconnecting", "err", err)
	})
	r.mqtt = paho.NewClient(po)
	t := r.mqtt.Connect()
	select {
	case <-t.Done():
		if t.Error() != nil {
			r.ln.Close()
			return fmt.Errorf("relay: connecting to %s: %w", r.opts.MQTT.Broker, t.Error())
		}
	case <-ctx.Done():
		r.ln.Close()
		return nil
	}
	errc := make(chan error, 1)
	go func() { errc <- r.srv.Serve(r.ln) }()
	r.log.Info("relay: serving", "listen", r.Addr())
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.srv.Shutdown(sctx)
	r.mqtt.Disconnect(250)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// onUploadRequest answers one device's upload request with a presigned
// PUT for exactly that object, on the device's cmd.
func (r *Relay) onUploadRequest(c paho.Client, m paho.Message) {
	device, ok := deviceOf(m.Topic(), wire.TopicUploadRequest)
	if !ok {
		return
	}
	env, err := wire.Unwrap(m.Payload())
	if err == nil {
		var req wire.UploadRequest
		req, err = wire.DecodeUploadRequest(device, env.Msg)
		if err == nil {
			err = CheckKey(req.Object)
		}
		if err == nil {
			var u string
			u, err = r.opts.Store.PresignPut(context.Background(), req.Object, req.Size, req.SHA256, r.opts.URLExpiry)
			if err == nil {
				cmd, _ := json.Marshal(wire.Cmd{ID: fmt.Sprintf("u%d", env.ID), Kind: wire.CmdUpload,
					Upload: &wire.UploadURL{Object: req.Object, URL: u, Expires: time.Now().Add(r.opts.URLExpiry).UTC()}})
				c.Publish(wire.Topic(device, wire.TopicCmd), 1, false, cmd)
				r.log.Debug("relay: presigned an upload", "device", device, "object", req.Object)
				return
			}
		}
	}
	r.log.Warn("relay: refused an upload request", "device", device, "err", err)
}

// deviceOf returns the device ID of doorward/v1/<id>/<sub>.
func deviceOf(topic, sub string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, wire.Root)
	if !ok {
		return "", false
	}
	id, s, ok := strings.Cut(rest, "/")
	if !ok || s != sub || wire.CheckDeviceID(id) != nil {
		return "", false
	}
	return id, true
}

func (r *Relay) onReply(_ paho.Client, m paho.Message) {
	env, err := wire.Unwrap(m.Payload())
	if err != nil {
		return
	}
	var rep wire.Reply
	if err := json.Unmarshal(env.Msg, &rep); err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for ch, id := range r.waiters[m.Topic()] {
		if id == rep.Re {
			select {
			case ch <- rep:
			default:
			}
		}
	}
}

// maxBody bounds forwarded statements (16 KiB of JWS, with room).
const maxBody = 64 << 10

func (r *Relay) postLegal(w http.ResponseWriter, req *http.Request) {
	r.forward(w, req, wire.Cmd{Kind: wire.CmdLegal})
}

func (r *Relay) postStatement(w http.ResponseWriter, req *http.Request) {
	kind := req.PathValue("kind")
	if !contains(wire.StatementKinds, kind) {
		writeError(w, http.StatusNotFound, "unknown-statement", fmt.Sprintf("relay: statement kind %q is not valid (valid: %s)", kind, strings.Join(wire.StatementKinds, ", ")))
		return
	}
	r.forward(w, req, wire.Cmd{Kind: wire.CmdStatement, Statement: kind})
}

// forward sends the request body to the device's cmd and answers with the
// device's own reply, or 504 when it does not come in time.
func (r *Relay) forward(w http.ResponseWriter, req *http.Request, cmd wire.Cmd) {
	device := req.PathValue("id")
	if err := wire.CheckDeviceID(device); err != nil {
		writeError(w, http.StatusBadRequest, "bad-device", err.Error())
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxBody+1))
	if err != nil || len(body) > maxBody || !json.Valid(body) {
		writeError(w, http.StatusBadRequest, "malformed", "relay: the body must be one JSON statement of at most 64 KiB")
		return
	}
	cmd.ID = requestID(body)
	cmd.JWS = body
	rep, ok := r.roundTrip(w, req, device, cmd)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.Status)
	w.Write(rep.Body)
	w.Write([]byte("\n"))
}

// getRead forwards an owner read: the login statement in the request's
// Authorization (as on the LAN API) goes to the device's cmd, and the
// device's own answer comes back. The relay reads nothing itself: the
// notices are encrypted to the owners and the audit log is checked by the
// owner's tool against the device key pinned at pairing.
func (r *Relay) getRead(read string) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		device := req.PathValue("id")
		if err := wire.CheckDeviceID(device); err != nil {
			writeError(w, http.StatusBadRequest, "bad-device", err.Error())
			return
		}
		login, ok := loginOf(req)
		if !ok {
			writeError(w, http.StatusUnauthorized, "no-login", "relay: owner only: send Authorization: Doorward <login statement JSON>")
			return
		}
		cmd := wire.Cmd{Kind: wire.CmdRead, Read: read, JWS: json.RawMessage(login)}
		if read == wire.ReadAudit {
			if v := req.URL.Query().Get("since"); v != "" {
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					writeError(w, http.StatusBadRequest, "malformed", fmt.Sprintf("relay: since %q is not a number of entries", v))
					return
				}
				cmd.Since = n
			}
		}
		cmd.ID = requestID([]byte(login))
		rep, ok := r.roundTrip(w, req, device, cmd)
		if !ok {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.Status)
		w.Write(rep.Body)
		w.Write([]byte("\n"))
	}
}

// loginOf returns the login statement of the request's Authorization:
// Doorward <login statement JSON>, at most 64 KiB.
func loginOf(req *http.Request) (string, bool) {
	login, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Doorward ")
	if !ok || len(login) > maxBody || !json.Valid([]byte(login)) {
		return "", false
	}
	return login, true
}

// roundTrip publishes cmd on the device's cmd topic and waits for its
// reply; when it returns false it has answered w itself (broker trouble,
// 504, or the client went away).
func (r *Relay) roundTrip(w http.ResponseWriter, req *http.Request, device string, cmd wire.Cmd) (wire.Reply, bool) {
	topic := wire.Topic(device, wire.TopicReply+cmd.ID)
	ch := make(chan wire.Reply, 1)
	if err := r.wait(topic, ch, cmd.ID); err != nil {
		writeError(w, http.StatusBadGateway, "broker", err.Error())
		return wire.Reply{}, false
	}
	defer r.unwait(topic, ch)
	payload, _ := json.Marshal(cmd)
	if len(payload) > wire.MaxCmdSize {
		writeError(w, http.StatusRequestEntityTooLarge, "malformed", fmt.Sprintf("relay: the request is %d bytes, over the device's %d-byte limit", len(payload), wire.MaxCmdSize))
		return wire.Reply{}, false
	}
	if t := r.mqtt.Publish(wire.Topic(device, wire.TopicCmd), 1, false, payload); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		writeError(w, http.StatusBadGateway, "broker", fmt.Sprintf("relay: publishing to the device: %v", t.Error()))
		return wire.Reply{}, false
	}
	select {
	case rep := <-ch:
		return rep, true
	case <-time.After(r.opts.ReplyTimeout):
		writeError(w, http.StatusGatewayTimeout, "device-timeout", fmt.Sprintf("relay: device %s did not answer within %v", device, r.opts.ReplyTimeout))
	case <-req.Context().Done():
	}
	return wire.Reply{}, false
}

// postWHEP carries a live view offer (WHEP: Content-Type application/sdp,
// Authorization: Doorward <live statement>) to the device over its cmd
// topic and returns the device's SDP answer with a Location under this
// relay. Only the signalling passes here: the media flows between the
// device and the viewer, or through TURN.
func (r *Relay) postWHEP(w http.ResponseWriter, req *http.Request) {
	device := req.PathValue("id")
	if err := wire.CheckDeviceID(device); err != nil {
		writeError(w, http.StatusBadRequest, "bad-device", err.Error())
		return
	}
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != "application/sdp" {
		writeError(w, http.StatusUnsupportedMediaType, "content-type", "relay: expected Content-Type: application/sdp")
		return
	}
	statement, err := live.ParseAuthorization(req.Header.Get("Authorization"))
	if err != nil || !json.Valid(statement) {
		writeError(w, http.StatusUnauthorized, live.ReasonNoStatement, "relay: send Authorization: Doorward <live statement>")
		return
	}
	offer, err := io.ReadAll(io.LimitReader(req.Body, maxBody+1))
	if err != nil || len(offer) == 0 || len(offer) > maxBody {
		writeError(w, http.StatusBadRequest, live.ReasonBadOffer, "relay: the body must be an SDP offer of at most 64 KiB")
		return
	}
	rep, ok := r.roundTrip(w, req, device, wire.Cmd{ID: requestID(statement), Kind: wire.CmdWHEP, JWS: statement, SDP: string(offer)})
	if !ok {
		return
	}
	var ans wire.WHEPAnswer
	if rep.Status != http.StatusCreated {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.Status)
		w.Write(rep.Body)
		w.Write([]byte("\n"))
		return
	}
	if json.Unmarshal(rep.Body, &ans) != nil || ans.SDP == "" || wire.CheckRequestID(ans.Session) != nil {
		writeError(w, http.StatusBadGateway, "device", "relay: the device's answer is not a WHEP answer")
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/v1/devices/"+device+"/whep/"+ans.Session)
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, ans.SDP)
}

// deleteWHEP ends a live session (the session ID is its capability, as on
// the LAN).
func (r *Relay) deleteWHEP(w http.ResponseWriter, req *http.Request) {
	device, session := req.PathValue("id"), req.PathValue("session")
	if wire.CheckDeviceID(device) != nil || wire.CheckRequestID(session) != nil {
		writeError(w, http.StatusBadRequest, "malformed", "relay: device id or session is not valid")
		return
	}
	b := make([]byte, 12)
	rand.Read(b)
	rep, ok := r.roundTrip(w, req, device, wire.Cmd{ID: "e" + hex.EncodeToString(b), Kind: wire.CmdWHEPEnd, Session: session})
	if !ok {
		return
	}
	if rep.Status == http.StatusNoContent {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.Status)
	w.Write(rep.Body)
	w.Write([]byte("\n"))
}

// wait subscribes to a reply topic (once per topic) and registers ch.
func (r *Relay) wait(topic string, ch chan wire.Reply, id string) error {
	r.mu.Lock()
	ws := r.waiters[topic]
	first := ws == nil
	if first {
		ws = map[chan wire.Reply]string{}
		r.waiters[topic] = ws
	}
	ws[ch] = id
	r.mu.Unlock()
	if !first {
		return nil
	}
	t := r.mqtt.Subscribe(topic, 1, r.onReply)
	if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		r.unwait(topic, ch)
		return fmt.Errorf("relay: subscribing to %s: %v", topic, t.Error())
	}
	return nil
}

func (r *Relay) unwait(topic string, ch chan wire.Reply) {
	r.mu.Lock()
	ws := r.waiters[topic]
	delete(ws, ch)
	last := len(ws) == 0
	if last {
		delete(r.waiters, topic)
	}
	r.mu.Unlock()
	if last {
		r.mqtt.Unsubscribe(topic)
	}
}

// requestID names a forwarded request by its statement's jti when it has
// a usable one (the reply then comes on reply/<jti>), else at random. The
// jti is read without verifying anything: it only routes the reply.
func requestID(jws []byte) string {
	var gen struct {
		Payload string `json:"payload"`
	}
	if json.Unmarshal(jws, &gen) == nil {
		if p, err := base64.RawURLEncoding.DecodeString(gen.Payload); err == nil {
			var c struct {
				JTI string `json:"jti"`
			}
			if json.Unmarshal(p, &c) == nil && wire.CheckRequestID(c.JTI) == nil {
				return c.JTI
			}
		}
	}
	b := make([]byte, 12)
	rand.Read(b)
	return "r" + hex.EncodeToString(b)
}

// getDisclosure returns a disclosure's manifest to whoever names its JTI:
// the JTI is a random capability the grantee or agency holds, who may have
// only a stock age key and so cannot sign a login.
func (r *Relay) getDisclosure(w http.ResponseWriter, req *http.Request) {
	device, jti := req.PathValue("id"), req.PathValue("jti")
	if wire.CheckDeviceID(device) != nil || wire.CheckRequestID(jti) != nil {
		writeError(w, http.StatusBadRequest, "malformed", "relay: device id or jti is not valid")
		return
	}
	r.manifest(w, req, device, device+"/disclosures/"+jti+"/", "unknown-disclosure", fmt.Sprintf("relay: nothing stored for disclosure %s of device %s", jti, device))
}

// ownerOnly asks the device whether the request's Authorization carries
// an enrolled owner's valid, unused login (the read kind owner, over cmd:
// the device checks it as it checks every owner read on its LAN API). It
// returns true only on the device's 200; otherwise it has answered w: 401
// naming what to send when there is no login, the device's own refusal
// (status and reason) as it is, 504 when the device does not answer. The
// relay learns nothing more than it had: the login's signer is named in
// its own header.
func (r *Relay) ownerOnly(w http.ResponseWriter, req *http.Request, device string) bool {
	login, ok := loginOf(req)
	if !ok {
		writeError(w, http.StatusUnauthorized, "no-login", "relay: the owners' backup is owner only: send Authorization: Doorward <login statement JSON> (a fresh owner login for this device; doorwardctl backup list and fetch --relay --clip sign one)")
		return false
	}
	rep, ok := r.roundTrip(w, req, device, wire.Cmd{ID: requestID([]byte(login)), Kind: wire.CmdRead, Read: wire.ReadOwner, JWS: json.RawMessage(login)})
	if !ok {
		return false
	}
	if rep.Status != http.StatusOK {
		if rep.Status < 400 || rep.Status > 599 {
			writeError(w, http.StatusBadGateway, "device", fmt.Sprintf("relay: the device answered the owner check with status %d", rep.Status))
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.Status)
		w.Write(rep.Body)
		w.Write([]byte("\n"))
		return false
	}
	var owner struct {
		Owner string `json:"owner"`
	}
	if json.Unmarshal(rep.Body, &owner) != nil || owner.Owner == "" {
		writeError(w, http.StatusBadGateway, "device", "relay: the device's answer to the owner check names no owner")
		return false
	}
	return true
}

// listBackup lists the device's backed-up clips, from the store, to an
// owner whose login the device accepted.
func (r *Relay) listBackup(w http.ResponseWriter, req *http.Request) {
	device := req.PathValue("id")
	if wire.CheckDeviceID(device) != nil {
		writeError(w, http.StatusBadRequest, "malformed", "relay: device id is not valid")
		return
	}
	if !r.ownerOnly(w, req, device) {
		return
	}
	prefix := device + "/backup/"
	objs, err := r.opts.Store.List(req.Context(), prefix)
	if err != nil {
		writeError(w, http.StatusBadGateway, "store", err.Error())
		return
	}
	l := wire.BackupList{Device: device, Clips: []wire.BackupClip{}}
	for _, o := range objs {
		clip, _, ok := strings.Cut(strings.TrimPrefix(o.Key, prefix), "/")
		if !ok || wire.CheckRequestID(clip) != nil {
			continue
		}
		if n := len(l.Clips); n == 0 || l.Clips[n-1].Clip != clip {
			l.Clips = append(l.Clips, wire.BackupClip{Clip: clip})
		}
		c := &l.Clips[len(l.Clips)-1]
		c.Objects++
		c.Bytes += o.Size
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(l)
}

// getBackupClip returns the manifest of one backed-up clip to an owner
// whose login the device accepted.
func (r *Relay) getBackupClip(w http.ResponseWriter, req *http.Request) {
	device, clip := req.PathValue("id"), req.PathValue("clip")
	if wire.CheckDeviceID(device) != nil || wire.CheckRequestID(clip) != nil {
		writeError(w, http.StatusBadRequest, "malformed", "relay: device id or clip id is not valid")
		return
	}
	if !r.ownerOnly(w, req, device) {
		return
	}
	r.manifest(w, req, device, device+"/backup/"+clip+"/", "unknown-clip", fmt.Sprintf("relay: no backup of clip %s of device %s is stored", clip, device))
}

// manifest answers with presigned GETs for every object under prefix, in
// key order, or 404 with reason when there is none.
func (r *Relay) manifest(w http.ResponseWriter, req *http.Request, device, prefix, reason, missing string) {
	objs, err := r.opts.Store.List(req.Context(), prefix)
	if err != nil {
		writeError(w, http.StatusBadGateway, "store", err.Error())
		return
	}
	if len(objs) == 0 {
		writeError(w, http.StatusNotFound, reason, missing)
		return
	}
	m := wire.Manifest{Device: device}
	for _, o := range objs {
		u, err := r.opts.Store.PresignGet(req.Context(), o.Key, r.opts.URLExpiry)
		if err != nil {
			writeError(w, http.StatusBadGateway, "store", err.Error())
			return
		}
		m.Objects = append(m.Objects, wire.ManifestObject{Object: o.Key, Size: o.Size, SHA256: o.SHA256, URL: u})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(m)
}

func writeError(w http.ResponseWriter, status int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // "<login statement JSON>" reads as written
	enc.Encode(struct {
		Reason string `json:"reason"`
		Error  string `json:"error"`
	}{reason, msg})
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
