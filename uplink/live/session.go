package live

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/doorward/doorward/capture"
)

// gatherTimeout bounds ICE gathering (STUN and TURN servers that do not
// answer); the answer then carries the candidates found so far.
const gatherTimeout = 5 * time.Second

// session is one viewer. run owns the sending state.
type session struct {
	srv     *Server
	id      string
	auth    Authority
	pc      *webrtc.PeerConnection
	track   *webrtc.TrackLocalStaticRTP
	sender  *webrtc.RTPSender
	started time.Time

	stopOnce sync.Once
	stopCh   chan struct{}
	connOnce sync.Once
	conn     chan struct{} // closed when ICE and DTLS are up: SRTP can carry media
	reason   string        // set before stopCh closes
	done     chan struct{}
	rtcpDone chan struct{}

	frames, bytes atomic.Uint64
	resent        atomic.Uint64 // packets sent again on a NACK
	sub           atomic.Pointer[capture.Subscription]

	hist history // sent packets, for NACKs

	// owned by run
	seq     uint16
	ts      uint32
	lastPTS time.Duration
	havePTS bool
	pkt     rtp.Packet
}

// start creates the peer connection and answers offer.
func (s *Server) start(ctx context.Context, offer Offer, auth Authority) (*session, string, error) {
	cfg := webrtc.Configuration{}
	for _, ice := range s.opts.Config.ICEServers {
		cfg.ICEServers = append(cfg.ICEServers, webrtc.ICEServer{URLs: ice.URLs, Username: ice.Username, Credential: ice.Credential})
	}
	if s.opts.Config.ICETransportPolicy == PolicyRelay {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := s.api.NewPeerConnection(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("live: peer connection: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			pc.Close()
		}
	}()
	capability := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000}
	if sps, _ := s.opts.Feed.Params(); len(sps) >= 4 {
		capability.SDPFmtpLine = h264Fmtp(hex.EncodeToString(sps[1:4]))
	}
	id := newID()
	track, err := webrtc.NewTrackLocalStaticRTP(capability, "video", "doorward")
	if err != nil {
		return nil, "", fmt.Errorf("live: track: %w", err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.SDP}); err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		return nil, "", fmt.Errorf("%w: cannot send H.264 to it: %v", ErrBadOffer, err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return nil, "", fmt.Errorf("live: local description: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(gatherTimeout):
		s.log.Warn("live: ICE gathering did not complete; answering with the candidates found so far", "session", id)
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
	sess := &session{
		srv: s, id: id, auth: auth, pc: pc, track: track, sender: sender, started: time.Now(),
		stopCh: make(chan struct{}), conn: make(chan struct{}), done: make(chan struct{}), rtcpDone: make(chan struct{}),
	}
	sess.seq = uint16(randUint32())
	sess.ts = randUint32()
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			// The track is bound at SetLocalDescription, but packets sent
			// before DTLS completes are lost: the first keyframe waits.
			sess.connOnce.Do(func() { close(sess.conn) })
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			sess.stop(EndDisconnected)
		}
	})
	// The viewer's RTCP: NACKs are answered from the session's history.
	go func() {
		defer close(sess.rtcpDone)
		var pkt rtp.Packet
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if nack, ok := p.(*rtcp.TransportLayerNack); ok {
					sess.resend(nack, &pkt)
				}
			}
		}
	}()
	ok = true
	return sess, pc.LocalDescription().SDP, nil
}

func (s *session) stop(reason string) {
	s.stopOnce.Do(func() {
		s.reason = reason
		close(s.stopCh)
	})
}

func (s *session) info() SessionInfo {
	in := SessionInfo{ID: s.id, Viewer: s.auth.Viewer(), Started: s.started, Frames: s.frames.Load(), Bytes: s.bytes.Load(),
		Resent: s.resent.Load()}
	if sub := s.sub.Load(); sub != nil {
		in.Dropped = sub.Dropped()
	}
	return in
}

// run sends frames until the session ends, then tears it down.
func (s *session) run() {
	defer s.finish()
	connect := time.NewTimer(s.srv.opts.ConnectTimeout)
	defer connect.Stop()
	select {
	case <-s.conn:
	case <-s.stopCh:
		return
	case <-s.auth.Done():
		s.stop(EndAuthority)
		return
	case <-connect.C:
		s.stop(EndNoConnect)
		return
	}
	sub, gop := s.srv.opts.Feed.SubscribeFromKey(s.srv.opts.Queue)
	s.sub.Store(sub)
	defer sub.Close()
	sps, pps := gop.SPS, gop.PPS
	wait := time.NewTimer(0)
	<-wait.C
	defer wait.Stop()
	var due time.Time
	// pace waits until the frame is due when catching up: the GOP the
	// viewer joined in, and a backlog in its queue, go catchUp times
	// faster than real time.
	pace := func(f capture.Frame, fast bool) bool {
		now := time.Now()
		if !fast || !s.havePTS {
			due = now
			return true
		}
		due = due.Add((f.PTS - s.lastPTS) / catchUp)
		if d := due.Sub(now); d > 0 {
			wait.Reset(d)
			select {
			case <-wait.C:
			case <-s.stopCh:
				return false
			case <-s.auth.Done():
				s.stop(EndAuthority)
				return false
			}
		} else if d < -time.Second {
			due = now
		}
		return true
	}
	for _, f := range gop.Frames {
		if !pace(f, true) {
			return
		}
		if err := s.send(f, sps, pps, true); err != nil {
			s.stop(EndDisconnected)
			return
		}
	}
	for {
		select {
		case f, ok := <-sub.C():
			if !ok {
				s.stop(EndShutdown)
				return
			}
			if f.Key {
				sps, pps = s.srv.opts.Feed.Params()
			}
			fast := len(sub.C()) > 0
			if !pace(f, fast) {
				return
			}
			if err := s.send(f, sps, pps, fast); err != nil {
				s.stop(EndDisconnected)
				return
			}
		case <-s.stopCh:
			return
		case <-s.auth.Done():
			s.stop(EndAuthority)
			return
		}
	}
}

// finish closes the peer connection and records the end.
func (s *session) finish() {
	s.stop(EndShutdown) // no-op when already stopped
	if err := s.pc.Close(); err != nil {
		s.srv.log.Debug("live: closing a peer connection", "session", s.id, "err", err)
	}
	<-s.rtcpDone
	if err := s.auth.End(s.reason); err != nil {
		s.srv.log.Error("live: recording a session's end", "session", s.id, "err", err)
	}
	s.srv.log.Info("live: session ended", "session", s.id, "reason", s.reason, "frames", s.frames.Load())
	close(s.done)
}

// send packetizes one access unit into RTP. Keyframes without inline
// parameter sets get the ones in force first. fast compresses the
// timestamp step, for frames sent faster than real time.
func (s *session) send(f capture.Frame, sps, pps []byte, fast bool) error {
	if d := s.srv.opts.sendDelay; d != nil {
		time.Sleep(d(s.auth.ID()))
	}
	var step time.Duration
	if s.havePTS {
		step = max(f.PTS-s.lastPTS, 0)
		if fast {
			step /= catchUp
		}
	}
	ticks := uint32(step * 90000 / time.Second)
	if s.havePTS && ticks == 0 {
		ticks = 1
	}
	s.ts += ticks
	s.lastPTS, s.havePTS = f.PTS, true

	p := s.srv.packets.get(f, sps, pps)
	defer s.srv.udp.flush() // the frame leaves in one batch
	for i, payload := range p.payloads {
		marker := i == len(p.payloads)-1
		s.pkt.Header = rtp.Header{Version: 2, Marker: marker, SequenceNumber: s.seq, Timestamp: s.ts}
		s.pkt.Payload = payload
		s.hist.put(sentPacket{seq: s.seq, ts: s.ts, marker: marker, payload: payload})
		s.seq++
		if lose := s.srv.opts.lose; lose != nil && lose(s.pkt.SequenceNumber) {
			continue
		}
		if err := s.track.WriteRTP(&s.pkt); err != nil {
			return fmt.Errorf("live: sending to the viewer: %w", err)
		}
	}
	s.frames.Add(1)
	s.bytes.Add(uint64(p.size))
	if s.srv.opts.onSent != nil {
		s.srv.opts.onSent(f)
	}
	return nil
}

// resend sends again the packets nack reports lost that the history still
// holds, with their original sequence numbers; pkt is the caller's scratch.
func (s *session) resend(nack *rtcp.TransportLayerNack, pkt *rtp.Packet) {
	defer s.srv.udp.flush()
	for _, pair := range nack.Nacks {
		pair.Range(func(seq uint16) bool {
			sp, ok := s.hist.get(seq)
			if !ok {
				return true
			}
			pkt.Header = rtp.Header{Version: 2, Marker: sp.marker, SequenceNumber: sp.seq, Timestamp: sp.ts}
			pkt.Payload = sp.payload
			if err := s.track.WriteRTP(pkt); err != nil {
				return false
			}
			s.resent.Add(1)
			return true
		})
	}
}
