package vault

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/device/schema"
)

// bucketEvents holds the sensor events that have no video.
var bucketEvents = schema.Events

// maxEvents bounds the event log: the oldest entries go first.
const maxEvents = 1000

// Event is a sensor event that has no video, with a note saying why (the
// camera was stalled when it happened).
type Event struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"` // motion | ring
	Note string    `json:"note"`
}

// NoteEvent records a sensor event at t that has no video. The log keeps
// the latest maxEvents entries.
func (v *Vault) NoteEvent(t time.Time, kind, note string) error {
	data, err := json.Marshal(Event{Time: t, Kind: kind, Note: note})
	if err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	err = v.opts.DB.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketEvents)
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		// Time first, so that keys sort in time order; the sequence keeps
		// two events of the same instant apart.
		key := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())), seq)
		if err := b.Put(key, data); err != nil {
			return err
		}
		n := 0
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		for ; n > maxEvents; n-- {
			c.First()
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("vault: noting a %s event: %w", kind, err)
	}
	return nil
}

// Events lists the events without video, oldest first.
func (v *Vault) Events() ([]Event, error) {
	var out []Event
	err := v.opts.DB.View(func(tx *bbolt.Tx) error {
		var err error
		out, err = ListEvents(tx)
		return err
	})
	return out, err
}

// ListEvents returns the events without video in tx, oldest first. It is
// exported so that commands can read the log of a stopped agent.
func ListEvents(tx *bbolt.Tx) ([]Event, error) {
	b := tx.Bucket(bucketEvents)
	if b == nil {
		return nil, nil
	}
	var out []Event
	err := b.ForEach(func(k, data []byte) error {
		var e Event
		if err := json.Unmarshal(data, &e); err != nil {
			return fmt.Errorf("vault: event record %x: %w", k, err)
		}
		out = append(out, e)
		return nil
	})
	return out, err
}
