package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/uplink/live"
	"github.com/doorward/doorward/uplink/live/viewer"
)

func newViewCmd(stdout, stderr io.Writer) *cobra.Command {
	var deviceURL, ownerPath, listen string
	c := &cobra.Command{
		Use:   "view --device URL -i owner.key [--relay URL] [--listen 127.0.0.1:0]",
		Short: "Watch the device live in your browser, with its clips, notices and audit log",
		Long: `view serves the owner's viewer page from this computer's loopback and
prints its URL: open it in a browser. The URL carries a random token that
the page's every request must bring, and the server answers only to
127.0.0.1, localhost or [::1] on its own port.

The page makes its own WebRTC offer; view signs a live statement bound to
that offer with owner.key (the key never enters the browser) and forwards
it to the device, over the LAN or with --relay through the cloud relay
(--device is then the device ID). The video flows from the device to the
browser directly. Over the LAN the page also lists the clips (click one to
play it: view fetches its encrypted pieces and decrypts them in memory),
the owner notices and whether the audit log verifies; on the sim board it
has buttons that fire motion and ring. Stop with Ctrl-C.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			s, err := connect(ctx, deviceURL, ownerPath)
			if err != nil {
				return fmt.Errorf("view: %w", err)
			}
			ids, err := readIdentities([]string{ownerPath})
			if err != nil {
				return err
			}
			opts := viewer.Options{
				Listen: listen, DeviceID: s.id, Sign: live.Signer(s.owner.SigningKey(), s.id), Signal: s.client,
				Identities: ids, Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
			}
			if s.client.RelayDevice != "" {
				opts.Via = "through the relay " + s.client.Base.String()
				opts.Owner = relayReads{ownerReads{s}}
			} else {
				opts.Via = "on the LAN at " + s.client.Base.String()
				opts.Owner = ownerReads{s}
			}
			v, err := viewer.New(opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "open %s\n", v.URL())
			fmt.Fprintln(stderr, "(the token in the URL lets whoever has it watch as you; stop with Ctrl-C)")
			return v.Run(ctx)
		},
	}
	ownerFlags(c, &deviceURL, &ownerPath)
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "serve the page on this loopback `ADDR` (port 0: any free port)")
	return c
}

// errLANOnly is what the page shows for the reads a relay does not carry.
var errLANOnly = errors.New("read on the LAN only (the relay carries no clip list, clip or status, which would tell it when someone came to the door): run doorwardctl view with the device's LAN URL")

// relayReads is the viewer's Owner through a relay: notices (encrypted to
// the owners) and the audit log (checked against the device key pinned at
// pairing) are forwarded with their single-use logins, as notices and
// audit verify --relay do; the rest stays on the LAN.
type relayReads struct{ ownerReads }

func (relayReads) Clips(context.Context) ([]api.OwnerClip, error) { return nil, errLANOnly }
func (relayReads) Piece(context.Context, string, api.Piece, io.Writer) error {
	return errLANOnly
}
func (relayReads) Status(context.Context) (api.Status, error) { return api.Status{}, errLANOnly }
func (relayReads) Trigger(context.Context, string) error      { return errLANOnly }

// ownerReads is the viewer's Owner over a pinned LAN session: each read
// signs its own single-use login.
type ownerReads struct{ s *session }

func (o ownerReads) Clips(ctx context.Context) ([]api.OwnerClip, error) {
	login, err := o.s.login()
	if err != nil {
		return nil, err
	}
	return o.s.client.Clips(ctx, login)
}

func (o ownerReads) Piece(ctx context.Context, clip string, p api.Piece, w io.Writer) error {
	login, err := o.s.login()
	if err != nil {
		return err
	}
	return o.s.client.Piece(ctx, login, clip, p, w)
}

func (o ownerReads) Notices(ctx context.Context) ([]api.NoticeBody, error) {
	login, err := o.s.login()
	if err != nil {
		return nil, err
	}
	items, err := o.s.client.Notices(ctx, login)
	if err != nil {
		return nil, err
	}
	var out []api.NoticeBody
	for _, it := range items {
		b, err := api.DecryptNotice(it.Body, o.s.owner.Identity())
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			continue // encrypted to the owners before this key was enrolled
		}
		if err != nil {
			return nil, fmt.Errorf("notice %d is damaged: %w", it.ID, err)
		}
		out = append(out, b)
	}
	return out, nil
}

func (o ownerReads) Status(ctx context.Context) (api.Status, error) {
	login, err := o.s.login()
	if err != nil {
		return api.Status{}, err
	}
	return o.s.client.Status(ctx, login)
}

func (o ownerReads) Audit(ctx context.Context) (viewer.AuditStatus, error) {
	login, err := o.s.login()
	if err != nil {
		return viewer.AuditStatus{}, err
	}
	r, err := o.s.client.Audit(ctx, login, 0)
	if err != nil {
		return viewer.AuditStatus{}, err
	}
	st := viewer.AuditStatus{Entries: r.Checkpoint.Size, Time: r.Checkpoint.Time, Verified: true}
	if err := audit.Verify(o.s.key, r.Checkpoint, r.Entries, nil, nil); err != nil {
		st.Verified, st.Error = false, err.Error()
	}
	for _, e := range r.Entries {
		if e.Kind == audit.KindLiveSession {
			st.LiveSessions++
		}
	}
	return st, nil
}

func (o ownerReads) Trigger(ctx context.Context, event string) error {
	login, err := o.s.login()
	if err != nil {
		return err
	}
	return o.s.client.SimTrigger(ctx, login, event)
}
