package selftest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/doorward/doorward/device/clock"
	"github.com/doorward/doorward/device/config"
	"github.com/doorward/doorward/uplink/client"
)

// BrokerCheck connects to the config's MQTT broker, with its TLS files and
// credentials, as the agent would: an MQTT CONNECT, then a DISCONNECT.
//
// It connects under a client ID of its own (never the agent's), on a clean
// session with no will, so that a selftest on a running device neither
// takes over the agent's connection nor touches its persistent session or
// its status topic. The check is not required: the agent records without
// a broker, and its outbox holds the events until one is reachable.
type BrokerCheck struct {
	// MQTT is the config's mqtt section; an empty Broker skips the check.
	MQTT config.MQTT
	// Timeout bounds the connection; 0 means 10 s.
	Timeout time.Duration
	// Clock times the connection; nil means the real clock.
	Clock clock.Clock
}

// Check returns the broker check.
func (c BrokerCheck) Check() Check {
	return Check{Name: "broker reachable", Run: c.run}
}

func (c BrokerCheck) run(ctx context.Context) Result {
	m := c.MQTT
	if m.Broker == "" {
		return Result{Status: Skip, Detail: "no broker configured (mqtt.broker in the config)"}
	}
	clk := c.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	id := selftestClientID(m.ClientID)
	o := paho.NewClientOptions().AddBroker(m.Broker).SetClientID(id).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		// 3.1.1 only: paho otherwise retries a refused CONNECT as MQTT 3.1
		// and reports that second answer, hiding the broker's reason.
		SetProtocolVersion(4).
		SetConnectTimeout(timeout).SetDialer(&net.Dialer{Timeout: timeout}).
		SetKeepAlive(30 * time.Second)
	if m.CA != "" || m.Cert != "" {
		t, err := client.TLSConfig(m.CA, m.Cert, m.Key)
		if err != nil {
			return Result{Status: Fail, Detail: "the TLS files (mqtt.ca, mqtt.cert, mqtt.key): " + strings.TrimPrefix(err.Error(), "client: ")}
		}
		o.SetTLSConfig(t)
	}
	if m.Username != "" {
		o.SetUsername(m.Username)
		if m.PasswordFile != "" {
			pw, err := client.ReadPassword(m.PasswordFile)
			if err != nil {
				return Result{Status: Fail, Detail: "mqtt.password_file: " + strings.TrimPrefix(err.Error(), "client: password file: ")}
			}
			o.SetPassword(pw)
		}
	}
	cl := paho.NewClient(o)
	start := clk.Now()
	tok := cl.Connect()
	wait := time.NewTimer(timeout + time.Second) // paho's own timeouts come first
	defer wait.Stop()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		go cl.Disconnect(0)
		return Result{Status: Skip, Detail: "interrupted: " + ctx.Err().Error()}
	case <-wait.C:
		go cl.Disconnect(0)
		return Result{Status: Fail, Detail: fmt.Sprintf("%s: no answer within %s: is %s reachable from here (a firewall)?", m.Broker, timeout, brokerHost(m.Broker))}
	}
	took := clk.Now().Sub(start)
	if err := tok.Error(); err != nil {
		return Result{Status: Fail, Detail: fmt.Sprintf("%s: %s", m.Broker, explainConnect(err, m, id, timeout))}
	}
	cl.Disconnect(250)
	return Result{Status: Pass, Figures: map[string]float64{"connect_ms": ms(took)},
		Detail: fmt.Sprintf("%s accepted client %s in %.1f ms (a clean session with no will: the agent's session is left alone)", m.Broker, id, ms(took))}
}

// selftestClientID is base (the config's client_id, or "doorward") with
// "-selftest-" and a random suffix: never the agent's client ID, which
// would take over its connection, and never the same twice.
func selftestClientID(base string) string {
	if base == "" {
		base = "doorward"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return base + "-selftest-" + hex.EncodeToString(b)
}

// brokerHost returns a broker URL's host:port.
func brokerHost(broker string) string {
	if u, err := url.Parse(broker); err == nil && u.Host != "" {
		return u.Host
	}
	return broker
}

// explainConnect turns paho's connection error into the reason and what to
// check.
func explainConnect(err error, m config.MQTT, id string, timeout time.Duration) string {
	host := brokerHost(m.Broker)
	switch {
	case errors.Is(err, packets.ErrorRefusedBadProtocolVersion):
		return fmt.Sprintf("refused (CONNACK %d, unacceptable protocol version): the broker does not speak MQTT 3.1.1, which the agent uses", packets.ErrRefusedBadProtocolVersion)
	case errors.Is(err, packets.ErrorRefusedIDRejected):
		return fmt.Sprintf("refused (CONNACK %d, identifier rejected): the broker does not accept client ID %s (the selftest connects as mqtt.client_id, or doorward, with -selftest- and a random suffix)", packets.ErrRefusedIDRejected, id)
	case errors.Is(err, packets.ErrorRefusedServerUnavailable):
		return fmt.Sprintf("refused (CONNACK %d, server unavailable): the broker is up but takes no connections now; its log says why", packets.ErrRefusedServerUnavailable)
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword):
		return fmt.Sprintf("refused (CONNACK %d, bad user name or password): check mqtt.username (%q) and mqtt.password_file", packets.ErrRefusedBadUsernameOrPassword, m.Username)
	case errors.Is(err, packets.ErrorRefusedNotAuthorised):
		return fmt.Sprintf("refused (CONNACK %d, not authorized): the broker does not let client %s in: check mqtt.username, mqtt.password_file or the client certificate (mqtt.cert), and the broker's access rules", packets.ErrRefusedNotAuthorised, id)
	}
	cause := err
	if errors.Is(err, packets.ErrorNetworkError) {
		// paho joins "network Error" and the cause; keep the cause.
		if u, ok := err.(interface{ Unwrap() []error }); ok && len(u.Unwrap()) == 2 && u.Unwrap()[1] != nil {
			cause = u.Unwrap()[1]
		}
	}
	var (
		dns     *net.DNSError
		unknown x509.UnknownAuthorityError
		badName x509.HostnameError
		invalid x509.CertificateInvalidError
		verify  *tls.CertificateVerificationError
		netErr  net.Error
		opErr   *net.OpError
	)
	switch {
	case errors.Is(cause, syscall.ECONNREFUSED):
		return fmt.Sprintf("connection refused: nothing listens at %s; is the broker running there, and is mqtt.broker's port right?", host)
	case errors.As(cause, &dns):
		return fmt.Sprintf("host %s not found (%v): check mqtt.broker", dns.Name, dns.Err)
	case errors.As(cause, &unknown):
		if m.CA != "" {
			return fmt.Sprintf("TLS: the broker's certificate is not signed by the CA in mqtt.ca (%s): set mqtt.ca to the CA that signed it (%v)", m.CA, unknown)
		}
		return fmt.Sprintf("TLS: the broker's certificate is not signed by a CA this system trusts: set mqtt.ca to the CA that signed it (%v)", unknown)
	case errors.As(cause, &badName):
		return fmt.Sprintf("TLS: the broker's certificate is not for %s (%v): use the host name it was issued for in mqtt.broker", host, badName)
	case errors.As(cause, &invalid):
		return fmt.Sprintf("TLS: the broker's certificate is not valid (%v): is this system's clock right?", invalid)
	case errors.As(cause, &verify):
		return fmt.Sprintf("TLS: the broker's certificate failed verification (%v): check mqtt.ca", verify.Err)
	case errors.As(cause, &opErr) && opErr.Op == "remote error":
		return fmt.Sprintf("TLS: the broker ended the handshake (%v): does it require a client certificate? check mqtt.cert and mqtt.key (signed by a CA the broker trusts)", opErr.Err)
	case errors.Is(cause, os.ErrDeadlineExceeded), errors.As(cause, &netErr) && netErr.Timeout():
		return fmt.Sprintf("no answer within %s: is %s reachable from here (a firewall), and is it an MQTT broker?", timeout, host)
	case errors.Is(cause, io.EOF), errors.Is(cause, syscall.ECONNRESET):
		return fmt.Sprintf("the broker closed the connection before accepting it (%v): with tls:// check mqtt.cert and mqtt.key, with tcp:// check that the port is not a TLS one; the broker's log says why", cause)
	}
	return fmt.Sprintf("cannot connect: %v", cause)
}
