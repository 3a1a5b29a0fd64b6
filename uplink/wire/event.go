package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"filippo.io/age"

	"github.com/doorward/doorward/device/events"
)

// maxEvent bounds a decrypted event.
const maxEvent = 64 << 10

// SealEvent encrypts e to the recipients (the owners) as an events body.
func SealEvent(e events.Event, to ...age.Recipient) ([]byte, error) {
	plain, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("wire: event: %w", err)
	}
	var ct bytes.Buffer
	w, err := age.Encrypt(&ct, to...)
	if err != nil {
		return nil, fmt.Errorf("wire: event: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return nil, fmt.Errorf("wire: event: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("wire: event: %w", err)
	}
	return json.Marshal(Sealed{Age: ct.Bytes()})
}

// OpenEvent decrypts an events body with the identities.
func OpenEvent(body []byte, ids ...age.Identity) (events.Event, error) {
	var s Sealed
	if err := decodeStrict(body, &s); err != nil {
		return events.Event{}, fmt.Errorf("wire: event: %w", err)
	}
	r, err := age.Decrypt(bytes.NewReader(s.Age), ids...)
	if err != nil {
		return events.Event{}, fmt.Errorf("wire: event: %w", err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxEvent+1))
	if err != nil {
		return events.Event{}, fmt.Errorf("wire: event: %w", err)
	}
	if len(plain) > maxEvent {
		return events.Event{}, fmt.Errorf("wire: event: over %d bytes", maxEvent)
	}
	var e events.Event
	if err := json.Unmarshal(plain, &e); err != nil {
		return events.Event{}, fmt.Errorf("wire: event: %w", err)
	}
	return e, nil
}
