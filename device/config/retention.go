package config

import "time"

// Retention sets when stored clips are deleted.
type Retention struct {
	// MaxAge deletes segments older than this.
	MaxAge Duration `yaml:"max_age"`
	// MaxBytes deletes the oldest segments while the clips take more.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// Interval is how often retention runs.
	Interval Duration `yaml:"interval"`
	// HoldMargin is how long after a preserving token expires its legal
	// hold still keeps the footage from retention.
	HoldMargin Duration `yaml:"hold_margin"`
}

func defaultRetention() Retention {
	return Retention{
		MaxAge:     Duration(7 * day),
		MaxBytes:   4 * GiB,
		Interval:   Duration(10 * time.Minute),
		HoldMargin: Duration(30 * day),
	}
}

// Validate reports every problem with the retention section.
func (ret Retention) Validate() error { return ret.problems().err() }

func (ret Retention) problems() problems {
	var p problems
	durRange(&p, "retention.max_age", ret.MaxAge, time.Hour, 0)
	sizeRange(&p, "retention.max_bytes", ret.MaxBytes, 64*MiB, 0)
	durRange(&p, "retention.interval", ret.Interval, 10*time.Second, 24*time.Hour)
	durRange(&p, "retention.hold_margin", ret.HoldMargin, 0, 365*day)
	return p
}
