package config

import "log/slog"

// Log sets the agent's logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

func defaultLog() Log { return Log{Level: "info", Format: "text"} }

// Validate reports every problem with the log section.
func (l Log) Validate() error { return l.problems().err() }

func (l Log) problems() problems {
	var p problems
	oneOf(&p, "log.level", l.Level, "debug", "info", "warn", "error")
	oneOf(&p, "log.format", l.Format, "text", "json")
	return p
}

// SlogLevel returns the slog level for l.Level (info when it is not valid).
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}
