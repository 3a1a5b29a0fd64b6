package live

import (
	"time"

	"github.com/doorward/doorward/capture"
)

// WithSendDelay slows the sender of the session authorized as id by d per
// frame, as a viewer whose link cannot keep up.
func WithSendDelay(o *Options, f func(id string) time.Duration) { o.sendDelay = f }

// WithOnSent calls f with each frame once a session has sent it.
func WithOnSent(o *Options, f func(capture.Frame)) { o.onSent = f }

// WithLoss makes the first sending of the RTP packets lose returns true for
// never leave the device, as on a lossy link.
func WithLoss(o *Options, lose func(seq uint16) bool) { o.lose = lose }
