package config

import (
	"strings"
	"testing"
)

func TestHomeAssistantConfig(t *testing.T) {
	cfg, err := Parse("config.yaml", []byte("mqtt: {broker: tcp://127.0.0.1:1883}\nhomeassistant: {enabled: true}"))
	if err != nil || !cfg.HomeAssistant.Enabled || cfg.HomeAssistant.DiscoveryPrefix != "homeassistant" {
		t.Fatalf("%+v %v", cfg.HomeAssistant, err)
	}
	cfg, err = Parse("config.yaml", []byte("mqtt: {broker: tcp://127.0.0.1:1883}\nhomeassistant: {enabled: true, discovery_prefix: home/ha}"))
	if err != nil || cfg.HomeAssistant.DiscoveryPrefix != "home/ha" {
		t.Fatalf("%+v %v", cfg.HomeAssistant, err)
	}
	bad := map[string]string{
		"homeassistant: {enabled: true}": `homeassistant.enabled: is true but mqtt.broker is empty`,
		"mqtt: {broker: tcp://h:1}\nhomeassistant: {enabled: true, discovery_prefix: a/#}": `homeassistant.discovery_prefix: "a/#" is not valid`,
		"homeassistant: {discovery_prefix: /ha}":                                           `homeassistant.discovery_prefix: "/ha" is not valid`,
		"homeassistant: {discovery_prefix: ha/}":                                           `homeassistant.discovery_prefix: "ha/" is not valid`,
		"homeassistant: {discovery_prefix: doorward/v1}":                                   `homeassistant.discovery_prefix: "doorward/v1" is not valid`,
		"homeassistant: {discovery_prefix: \"ha\\n\"}":                                     `homeassistant.discovery_prefix: "ha\n" contains a control character`,
		"homeassistant: {enable: true}":                                                    `homeassistant.enable: unknown field (valid in homeassistant: discovery_prefix, enabled)`,
	}
	for in, want := range bad {
		if _, err := Parse("config.yaml", []byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant %s", in, err, want)
		}
	}
}

func TestMetricsConfig(t *testing.T) {
	for _, g := range []string{
		"metrics: {listen: \"127.0.0.1:9101\"}",
		"metrics: {listen: \"[::1]:0\"}",
		"metrics: {listen: \"localhost:9101\"}",
		"metrics: {listen: \":9101\", allow_remote: true}",
		"metrics: {listen: \"192.168.1.5:9101\", allow_remote: true}",
	} {
		if _, err := Parse("config.yaml", []byte(g)); err != nil {
			t.Errorf("%s: %v", g, err)
		}
	}
	bad := map[string]string{
		"metrics: {listen: \":9101\"}":           `metrics.listen: ":9101" is not a loopback address, and event counts are metadata about the household (valid: 127.0.0.1:PORT, [::1]:PORT or localhost:PORT, or set metrics.allow_remote: true`,
		"metrics: {listen: \"0.0.0.0:9101\"}":    `metrics.listen: "0.0.0.0:9101" is not a loopback address`,
		"metrics: {listen: \"10.0.0.2:9101\"}":   `metrics.listen: "10.0.0.2:9101" is not a loopback address`,
		"metrics: {listen: 9101}":                `metrics.listen: "9101" is not a host:port address`,
		"metrics: {listen: \"127.0.0.1:99999\"}": `metrics.listen: "127.0.0.1:99999" has no port number`,
		"metrics: {allow_remote: true}":          `metrics.allow_remote: is true but metrics.listen is empty`,
	}
	for in, want := range bad {
		if _, err := Parse("config.yaml", []byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant %s", in, err, want)
		}
	}
}
