// Package client is the far side of the device's MQTT topics, for the
// owner's doorwardctl and the relay: connecting to a broker with TLS
// client certificates, and following a device's events, decrypted with the
// owner's age identity. It links no bbolt and holds no state.
package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/doorward/doorward/device/events"
	"github.com/doorward/doorward/uplink/wire"
)

// Options say how to reach the broker.
type Options struct {
	Broker string // tcp://, tls://, ws://, wss://
	// CA, Cert and Key are PEM files: the broker's CA (empty: the system
	// roots) and a client certificate.
	CA, Cert, Key string
	// Username and PasswordFile are optional credentials.
	Username, PasswordFile string
	// ClientID names the session; with Clean false the broker keeps it
	// (subscriptions and queued messages) across connections.
	ClientID string
	Clean    bool
}

// TLSConfig builds a client TLS configuration from PEM files: ca (the
// broker's CA; empty: the system roots) and an optional client certificate
// and key.
func TLSConfig(ca, cert, key string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("client: ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client: ca %s: no PEM certificate in it", ca)
		}
	}
	if (cert == "") != (key == "") {
		return nil, fmt.Errorf("client: cert and key go together (cert %q, key %q)", cert, key)
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("client: client certificate %s / key %s: %w", cert, key, err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// ReadPassword reads a password file, without its trailing newline.
func ReadPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("client: password file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// PahoOptions turns o into paho client options that reconnect on their
// own and resubscribe.
func (o Options) PahoOptions() (*paho.ClientOptions, error) {
	if o.Broker == "" {
		return nil, errors.New("client: no broker (valid: tcp://HOST:PORT, tls://HOST:PORT, ws://..., wss://...)")
	}
	po := paho.NewClientOptions().AddBroker(o.Broker).SetClientID(o.ClientID).SetCleanSession(o.Clean).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(30 * time.Second).SetResumeSubs(true).SetOrderMatters(true).
		SetConnectTimeout(10 * time.Second).SetKeepAlive(30 * time.Second)
	if o.CA != "" || o.Cert != "" {
		t, err := TLSConfig(o.CA, o.Cert, o.Key)
		if err != nil {
			return nil, err
		}
		po.SetTLSConfig(t)
	}
	if o.Username != "" {
		po.SetUsername(o.Username)
		if o.PasswordFile != "" {
			pw, err := ReadPassword(o.PasswordFile)
			if err != nil {
				return nil, err
			}
			po.SetPassword(pw)
		}
	}
	return po, nil
}

// Dedupe drops envelope ids already seen: the device sends a message
// again when the broker's acknowledgement was lost.
type Dedupe struct {
	mu   sync.Mutex
	seen map[uint64]bool
	max  uint64
}

// First reports whether id is new, and remembers it.
func (d *Dedupe) First(id uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen == nil {
		d.seen = map[uint64]bool{}
	}
	if d.seen[id] {
		return false
	}
	d.seen[id] = true
	d.max = max(d.max, id)
	if len(d.seen) > 4096 { // forget ids far behind the newest
		for k := range d.seen {
			if k+4096 < d.max {
				delete(d.seen, k)
			}
		}
	}
	return true
}

// EventsOptions choose whose events to follow and how.
type EventsOptions struct {
	Device     string
	Identities []age.Identity
	// Follow keeps reading until ctx ends; otherwise Events returns once
	// Idle passes with nothing new (what the broker queued for this
	// session since last time, then quiet).
	Follow bool
	Idle   time.Duration
	// Undecryptable is told about events no identity opens (nil: ignored).
	Undecryptable func(id uint64, err error)
}

// Events subscribes to the device's events and calls fn with each new
// one, decrypted, in the order the device sent them.
func Events(ctx context.Context, o Options, eo EventsOptions, fn func(id uint64, e events.Event) error) error {
	if err := wire.CheckDeviceID(eo.Device); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if o.ClientID == "" {
		o.ClientID = "doorwardctl-events-" + eo.Device
	}
	if eo.Idle <= 0 {
		eo.Idle = 2 * time.Second
	}
	po, err := o.PahoOptions()
	if err != nil {
		return err
	}
	type msg struct{ payload []byte }
	in := make(chan msg, 256)
	topic := wire.Topic(eo.Device, wire.TopicEvents)
	handler := func(_ paho.Client, m paho.Message) {
		if m.Topic() != topic {
			return
		}
		select {
		case in <- msg{m.Payload()}:
		case <-ctx.Done():
		}
	}
	po.SetDefaultPublishHandler(handler)
	c := paho.NewClient(po)
	if err := wait(ctx, c.Connect()); err != nil {
		return fmt.Errorf("client: connecting to %s: %w", o.Broker, err)
	}
	defer c.Disconnect(100)
	if err := wait(ctx, c.Subscribe(topic, 1, handler)); err != nil {
		return fmt.Errorf("client: subscribing to %s: %w", topic, err)
	}
	var seen Dedupe
	idle := time.NewTimer(eo.Idle)
	defer idle.Stop()
	for {
		var quiet <-chan time.Time
		if !eo.Follow {
			quiet = idle.C
		}
		select {
		case <-ctx.Done():
			if eo.Follow {
				return nil
			}
			return ctx.Err()
		case <-quiet:
			return nil
		case m := <-in:
			if !eo.Follow {
				idle.Reset(eo.Idle)
			}
			env, err := wire.Unwrap(m.payload)
			if err != nil {
				if eo.Undecryptable != nil {
					eo.Undecryptable(0, err)
				}
				continue
			}
			if !seen.First(env.ID) {
				continue
			}
			e, err := wire.OpenEvent(env.Msg, eo.Identities...)
			if err != nil {
				if eo.Undecryptable != nil {
					eo.Undecryptable(env.ID, err)
				}
				continue
			}
			if err := fn(env.ID, e); err != nil {
				return err
			}
		}
	}
}

func wait(ctx context.Context, t paho.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}
