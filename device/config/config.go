package config

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/doorward/doorward/boards"
	"github.com/doorward/doorward/consent"
)

// Config is the agent's configuration file. Every field has a default (see
// Default); a file names only what it changes. Each section is a type of
// its own, in a file of its own, with its own Validate.
type Config struct {
	// Board is the board profile's name, "auto" to detect it, or "" to leave
	// the choice to the --board flag (and then detection).
	Board string `yaml:"board"`
	// OwnerRecipients are the owners' age recipients proposed at first run.
	OwnerRecipients []string `yaml:"owner_recipients,omitempty"`
	// Camera overrides the board's default camera.
	Camera Camera `yaml:"camera"`
	// Recording sets how clips are cut.
	Recording Recording `yaml:"recording"`
	// Retention sets when clips are deleted.
	Retention Retention `yaml:"retention"`
	// Vault is VaultDevice (the device can re-wrap clips for a grant or
	// token) or VaultNone (strict mode: only the owners can open clips).
	Vault VaultMode `yaml:"vault"`
	// Log sets the agent's logging.
	Log Log `yaml:"log"`
	// GPIO overrides the board's sensor lines and sets their polarity and
	// timing.
	GPIO GPIO `yaml:"gpio"`
	// Legal is the trust policy for legal-process tokens that the device
	// proposes at pairing; the owner approves it (or not) and changes it
	// later with signed policy statements, never through this file. With no
	// issuers, the device accepts no legal process at all.
	Legal consent.Policy `yaml:"legal"`
	// Listen is the LAN API's address (pairing, grants, tokens, notices,
	// audit).
	Listen string `yaml:"listen"`
	// MQTT is the uplink's broker session; off while its broker is empty.
	MQTT MQTT `yaml:"mqtt"`
	// Live sets the live view (WHEP on the LAN API).
	Live Live `yaml:"live"`
	// HomeAssistant publishes plaintext motion and ring states with MQTT
	// discovery; off by default.
	HomeAssistant HomeAssistant `yaml:"homeassistant"`
	// Metrics serves Prometheus metrics; off by default.
	Metrics Metrics `yaml:"metrics"`
}

// VaultMode says whether the device keeps a vault key for its clips.
type VaultMode string

// The vault modes.
const (
	// VaultDevice encrypts clips to the owners and to the device's vault
	// key, so the device can re-wrap them for a grant or a legal token.
	VaultDevice VaultMode = "device"
	// VaultNone (strict mode) encrypts clips to the owners alone; the device
	// can disclose only ciphertext the owners alone can open.
	VaultNone VaultMode = "none"
)

// Default returns the configuration used for every field a file does not
// set.
func Default() Config {
	return Config{
		Listen:        "127.0.0.1:8080",
		Camera:        defaultCamera(),
		Recording:     defaultRecording(),
		Retention:     defaultRetention(),
		Vault:         VaultDevice,
		MQTT:          defaultMQTT(),
		Live:          defaultLive(),
		HomeAssistant: defaultHomeAssistant(),
		Log:           defaultLog(),
		GPIO:          defaultGPIO(),
	}
}

// Validate reports every problem with c, one per line (errors.Join of
// *Error), each naming the field, the bad value and what would be valid.
func (c Config) Validate() error { return c.problems().err() }

// problems runs every section's checks, in the order the file lists them.
func (c Config) problems() problems {
	var p problems
	if c.Board != "" {
		oneOf(&p, "board", c.Board, append([]string{"auto"}, boards.Names()...)...)
	}
	p.ownerRecipients(c.OwnerRecipients)
	p = append(p, c.Camera.problems()...)
	p = append(p, c.Recording.problems()...)
	p = append(p, c.Retention.problems()...)
	oneOf(&p, "vault", string(c.Vault), string(VaultDevice), string(VaultNone))
	p = append(p, c.Log.problems()...)
	p = append(p, c.GPIO.problems()...)
	p = append(p, legalProblems(c.Legal)...)
	p.listen(c.Listen)
	p = append(p, c.MQTT.problems()...)
	p = append(p, c.Live.problems()...)
	p = append(p, c.HomeAssistant.problems()...)
	if c.HomeAssistant.Enabled && c.MQTT.Broker == "" {
		p.add("homeassistant.enabled", "is true but mqtt.broker is empty (valid: point mqtt.broker at the home's broker that Home Assistant uses, or leave homeassistant.enabled false)")
	}
	p = append(p, c.Metrics.problems()...)
	return p
}

func (p *problems) ownerRecipients(rs []string) {
	before := len(*p)
	for i, r := range rs {
		field := fmt.Sprintf("owner_recipients[%d]", i)
		switch {
		case strings.TrimSpace(r) == "":
			p.add(field, "%q is empty (valid: an age recipient such as age1...)", r)
		case hasControl(r):
			p.add(field, "%q contains a control character (valid: an age recipient such as age1...)", r)
		default:
			if _, err := consent.ParseRecipients([]string{r}); err != nil {
				p.add(field, "%q is not an age recipient (valid: age1... or age1pq1..., as doorwardctl keygen prints)", r)
			}
		}
	}
	if len(rs) > 1 && len(*p) == before {
		if _, err := consent.ParseRecipients(rs); err != nil {
			p.add("owner_recipients", "%s", strings.TrimPrefix(err.Error(), "consent: "))
		}
	}
}

// listen checks the LAN API address: host:port with a port from 0 to
// 65535 (0 picks a free one).
func (p *problems) listen(addr string) {
	const valid = "valid: host:port, for example 127.0.0.1:8080, or :8080 for every interface"
	_, port, err := net.SplitHostPort(addr)
	if err != nil || hasControl(addr) {
		p.add("listen", "%q is not a host:port address (%s)", addr, valid)
		return
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || strconv.FormatUint(n, 10) != port {
		p.add("listen", "%q has no port number from 0 to 65535 (%s)", addr, valid)
	}
}

// oneOf checks that value is one of valid.
func oneOf(p *problems, field, value string, valid ...string) {
	if !slices.Contains(valid, value) {
		p.add(field, "%q is not valid (valid: %s)", value, strings.Join(valid, ", "))
	}
}

// durRange checks lo <= d <= hi; hi 0 means no upper bound.
func durRange(p *problems, field string, d Duration, lo, hi time.Duration) {
	if time.Duration(d) < lo || (hi > 0 && time.Duration(d) > hi) {
		valid := Duration(lo).String() + " to " + Duration(hi).String()
		if hi == 0 {
			valid = Duration(lo).String() + " or more"
		}
		p.add(field, "%q is out of range (valid: %s)", d, valid)
	}
}

// sizeRange checks lo <= s <= hi; hi 0 means no upper bound.
func sizeRange(p *problems, field string, s, lo, hi ByteSize) {
	if s < lo || (hi > 0 && s > hi) {
		valid := lo.String() + " to " + hi.String()
		if hi == 0 {
			valid = lo.String() + " or more"
		}
		p.add(field, "%q is out of range (valid: %s)", s, valid)
	}
}

// hasControl reports whether s holds a control character (tab excepted) or
// is not valid UTF-8: neither belongs in a path, command or recipient.
func hasControl(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	return strings.ContainsFunc(s, func(r rune) bool { return r != '\t' && unicode.IsControl(r) })
}
