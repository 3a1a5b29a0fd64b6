package api

import "time"

// OwnerClip is a recorded clip in the owners' clip list (GET /api/v1/clips):
// its pieces are fetched one by one from GET /api/v1/clips/{id}/{piece},
// as the age ciphertext they are on the device, and decrypted by the owner.
type OwnerClip struct {
	ID        string    `json:"id"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Duration  float64   `json:"duration"` // seconds
	Trigger   string    `json:"trigger"`
	Recording bool      `json:"recording,omitempty"`
	// Pieces are in playback order: the init segment, then the media
	// segments.
	Pieces []Piece `json:"pieces"`
}

// Piece is one encrypted file of a clip.
type Piece struct {
	Name string `json:"name"` // init.mp4.age, 000001.m4s.age, ...
	Size int64  `json:"size"` // bytes of ciphertext
}

// Size is the clip's ciphertext in bytes.
func (c OwnerClip) Size() int64 {
	var n int64
	for _, p := range c.Pieces {
		n += p.Size
	}
	return n
}

// GrantDisclosures answers GET /api/v1/grants/{jti}/disclosures: what the
// grant disclosed that is on the device, one entry per clip, each piece
// re-wrapped for the grant's recipient alone. Empty when an uplink
// delivered the disclosures to the relay's store instead.
type GrantDisclosures struct {
	Grant string      `json:"grant"`
	Clips []GrantClip `json:"clips"`
	// Following is true while the grant keeps disclosing what is recorded
	// inside its window.
	Following bool `json:"following,omitempty"`
	// Strict is true when the pieces are ciphertext only the owners open
	// (the device's vault: none).
	Strict bool `json:"strict,omitempty"`
}

// GrantClip is one clip of a grant's disclosures: its pieces in playback
// order (the init piece first).
type GrantClip struct {
	Clip   string  `json:"clip"`
	Pieces []Piece `json:"pieces"`
}
