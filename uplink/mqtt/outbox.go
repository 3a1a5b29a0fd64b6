package mqtt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/device/schema"
)

// bucketOutbox holds messages waiting for their PUBACK, keyed by a
// big-endian sequence number that is also the message's id.
var bucketOutbox = schema.Outbox

// Class says what the outbox may do with a message when it is full.
type Class byte

// The classes of message.
const (
	// Event messages (motion, ring, clip ready) are dropped, oldest first,
	// when the outbox reaches its cap.
	Event Class = 1
	// Keep messages (owner notices, replies, upload requests) are never
	// dropped.
	Keep Class = 2
	// Latest messages (the retained audit checkpoint) replace any older
	// message queued on the same topic: only the newest matters.
	Latest Class = 3
)

// Message is one queued outgoing message.
type Message struct {
	ID       uint64 // the outbox sequence number: increasing, never reused
	Topic    string
	Class    Class
	Retained bool
	Body     []byte
}

// size is what a message counts against the cap.
func (m Message) size() int64 { return int64(len(m.Topic) + len(m.Body) + 16) }

// Outbox is the bbolt-backed queue of outgoing messages: a message is
// written before it is published and deleted once the broker acknowledged
// it, so nothing queued is lost across outages and restarts.
type Outbox struct {
	db  *bbolt.DB
	max int64
	log *slog.Logger

	mu      sync.Mutex
	bytes   int64 // total size of the queued messages
	count   int
	full    bool // the cap was reached and not yet relieved (log once)
	dropped uint64
}

// OpenOutbox opens (creating it if needed) the outbox in db, capped at
// maxBytes (0: no cap).
func OpenOutbox(db *bbolt.DB, maxBytes int64, log *slog.Logger) (*Outbox, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &Outbox{db: db, max: maxBytes, log: log}
	err := db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketOutbox)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			m, err := decodeMessage(k, v)
			if err != nil {
				return err
			}
			o.bytes += m.size()
			o.count++
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("mqtt: outbox: %w", err)
	}
	return o, nil
}

// Put queues a message durably and returns its id.
func (o *Outbox) Put(topic string, class Class, retained bool, body []byte) (uint64, error) {
	if class < Event || class > Latest {
		return 0, fmt.Errorf("mqtt: outbox: class %d is not valid", class)
	}
	m := Message{Topic: topic, Class: class, Retained: retained, Body: body}
	o.mu.Lock()
	defer o.mu.Unlock()
	var dropped, replaced int
	var freed int64
	err := o.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		if class == Latest {
			// Replace an older message on the same topic.
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				old, err := decodeMessage(k, v)
				if err != nil {
					return err
				}
				if old.Class == Latest && old.Topic == topic {
					if err := c.Delete(); err != nil {
						return err
					}
					freed += old.size()
					replaced++
				}
			}
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		m.ID = seq
		k, v := encodeMessage(m)
		if err := b.Put(k, v); err != nil {
			return err
		}
		if o.max <= 0 {
			return nil
		}
		// Over the cap: drop the oldest events, never notices or replies.
		over := o.bytes - freed + m.size() - o.max
		c := b.Cursor()
		for k, v := c.First(); k != nil && over > 0; k, v = c.Next() {
			if len(v) == 0 || Class(v[0]) != Event {
				continue
			}
			old, err := decodeMessage(k, v)
			if err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
			over -= old.size()
			freed += old.size()
			dropped++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("mqtt: outbox: queueing a message on %s: %w", topic, err)
	}
	o.bytes += m.size() - freed
	o.count += 1 - dropped - replaced
	o.dropped += uint64(dropped)
	switch {
	case dropped > 0 && !o.full:
		o.full = true
		o.log.Warn("mqtt: outbox full: dropping the oldest events (notices and replies are kept) until the broker is reachable again",
			"cap_bytes", o.max, "queued", o.count, "dropped", dropped)
	case dropped == 0 && o.full && o.bytes < o.max*9/10:
		o.full = false
	}
	return m.ID, nil
}

// After returns up to limit queued messages with an id greater than after,
// oldest first.
func (o *Outbox) After(after uint64, limit int) ([]Message, error) {
	var out []Message
	err := o.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.Seek(key(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			m, err := decodeMessage(k, v)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mqtt: outbox: %w", err)
	}
	return out, nil
}

// Delete removes acknowledged messages; ids no longer queued are ignored.
func (o *Outbox) Delete(ids ...uint64) error {
	if len(ids) == 0 {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var freed int64
	var n int
	err := o.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		for _, id := range ids {
			k := key(id)
			v := b.Get(k)
			if v == nil {
				continue
			}
			m, err := decodeMessage(k, v)
			if err != nil {
				return err
			}
			if err := b.Delete(k); err != nil {
				return err
			}
			freed += m.size()
			n++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mqtt: outbox: %w", err)
	}
	o.bytes -= freed
	o.count -= n
	if o.full && o.bytes < o.max*9/10 {
		o.full = false
	}
	return nil
}

// OutboxStats are the outbox's counters.
type OutboxStats struct {
	Queued  int    // messages waiting for a PUBACK
	Bytes   int64  // their size
	Dropped uint64 // events dropped at the cap since the outbox was opened
}

// Stats returns the outbox's counters.
func (o *Outbox) Stats() OutboxStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return OutboxStats{Queued: o.count, Bytes: o.bytes, Dropped: o.dropped}
}

func key(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

// A stored message: class (1 byte), retained (1 byte), topic length
// (2 bytes, big-endian), topic, body.
func encodeMessage(m Message) (k, v []byte) {
	v = make([]byte, 0, 4+len(m.Topic)+len(m.Body))
	v = append(v, byte(m.Class), 0)
	if m.Retained {
		v[1] = 1
	}
	v = binary.BigEndian.AppendUint16(v, uint16(len(m.Topic)))
	v = append(v, m.Topic...)
	v = append(v, m.Body...)
	return key(m.ID), v
}

var errCorrupt = errors.New("corrupt outbox record")

func decodeMessage(k, v []byte) (Message, error) {
	if len(k) != 8 || len(v) < 4 {
		return Message{}, errCorrupt
	}
	n := int(binary.BigEndian.Uint16(v[2:4]))
	if len(v) < 4+n {
		return Message{}, errCorrupt
	}
	return Message{
		ID:       binary.BigEndian.Uint64(k),
		Class:    Class(v[0]),
		Retained: v[1] == 1,
		Topic:    string(v[4 : 4+n]),
		Body:     append([]byte(nil), v[4+n:]...),
	}, nil
}
