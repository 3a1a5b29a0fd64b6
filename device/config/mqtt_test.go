package config

import (
	"strings"
	"testing"
)

func TestMQTTConfig(t *testing.T) {
	good := []string{
		"mqtt: {broker: tcp://127.0.0.1:1883}",
		"mqtt: {broker: tls://broker.example:8883, ca: /etc/doorward/ca.pem, cert: /etc/doorward/dev.pem, key: /etc/doorward/dev.key}",
		"mqtt: {broker: wss://broker.example/mqtt, username: dev, password_file: /etc/doorward/mqtt.pw, client_id: door-1}",
		"mqtt: {broker: ws://127.0.0.1:9001/mqtt, outbox_max: 1MiB}",
	}
	for _, g := range good {
		if _, err := Parse("config.yaml", []byte(g)); err != nil {
			t.Errorf("%s: %v", g, err)
		}
	}
	cfg, err := Parse("config.yaml", []byte("mqtt: {broker: tcp://127.0.0.1:1883}"))
	if err != nil || cfg.MQTT.Broker != "tcp://127.0.0.1:1883" || cfg.MQTT.OutboxMax != 16*MiB {
		t.Fatalf("%+v %v", cfg.MQTT, err)
	}
	bad := map[string]string{
		"mqtt: {broker: http://x:80}":                   `mqtt.broker: scheme "http" is not supported (valid: tcp, tls, ws, wss)`,
		"mqtt: {broker: 127.0.0.1:1883}":                `mqtt.broker: "127.0.0.1:1883" is not a broker URL`,
		"mqtt: {broker: tcp://host}":                    `mqtt.broker: "tcp://host" is not a broker URL`,
		"mqtt: {ca: /ca.pem}":                           `mqtt.ca: "/ca.pem" is set but mqtt.broker is empty`,
		"mqtt: {broker: tcp://h:1, ca: /ca.pem}":        `mqtt.ca: "/ca.pem" is set but mqtt.broker "tcp://h:1" is not TLS`,
		"mqtt: {broker: tls://h:1, cert: /c.pem}":       `mqtt.cert: only one of mqtt.cert and mqtt.key is set (valid: both, or neither)`,
		"mqtt: {broker: tcp://h:1, password_file: /pw}": `mqtt.password_file: "/pw" is set without mqtt.username`,
		"mqtt: {broker: tcp://h:1, client_id: a/b}":     `mqtt.client_id: "a/b" is not valid`,
		"mqtt: {broker: tcp://h:1, outbox_max: 1KiB}":   `mqtt.outbox_max: "1KiB" is out of range (valid: 64KiB to 1GiB)`,
		"mqtt: {broker: \"tcp://h:1\\n\"}":              `mqtt.broker: "tcp://h:1\n" contains a control character`,
		"mqtt: {brokr: tcp://h:1}":                      `config.yaml:1:8: mqtt.brokr: unknown field (valid in mqtt: broker, ca, cert, client_id, key, outbox_max, password_file, username)`,
	}
	for in, want := range bad {
		_, err := Parse("config.yaml", []byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant %s", in, err, want)
		}
	}
}
