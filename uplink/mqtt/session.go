package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/doorward/doorward/device/backoff"

	"github.com/doorward/doorward/uplink/wire"
)

// Options configure a Session.
type Options struct {
	// Broker is the broker's URL: tcp://, tls:// (or ssl://, mqtts://),
	// ws:// or wss://.
	Broker string
	// TLS is used for tls:// and wss:// brokers; nil uses the system roots
	// and no client certificate.
	TLS *tls.Config
	// Username and Password are optional MQTT credentials.
	Username, Password string
	// ClientID identifies the session at the broker; the persistent
	// session is kept under it.
	ClientID string
	// DeviceID names the topic root doorward/v1/<DeviceID>/.
	DeviceID string
	// Outbox queues outgoing messages durably.
	Outbox *Outbox
	// Inbound receives every message on the device's cmd topic, one at a
	// time, in order; nil drops them.
	Inbound func(ctx context.Context, payload []byte)
	// Log receives connection state changes, once per change.
	Log *slog.Logger
	// MinBackoff and MaxBackoff bound the reconnect delay (defaults 1s and
	// 2m); each failure doubles it, with jitter.
	MinBackoff, MaxBackoff time.Duration
	// KeepAlive is the MQTT keepalive (default 60s).
	KeepAlive time.Duration
	// Window is how many messages may wait for their PUBACK at once
	// (default 64).
	Window int
	// OnConnect, when set, is called after every connection is made (and
	// online announced), before the outbox drains. It must not block:
	// it runs on the session's goroutine.
	OnConnect func()
}

// Session is the device's MQTT session: it connects with a last will
// (offline, retained, on status), announces online, drains the outbox in
// order, hands cmd messages to Inbound, and reconnects with backoff.
type Session struct {
	opts Options
	log  *slog.Logger
	kick chan struct{}

	mu        sync.Mutex
	connected bool
	client    paho.Client // while connected
}

// Status payloads on doorward/v1/<id>/status.
const (
	Online  = "online"
	Offline = "offline"
)

// New checks opts and returns a session; Run connects it.
func New(opts Options) (*Session, error) {
	if opts.Outbox == nil {
		return nil, errors.New("mqtt: no outbox")
	}
	if err := wire.CheckDeviceID(opts.DeviceID); err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	if err := CheckBroker(opts.Broker); err != nil {
		return nil, err
	}
	if opts.ClientID == "" {
		opts.ClientID = opts.DeviceID
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(2*time.Minute, opts.MinBackoff)
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 60 * time.Second
	}
	if opts.Window <= 0 {
		opts.Window = 64
	}
	return &Session{opts: opts, log: opts.Log, kick: make(chan struct{}, 1)}, nil
}

// CheckBroker reports whether u is a broker URL the session can use.
func CheckBroker(u string) error {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return fmt.Errorf("mqtt: broker %q is not a URL (valid: tcp://HOST:PORT, tls://HOST:PORT, ws://HOST:PORT/PATH or wss://...)", u)
	}
	switch p.Scheme {
	case "tcp", "mqtt", "tls", "ssl", "mqtts", "ws", "wss":
		return nil
	}
	return fmt.Errorf("mqtt: broker %q: scheme %q is not supported (valid: tcp, tls, ws, wss)", u, p.Scheme)
}

// Topic returns the device's topic under doorward/v1/<id>/.
func (s *Session) Topic(sub string) string { return wire.Topic(s.opts.DeviceID, sub) }

// Publish queues body (JSON) durably for topic (under the device's root)
// and wakes the sender. It never waits for the broker: the message goes out
// when the session is connected, in order, and is deleted on its PUBACK.
func (s *Session) Publish(sub string, class Class, retained bool, body []byte) (uint64, error) {
	id, err := s.opts.Outbox.Put(s.Topic(sub), class, retained, body)
	if err != nil {
		return 0, err
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return id, nil
}

// Outbox returns the session's outbox.
func (s *Session) Outbox() *Outbox { return s.opts.Outbox }

// Connected reports whether the session is connected now.
func (s *Session) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

// setConnected records the connection c, or that there is none (nil).
func (s *Session) setConnected(c paho.Client) {
	s.mu.Lock()
	s.connected, s.client = c != nil, c
	s.mu.Unlock()
}

// ErrOffline means PublishNow found the session not connected.
var ErrOffline = errors.New("mqtt: not connected to the broker")

// PublishNow publishes payload exactly as given (no envelope, never
// queued) on topic, a full topic name, at QoS 1, if the session is
// connected now; otherwise it returns ErrOffline. It does not wait for the
// PUBACK. It is for live state that is worthless once stale (Home
// Assistant's motion and doorbell, whose discovery configs are published
// again on every connection), never for anything the owners must get:
// that goes through Publish and the outbox.
func (s *Session) PublishNow(topic string, retained bool, payload []byte) error {
	s.mu.Lock()
	c := s.client
	s.mu.Unlock()
	if c == nil {
		return ErrOffline
	}
	t := c.Publish(topic, 1, retained, payload)
	select {
	case <-t.Done(): // failed at once (the connection is closing)
		if err := t.Error(); err != nil {
			return fmt.Errorf("mqtt: publishing on %s: %w", topic, err)
		}
	default:
	}
	return nil
}

// Run keeps the session connected until ctx is done, then publishes
// offline and disconnects. It returns nil after a clean stop.
func (s *Session) Run(ctx context.Context) error {
	bo := backoff.New(backoff.Policy{Min: s.opts.MinBackoff, Max: s.opts.MaxBackoff, Jitter: 0.5})
	var down time.Time // when the broker was lost (zero: never connected yet)
	var failures int
	announced := false // the current outage was logged
	for ctx.Err() == nil {
		c, lost, stop, err := s.connect(ctx)
		if err != nil {
			failures++
			if !announced {
				announced = true // once per outage, not per attempt
				s.log.Warn("mqtt: cannot reach the broker; retrying with backoff (events stay queued)", "broker", s.opts.Broker, "err", err)
			} else {
				s.log.Debug("mqtt: still cannot reach the broker", "attempt", failures, "err", err)
			}
			if down.IsZero() {
				down = time.Now()
			}
			bo.Wait(ctx) // exponential, with jitter
			continue
		}
		bo.Reset()
		announced = false
		args := []any{"broker", s.opts.Broker, "queued", s.opts.Outbox.Stats().Queued}
		if !down.IsZero() {
			args = append(args, "down_for", time.Since(down).Round(time.Millisecond), "attempts", failures)
		}
		s.log.Info("mqtt: connected", args...)
		failures = 0
		s.setConnected(c)
		if s.opts.OnConnect != nil {
			s.opts.OnConnect()
		}
		err = s.drain(ctx, c, lost)
		s.setConnected(nil)
		if ctx.Err() != nil {
			s.goodbye(c)
			stop()
			return nil
		}
		c.Disconnect(0)
		stop()
		down, announced = time.Now(), true
		s.log.Warn("mqtt: connection lost; reconnecting with backoff (events stay queued)", "broker", s.opts.Broker, "err", err)
	}
	return nil
}

// connect makes one connection attempt: a fresh client each time, so
// nothing of a dead connection lingers, on a persistent session (clean
// session off) so the broker keeps the cmd subscription and its queue.
//
// stop ends the connection's inbound handler and waits for it.
func (s *Session) connect(ctx context.Context) (c paho.Client, lost <-chan error, stop func(), err error) {
	lostc := make(chan error, 1)
	inbound := make(chan []byte, 16)
	connCtx, cancel := context.WithCancel(ctx)
	cmdTopic := s.Topic(wire.TopicCmd)
	onCmd := func(_ paho.Client, m paho.Message) {
		if m.Topic() != cmdTopic {
			return
		}
		select {
		case inbound <- m.Payload():
		case <-connCtx.Done():
		}
	}
	o := paho.NewClientOptions().
		// The broker delivers what it queued for the persistent session
		// right after CONNACK, before Subscribe returns: the default
		// handler takes those.
		SetDefaultPublishHandler(onCmd).
		AddBroker(s.opts.Broker).
		SetClientID(s.opts.ClientID).
		SetCleanSession(false).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(s.opts.KeepAlive).
		SetPingTimeout(10*time.Second).
		SetConnectTimeout(10*time.Second).
		SetWriteTimeout(10*time.Second).
		SetOrderMatters(true).
		SetBinaryWill(s.Topic("status"), []byte(Offline), 1, true).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case lostc <- err:
			default:
			}
		})
	if s.opts.TLS != nil {
		o.SetTLSConfig(s.opts.TLS)
	}
	if s.opts.Username != "" {
		o.SetUsername(s.opts.Username)
		o.SetPassword(s.opts.Password)
	}
	c = paho.NewClient(o)
	if err := wait(ctx, c.Connect()); err != nil {
		cancel()
		c.Disconnect(0)
		return nil, nil, nil, fmt.Errorf("mqtt: connecting to %s: %w", s.opts.Broker, err)
	}
	// cmd messages are handed on in order by one goroutine per connection.
	err = wait(ctx, c.Subscribe(cmdTopic, 1, onCmd))
	if err == nil {
		err = wait(ctx, c.Publish(s.Topic("status"), 1, true, []byte(Online)))
	}
	if err != nil {
		cancel()
		c.Disconnect(0)
		return nil, nil, nil, fmt.Errorf("mqtt: %s: %w", s.opts.Broker, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.handleInbound(connCtx, inbound)
	}()
	return c, lostc, func() { cancel(); <-done }, nil
}

// handleInbound hands cmd messages to Inbound until the connection ends.
func (s *Session) handleInbound(ctx context.Context, in <-chan []byte) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-in:
			if s.opts.Inbound != nil {
				s.opts.Inbound(ctx, p)
			}
		}
	}
}

// drain publishes the outbox in order, up to Window messages at a time,
// and deletes each one its PUBACK acknowledges. A new connection starts
// from the oldest queued message again: a message whose PUBACK was lost is
// sent twice, and its id lets the receiver drop the copy.
//
// Deletes are batched: acknowledged messages are deleted together once
// Window of them are waiting or ackDelay after the first, and when the
// connection ends. A delete costs a commit (an fsync) on the state
// database, and the next event's Put would otherwise queue behind it; a
// crash before the batch is deleted only makes those messages go again,
// with the same ids.
func (s *Session) drain(ctx context.Context, c paho.Client, lost <-chan error) (err error) {
	type flight struct {
		id  uint64
		tok paho.Token
	}
	var inflight []flight
	var cursor uint64
	var acked []uint64 // acknowledged, not yet deleted
	batch := time.NewTimer(time.Hour)
	batch.Stop()
	defer batch.Stop()
	armed := false
	flush := func() error {
		batch.Stop()
		armed = false
		if len(acked) == 0 {
			return nil
		}
		err := s.opts.Outbox.Delete(acked...)
		acked = acked[:0]
		return err
	}
	defer func() {
		if ferr := flush(); err == nil {
			err = ferr
		}
	}()
	for {
		if room := s.opts.Window - len(inflight); room > 0 {
			msgs, err := s.opts.Outbox.After(cursor, room)
			if err != nil {
				return err
			}
			for _, m := range msgs {
				payload, err := wire.Wrap(m.ID, m.Body)
				if err != nil {
					// Not JSON: nothing a receiver could read. Drop it
					// loudly rather than block the queue for ever.
					s.log.Error("mqtt: dropping a queued message that is not JSON", "topic", m.Topic, "id", m.ID, "err", err)
					acked = append(acked, m.ID)
					cursor = m.ID
					continue
				}
				inflight = append(inflight, flight{m.ID, c.Publish(m.Topic, 1, m.Retained, payload)})
				cursor = m.ID
			}
		}
		if len(inflight) == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case err := <-lost:
				return err
			case <-s.kick:
				continue
			case <-batch.C:
				if err := flush(); err != nil {
					return err
				}
				continue
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-lost:
			return err
		case <-batch.C:
			if err := flush(); err != nil {
				return err
			}
			continue
		case <-inflight[0].tok.Done():
		}
		// Collect every acknowledged message at the head of the window.
		for len(inflight) > 0 {
			select {
			case <-inflight[0].tok.Done():
			default:
				goto done
			}
			if err := inflight[0].tok.Error(); err != nil {
				return fmt.Errorf("mqtt: publishing: %w", err)
			}
			acked = append(acked, inflight[0].id)
			inflight = inflight[1:]
		}
	done:
		switch {
		case len(acked) >= s.opts.Window:
			if err := flush(); err != nil {
				return err
			}
		case len(acked) > 0 && !armed:
			batch.Reset(ackDelay)
			armed = true
		}
	}
}

// ackDelay is how long an acknowledged message may wait to be deleted
// with others.
const ackDelay = 100 * time.Millisecond

// goodbye announces offline (the will is for unclean ends) and
// disconnects.
func (s *Session) goodbye(c paho.Client) {
	t := c.Publish(s.Topic("status"), 1, true, []byte(Offline))
	t.WaitTimeout(2 * time.Second)
	c.Disconnect(250)
	s.log.Info("mqtt: disconnected", "broker", s.opts.Broker)
}

// wait waits for t, or for ctx.
func wait(ctx context.Context, t paho.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}
