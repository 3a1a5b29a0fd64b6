package live

import "github.com/doorward/doorward/device/config"

// Config is the `live:` section of the device configuration
// (config.Live: max_viewers, ice_servers, ice_transport_policy).
type Config = config.Live

// ICEServer is one STUN or TURN server.
type ICEServer = config.ICEServer

// DefaultMaxViewers bounds concurrent sessions when Config.MaxViewers is 0.
const DefaultMaxViewers = config.DefaultMaxViewers

// ICE transport policies.
const (
	PolicyAll   = config.ICEPolicyAll
	PolicyRelay = config.ICEPolicyRelay
)

func maxViewers(c Config) int {
	if c.MaxViewers == 0 {
		return DefaultMaxViewers
	}
	return c.MaxViewers
}

// validate checks c as the agent's config does, with 0 meaning the default.
func validate(c Config) error {
	if c.MaxViewers == 0 {
		c.MaxViewers = DefaultMaxViewers
	}
	if c.ICETransportPolicy == "" {
		c.ICETransportPolicy = PolicyAll
	}
	return c.Validate()
}
