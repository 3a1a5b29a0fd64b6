// Package wire holds the messages that cross MQTT between a device, the
// relay and the owner's doorwardctl: topic names, the envelope every
// device message travels in (an id for deduplication), the inbound cmd
// message and its strict decoder, replies, upload requests and URLs. Both
// sides import it, so a message is one Go type.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Root is the prefix of every Doorward topic.
const Root = "doorward/v1/"

// The topics under Root + <device-id> + "/".
const (
	TopicStatus        = "status"           // retained online/offline, plaintext
	TopicEvents        = "events"           // age-encrypted events for the owners
	TopicCmd           = "cmd"              // inbound statements, tokens, upload URLs
	TopicReply         = "reply/"           // + request id: the device's answer
	TopicUploadRequest = "upload/request"   // {object, size, sha256}
	TopicCheckpoint    = "audit/checkpoint" // the latest signed checkpoint, retained
)

// Topic returns the device's topic sub under doorward/v1/<device>/.
func Topic(device, sub string) string { return Root + device + "/" + sub }

// MaxCmdSize bounds an inbound cmd message: a statement is at most 16 KiB
// of JSON, which base64 and the envelope do not quite double.
const MaxCmdSize = 64 << 10

var (
	deviceIDRE = regexp.MustCompile(`^[a-z2-7]{16}$`)
	tokenRE    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// CheckDeviceID reports whether id looks like a device ID (lower-case
// base32 of 10 bytes), safe in a topic.
func CheckDeviceID(id string) error {
	if !deviceIDRE.MatchString(id) {
		return fmt.Errorf("wire: device ID %q is not valid (valid: 16 characters of a-z and 2-7)", id)
	}
	return nil
}

// CheckRequestID reports whether id may name a reply topic: 1 to 64 of
// A-Z, a-z, 0-9, '_' and '-' (no MQTT wildcards or levels).
func CheckRequestID(id string) error {
	if !tokenRE.MatchString(id) {
		return fmt.Errorf("wire: request id %q is not valid (valid: 1 to 64 of A-Z a-z 0-9 _ -)", id)
	}
	return nil
}

// Envelope is how every device message but status travels: ID grows by
// one per queued message (gaps mean dropped events) and repeats only when
// the broker did not acknowledge the first copy, so receivers drop ids
// they have seen.
type Envelope struct {
	ID  uint64          `json:"id"`
	Msg json.RawMessage `json:"msg"`
}

// Wrap puts body (JSON) in an envelope with id.
func Wrap(id uint64, body []byte) ([]byte, error) {
	if !json.Valid(body) {
		return nil, errors.New("wire: message body is not JSON")
	}
	return json.Marshal(Envelope{ID: id, Msg: body})
}

// Unwrap decodes an envelope.
func Unwrap(payload []byte) (Envelope, error) {
	var e Envelope
	if err := decodeStrict(payload, &e); err != nil {
		return Envelope{}, fmt.Errorf("wire: envelope: %w", err)
	}
	if e.ID == 0 || len(e.Msg) == 0 {
		return Envelope{}, errors.New("wire: envelope: id and msg are required")
	}
	return e, nil
}

// Sealed is an events message: an age file encrypted to the owner
// recipients, holding one Event as JSON.
type Sealed struct {
	Age []byte `json:"age"` // base64 in JSON
}

// Cmd kinds.
const (
	CmdStatement = "statement" // an owner-signed statement; Statement names its kind
	CmdLegal     = "legal"     // a legal-process token
	CmdUpload    = "upload"    // the relay's answer to an upload request
	CmdWHEP      = "whep"      // a live view offer: JWS is the live statement, SDP the offer
	CmdWHEPEnd   = "whep-end"  // end the live session named by Session
	CmdRead      = "read"      // an owner read (Read names it) with its login statement in JWS
)

// Owner reads a CmdRead carries: the LAN API's owner-only GETs, each
// authorized by the single-use login statement in JWS, answered with the
// LAN API's status and body.
const (
	ReadNotices = "notices" // GET /api/v1/notices
	ReadAudit   = "audit"   // GET /api/v1/audit?since=Since
	// ReadOwner is the login check alone (GET /api/v1/owner): 200
	// {"owner": "<key id>"} when the login is an enrolled owner's valid,
	// unused login, else the device's 401 with its reason. The relay asks
	// it before serving the owners' backup listing and manifests; it
	// tells the relay nothing else.
	ReadOwner = "owner"
)

// ReadKinds are the owner reads cmd carries.
var ReadKinds = []string{ReadNotices, ReadAudit, ReadOwner}

// Cmd is one inbound message on cmd.
type Cmd struct {
	// ID is the sender's request id; the device answers on reply/<ID>.
	// The relay uses the statement's jti when it has one.
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Statement is the statement kind for CmdStatement: grant, revoke,
	// policy, enroll, reset, backup.
	Statement string `json:"statement,omitempty"`
	// JWS is the statement or token, exactly as the LAN API takes it.
	JWS json.RawMessage `json:"jws,omitempty"`
	// Upload answers an upload request (CmdUpload).
	Upload *UploadURL `json:"upload,omitempty"`
	// SDP is the viewer's WebRTC offer (CmdWHEP).
	SDP string `json:"sdp,omitempty"`
	// Session is the live session CmdWHEPEnd ends (WHEPAnswer.Session).
	Session string `json:"session,omitempty"`
	// Read names the owner read of a CmdRead; Since is the audit read's
	// first entry (0: the whole log).
	Read  string `json:"read,omitempty"`
	Since uint64 `json:"since,omitempty"`
}

// WHEPAnswer is the body of the device's 201 reply to CmdWHEP: the SDP
// answer, and the session that CmdWHEPEnd ends. Media then flows between
// the device and the viewer (or through TURN), never through MQTT.
type WHEPAnswer struct {
	SDP     string `json:"sdp"`
	Session string `json:"session"`
}

// StatementKinds are the owner statements cmd carries.
var StatementKinds = []string{"grant", "revoke", "policy", "enroll", "reset", "backup"}

// UploadRequest asks the relay for somewhere to put one object.
type UploadRequest struct {
	Object string `json:"object"` // <device-id>/disclosures/<jti>/<piece>
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // hex
}

// UploadURL is the relay's answer: a presigned PUT for exactly Object.
type UploadURL struct {
	Object  string    `json:"object"`
	URL     string    `json:"url"`
	Expires time.Time `json:"expires"`
}

// Reply is the device's answer to a cmd, on reply/<id>: the LAN API's
// status code and JSON body.
type Reply struct {
	Re     string          `json:"re"` // the cmd's id
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
}

// DecodeCmd decodes and checks one inbound cmd payload strictly: one JSON
// object, no unknown or duplicate fields, a valid request id, a known
// kind with exactly the fields it uses. It never panics.
func DecodeCmd(payload []byte) (Cmd, error) {
	var c Cmd
	if len(payload) > MaxCmdSize {
		return c, fmt.Errorf("wire: cmd: %d bytes is over the %d-byte limit", len(payload), MaxCmdSize)
	}
	if err := decodeStrict(payload, &c); err != nil {
		return Cmd{}, fmt.Errorf("wire: cmd: %w", err)
	}
	if err := CheckRequestID(c.ID); err != nil {
		return Cmd{}, fmt.Errorf("wire: cmd: %w", err)
	}
	if c.Kind != CmdRead && (c.Read != "" || c.Since != 0) {
		return Cmd{}, fmt.Errorf("wire: cmd: read and since go with kind read, not %q", c.Kind)
	}
	switch c.Kind {
	case CmdRead:
		if !contains(ReadKinds, c.Read) {
			return Cmd{}, fmt.Errorf("wire: cmd: read %q is not valid (valid: %s)", c.Read, strings.Join(ReadKinds, ", "))
		}
		if len(c.JWS) == 0 || c.Upload != nil || c.Statement != "" || c.SDP != "" || c.Session != "" || (c.Since != 0 && c.Read != ReadAudit) {
			return Cmd{}, errors.New("wire: cmd: kind read takes read, jws (the login statement) and, for audit, since; nothing else")
		}
	case CmdStatement:
		if !contains(StatementKinds, c.Statement) {
			return Cmd{}, fmt.Errorf("wire: cmd: statement %q is not valid (valid: %s)", c.Statement, strings.Join(StatementKinds, ", "))
		}
		fallthrough
	case CmdLegal:
		if len(c.JWS) == 0 || c.Upload != nil || (c.Kind == CmdLegal && c.Statement != "") || c.SDP != "" || c.Session != "" {
			return Cmd{}, fmt.Errorf("wire: cmd: kind %s takes jws and nothing else", c.Kind)
		}
	case CmdWHEP:
		if len(c.JWS) == 0 || c.SDP == "" || c.Upload != nil || c.Statement != "" || c.Session != "" {
			return Cmd{}, errors.New("wire: cmd: kind whep takes jws (the live statement) and sdp (the offer) and nothing else")
		}
	case CmdWHEPEnd:
		if err := CheckRequestID(c.Session); err != nil || len(c.JWS) != 0 || c.SDP != "" || c.Upload != nil || c.Statement != "" {
			return Cmd{}, errors.New("wire: cmd: kind whep-end takes session (1 to 64 of A-Z a-z 0-9 _ -) and nothing else")
		}
	case CmdUpload:
		if c.Upload == nil || len(c.JWS) != 0 || c.Statement != "" || c.SDP != "" || c.Session != "" {
			return Cmd{}, errors.New("wire: cmd: kind upload takes upload and nothing else")
		}
		if c.Upload.Object == "" || c.Upload.URL == "" {
			return Cmd{}, errors.New("wire: cmd: upload: object and url are required")
		}
	default:
		return Cmd{}, fmt.Errorf("wire: cmd: kind %q is not valid (valid: statement, legal, upload, whep, whep-end, read)", c.Kind)
	}
	return c, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// decodeStrict decodes one JSON object into v: valid UTF-8, no duplicate
// keys at any depth, every key exactly a field name (no case folding), no
// unknown fields, nothing after the value.
func decodeStrict(data []byte, v any) error {
	if !utf8.Valid(data) {
		return errors.New("not valid UTF-8")
	}
	if err := checkKeys(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON object")
	}
	return nil
}

// maxDepth bounds nesting in inbound messages (a policy statement nests
// four levels, inside the cmd's two).
const maxDepth = 16

// checkKeys walks the document and refuses duplicate keys, keys that are
// not lower-case field names (encoding/json would match "ID" to "id"), and
// deep nesting. The top-level value must be an object.
func checkKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return errors.New("not JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	return walkObject(dec, 1)
}

func walkObject(dec *json.Decoder, depth int) error {
	if depth > maxDepth {
		return errors.New("nested too deeply")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errors.New("not JSON")
		}
		k, _ := tok.(string)
		for i := 0; i < len(k); i++ {
			if c := k[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
				return fmt.Errorf("field %q is not valid (field names are lower-case)", k)
			}
		}
		if seen[k] {
			return fmt.Errorf("field %q appears twice", k)
		}
		seen[k] = true
		if err := walkValue(dec, depth); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	if err != nil {
		return errors.New("not JSON")
	}
	return nil
}

func walkValue(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return errors.New("not JSON")
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		return walkObject(dec, depth+1)
	case '[':
		if depth+1 > maxDepth {
			return errors.New("nested too deeply")
		}
		for dec.More() {
			if err := walkValue(dec, depth+1); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ']'
		if err != nil {
			return errors.New("not JSON")
		}
	}
	return nil
}

// Checkpoint is the retained audit/checkpoint message: the device-signed
// checkpoint in its text form.
type Checkpoint struct {
	Checkpoint string `json:"checkpoint"`
}

// DecodeUploadRequest decodes an upload request strictly and checks that
// its object lies under the device's own prefix.
func DecodeUploadRequest(device string, body []byte) (UploadRequest, error) {
	var r UploadRequest
	if err := decodeStrict(body, &r); err != nil {
		return UploadRequest{}, fmt.Errorf("wire: upload request: %w", err)
	}
	if !strings.HasPrefix(r.Object, device+"/") {
		return UploadRequest{}, fmt.Errorf("wire: upload request: object %q is not under the device's prefix %s/", r.Object, device)
	}
	if r.Size < 0 || len(r.SHA256) != 64 || strings.Trim(r.SHA256, "0123456789abcdef") != "" {
		return UploadRequest{}, errors.New("wire: upload request: size must be >= 0 and sha256 64 lower-case hex digits")
	}
	return r, nil
}

// Manifest lists a disclosure's (or a backed-up clip's) objects in
// playback order, each with a presigned GET.
type Manifest struct {
	Device  string           `json:"device"`
	Objects []ManifestObject `json:"objects"`
}

// BackupList is the relay's listing of a device's backed-up clips
// (GET /v1/devices/{id}/backup), oldest clip first (clip IDs start with
// their UTC start time).
type BackupList struct {
	Device string       `json:"device"`
	Clips  []BackupClip `json:"clips"`
}

// BackupClip is one backed-up clip: how many objects (the init segment
// and the media segments uploaded so far) and bytes the store holds.
type BackupClip struct {
	Clip    string `json:"clip"`
	Objects int    `json:"objects"`
	Bytes   int64  `json:"bytes"`
}

// ManifestObject is one object of a manifest.
type ManifestObject struct {
	Object string `json:"object"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"` // hex, as the store verified it on upload
	URL    string `json:"url"`
}
