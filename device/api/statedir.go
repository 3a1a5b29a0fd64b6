package api

import (
	"os"
	"path/filepath"
)

// DefaultStateDir is the agent's state directory when --state is not
// given: $DOORWARD_STATE, else $XDG_STATE_HOME/doorward, else
// ~/.local/state/doorward. doorwardctl finds clips by ID under it.
func DefaultStateDir() string {
	if d := os.Getenv("DOORWARD_STATE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "doorward")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "doorward")
	}
	return "doorward-state"
}

// ClipsDirName is the clips directory's name in the state directory.
const ClipsDirName = "clips"
