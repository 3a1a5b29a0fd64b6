package lanapi

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
	"sync"
	"syscall"
	"time"

	"github.com/doorward/doorward/device/api"
)

// Controller answers control-socket requests; the agent implements it.
type Controller interface {
	Control(ctx context.Context, req api.ControlRequest) api.ControlResponse
}

// controlDeadline bounds one control connection.
const controlDeadline = 5 * time.Second

// ControlServer serves the control socket: one JSON request line, one JSON
// answer line, per connection.
type ControlServer struct {
	ln   net.Listener
	path string
	h    Controller
	log  *slog.Logger

	wg        sync.WaitGroup // connections in progress
	closeOnce sync.Once
}

// afterControlListen, for tests, sees the socket the moment it exists.
var afterControlListen func(path string)

// ListenControl listens on the unix socket path with mode 0600 (created
// under umask 077, never chmod'ed afterwards), removing a
// stale socket first (the caller holds the state database's lock, so no
// other agent owns it).
func ListenControl(path string, h Controller, log *slog.Logger) (*ControlServer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("lanapi: removing stale %s: %w", path, err)
	}
	ln, err := listenPrivateUnix(path)
	if err != nil {
		return nil, fmt.Errorf("lanapi: control socket: %w", err)
	}
	if afterControlListen != nil {
		afterControlListen(path)
	}
	return &ControlServer{ln: ln, path: path, h: h, log: log}, nil
}

// Serve answers requests until ctx ends, then closes the socket, waits for
// the requests in progress and removes the socket file.
func (s *ControlServer) Serve(ctx context.Context) {
	stop := context.AfterFunc(ctx, s.Close)
	defer stop()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			break // closed
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(ctx, conn)
		}()
	}
	s.Close()
}

func (s *ControlServer) handle(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(controlDeadline))
	var resp api.ControlResponse
	line, err := bufio.NewReader(io.LimitReader(conn, api.MaxControlRequest)).ReadBytes('\n')
	var req api.ControlRequest
	if err != nil && !errors.Is(err, io.EOF) {
		resp.Error = "device: reading control request: " + err.Error()
	} else if err := json.Unmarshal(line, &req); err != nil {
		resp.Error = "device: control request is not valid JSON: " + err.Error()
	} else {
		resp = s.h.Control(ctx, req)
	}
	json.NewEncoder(conn).Encode(resp)
}

// Close stops accepting, waits for the requests in progress and removes
// the socket. It may be called any number of times, also from Serve's
// context ending.
func (s *ControlServer) Close() {
	s.closeOnce.Do(func() {
		s.ln.Close()
		s.wg.Wait()
		os.Remove(s.path)
	})
}

// ErrNoAgent means no agent answers on the control socket.
var ErrNoAgent = errors.New("device: no agent is running")

// Call sends req to the agent listening on the control socket path. It
// returns ErrNoAgent (wrapped) when none listens, and gives up after a few
// seconds. A response with OK false is returned with its Error as the
// error.
func Call(ctx context.Context, path string, req api.ControlRequest) (api.ControlResponse, error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return api.ControlResponse{}, ErrNoAgent
		}
		return api.ControlResponse{}, fmt.Errorf("device: control socket %s: %w", path, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return api.ControlResponse{}, fmt.Errorf("device: control socket %s: %w", path, err)
	}
	var resp api.ControlResponse
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		return api.ControlResponse{}, fmt.Errorf("device: control socket %s: no answer: %w", path, err)
	}
	if !resp.OK {
		return resp, errors.New(resp.Error)
	}
	return resp, nil
}
