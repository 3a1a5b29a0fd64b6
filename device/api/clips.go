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
