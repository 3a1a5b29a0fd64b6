package device

import (
	"context"
	"log/slog"

	"github.com/doorward/doorward/device/config"
	"github.com/doorward/doorward/uplink/mqtt"
)

// openUplink prepares the MQTT session when mqtt.broker is set; nil
// otherwise (the uplink is off).
func openUplink(cfg config.MQTT, a *Agent) (*mqtt.Session, error) {
	if cfg.Broker == "" {
		return nil, nil
	}
	log := a.log.With("component", "mqtt")
	ob, err := mqtt.OpenOutbox(a.db, int64(cfg.OutboxMax), log)
	if err != nil {
		return nil, err
	}
	opts := mqtt.Options{
		Broker: cfg.Broker, ClientID: cfg.ClientID, DeviceID: a.id.ID(),
		Outbox: ob, Log: log, Username: cfg.Username,
	}
	if cfg.PasswordFile != "" {
		if opts.Password, err = mqtt.ReadPassword(cfg.PasswordFile); err != nil {
			return nil, err
		}
	}
	if cfg.CA != "" || cfg.Cert != "" {
		if opts.TLS, err = mqtt.TLSConfig(cfg.CA, cfg.Cert, cfg.Key); err != nil {
			return nil, err
		}
	}
	return mqtt.New(opts)
}

// runUplink keeps the MQTT session up until ctx is done.
func runUplink(ctx context.Context, s *mqtt.Session, log *slog.Logger) {
	if s == nil {
		return
	}
	if err := s.Run(ctx); err != nil {
		log.Error("mqtt session ended", "err", err)
	}
}
