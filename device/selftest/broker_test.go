package selftest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/doorward/doorward/device/config"
	"github.com/doorward/doorward/uplink/mqtttest"
)

func runBroker(t *testing.T, m config.MQTT) Result {
	t.Helper()
	start := time.Now()
	res := BrokerCheck{MQTT: m, Timeout: 5 * time.Second}.Check().Run(context.Background())
	t.Logf("%s in %s: %s", res.Status, time.Since(start).Round(time.Millisecond), res.Detail)
	return res
}

func TestBrokerCheckSkipsWithoutBroker(t *testing.T) {
	res := runBroker(t, config.MQTT{})
	if res.Status != Skip || res.Detail != "no broker configured (mqtt.broker in the config)" {
		t.Errorf("no broker: %s %q", res.Status, res.Detail)
	}
}

// The check passes on a plain broker, under a client ID of its own: an
// agent connected on a persistent session under the config's client ID is
// not disconnected (a CONNECT with the same ID would take its place).
func TestBrokerCheckPlain(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	lost := make(chan error, 1)
	agent := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL).SetClientID("dev1").
		SetCleanSession(false).SetAutoReconnect(false).
		SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err }))
	if tok := agent.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("agent connecting: %v", tok.Error())
	}
	defer agent.Disconnect(100)

	res := runBroker(t, config.MQTT{Broker: b.URL, ClientID: "dev1"})
	if res.Status != Pass || !strings.HasPrefix(res.Detail, b.URL+" accepted client dev1-selftest-") ||
		!strings.Contains(res.Detail, "the agent's session is left alone") {
		t.Errorf("plain broker: %s %q", res.Status, res.Detail)
	}
	if _, ok := res.Figures["connect_ms"]; !ok {
		t.Errorf("figures %v lack connect_ms", res.Figures)
	}
	// Without client_id the ID is doorward-selftest-..., new each time.
	again := runBroker(t, config.MQTT{Broker: b.URL})
	if again.Status != Pass || !strings.Contains(again.Detail, "accepted client doorward-selftest-") {
		t.Errorf("without client_id: %s %q", again.Status, again.Detail)
	}
	select {
	case err := <-lost:
		t.Fatalf("the agent's connection was lost during the selftest: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if !agent.IsConnectionOpen() {
		t.Error("the agent is no longer connected")
	}
}

func TestBrokerCheckTLS(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{TLS: true})
	cert, key := b.ClientCert("dev1")
	ok := config.MQTT{Broker: b.URL, CA: b.CAFile, Cert: cert, Key: key}
	if res := runBroker(t, ok); res.Status != Pass || !strings.HasPrefix(res.Detail, b.URL+" accepted client doorward-selftest-") {
		t.Errorf("TLS with a client certificate: %s %q", res.Status, res.Detail)
	}

	other := mqtttest.Start(t, mqtttest.Options{TLS: true}) // a CA that did not sign b's certificate
	wrongCA := ok
	wrongCA.CA = other.CAFile
	if res := runBroker(t, wrongCA); res.Status != Fail ||
		!strings.Contains(res.Detail, "TLS: the broker's certificate is not signed by the CA in mqtt.ca ("+other.CAFile+")") {
		t.Errorf("wrong CA: %s %q", res.Status, res.Detail)
	}

	noCert := config.MQTT{Broker: b.URL, CA: b.CAFile}
	if res := runBroker(t, noCert); res.Status != Fail || !strings.Contains(res.Detail, "mqtt.cert and mqtt.key") {
		t.Errorf("no client certificate: %s %q", res.Status, res.Detail)
	}

	missing := ok
	missing.CA = filepath.Join(t.TempDir(), "ca.pem")
	if res := runBroker(t, missing); res.Status != Fail || !strings.Contains(res.Detail, "mqtt.ca") || !strings.Contains(res.Detail, "no such file") {
		t.Errorf("missing CA file: %s %q", res.Status, res.Detail)
	}
}

func TestBrokerCheckNothingListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	res := runBroker(t, config.MQTT{Broker: "tcp://" + addr})
	if res.Status != Fail || !strings.Contains(res.Detail, "connection refused: nothing listens at "+addr) {
		t.Errorf("nothing listening: %s %q", res.Status, res.Detail)
	}
}

// refusingBroker answers every CONNECT with CONNACK code rc.
func refusingBroker(t *testing.T, rc byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := packets.ReadPacket(c); err != nil {
					return
				}
				ack := packets.NewControlPacket(packets.Connack).(*packets.ConnackPacket)
				ack.ReturnCode = rc
				_ = ack.Write(c)
			}()
		}
	}()
	return "tcp://" + ln.Addr().String()
}

func TestBrokerCheckRefused(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rc   byte
		want string
	}{
		{packets.ErrRefusedBadUsernameOrPassword, `refused (CONNACK 4, bad user name or password): check mqtt.username ("cam") and mqtt.password_file`},
		{packets.ErrRefusedNotAuthorised, "refused (CONNACK 5, not authorized): the broker does not let client doorward-selftest-"},
		{packets.ErrRefusedIDRejected, "refused (CONNACK 2, identifier rejected)"},
		{packets.ErrRefusedServerUnavailable, "refused (CONNACK 3, server unavailable)"},
	} {
		url := refusingBroker(t, tc.rc)
		res := runBroker(t, config.MQTT{Broker: url, Username: "cam", PasswordFile: pw})
		if res.Status != Fail || !strings.HasPrefix(res.Detail, url+": "+tc.want) {
			t.Errorf("CONNACK %d: %s %q, want %q", tc.rc, res.Status, res.Detail, tc.want)
		}
	}
	res := runBroker(t, config.MQTT{Broker: "tcp://127.0.0.1:1", Username: "cam", PasswordFile: pw + ".missing"})
	if res.Status != Fail || !strings.HasPrefix(res.Detail, "mqtt.password_file: open "+pw+".missing: no such file") {
		t.Errorf("missing password file: %s %q", res.Status, res.Detail)
	}
}
