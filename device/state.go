package device

import (
	"errors"
	"fmt"
	"github.com/doorward/doorward/device/api"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/doorward/doorward/device/schema"
)

// Paths inside a state directory.
const (
	dbName      = "state.db"
	keyFileName = "keys/device.key"
	clipsDir    = "clips"
	// disclosuresDir holds re-wrapped pieces waiting for their recipient.
	disclosuresDir = "disclosures"
)

// DefaultStateDir is the state directory every command uses unless --state
// says otherwise: $DOORWARD_STATE, else $XDG_STATE_HOME/doorward, else
// ~/.local/state/doorward. (The systemd unit passes /var/lib/doorward.)
func DefaultStateDir() string { return api.DefaultStateDir() }

// ErrAgentRunning is returned when another agent holds the state database.
var ErrAgentRunning = errors.New("device: another doorward agent is using this state directory")

// prepareStateDir creates the state directory (mode 0700), tightens an
// existing one that others could enter to 0700 (it holds the keys, the
// database and the control socket), and checks that it is writable.
func prepareStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("device: state directory %s: %w", dir, unwrapPath(err))
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("device: state directory %s: %w", dir, unwrapPath(err))
	}
	if st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("device: state directory %s is mode %04o and cannot be made 0700: %w", dir, st.Mode().Perm(), unwrapPath(err))
		}
	}
	probe, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("device: state directory %s is not writable: %w", dir, unwrapPath(err))
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// openDB opens the state database, failing fast when another agent has it.
func openDB(dir string) (*bbolt.DB, error) {
	path := filepath.Join(dir, dbName)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w (%s is locked)", ErrAgentRunning, path)
	}
	if err != nil {
		return nil, fmt.Errorf("device: opening %s: %w", path, err)
	}
	// Bring a database written by an earlier release to this one's
	// layout before any package reads it.
	if _, err := schema.Migrate(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("device: %s: %w", path, err)
	}
	return db, nil
}

// openDBReadOnly opens the state database of a stopped agent for reading.
func openDBReadOnly(dir string) (*bbolt.DB, error) {
	path := filepath.Join(dir, dbName)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("device: no agent state in %s (start one with: doorward run --state %s): %w", dir, dir, unwrapPath(err))
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w, but it does not answer on %s", ErrAgentRunning, socketPath(dir))
	}
	if err != nil {
		return nil, fmt.Errorf("device: opening %s: %w", path, err)
	}
	if err := schema.Check(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("device: %s: %w", path, err)
	}
	return db, nil
}

// unwrapPath drops the *PathError wrapper, whose path the caller already names.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
