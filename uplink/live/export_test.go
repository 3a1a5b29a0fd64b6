package live

import "time"

// WithSendDelay slows the sender of the session authorized as id by d per
// frame, as a viewer whose link cannot keep up.
func WithSendDelay(o *Options, f func(id string) time.Duration) { o.sendDelay = f }
