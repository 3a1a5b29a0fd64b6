package device

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/device/config"
	"github.com/doorward/doorward/device/events"
	"github.com/doorward/doorward/device/gate"
	"github.com/doorward/doorward/uplink"
	"github.com/doorward/doorward/uplink/client"
	"github.com/doorward/doorward/uplink/homeassistant"
	"github.com/doorward/doorward/uplink/mqtt"
)

// agentUplink is the MQTT session and what runs over it.
type agentUplink struct {
	session *mqtt.Session
	up      *uplink.Uplink
	ha      *homeassistant.Bridge // nil unless homeassistant.enabled
	log     *slog.Logger
}

// openUplink prepares the MQTT session when mqtt.broker is set; nil
// otherwise (the uplink is off).
func openUplink(cfg config.MQTT, ha config.HomeAssistant, a *Agent) (*agentUplink, error) {
	if cfg.Broker == "" {
		return nil, nil
	}
	log := a.log.With("component", "uplink")
	ob, err := mqtt.OpenOutbox(a.db, int64(cfg.OutboxMax), log)
	if err != nil {
		return nil, err
	}
	au := &agentUplink{log: log}
	opts := mqtt.Options{
		Broker: cfg.Broker, ClientID: cfg.ClientID, DeviceID: a.id.ID(),
		Outbox: ob, Log: log, Username: cfg.Username,
		Inbound: func(ctx context.Context, p []byte) { au.up.HandleCmd(ctx, p) },
	}
	if ha.Enabled {
		opts.OnConnect = func() { au.ha.Connected() }
	}
	if cfg.PasswordFile != "" {
		if opts.Password, err = client.ReadPassword(cfg.PasswordFile); err != nil {
			return nil, err
		}
	}
	if cfg.CA != "" || cfg.Cert != "" {
		if opts.TLS, err = client.TLSConfig(cfg.CA, cfg.Cert, cfg.Key); err != nil {
			return nil, err
		}
	}
	if au.session, err = mqtt.New(opts); err != nil {
		return nil, err
	}
	uploader := uplink.NewUploader(uplink.UploaderOptions{DeviceID: a.id.ID(), Session: au.session, Bus: a.bus, Log: log})
	a.upDel.set(uploader)
	au.up = uplink.New(uplink.Options{
		Uploads:  uploader,
		Session:  au.session,
		Bus:      a.bus,
		Owners:   a.ownerRecipients,
		LAN:      a.lan.Handler(),
		Refusals: a.audit,
		Checkpoint: func() ([]byte, error) {
			cp, err := a.audit.Checkpoint()
			return cp.Marshal(), err
		},
		Log: log,
	})
	if ha.Enabled {
		// The one place plaintext event metadata goes: opt-in, for a
		// broker in the home.
		au.ha, err = homeassistant.New(homeassistant.Options{
			Session: au.session, Bus: a.bus, DeviceID: a.id.ID(), Model: a.opts.Board.Name, Version: a.opts.Version,
			Prefix: ha.DiscoveryPrefix, MotionHold: time.Duration(a.opts.Config.GPIO.PIRCooldown), Log: log,
		})
		if err != nil {
			return nil, err
		}
		log.Warn("Home Assistant is on: motion and ring states go to the broker in plaintext", "prefix", ha.DiscoveryPrefix)
	}
	return au, nil
}

// run keeps the session up and publishes events until ctx is done.
func (u *agentUplink) run(ctx context.Context) {
	if u == nil {
		return
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		u.up.Run(ctx)
	}()
	if u.ha != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u.ha.Run(ctx)
		}()
	}
	if err := u.session.Run(ctx); err != nil {
		u.log.Error("mqtt session ended", "err", err)
	}
	wg.Wait()
}

// ownerRecipients returns the owners' recipients, the ones events are
// encrypted to.
func (a *Agent) ownerRecipients() []age.Recipient {
	a.mu.Lock()
	owners := a.owners
	a.mu.Unlock()
	rs, err := consent.ParseRecipients(owners)
	if err != nil {
		return nil
	}
	return rs
}

// trigger announces a sensor event (a GPIO sensor or the sim board's
// trigger) on the bus; the recorder records it from its subscription
// (runTriggers), the uplink and the LED see it there too.
func (a *Agent) trigger(ev capture.Event) {
	kind := events.Motion
	if ev.Kind == capture.Ring {
		kind = events.Ring
	}
	a.mu.Lock()
	a.lastEvent = &api.Event{Time: ev.Time, Kind: string(ev.Kind)}
	a.mu.Unlock()
	a.bus.Publish(events.Event{Kind: kind, Time: ev.Time, Trigger: string(ev.Kind)})
}

// uploads returns the gate's Deliverer: with the uplink on, disclosures
// are uploaded through the relay (never copied to disclosures/ first);
// nil otherwise (the gate writes them into disclosures/).
func (a *Agent) uploads(cfg config.MQTT) gate.Deliverer {
	if cfg.Broker == "" {
		return nil
	}
	a.upDel = &uploadDeliverer{}
	return a.upDel
}

// uploadDeliverer hands the gate's jobs to the uploader, which exists once
// the MQTT session does.
type uploadDeliverer struct {
	mu sync.Mutex
	u  *uplink.Uploader
}

func (d *uploadDeliverer) set(u *uplink.Uploader) {
	if d == nil {
		return
	}
	d.mu.Lock()
	d.u = u
	d.mu.Unlock()
}

// Deliver uploads the job's pieces.
func (d *uploadDeliverer) Deliver(ctx context.Context, del gate.Delivery) error {
	d.mu.Lock()
	u := d.u
	d.mu.Unlock()
	if u == nil {
		return errors.New("device: the uplink is not running yet")
	}
	ps := make([]uplink.Piece, len(del.Pieces))
	for i, p := range del.Pieces {
		ps[i] = uplink.Piece{Name: p.Name, Size: p.Size, Open: p.Open}
	}
	j := del.Job
	err := u.Upload(ctx, uplink.Job{ID: j.ID, Authority: j.Authority, Clip: j.Clip, Delayed: j.Delayed}, ps)
	if errors.Is(err, uplink.ErrPermanent) {
		return fmt.Errorf("%w: %w", gate.ErrPermanent, err)
	}
	return err
}

// status is the uplink's state for doorward status.
func (au *agentUplink) status() *api.UplinkStatus {
	st := &api.UplinkStatus{Connected: au.session.Connected()}
	if ob := au.session.Outbox(); ob != nil {
		s := ob.Stats()
		st.Queued, st.QueuedBytes, st.Dropped = s.Queued, s.Bytes, s.Dropped
	}
	return st
}
