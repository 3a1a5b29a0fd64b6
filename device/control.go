package device

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/vault"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
)

// ControlRequest is one request on the control socket: a JSON object on one
// line; the agent answers with one ControlResponse line and closes.
type ControlRequest struct {
	Op    string `json:"op"`              // "trigger", "clips", "status"
	Event string `json:"event,omitempty"` // for trigger: motion or ring
}

// ControlResponse is the agent's answer.
type ControlResponse struct {
	OK       bool        `json:"ok"`
	Error    string      `json:"error,omitempty"`
	Clips    []ClipInfo  `json:"clips,omitempty"`
	Events   []EventInfo `json:"events,omitempty"`
	Status   *StatusInfo `json:"status,omitempty"`
	PairCode string      `json:"pair_code,omitempty"`
	PairQR   string      `json:"pair_qr,omitempty"`
	Policy   *PolicyInfo `json:"policy,omitempty"`
	Audit    *AuditInfo  `json:"audit,omitempty"`
}

// PolicyInfo is the trust policy in force, or the proposed one before
// pairing (Approved false).
type PolicyInfo struct {
	Policy   consent.Policy `json:"policy"`
	Hash     string         `json:"hash"`
	Approved bool           `json:"approved"`
}

// AuditInfo is the whole audit log with a signed checkpoint.
type AuditInfo struct {
	Checkpoint string        `json:"checkpoint"`
	Entries    []audit.Entry `json:"entries"`
}

// ClipInfo is how commands show a clip.
type ClipInfo struct {
	ID       string    `json:"id"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Duration float64   `json:"duration"` // seconds
	Size     int64     `json:"size"`     // bytes on disk, encrypted
	Trigger  string    `json:"trigger"`
	Path     string    `json:"path"` // the clip's directory
	Segments int       `json:"segments"`
	// Recording is true while the clip is still being written.
	Recording bool `json:"recording,omitempty"`
}

// EventInfo is a sensor event that has no video, with a note saying why
// (the camera was stalled when it happened).
type EventInfo struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"` // motion | ring
	Note string    `json:"note"`
}

func eventInfos(evs []vault.Event) []EventInfo {
	out := make([]EventInfo, 0, len(evs))
	for _, e := range evs {
		out = append(out, EventInfo{Time: e.Time, Kind: e.Kind, Note: e.Note})
	}
	return out
}

// StatusInfo describes the running agent.
type StatusInfo struct {
	DeviceID  string `json:"device_id"`
	Board     string `json:"board"`
	Version   string `json:"version"`
	Recording bool   `json:"recording"`
	StateDir  string `json:"state_dir"`
	Paired    bool   `json:"paired"`
	Listen    string `json:"listen"`
}

func clipInfos(clips []vault.Clip) []ClipInfo {
	out := make([]ClipInfo, 0, len(clips))
	for _, c := range clips {
		out = append(out, ClipInfo{
			ID: c.ID, Start: c.Start, End: c.End, Duration: c.Duration().Seconds(), Size: c.Size,
			Trigger: c.Trigger, Path: c.Path, Segments: c.Segments, Recording: c.Recording,
		})
	}
	return out
}

// maxControlRequest bounds a control request line.
const maxControlRequest = 4096

// controlHandler answers control requests; the agent implements it.
type controlHandler interface {
	control(req ControlRequest) ControlResponse
}

// controlServer listens on the state directory's unix socket.
type controlServer struct {
	ln  net.Listener
	h   controlHandler
	log *slog.Logger
	wg  sync.WaitGroup
}

// listenControl removes a stale socket (the caller holds the database lock,
// so no other agent owns it) and listens with mode 0600.
func listenControl(dir string, h controlHandler, log *slog.Logger) (*controlServer, error) {
	path := filepath.Join(dir, socketName)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("device: removing stale %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("device: control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("device: control socket: %w", err)
	}
	return &controlServer{ln: ln, h: h, log: log}, nil
}

func (s *controlServer) serve() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(conn)
		}()
	}
}

func (s *controlServer) handle(conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var resp ControlResponse
	line, err := bufio.NewReader(io.LimitReader(conn, maxControlRequest)).ReadBytes('\n')
	var req ControlRequest
	if err != nil && !errors.Is(err, io.EOF) {
		resp.Error = "device: reading control request: " + err.Error()
	} else if err := json.Unmarshal(line, &req); err != nil {
		resp.Error = "device: control request is not valid JSON: " + err.Error()
	} else {
		resp = s.h.control(req)
	}
	json.NewEncoder(conn).Encode(resp)
}

// close stops accepting, waits for requests in progress and removes the socket.
func (s *controlServer) close() {
	path := s.ln.Addr().String()
	s.ln.Close()
	s.wg.Wait()
	os.Remove(path)
}

// ErrNoAgent means no agent answers on the state directory's control socket.
var ErrNoAgent = errors.New("device: no agent is running")

// Call sends req to the agent running with state directory dir. It returns
// ErrNoAgent (wrapped) when none runs, and never blocks for more than a few
// seconds.
func Call(ctx context.Context, dir string, req ControlRequest) (ControlResponse, error) {
	path := filepath.Join(dir, socketName)
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return ControlResponse{}, fmt.Errorf("%w with state %s", ErrNoAgent, dir)
		}
		return ControlResponse{}, fmt.Errorf("device: control socket %s: %w", path, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return ControlResponse{}, fmt.Errorf("device: control socket %s: %w", path, err)
	}
	var resp ControlResponse
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		return ControlResponse{}, fmt.Errorf("device: control socket %s: no answer: %w", path, err)
	}
	if !resp.OK {
		return resp, errors.New(resp.Error)
	}
	return resp, nil
}

// Trigger asks the running agent to record an event.
func Trigger(ctx context.Context, dir string, kind capture.EventKind) error {
	_, err := Call(ctx, dir, ControlRequest{Op: "trigger", Event: string(kind)})
	if errors.Is(err, ErrNoAgent) {
		return fmt.Errorf("%w with state %s: start one first (doorward run --state %s)", ErrNoAgent, dir, dir)
	}
	return err
}

// ListClips returns the clips of the agent with state directory dir: from
// the running agent, or from the database when none runs. An agent that is
// still starting (it holds the database but does not answer yet) is waited
// for until ctx is done.
func ListClips(ctx context.Context, dir string) ([]ClipInfo, error) {
	for {
		resp, err := Call(ctx, dir, ControlRequest{Op: "clips"})
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

// ListEvents returns the sensor events without video of the agent with
// state directory dir: from the running agent, or from the database when
// none runs.
func ListEvents(ctx context.Context, dir string) ([]EventInfo, error) {
	for {
		resp, err := Call(ctx, dir, ControlRequest{Op: "events"})
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

func listEventsOffline(dir string) ([]EventInfo, error) {
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
	return eventInfos(evs), nil
}

func listClipsOffline(dir string) ([]ClipInfo, error) {
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
	return clipInfos(clips), nil
}
