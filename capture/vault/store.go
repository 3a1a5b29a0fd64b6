package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/device/schema"
)

// Bucket names in the agent's state database; device/schema names them.
var (
	bucketClips    = schema.Clips
	bucketSegments = schema.Segments
)

// Clip is a clip's index record.
type Clip struct {
	ID        string    `json:"id"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Trigger   string    `json:"trigger"`
	Dir       string    `json:"dir"` // relative to the clips directory
	Size      int64     `json:"size"`
	InitSize  int64     `json:"init_size"`
	Segments  int       `json:"segments"`
	Recording bool      `json:"recording,omitempty"`
	Path      string    `json:"-"` // absolute directory, filled in by Clips
}

// Duration is the span the clip's remaining segments cover.
func (c Clip) Duration() time.Duration { return c.End.Sub(c.Start) }

// Segment is a media segment's index record.
type Segment struct {
	Clip  string    `json:"clip"`
	Seq   int       `json:"seq"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Size  int64     `json:"size"`
}

func segmentKey(clip string, seq int) []byte { return fmt.Appendf(nil, "%s/%06d", clip, seq) }

func createBuckets(tx *bbolt.Tx) error {
	for _, b := range [][]byte{bucketClips, bucketSegments} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

func putClip(tx *bbolt.Tx, c Clip) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketClips).Put([]byte(c.ID), data)
}

var errNotFound = errors.New("vault: no such clip")

func getClip(tx *bbolt.Tx, id string) (Clip, error) {
	var c Clip
	data := tx.Bucket(bucketClips).Get([]byte(id))
	if data == nil {
		return c, fmt.Errorf("%w: %s", errNotFound, id)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("vault: clip record %s: %w", id, err)
	}
	return c, nil
}

// ListClips returns every clip record in tx, oldest first. It is exported
// so that commands can read the index of a stopped agent.
func ListClips(tx *bbolt.Tx) ([]Clip, error) {
	b := tx.Bucket(bucketClips)
	if b == nil {
		return nil, nil
	}
	var out []Clip
	err := b.ForEach(func(k, v []byte) error {
		var c Clip
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("vault: clip record %s: %w", k, err)
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

func putSegment(tx *bbolt.Tx, s Segment) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketSegments).Put(segmentKey(s.Clip, s.Seq), data)
}

// forEachSegment visits segments in key order, which is time order: clip
// IDs start with their UTC start time.
func forEachSegment(tx *bbolt.Tx, fn func(Segment) error) error {
	return tx.Bucket(bucketSegments).ForEach(func(k, v []byte) error {
		var s Segment
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("vault: segment record %s: %w", k, err)
		}
		return fn(s)
	})
}

// ClipSegments returns the clip's segment records in order.
func clipSegments(tx *bbolt.Tx, id string) ([]Segment, error) {
	var out []Segment
	prefix := []byte(id + "/")
	c := tx.Bucket(bucketSegments).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var s Segment
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("vault: segment record %s: %w", k, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// getSegment reads a segment's record; ok is false when there is none.
func getSegment(tx *bbolt.Tx, clip string, seq int) (Segment, bool, error) {
	var s Segment
	data := tx.Bucket(bucketSegments).Get(segmentKey(clip, seq))
	if data == nil {
		return s, false, nil
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, false, fmt.Errorf("vault: segment record %s: %w", segmentKey(clip, seq), err)
	}
	return s, true, nil
}

// deleteSegment removes a segment's record and brings its clip's record up
// to date. It returns the updated clip (Segments is 0 when none are left;
// the caller then deletes the clip). The segment's hold record goes only
// when it has ended by now: a hold in force (or one that does not parse)
// belongs to an authority and outlives whatever removed the segment.
// Retention never gets here for a held segment; crash recovery does, for
// a segment whose file is gone.
func deleteSegment(tx *bbolt.Tx, s Segment, now time.Time) (Clip, error) {
	if err := tx.Bucket(bucketSegments).Delete(segmentKey(s.Clip, s.Seq)); err != nil {
		return Clip{}, err
	}
	if b := tx.Bucket(bucketHolds); b != nil && !heldUntil(tx, s).After(now) {
		if err := b.Delete(segmentKey(s.Clip, s.Seq)); err != nil {
			return Clip{}, err
		}
	}
	c, err := getClip(tx, s.Clip)
	if err != nil {
		return c, err
	}
	rest, err := clipSegments(tx, s.Clip)
	if err != nil {
		return c, err
	}
	c.Segments = len(rest)
	c.Size = c.InitSize
	for _, r := range rest {
		c.Size += r.Size
	}
	if len(rest) > 0 {
		c.Start, c.End = rest[0].Start, rest[len(rest)-1].End
	}
	return c, putClip(tx, c)
}

func deleteClip(tx *bbolt.Tx, id string) error {
	segs, err := clipSegments(tx, id)
	if err != nil {
		return err
	}
	for _, s := range segs {
		if err := tx.Bucket(bucketSegments).Delete(segmentKey(s.Clip, s.Seq)); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketClips).Delete([]byte(id))
}

// ClipTx returns the index record of clip id in tx, and false when there
// is none (not indexed yet, or deleted by retention).
func ClipTx(tx *bbolt.Tx, id string) (Clip, bool, error) {
	c, err := getClip(tx, id)
	if errors.Is(err, errNotFound) {
		return Clip{}, false, nil
	}
	return c, err == nil, err
}
