package config

import "strings"

// HomeAssistant publishes plaintext motion and ring states, with MQTT
// discovery, for a Home Assistant on the home's own broker (mqtt.broker).
// It is the one place where event metadata leaves the device unencrypted,
// so it is off unless the owner turns it on. No media ever goes to MQTT.
type HomeAssistant struct {
	// Enabled publishes the discovery configs and the states.
	Enabled bool `yaml:"enabled"`
	// DiscoveryPrefix is Home Assistant's discovery prefix (its MQTT
	// integration's setting; homeassistant unless changed there).
	DiscoveryPrefix string `yaml:"discovery_prefix"`
}

// DefaultDiscoveryPrefix is Home Assistant's own default.
const DefaultDiscoveryPrefix = "homeassistant"

func defaultHomeAssistant() HomeAssistant {
	return HomeAssistant{DiscoveryPrefix: DefaultDiscoveryPrefix}
}

// Validate reports every problem with the homeassistant section.
func (h HomeAssistant) Validate() error { return h.problems().err() }

func (h HomeAssistant) problems() problems {
	var p problems
	const valid = "valid: MQTT topic levels such as homeassistant, without '+', '#', spaces or a leading or trailing '/'"
	d := h.DiscoveryPrefix
	switch {
	case hasControl(d):
		p.add("homeassistant.discovery_prefix", "%q contains a control character (%s)", d, valid)
	case d == "" || len(d) > 128 || strings.ContainsAny(d, "+# ") || strings.HasPrefix(d, "/") || strings.HasSuffix(d, "/") ||
		strings.Contains(d, "//") || strings.HasPrefix(d, "$") || strings.HasPrefix(d, "doorward/"):
		p.add("homeassistant.discovery_prefix", "%q is not valid (%s)", d, valid)
	}
	return p
}
