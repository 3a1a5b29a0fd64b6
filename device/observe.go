package device

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/doorward/doorward/device/gate"
	"github.com/doorward/doorward/device/metrics"
)

// metricsServer serves GET /metrics when metrics.listen is set.
type metricsServer struct {
	m   *metrics.Metrics
	ln  net.Listener
	srv *http.Server
}

// openMetrics registers the agent's metrics and listens on addr (config
// checked it is loopback unless metrics.allow_remote); nil when addr is
// empty.
func (a *Agent) openMetrics(addr string) (*metricsServer, error) {
	if addr == "" {
		return nil, nil
	}
	src := metrics.Sources{
		Bus: a.bus, Frames: a.hub.Frames, FramesDropped: a.hub.Dropped,
		StoredBytes: func() int64 {
			if v := a.currentVault(); v != nil {
				return v.TotalBytes()
			}
			return 0
		},
		UploadQueue: a.unfinishedJobs,
		Version:     a.opts.Version, Board: a.opts.Board.Name,
	}
	if a.up != nil {
		s := a.up.session
		src.MQTT = func() metrics.MQTTState {
			st := s.Outbox().Stats()
			return metrics.MQTTState{Connected: s.Connected(), OutboxMessages: st.Queued, OutboxBytes: st.Bytes, OutboxDropped: st.Dropped}
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, errors.New("device: metrics.listen " + addr + ": " + err.Error())
	}
	m := metrics.New(src)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	a.log.Info("metrics on http://"+ln.Addr().String()+"/metrics", "listen", ln.Addr().String())
	return &metricsServer{m: m, ln: ln, srv: srv}, nil
}

// run counts the bus's events and serves until ctx is done.
func (s *metricsServer) run(ctx context.Context) {
	if s == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.m.Run(ctx)
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.srv.Shutdown(sctx)
	}()
	s.srv.Serve(s.ln) // returns http.ErrServerClosed after Shutdown
	<-done
}

// close releases the listener of a server that never ran.
func (s *metricsServer) close() {
	if s != nil {
		s.srv.Close()
		s.ln.Close()
	}
}

// unfinishedJobs counts the disclosure jobs pending or running (a job
// whose notice is delayed is not listed, so not counted).
func (a *Agent) unfinishedJobs() (int, error) {
	n, after := 0, ""
	for {
		jobs, next, err := a.gate.Jobs(gate.JobQuery{After: after, Limit: gate.MaxJobPage, Unfinished: true})
		if err != nil {
			return 0, err
		}
		n += len(jobs)
		if next == "" {
			return n, nil
		}
		after = next
	}
}
