package device

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/doorward/doorward/consent/audit/auditlog"
	"github.com/doorward/doorward/device/clock"
)

// DeviceID returns the ID of the device with state directory dir: from
// the running agent, or from its key file when none runs.
func DeviceID(ctx context.Context, dir string) (string, error) {
	resp, err := Call(ctx, dir, ControlRequest{Op: "status"})
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

// PairCode returns the running agent's one-time pairing code and its QR
// code. Only an unpaired running agent has one.
func PairCode(ctx context.Context, dir string) (code, qr string, err error) {
	resp, err := Call(ctx, dir, ControlRequest{Op: "pair-code"})
	if errors.Is(err, ErrNoAgent) {
		return "", "", fmt.Errorf("%w with state %s: the pairing code exists only while an unpaired agent runs (doorward run --state %s)", ErrNoAgent, dir, dir)
	}
	if err != nil {
		return "", "", err
	}
	return resp.PairCode, resp.PairQR, nil
}

// Policy returns the trust policy of the running agent: the one the owner
// approved, or the one it proposes before pairing.
func Policy(ctx context.Context, dir string) (*PolicyInfo, error) {
	resp, err := Call(ctx, dir, ControlRequest{Op: "policy"})
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
func Audit(ctx context.Context, dir string) (*AuditInfo, error) {
	resp, err := Call(ctx, dir, ControlRequest{Op: "audit"})
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
	return &AuditInfo{Entries: entries}, nil
}
