package api

import (
	"time"

	"github.com/doorward/doorward/consent/audit"
)

// SocketName is the control socket's name in the state directory.
const SocketName = "control.sock"

// MaxControlRequest bounds a control request line.
const MaxControlRequest = 4096

// Control operations.
const (
	OpTrigger  = "trigger"   // record an event (sim board): Event is motion or ring
	OpClips    = "clips"     // list the clips
	OpEvents   = "events"    // list the sensor events that have no video
	OpStatus   = "status"    // describe the running agent
	OpPairCode = "pair-code" // the one-time pairing code, while unpaired
	OpPolicy   = "policy"    // the trust policy
	OpAudit    = "audit"     // the audit log with a signed checkpoint
)

// ControlRequest is one request on the control socket: a JSON object on
// one line; the agent answers with one ControlResponse line and closes.
type ControlRequest struct {
	Op    string `json:"op"`              // one of the Op constants
	Event string `json:"event,omitempty"` // for trigger: motion or ring
}

// ControlResponse is the agent's answer.
type ControlResponse struct {
	OK       bool    `json:"ok"`
	Error    string  `json:"error,omitempty"`
	Clips    []Clip  `json:"clips,omitempty"`
	Events   []Event `json:"events,omitempty"`
	Status   *Status `json:"status,omitempty"`
	PairCode string  `json:"pair_code,omitempty"`
	PairQR   string  `json:"pair_qr,omitempty"`
	// PairURL is the LAN API's URL the pairing URI (and QR code) names;
	// PairURI is that URI (pairing.FormatURI).
	PairURL string      `json:"pair_url,omitempty"`
	PairURI string      `json:"pair_uri,omitempty"`
	Policy  *PolicyInfo `json:"policy,omitempty"`
	Audit   *AuditLog   `json:"audit,omitempty"`
}

// AuditLog is the whole audit log. Checkpoint is nil when the log was read
// from the database of a stopped agent: only the running agent signs one.
type AuditLog struct {
	Checkpoint *audit.SignedCheckpoint `json:"checkpoint,omitempty"`
	Entries    []audit.Entry           `json:"entries"`
}

// Clip is how commands show a clip.
type Clip struct {
	ID       string    `json:"id"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Duration float64   `json:"duration"` // seconds
	Size     int64     `json:"size"`     // bytes on disk, encrypted
	Trigger  string    `json:"trigger"`
	Path     string    `json:"path"` // the clip's directory
	Segments int       `json:"segments"`
	// Recording is true while the clip is still being written.
	Recording bool `json:"recording,omitempty"`
}

// Event is a sensor event that has no video, with a note saying why (the
// camera was stalled when it happened).
type Event struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"` // motion | ring
	Note string    `json:"note"`
}

// Status describes the running agent.
type Status struct {
	DeviceID string `json:"device_id"`
	Board    string `json:"board"`
	// Sim is set on the sim board, whose motion and ring the owner fires
	// (POST /api/v1/sim/trigger).
	Sim       bool   `json:"sim,omitempty"`
	Version   string `json:"version"`
	Recording bool   `json:"recording"`
	StateDir  string `json:"state_dir"`
	Paired    bool   `json:"paired"`
	Listen    string `json:"listen"`
	// Owners is how many owner recipients clips are encrypted to.
	Owners int `json:"owners"`
	// Pairing: no owner signing key yet (recipients from the config or
	// --owner-recipient record, but grants and policy need a paired owner).
	Pairing bool `json:"pairing,omitempty"`
	// Healthy: the camera delivers frames and the recorder keeps up
	// (GET /healthz).
	Healthy       bool `json:"healthy"`
	CameraStalled bool `json:"camera_stalled"`
	// LastEvent is the last motion or ring, nil before any.
	LastEvent *Event `json:"last_event,omitempty"`
	// ClipBytes is the encrypted footage on disk; DiskFree the bytes free
	// on the state directory's file system.
	ClipBytes   int64 `json:"clip_bytes"`
	DiskFree    int64 `json:"disk_free"`
	ClockSynced bool  `json:"clock_synced"`
	// FPS and BitsPerSecond are the camera's frame rate and bitrate as
	// measured over the last few seconds (0 before a measurement).
	FPS           float64 `json:"fps"`
	BitsPerSecond float64 `json:"bits_per_second"`
	// StoredPerDay is the encrypted footage stored per day over the last
	// week (or since the first clip); RetentionDays how many days of
	// footage the device keeps at that rate: the retention max_age, unless
	// max_bytes or the disk runs out first. Both 0 while there is no
	// footage to measure.
	StoredPerDay  int64   `json:"stored_bytes_per_day"`
	RetentionDays float64 `json:"retention_days"`
	// Uplink is the MQTT uplink's state; nil when it is off.
	Uplink *UplinkStatus `json:"uplink,omitempty"`
}

// UplinkStatus is the state of the MQTT uplink and its outbox.
type UplinkStatus struct {
	Connected bool `json:"connected"`
	// Queued messages wait in the outbox for the broker's PUBACK.
	Queued      int    `json:"queued"`
	QueuedBytes int64  `json:"queued_bytes"`
	Dropped     uint64 `json:"dropped"`
}

// SimTrigger is the body of POST /api/v1/sim/trigger (sim board, owner
// only): Event is motion or ring.
type SimTrigger struct {
	Event string `json:"event"`
}
