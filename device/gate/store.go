package gate

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/doorward/doorward/device/api"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/device/schema"
)

// Buckets in the agent's state database; device/schema names them.
var (
	bucketOwner      = schema.Owner
	bucketPolicy     = schema.Policy
	bucketGrants     = schema.Grants
	bucketStatements = schema.StatementsSeen
	bucketNotices    = schema.Notices
	bucketNoticesDue = schema.NoticesPending
	bucketJobs       = schema.Jobs
	bucketPending    = schema.JobsPending
	bucketMeta       = schema.Meta
)

var (
	keyPolicy    = []byte("current")
	keyTimeFloor = []byte("time_floor")
	keyUptime    = []byte("uptime_ns")
)

func createBuckets(tx *bbolt.Tx) error {
	for _, b := range [][]byte{bucketOwner, bucketPolicy, bucketGrants, bucketStatements, bucketNotices, bucketNoticesDue, bucketJobs, bucketPending, bucketMeta} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

// Owner is an enrolled owner device: its signing key and age recipients.
type Owner struct {
	KeyID      string    `json:"kid"`
	SigningKey string    `json:"signing_key"` // consent.FormatIssuerKey form
	Recipients []string  `json:"recipients"`
	Enrolled   time.Time `json:"enrolled"`
	EnrolledBy string    `json:"enrolled_by,omitempty"` // kid of the owner who signed the enrollment; empty for pairing
}

// Grant is an accepted owner grant.
type Grant struct {
	JTI       string    `json:"jti"`
	Grantee   string    `json:"grantee"`
	Recipient string    `json:"recipient"`
	From      time.Time `json:"from"`
	Until     time.Time `json:"until"`
	Media     []string  `json:"media"`
	Live      bool      `json:"live"`
	Expires   time.Time `json:"expires"`
	Uses      int       `json:"uses"`
	Used      int       `json:"used"`
	Signer    string    `json:"signer"` // owner kid
	Accepted  time.Time `json:"accepted"`
	Revoked   time.Time `json:"revoked,omitzero"`
	// Disclosures is how many disclosure jobs (one per clip) the grant
	// started when it was accepted.
	Disclosures int `json:"disclosures,omitempty"`
	// Follow is true when the grant's window reached past the time it was
	// accepted: segments committed inside the window keep being disclosed
	// (follow.go) until its until, its expiry or its revocation.
	Follow bool `json:"follow,omitempty"`
	// FollowedTo is the end of the latest segment disclosed under the
	// grant: segments are committed in time order, so those overlapping
	// the window that end later are the ones not yet disclosed.
	FollowedTo time.Time `json:"followed_to,omitzero"`
	// Followed counts the jobs started after acceptance (Follow).
	Followed int `json:"followed,omitempty"`
	// Notice is the owner notice the grant's acceptance wrote; the jobs
	// started later refer to it.
	Notice uint64 `json:"notice,omitempty"`
}

// followGrace is how long past a grant's until segments are still looked
// for: the last segment overlapping the window is committed when it ends,
// up to a segment's length after until.
const followGrace = 5 * time.Minute

// following reports whether segments committed at now may still be
// disclosed under the grant.
func (g Grant) following(now time.Time) bool {
	return g.Follow && g.Revoked.IsZero() && now.Before(g.Expires) && now.Before(g.Until.Add(followGrace))
}

// Active reports whether the grant may still be used at now.
func (g Grant) Active(now time.Time) bool {
	return g.Revoked.IsZero() && now.Before(g.Expires) && g.Used < g.Uses
}

// LiveAt reports whether the grant authorizes live view at now: live in
// scope, not revoked or expired, and its window covering now.
func (g Grant) LiveAt(now time.Time) bool {
	return g.Live && g.Revoked.IsZero() && now.Before(g.Expires) && !now.Before(g.From) && now.Before(g.Until)
}

// Notice tells the owners of a disclosure. Body is age-encrypted to every
// owner recipient: the device (and whoever reads its disk or its broker)
// learns nothing from a stored notice but its timing.
type Notice struct {
	ID      uint64    `json:"id"`
	Created time.Time `json:"created"`
	// ReleaseAt is when the owners may read it: at once, or when the
	// token's notify_after says, never after Created + the policy's cap.
	ReleaseAt time.Time `json:"release_at"`
	// ReleaseUptime is the same cap counted on the agent's accumulated
	// uptime, so a clock set back cannot hold a notice back.
	ReleaseUptime time.Duration `json:"release_uptime_ns"`
	Released      bool          `json:"released"`
	// Pending are the audit commitments a delayed notice's decision and
	// disclosures were logged under; they are opened on release.
	Pending []PendingOpening `json:"pending,omitempty"`
	Body    []byte           `json:"body"` // age ciphertext
	// Jobs are the disclosure jobs the notice tells of.
	Jobs []string `json:"jobs,omitempty"`
}

// PendingOpening is a commitment in the audit log waiting for its notice.
type PendingOpening struct {
	Index uint64 `json:"index"`
	Entry []byte `json:"entry"` // the committed audit entry, canonical JSON
	Nonce []byte `json:"nonce"`
}

// NoticeBody is a notice's plaintext, what the owner reads.
type NoticeBody = api.NoticeBody

// JobState is where a disclosure job is: pending → running → delivered,
// or → failed. A running job that fails for a reason a retry may cure goes
// back to pending, due after a backoff.
type JobState string

// The job states.
const (
	JobPending   JobState = "pending"
	JobRunning   JobState = "running"
	JobDelivered JobState = "delivered"
	JobFailed    JobState = "failed"
)

// Job is one disclosure: the pieces of one clip re-wrapped for one
// recipient and handed to the Deliverer.
type Job struct {
	ID        string `json:"id"`
	Authority string `json:"authority"` // "grant:<jti>", "legal:<jti>" or "backup:<jti>"
	Recipient string `json:"recipient"`
	// Recipients are the owner recipients a backup job re-wraps for
	// (Recipient is then empty).
	Recipients []string `json:"recipients,omitempty"`
	Clip       string   `json:"clip"`
	ClipDir    string   `json:"clip_dir"` // relative to the clips directory
	Segments   []int    `json:"segments"`
	// SkipInit leaves the init segment out: a backup job after the
	// clip's first carries its media segment alone.
	SkipInit bool      `json:"skip_init,omitempty"`
	Created  time.Time `json:"created"`
	State    JobState  `json:"state"`
	// Attempts counts the deliveries tried; NextAttempt is when a pending
	// job is due (its key in the pending index).
	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	Done        time.Time `json:"done,omitzero"` // delivered or failed
	Files       []string  `json:"files,omitempty"`
	Strict      bool      `json:"strict,omitempty"`
	// Error says why a job failed, or what a delivered one lacks.
	Error string `json:"error,omitempty"`
	// Delayed is true while the owner notice for this disclosure is held
	// back: the audit log then shows commitments, not the disclosure, and
	// no listing, event or log line shows more.
	Delayed bool   `json:"delayed,omitempty"`
	Notice  uint64 `json:"notice"`
	// Dir is the job's directory under the disclosures directory:
	// "<jti>/<clip>", shared by the jobs of one grant or token and clip
	// (a grant that follows the future adds segments to it). Empty for
	// jobs made before (their directory is their ID).
	Dir string `json:"dir,omitempty"`
}

// DirName is the job's directory under the disclosures directory.
func (j Job) DirName() string {
	if j.Dir != "" {
		return j.Dir
	}
	return j.ID
}

// disclosureDir is the directory of an authority's disclosure of clip:
// "<jti>/<clip>", or "" when either is not a safe path element (a jti
// may be "." or ".."); the job's ID names it then.
func disclosureDir(authority, clip string) string {
	_, jti, _ := strings.Cut(authority, ":")
	if !safeName(jti) || !safeName(clip) {
		return ""
	}
	return jti + "/" + clip
}

// safeName reports whether s is a plain file name: letters, digits, '-',
// '_', '.', '~', not starting with '.'.
func safeName(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '_' || c == '~' || c == '-':
		default:
			return false
		}
	}
	return true
}

// Finished reports whether the job is delivered or failed.
func (j Job) Finished() bool { return j.State == JobDelivered || j.State == JobFailed }

// pendingKey is the job's key in the pending index.
func pendingKey(j Job) []byte {
	var at uint64
	if !j.NextAttempt.IsZero() && j.NextAttempt.UnixNano() > 0 {
		at = uint64(j.NextAttempt.UnixNano())
	}
	return append(u64key(at), j.ID...)
}

func put(tx *bbolt.Tx, bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Bucket(bucket).Put(key, data)
}

func get(tx *bbolt.Tx, bucket, key []byte, v any) (bool, error) {
	data := tx.Bucket(bucket).Get(key)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("gate: record %s/%s: %w", bucket, key, err)
	}
	return true, nil
}

func list[T any](tx *bbolt.Tx, bucket []byte) ([]T, error) {
	var out []T
	err := tx.Bucket(bucket).ForEach(func(k, v []byte) error {
		var t T
		if err := json.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("gate: record %s/%s: %w", bucket, k, err)
		}
		out = append(out, t)
		return nil
	})
	return out, err
}

func u64key(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func u64of(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
