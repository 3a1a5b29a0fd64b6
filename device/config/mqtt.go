package config

import (
	"net/url"
	"strings"
)

// MQTT is the uplink's MQTT session. An empty Broker turns the
// uplink off: nothing leaves the device but what the LAN API hands out.
type MQTT struct {
	// Broker is tcp://HOST:PORT, tls://HOST:PORT, ws://HOST:PORT/PATH or
	// wss://HOST:PORT/PATH; empty turns the uplink off.
	Broker string `yaml:"broker"`
	// CA is the broker's CA certificate (PEM) for tls:// and wss://;
	// empty uses the system's roots.
	CA string `yaml:"ca"`
	// Cert and Key are the device's client certificate and key (PEM).
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// Username and PasswordFile are optional MQTT credentials; the file
	// holds the password on its first line.
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	// ClientID is the MQTT client id; empty means the device ID.
	ClientID string `yaml:"client_id"`
	// OutboxMax caps the messages queued while the broker is unreachable;
	// at the cap the oldest events are dropped (never notices or replies).
	OutboxMax ByteSize `yaml:"outbox_max"`
}

func defaultMQTT() MQTT { return MQTT{OutboxMax: 16 * MiB} }

// Validate reports every problem with the mqtt section.
func (m MQTT) Validate() error { return m.problems().err() }

func (m MQTT) problems() problems {
	var p problems
	for _, f := range []struct{ field, v string }{
		{"mqtt.broker", m.Broker}, {"mqtt.ca", m.CA}, {"mqtt.cert", m.Cert}, {"mqtt.key", m.Key},
		{"mqtt.username", m.Username}, {"mqtt.password_file", m.PasswordFile}, {"mqtt.client_id", m.ClientID},
	} {
		if hasControl(f.v) {
			p.add(f.field, "%q contains a control character (valid: printable text)", f.v)
		}
	}
	if m.OutboxMax < 64*KiB || m.OutboxMax > GiB {
		p.add("mqtt.outbox_max", "%q is out of range (valid: 64KiB to 1GiB)", m.OutboxMax)
	}
	if m.Broker == "" {
		for _, f := range []struct{ field, v string }{
			{"mqtt.ca", m.CA}, {"mqtt.cert", m.Cert}, {"mqtt.key", m.Key},
			{"mqtt.username", m.Username}, {"mqtt.password_file", m.PasswordFile}, {"mqtt.client_id", m.ClientID},
		} {
			if f.v != "" {
				p.add(f.field, "%q is set but mqtt.broker is empty (valid: set mqtt.broker too, or leave %s empty while the uplink is off)", f.v, f.field)
			}
		}
		return p
	}
	u, err := url.Parse(m.Broker)
	secure := false
	switch {
	case err != nil || u.Host == "" || u.Port() == "" && u.Scheme != "ws" && u.Scheme != "wss":
		p.add("mqtt.broker", "%q is not a broker URL (valid: tcp://HOST:PORT, tls://HOST:PORT, ws://HOST:PORT/PATH, wss://HOST:PORT/PATH)", m.Broker)
	case u.Scheme == "tls" || u.Scheme == "ssl" || u.Scheme == "mqtts" || u.Scheme == "wss":
		secure = true
	case u.Scheme == "tcp" || u.Scheme == "mqtt" || u.Scheme == "ws":
	default:
		p.add("mqtt.broker", "scheme %q is not supported (valid: tcp, tls, ws, wss)", u.Scheme)
	}
	if !secure {
		for _, f := range []struct{ field, v string }{{"mqtt.ca", m.CA}, {"mqtt.cert", m.Cert}, {"mqtt.key", m.Key}} {
			if f.v != "" {
				p.add(f.field, "%q is set but mqtt.broker %q is not TLS (valid: a tls:// or wss:// broker)", f.v, m.Broker)
			}
		}
	}
	if (m.Cert == "") != (m.Key == "") {
		field := "mqtt.cert"
		if m.Cert == "" {
			field = "mqtt.key"
		}
		p.add(field, "only one of mqtt.cert and mqtt.key is set (valid: both, or neither)")
	}
	if m.PasswordFile != "" && m.Username == "" {
		p.add("mqtt.password_file", "%q is set without mqtt.username (valid: set mqtt.username too)", m.PasswordFile)
	}
	if len(m.ClientID) > 128 || strings.ContainsAny(m.ClientID, "+#/ ") {
		p.add("mqtt.client_id", "%q is not valid (valid: up to 128 characters without spaces, '+', '#' or '/'; empty means the device ID)", m.ClientID)
	}
	return p
}
