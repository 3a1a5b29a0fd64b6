package live

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"

	"github.com/doorward/doorward/capture"
)

// Feed is what the server needs from the capture Hub.
type Feed interface {
	// SubscribeFromKey subscribes with a bounded queue and returns the
	// current GOP, so a viewer starts at the latest keyframe.
	SubscribeFromKey(buffer int) (*capture.Subscription, capture.GOP)
	// Params returns the SPS and PPS in force.
	Params() (sps, pps []byte)
}

var _ Feed = (*capture.Hub)(nil)

// Authorizer checks a live statement bound to an offer (the gate).
type Authorizer interface {
	// AuthorizeLive verifies statement (single use, lifetime, signer
	// allowed to watch now) and that it binds binding (Binding of the
	// offer's fingerprint), and records the session's start. Refusals
	// carry a consent reason code.
	AuthorizeLive(statement []byte, binding string) (Authority, error)
}

// Authority is one authorized session as the gate sees it.
type Authority interface {
	// ID names the session in the audit log.
	ID() string
	// Viewer names who watches (an owner or grantee key id).
	Viewer() string
	// Done is closed when the authority ends (revocation, owner removed).
	Done() <-chan struct{}
	// End records the session's end with a reason.
	End(reason string) error
}

// Errors callers branch on.
var (
	// ErrTooManyViewers means live.max_viewers sessions are running.
	ErrTooManyViewers = errors.New("live: too many viewers")
	// ErrUnknownSession means no running session has that id.
	ErrUnknownSession = errors.New("live: no such session")
	// ErrClosed means the server is shutting down.
	ErrClosed = errors.New("live: server closed")
)

// Reasons a session ends, as recorded in the audit log.
const (
	EndViewer       = "viewer-ended"      // DELETE on the session
	EndAuthority    = "authority-ended"   // revoked, or the owner removed
	EndDisconnected = "peer-disconnected" // ICE or DTLS failed or closed
	EndNoConnect    = "connect-timeout"   // the viewer never connected
	EndShutdown     = "device-shutdown"   // the server closed
	EndSetupFailed  = "setup-failed"      // the answer could not be made
)

// Defaults for Options.
const (
	DefaultConnectTimeout = 20 * time.Second
	DefaultQueue          = 90 // frames per viewer: 3 s at 30 fps
	// catchUp is how many times faster than real time a new viewer is
	// sent the GOP it joins in, until it has caught up.
	catchUp = 8
)

// Options configure a Server.
type Options struct {
	Config Config
	Feed   Feed
	Auth   Authorizer
	Log    *slog.Logger
	// ConnectTimeout bounds offer → media flowing; 0 means
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Queue is each viewer's Hub queue in frames; 0 means DefaultQueue.
	Queue int
	// Settings adjusts pion's setting engine (tests: network types).
	Settings func(*webrtc.SettingEngine)

	// sendDelay, set by tests only, slows the sender of the session whose
	// authority has that id: a viewer that cannot keep up.
	sendDelay func(authorityID string) time.Duration
	// onSent, set by benchmarks only, sees each frame once it is sent.
	onSent func(capture.Frame)
	// lose, set by tests only, makes the first sending of the RTP packets
	// it returns true for never leave: a lossy link.
	lose func(seq uint16) bool
}

// Server answers WHEP offers and runs the sessions. Close ends them all.
type Server struct {
	opts Options
	log  *slog.Logger
	api  *webrtc.API

	packets packetCache // each frame packetized once for every viewer
	udp     *batchConn  // the host candidates' socket
	mux     ice.UDPMux  // on udp

	mu       sync.Mutex
	sessions map[string]*session
	pending  int
	closed   bool
	wg       sync.WaitGroup

	closeOnce sync.Once // closes mux

	started, ended atomic.Uint64
}

// New returns a server; it serves nothing until Offer is called.
func New(opts Options) (*Server, error) {
	if err := validate(opts.Config); err != nil {
		return nil, err
	}
	if opts.Feed == nil || opts.Auth == nil {
		return nil, errors.New("live: Options.Feed and Options.Auth are required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.Queue <= 0 {
		opts.Queue = DefaultQueue
	}
	// One UDP socket for every session's host candidates, instead of one
	// per session and interface, batching each frame's packets.
	conn, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		return nil, fmt.Errorf("live: the media socket: %w", err)
	}
	udp := newBatchConn(conn)
	logs := logging.NewDefaultLoggerFactory()
	logs.DefaultLogLevel = logging.LogLevelError // the mux warns of the unspecified address it is meant for
	mux := webrtc.NewICEUDPMux(logs.NewLogger("ice"), udp)
	api, err := newAPI(func(se *webrtc.SettingEngine) {
		se.SetICEUDPMux(mux)
		if opts.Settings != nil {
			opts.Settings(se)
		}
	})
	if err != nil {
		mux.Close()
		return nil, err
	}
	return &Server{opts: opts, log: opts.Log, api: api, udp: udp, mux: mux, sessions: map[string]*session{}}, nil
}

// h264Codecs are the H.264 variants the device can negotiate: the stream
// is passed through, so the viewer must accept the camera's profile; the
// track picks the variant matching the SPS in force.
var h264Codecs = []struct {
	pt      webrtc.PayloadType
	profile string
}{{102, "42001f"}, {106, "42e01f"}, {108, "4d001f"}, {112, "64001f"}, {127, "f4001f"}}

func h264Fmtp(profile string) string {
	return "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profile
}

// newAPI builds a pion API that sends H.264 only.
func newAPI(settings func(*webrtc.SettingEngine)) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	// NACKs are answered from each session's history of shared payloads;
	// PLI and FIR cannot be (the camera makes the keyframes) but viewers
	// expect to be able to send them. No congestion control feedback: the
	// stream's rate is the camera's.
	fb := []webrtc.RTCPFeedback{{Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	for _, c := range h264Codecs {
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: h264Fmtp(c.profile), RTCPFeedback: fb},
			PayloadType:        c.pt,
		}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("live: registering H.264: %w", err)
		}
	}
	// Of pion's default interceptors only the sender reports: its NACK
	// responder copies every packet of every viewer into a buffer of its
	// own, and the stats, TWCC and simulcast ones do per-packet work the
	// device does not use.
	ir := &interceptor.Registry{}
	sr, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, fmt.Errorf("live: interceptors: %w", err)
	}
	ir.Add(sr)
	se := webrtc.SettingEngine{}
	// A viewer that vanishes without DELETE is noticed in seconds.
	se.SetICETimeouts(4*time.Second, 8*time.Second, time.Second)
	if settings != nil {
		settings(&se)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// Answer is the server's reply to an accepted offer.
type Answer struct {
	SDP string
	// ID names the session (the WHEP resource is /api/v1/whep/{ID}); it is
	// 128 random bits, so knowing it is the capability to end it.
	ID string
}

// Offer authorizes statement for the offer and, when it verifies, starts a
// session and returns the SDP answer (ICE candidates gathered, no trickle).
// The statement is checked only after the offer parses and a viewer slot is
// free, so an unusable offer does not burn a statement's jti.
func (s *Server) Offer(ctx context.Context, statement, offerSDP []byte) (Answer, error) {
	offer, err := ParseOffer(offerSDP)
	if err != nil {
		return Answer{}, err
	}
	if err := s.reserve(); err != nil {
		return Answer{}, err
	}
	reserved := true
	defer func() {
		if reserved {
			s.release()
		}
	}()
	auth, err := s.opts.Auth.AuthorizeLive(statement, Binding(offer.Fingerprint))
	if err != nil {
		return Answer{}, err
	}
	sess, answer, err := s.start(ctx, offer, auth)
	if err != nil {
		if endErr := auth.End(EndSetupFailed); endErr != nil {
			s.log.Error("live: recording a session's end", "session", auth.ID(), "err", endErr)
		}
		return Answer{}, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		sess.stop(EndShutdown)
		sess.finish()
		return Answer{}, ErrClosed
	}
	s.pending--
	reserved = false
	s.sessions[sess.id] = sess
	s.wg.Add(1)
	s.mu.Unlock()
	s.started.Add(1)
	go func() {
		defer s.wg.Done()
		sess.run()
		s.mu.Lock()
		delete(s.sessions, sess.id)
		s.mu.Unlock()
		s.ended.Add(1)
	}()
	s.log.Info("live: session started", "session", sess.id, "viewer", auth.Viewer())
	return Answer{SDP: answer, ID: sess.id}, nil
}

func (s *Server) reserve() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if max := maxViewers(s.opts.Config); len(s.sessions)+s.pending >= max {
		return fmt.Errorf("%w: %d of live.max_viewers %d are watching", ErrTooManyViewers, len(s.sessions)+s.pending, max)
	}
	s.pending++
	return nil
}

func (s *Server) release() {
	s.mu.Lock()
	s.pending--
	s.mu.Unlock()
}

// End ends session id as the viewer asked (WHEP DELETE) and waits until it
// has ended.
func (s *Server) End(id string) error {
	s.mu.Lock()
	sess, ok := s.sessions[id]
	s.mu.Unlock()
	if !ok {
		return ErrUnknownSession
	}
	sess.stop(EndViewer)
	<-sess.done
	return nil
}

// SessionInfo describes a running session.
type SessionInfo struct {
	ID, Viewer string
	Started    time.Time
	Frames     uint64 // frames sent
	Bytes      uint64 // H.264 bytes sent
	Dropped    uint64 // frames the Hub skipped for this viewer (fell behind)
	Resent     uint64 // RTP packets sent again because the viewer lost them (NACK)
}

// Sessions lists the running sessions.
func (s *Server) Sessions() []SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SessionInfo, 0, len(s.sessions))
	for _, sess := range s.sessions {
		out = append(out, sess.info())
	}
	return out
}

// Close ends every session and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	all := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		all = append(all, sess)
	}
	s.mu.Unlock()
	for _, sess := range all {
		sess.stop(EndShutdown)
	}
	s.wg.Wait()
	s.closeOnce.Do(func() { s.mux.Close() })
	return nil
}

// newID returns 128 random bits in hex.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func randUint32() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
