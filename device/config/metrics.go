package config

import (
	"net"
	"strconv"
)

// Metrics serves Prometheus metrics (text format) on GET /metrics. Event
// counts are metadata about the household (when someone rang, how often
// the door sees motion), so it is off by default and on loopback only
// unless AllowRemote says otherwise.
type Metrics struct {
	// Listen is host:port for the metrics endpoint; empty turns it off.
	Listen string `yaml:"listen"`
	// AllowRemote lets Listen be an address other than loopback.
	AllowRemote bool `yaml:"allow_remote"`
}

// Validate reports every problem with the metrics section.
func (m Metrics) Validate() error { return m.problems().err() }

func (m Metrics) problems() problems {
	var p problems
	if m.Listen == "" {
		if m.AllowRemote {
			p.add("metrics.allow_remote", "is true but metrics.listen is empty (valid: set metrics.listen too, or leave allow_remote false)")
		}
		return p
	}
	const valid = "valid: host:port, for example 127.0.0.1:9101, or empty to turn metrics off"
	host, port, err := net.SplitHostPort(m.Listen)
	if err != nil || hasControl(m.Listen) {
		p.add("metrics.listen", "%q is not a host:port address (%s)", m.Listen, valid)
		return p
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || strconv.FormatUint(n, 10) != port {
		p.add("metrics.listen", "%q has no port number from 0 to 65535 (%s)", m.Listen, valid)
		return p
	}
	if !m.AllowRemote && !IsLoopback(host) {
		p.add("metrics.listen", "%q is not a loopback address, and event counts are metadata about the household (valid: 127.0.0.1:PORT, [::1]:PORT or localhost:PORT, or set metrics.allow_remote: true to serve metrics on the network)", m.Listen)
	}
	return p
}

// IsLoopback reports whether host (an address's host part) is loopback:
// localhost or a loopback IP. An empty host means every interface.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
