package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/doorward/doorward/capture"
)

// Signaler carries an offer and its live statement to a device (the LAN
// API, or the relay) and ends the session.
type Signaler interface {
	// WHEP posts the offer with the statement and returns the device's SDP
	// answer and the session's location.
	WHEP(ctx context.Context, statement, offer []byte) (answer []byte, location string, err error)
	// EndWHEP ends the session at location.
	EndWHEP(ctx context.Context, location string) error
}

// WatchOptions configure Watch.
type WatchOptions struct {
	// Sign returns the live statement binding binding (Binding of this
	// peer's own offer fingerprint).
	Sign   func(binding string) ([]byte, error)
	Signal Signaler
	// ICEServers and ICETransportPolicy as in Config; relay forces TURN.
	ICEServers         []ICEServer
	ICETransportPolicy string
	// Duration to watch; 0 watches until ctx is done or the device ends
	// the session.
	Duration time.Duration
	// MP4, when set, receives the stream as a fragmented MP4.
	MP4 io.Writer
	// OnFrame, when set, is called with every complete access unit
	// (Annex-B) from the first keyframe on.
	OnFrame func(au []byte, key bool)
	// Settings adjusts pion's setting engine (tests).
	Settings func(*webrtc.SettingEngine)
}

// Result is what a Watch saw.
type Result struct {
	// FirstFrame is the time from the start of Watch (before the offer)
	// to the first complete keyframe.
	FirstFrame time.Duration `json:"first_frame_ms"`
	Frames     int           `json:"frames"`
	Bytes      int64         `json:"bytes"`
	// FPS is frames per second of wall time from the first frame on.
	FPS float64 `json:"fps"`
	// Watched is the wall time from the first frame to the last.
	Watched time.Duration `json:"watched_ms"`
	Width   int           `json:"width"`
	Height  int           `json:"height"`
	// Candidates is the selected ICE pair ("host -> host", "relay -> prflx").
	Candidates string `json:"candidate_pair"`
	// Relayed is true when either side of the selected pair is a TURN relay.
	Relayed bool `json:"relayed"`
	// EndedByDevice is set when the device ended the session.
	EndedByDevice bool `json:"ended_by_device"`
	// LastFrame is when the last frame arrived.
	LastFrame time.Time `json:"-"`
}

// How long the viewer's ICE agent waits for a better pair before it
// nominates a server-reflexive or peer-reflexive one, and a relayed one.
const (
	acceptanceWait      = 100 * time.Millisecond
	relayAcceptanceWait = 150 * time.Millisecond
)

// ErrNoFrames means the session was set up but no frame arrived.
var ErrNoFrames = errors.New("live: no frames arrived")

// Watch makes an offer, has it signed and sent to the device, and receives
// the stream until the duration is over, ctx is done or the device ends
// the session; it then ends the session (DELETE) and returns what it saw.
func Watch(ctx context.Context, o WatchOptions) (Result, error) {
	begin := time.Now()
	var res Result
	m := &webrtc.MediaEngine{}
	for _, c := range h264Codecs {
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: h264Fmtp(c.profile),
				RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}},
			PayloadType: c.pt,
		}, webrtc.RTPCodecTypeVideo); err != nil {
			return res, fmt.Errorf("live: registering H.264: %w", err)
		}
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return res, fmt.Errorf("live: interceptors: %w", err)
	}
	se := webrtc.SettingEngine{}
	// pion, as the controlling agent, waits 2 s before it nominates a pair
	// through a TURN relay (500 ms for server-reflexive ones) in case a
	// better pair comes up: 2 s of black for every viewer through TURN. A
	// host pair on the LAN succeeds within milliseconds and is preferred
	// whenever it has by then; the short waits leave a direct pair through
	// NAT that long to win over the relay.
	se.SetSrflxAcceptanceMinWait(acceptanceWait)
	se.SetPrflxAcceptanceMinWait(acceptanceWait)
	se.SetRelayAcceptanceMinWait(relayAcceptanceWait)
	if o.Settings != nil {
		o.Settings(&se)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	cfg := webrtc.Configuration{}
	for _, s := range o.ICEServers {
		cfg.ICEServers = append(cfg.ICEServers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	if o.ICETransportPolicy == PolicyRelay {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := api.NewPeerConnection(cfg)
	if err != nil {
		return res, fmt.Errorf("live: peer connection: %w", err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return res, fmt.Errorf("live: transceiver: %w", err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return res, fmt.Errorf("live: offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return res, fmt.Errorf("live: offer: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(gatherTimeout):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	local := []byte(pc.LocalDescription().SDP)
	parsed, err := ParseOffer(local)
	if err != nil {
		return res, err
	}
	statement, err := o.Sign(Binding(parsed.Fingerprint))
	if err != nil {
		return res, err
	}

	rx := &receiver{begin: begin, opts: &o, frames: make(chan struct{}, 1)}
	ended := make(chan struct{})
	var endOnce sync.Once
	endNow := func() { endOnce.Do(func() { close(ended) }) }
	var wg sync.WaitGroup
	defer wg.Wait()
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer endNow()
			rx.read(t)
		}()
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			endNow()
		}
	})

	answer, location, err := o.Signal.WHEP(ctx, statement, local)
	if err != nil {
		return res, err
	}
	endSession := func() {
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		o.Signal.EndWHEP(ectx, location)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		endSession()
		return res, fmt.Errorf("live: the device's answer: %w", err)
	}

	var deadline <-chan time.Time
	firstWait := time.NewTimer(DefaultConnectTimeout)
	defer firstWait.Stop()
	for deadline == nil {
		select {
		case <-rx.frames:
			if o.Duration > 0 {
				deadline = time.After(o.Duration)
			} else {
				deadline = make(chan time.Time)
			}
		case <-firstWait.C:
			endSession()
			return res, fmt.Errorf("%w within %s", ErrNoFrames, DefaultConnectTimeout)
		case <-ended:
			return res, ErrNoFrames
		case <-ctx.Done():
			endSession()
			return res, ctx.Err()
		}
	}
	select {
	case <-deadline:
	case <-ctx.Done():
	case <-ended:
		res.EndedByDevice = true
	}
	if pair, err := selectedPair(pc); err == nil && pair != nil {
		res.Candidates = pair.Local.Typ.String() + " -> " + pair.Remote.Typ.String()
		res.Relayed = pair.Local.Typ == webrtc.ICECandidateTypeRelay || pair.Remote.Typ == webrtc.ICECandidateTypeRelay
	}
	if !res.EndedByDevice {
		endSession()
	}
	pc.Close()
	wg.Wait()
	if rx.mp4 != nil {
		if err := rx.mp4.flush(); err != nil {
			rx.setErr(err)
		}
	}
	rx.mu.Lock()
	defer rx.mu.Unlock()
	r := rx.res
	r.Candidates, r.Relayed, r.EndedByDevice = res.Candidates, res.Relayed, res.EndedByDevice
	if r.Frames > 1 && r.Watched > 0 {
		r.FPS = float64(r.Frames-1) / r.Watched.Seconds()
	}
	if rx.err != nil {
		return r, rx.err
	}
	return r, nil
}

func selectedPair(pc *webrtc.PeerConnection) (*webrtc.ICECandidatePair, error) {
	for _, tr := range pc.GetTransceivers() {
		if r := tr.Receiver(); r != nil && r.Transport() != nil {
			return r.Transport().ICETransport().GetSelectedCandidatePair()
		}
	}
	return nil, errors.New("live: no transport")
}

// receiver reassembles access units from RTP.
type receiver struct {
	begin  time.Time
	opts   *WatchOptions
	frames chan struct{} // gets a value at the first frame

	mu  sync.Mutex
	res Result
	err error

	// owned by read
	depack  codecs.H264Packet
	au      []byte
	broken  bool // a packet of the current access unit was lost
	started bool // a keyframe has been seen
	lastSeq uint16
	haveSeq bool
	firstAt time.Time
	mp4     *mp4Writer
	lastTS  uint32
}

func (rx *receiver) read(t *webrtc.TrackRemote) {
	var pkt rtp.Packet
	buf := make([]byte, 1600)
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			continue
		}
		if rx.haveSeq && pkt.SequenceNumber != rx.lastSeq+1 {
			rx.broken = true
			rx.depack = codecs.H264Packet{}
			rx.au = rx.au[:0]
		}
		rx.lastSeq, rx.haveSeq = pkt.SequenceNumber, true
		if len(rx.au) > 0 && pkt.Timestamp != rx.lastTS {
			// A new timestamp without the marker of the previous one.
			rx.broken, rx.au = true, rx.au[:0]
		}
		rx.lastTS = pkt.Timestamp
		nal, err := rx.depack.Unmarshal(pkt.Payload)
		if err == nil {
			rx.au = append(rx.au, nal...)
		} else {
			rx.broken = true
		}
		if pkt.Marker {
			rx.complete(pkt.Timestamp)
			rx.au, rx.broken = rx.au[:0], false
		}
	}
}

// complete handles one reassembled access unit.
func (rx *receiver) complete(ts uint32) {
	if rx.broken || len(rx.au) == 0 {
		if rx.broken {
			rx.started = false // wait for the next keyframe
		}
		return
	}
	key := false
	var sps, pps []byte
	for nalu, rest, ok := capture.NextNALU(rx.au); ok; nalu, rest, ok = capture.NextNALU(rest) {
		switch capture.NALType(nalu) {
		case capture.NALIDR:
			key = true
		case capture.NALSPS:
			sps = nalu
		case capture.NALPPS:
			pps = nalu
		}
	}
	if !rx.started && !key {
		return
	}
	rx.started = true
	now := time.Now()
	rx.mu.Lock()
	if rx.res.Frames == 0 {
		rx.res.FirstFrame = now.Sub(rx.begin)
		rx.firstAt = now
		select {
		case rx.frames <- struct{}{}:
		default:
		}
	}
	rx.res.Frames++
	rx.res.Bytes += int64(len(rx.au))
	rx.res.Watched = now.Sub(rx.firstAt)
	rx.res.LastFrame = now
	rx.mu.Unlock()
	if sps != nil && pps != nil && rx.res.Width == 0 {
		if w, h, err := pictureSize(sps, pps); err == nil {
			rx.mu.Lock()
			rx.res.Width, rx.res.Height = w, h
			rx.mu.Unlock()
		}
	}
	if rx.opts.OnFrame != nil {
		rx.opts.OnFrame(rx.au, key)
	}
	if rx.opts.MP4 != nil && rx.err == nil {
		if rx.mp4 == nil && key && sps != nil && pps != nil {
			w, err := newMP4Writer(rx.opts.MP4, sps, pps)
			if err != nil {
				rx.setErr(err)
				return
			}
			rx.mp4 = w
		}
		if rx.mp4 != nil {
			if err := rx.mp4.add(rx.au, key, ts); err != nil {
				rx.setErr(err)
			}
		}
	}
}

func (rx *receiver) setErr(err error) {
	rx.mu.Lock()
	if rx.err == nil {
		rx.err = err
	}
	rx.mu.Unlock()
}
