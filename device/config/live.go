package config

import (
	"fmt"
	"net/url"
	"strings"
)

// Live sets the live view: WebRTC (WHEP, POST /api/v1/whep on the LAN
// API) for owners and for grantees whose grant has live.
type Live struct {
	// MaxViewers bounds the concurrent sessions; one more gets 503.
	MaxViewers int `yaml:"max_viewers"`
	// ICEServers are STUN and TURN servers offered to ICE. On the LAN
	// none are needed: host candidates connect.
	ICEServers []ICEServer `yaml:"ice_servers"`
	// ICETransportPolicy is "all" or "relay", which forces media through
	// a TURN server.
	ICETransportPolicy string `yaml:"ice_transport_policy"`
}

// ICEServer is one STUN or TURN server.
type ICEServer struct {
	URLs       []string `yaml:"urls"`
	Username   string   `yaml:"username"`
	Credential string   `yaml:"credential"`
}

// The live view's limits and policies.
const (
	DefaultMaxViewers = 4
	MaxViewersLimit   = 64
	ICEPolicyAll      = "all"   // host, server-reflexive and relay candidates
	ICEPolicyRelay    = "relay" // only TURN relay candidates
)

func defaultLive() Live {
	return Live{MaxViewers: DefaultMaxViewers, ICETransportPolicy: ICEPolicyAll}
}

// Validate reports every problem with the live section.
func (l Live) Validate() error { return l.problems().err() }

func (l Live) problems() problems {
	var p problems
	if l.MaxViewers < 1 || l.MaxViewers > MaxViewersLimit {
		p.add("live.max_viewers", "%d is out of range (valid: 1 to %d)", l.MaxViewers, MaxViewersLimit)
	}
	oneOf(&p, "live.ice_transport_policy", l.ICETransportPolicy, ICEPolicyAll, ICEPolicyRelay)
	hasTURN := false
	for i, s := range l.ICEServers {
		field := fmt.Sprintf("live.ice_servers[%d]", i)
		if len(s.URLs) == 0 {
			p.add(field+".urls", "none given (valid: stun:, stuns:, turn: or turns: URLs)")
		}
		for j, raw := range s.URLs {
			scheme, rest, _ := strings.Cut(raw, ":")
			_, err := url.Parse(raw)
			switch {
			case err != nil || rest == "" || hasControl(raw) || strings.ContainsRune(raw, ' '):
				p.add(fmt.Sprintf("%s.urls[%d]", field, j), "%q is not valid (valid: e.g. stun:stun.example.net:3478, turn:turn.example.net:3478)", raw)
			case scheme == "stun" || scheme == "stuns":
			case scheme == "turn" || scheme == "turns":
				hasTURN = true
				if s.Username == "" || s.Credential == "" {
					p.add(field, "%q needs username and credential", raw)
				}
			default:
				p.add(fmt.Sprintf("%s.urls[%d]", field, j), "%q is not valid (valid: stun:, stuns:, turn: or turns: URLs)", raw)
			}
		}
	}
	if l.ICETransportPolicy == ICEPolicyRelay && !hasTURN {
		p.add("live.ice_transport_policy", "\"relay\" needs a turn: or turns: server in live.ice_servers")
	}
	return p
}
