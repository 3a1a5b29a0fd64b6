package device

import (
	"github.com/doorward/doorward/device/gate"
	"github.com/doorward/doorward/uplink/live"
)

// openLive creates the live view over the Hub, authorized by the gate. Its
// WHEP endpoints are mounted on the LAN API.
func (a *Agent) openLive() (err error) {
	a.live, err = live.New(live.Options{
		Config: a.opts.Config.Live, Feed: a.hub, Auth: liveAuth{a.gate},
		Log: a.log.With("component", "live"),
	})
	return err
}

// liveAuth adapts the gate to the live view's Authorizer.
type liveAuth struct{ g *gate.Gate }

func (l liveAuth) AuthorizeLive(statement []byte, binding string) (live.Authority, error) {
	s, err := l.g.AuthorizeLive(statement, binding)
	if err != nil {
		return nil, err
	}
	return liveAuthority{l.g, s}, nil
}

type liveAuthority struct {
	g *gate.Gate
	s *gate.LiveSession
}

func (a liveAuthority) ID() string              { return a.s.ID }
func (a liveAuthority) Viewer() string          { return a.s.Viewer }
func (a liveAuthority) Done() <-chan struct{}   { return a.s.Done }
func (a liveAuthority) End(reason string) error { return a.g.EndLive(a.s, reason) }
