package device

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/vault"
	"github.com/doorward/doorward/consent/audit/auditlog"
	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/device/clock"
	"github.com/doorward/doorward/device/lanapi"
	"go.etcd.io/bbolt"
)

// DeviceID returns the ID of the device with state directory dir: from
// the running agent, or from its key file when none runs.
func DeviceID(ctx context.Context, dir string) (string, error) {
	resp, err := Call(ctx, dir, api.ControlRequest{Op: api.OpStatus})
	if err == nil {
		return resp.Status.DeviceID, nil
	}
	if !errors.Is(err, ErrNoAgent) {
		return "", err
	}
	path := filepath.Join(dir, keyFileName)
	f, err := readIdentityFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("device: no device key in %s yet: the agent creates it on its first run (doorward run --state %s)", dir, dir)
	}
	if err != nil {
		return "", err
	}
	id, err := f.identity(path)
	if err != nil {
		return "", err
	}
	return id.ID(), nil
}

// Pairing is what pairing with the running agent takes: the one-time
// code, the LAN API's URL, the pairing URI holding both, and its QR code.
type Pairing struct {
	Code, URL, URI, QR string
}

// PairCode returns the running agent's one-time pairing code, its URL, the
// pairing URI and its QR code. Only an unpaired running agent has one.
func PairCode(ctx context.Context, dir string) (Pairing, error) {
	resp, err := Call(ctx, dir, api.ControlRequest{Op: api.OpPairCode})
	if errors.Is(err, ErrNoAgent) {
		return Pairing{}, fmt.Errorf("%w with state %s: the pairing code exists only while an unpaired agent runs (doorward run --state %s)", ErrNoAgent, dir, dir)
	}
	if err != nil {
		return Pairing{}, err
	}
	return Pairing{Code: resp.PairCode, URL: resp.PairURL, URI: resp.PairURI, QR: resp.PairQR}, nil
}

// Policy returns the trust policy of the running agent: the one the owner
// approved, or the one it proposes before pairing.
func Policy(ctx context.Context, dir string) (*api.PolicyInfo, error) {
	resp, err := Call(ctx, dir, api.ControlRequest{Op: api.OpPolicy})
	if errors.Is(err, ErrNoAgent) {
		return nil, fmt.Errorf("%w with state %s: start it to read its policy (doorward run --state %s)", ErrNoAgent, dir, dir)
	}
	if err != nil {
		return nil, err
	}
	return resp.Policy, nil
}

// Audit returns the audit log: from the running agent with a signed
// checkpoint, or, when none runs, the entries read from its database (a
// checkpoint is signed only by the running agent).
func Audit(ctx context.Context, dir string) (*api.AuditLog, error) {
	resp, err := Call(ctx, dir, api.ControlRequest{Op: api.OpAudit})
	if err == nil {
		return resp.Audit, nil
	}
	if !errors.Is(err, ErrNoAgent) {
		return nil, err
	}
	path := filepath.Join(dir, keyFileName)
	f, err := readIdentityFile(path)
	if err != nil {
		return nil, fmt.Errorf("device: no device key in %s: %w", dir, err)
	}
	id, err := f.identity(path)
	if err != nil {
		return nil, err
	}
	db, err := openDBReadOnly(dir)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	log, err := auditlog.Open(db, id, clock.Real{})
	if err != nil {
		return nil, err
	}
	size, err := log.Size()
	if err != nil {
		return nil, err
	}
	entries, err := log.Entries(0, size)
	if err != nil {
		return nil, err
	}
	return &api.AuditLog{Entries: entries}, nil
}

// ErrNoAgent means no agent answers on the state directory's control socket.
var ErrNoAgent = lanapi.ErrNoAgent

// Call sends req to the agent running with state directory dir. It returns
// ErrNoAgent (wrapped) when none runs, and never blocks for more than a few
// seconds.
func Call(ctx context.Context, dir string, req api.ControlRequest) (api.ControlResponse, error) {
	resp, err := lanapi.Call(ctx, socketPath(dir), req)
	if errors.Is(err, ErrNoAgent) {
		return resp, fmt.Errorf("%w with state %s", ErrNoAgent, dir)
	}
	return resp, err
}

// Trigger asks the running agent to record an event.
func Trigger(ctx context.Context, dir string, kind capture.EventKind) error {
	_, err := Call(ctx, dir, api.ControlRequest{Op: api.OpTrigger, Event: string(kind)})
	if errors.Is(err, ErrNoAgent) {
		return fmt.Errorf("%w with state %s: start one first (doorward run --state %s)", ErrNoAgent, dir, dir)
	}
	return err
}

// ListClips returns the clips of the agent with state directory dir: from
// the running agent, or from the database when none runs. An agent that is
// still starting (it holds the database but does not answer yet) is waited
// for until ctx is done.
func ListClips(ctx context.Context, dir string) ([]api.Clip, error) {
	for {
		resp, err := Call(ctx, dir, api.ControlRequest{Op: api.OpClips})
		if err == nil {
			return resp.Clips, nil
		}
		if !errors.Is(err, ErrNoAgent) {
			return nil, err
		}
		clips, err := listClipsOffline(dir)
		if !errors.Is(err, ErrAgentRunning) {
			return clips, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func listClipsOffline(dir string) ([]api.Clip, error) {
	db, err := openDBReadOnly(dir)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var clips []vault.Clip
	err = db.View(func(tx *bbolt.Tx) error {
		var err error
		clips, err = vault.ListClips(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("device: reading clip index: %w", err)
	}
	for i := range clips {
		clips[i].Path = filepath.Join(dir, clipsDir, clips[i].Dir)
	}
	return clipsOf(clips), nil
}

// ListEvents returns the sensor events without video of the agent with
// state directory dir: from the running agent, or from the database when
// none runs.
func ListEvents(ctx context.Context, dir string) ([]api.Event, error) {
	for {
		resp, err := Call(ctx, dir, api.ControlRequest{Op: api.OpEvents})
		if err == nil {
			return resp.Events, nil
		}
		if !errors.Is(err, ErrNoAgent) {
			return nil, err
		}
		evs, err := listEventsOffline(dir)
		if !errors.Is(err, ErrAgentRunning) {
			return evs, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func listEventsOffline(dir string) ([]api.Event, error) {
	db, err := openDBReadOnly(dir)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var evs []vault.Event
	err = db.View(func(tx *bbolt.Tx) error {
		var err error
		evs, err = vault.ListEvents(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("device: reading the event log: %w", err)
	}
	return eventsOf(evs), nil
}
