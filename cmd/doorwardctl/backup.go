package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/doorward/doorward/capture/vault/clipfile"
	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/lanclient"
	"github.com/doorward/doorward/uplink/wire"
)

func newBackupCmd(stdout, stderr io.Writer) *cobra.Command {
	var deviceURL, ownerPath string
	var media []string
	c := &cobra.Command{
		Use:   "backup on|off --device URL -i owner.key [--media video]",
		Short: "Turn the owner-consented cloud backup on or off",
		Long: `backup sends an owner-signed backup statement. While the backup is on, every
clip that starts afterwards is uploaded through the device's uplink, piece
by piece as it is recorded, re-wrapped for the owner keys alone (not the
device's vault key), so the cloud copy opens with an owner key and nothing
else; fetch it with doorwardctl fetch --relay URL --device ID --clip ID.
Off is the default; after off the next clip is not uploaded, nor what is
still waiting to be. Each change is an entry in the device's audit log.
A device without an uplink (mqtt.broker) records the choice and uploads
nothing. Through a relay: --relay URL --device ID. doorwardctl backup list
shows what the relay's store holds.`,
		Args: exactArgs(1, "on or off (or the subcommand list)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var on bool
			switch args[0] {
			case "on":
				on = true
			case "off":
				if cmd.Flags().Changed("media") {
					return errors.New("backup: --media goes with on; off turns the whole backup off")
				}
			default:
				return fmt.Errorf("backup: %q: expected on or off", printable(args[0]))
			}
			claims := consent.BackupClaims{On: on}
			if on {
				for _, m := range media {
					switch m {
					case consent.MediaVideo, consent.MediaAudio, consent.MediaSnapshot:
					default:
						return fmt.Errorf("backup: --media %q is not valid (valid: video, audio, snapshot)", printable(m))
					}
				}
				claims.Media = media
			}
			ctx := cmd.Context()
			s, err := connect(ctx, deviceURL, ownerPath)
			if err != nil {
				return err
			}
			claims.Claims = s.claims(statementLifetime)
			jws, err := s.sign(consent.KindBackup, claims)
			if err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			r, err := s.client.Backup(ctx, jws)
			var ae *lanclient.APIError
			if errors.As(err, &ae) && ae.Reason == "backup-unchanged" {
				fmt.Fprintf(stdout, "the cloud backup of device %s is already %s; nothing changed\n", s.id, args[0])
				return nil
			}
			if err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			if r.On {
				fmt.Fprintf(stdout, "cloud backup on for %s: clips that start from now on are uploaded, for the owner keys alone\n", printable(strings.Join(r.Media, ", ")))
			} else {
				fmt.Fprintln(stdout, "cloud backup off: nothing more is uploaded")
			}
			if !r.Uplink {
				fmt.Fprintf(stderr, "note: device %s has no uplink (mqtt.broker is empty), so nothing is uploaded until one is configured\n", s.id)
			}
			return nil
		},
	}
	ownerFlags(c, &deviceURL, &ownerPath)
	c.Flags().StringSliceVar(&media, "media", []string{consent.MediaVideo}, "what to back up with on (video; the device records nothing else yet)")
	c.AddCommand(newBackupListCmd(stdout))
	return c
}

// backedUpClip is one line of backup list: a clip the relay's store holds,
// with the start time its ID begins with.
type backedUpClip struct {
	Clip    string     `json:"clip"`
	Start   *time.Time `json:"start,omitempty"`
	Objects int        `json:"objects"`
	Bytes   int64      `json:"bytes"`
}

// newBackupListCmd lists the owners' cloud backup through the relay: the
// relay lists its store only for a request whose owner login the device
// accepts.
func newBackupListCmd(stdout io.Writer) *cobra.Command {
	var deviceURL, ownerPath string
	var asJSON bool
	c := &cobra.Command{
		Use:   "list --relay URL --device ID -i owner.key [--json]",
		Short: "List the clips of the cloud backup that the relay's store holds (owner only)",
		Long: `backup list asks the relay which clips of the device's cloud backup its
store holds: each clip's ID, the start time its ID begins with, how many
objects (the init segment and the media segments uploaded so far) and how
many bytes of ciphertext. The request carries a new single-use login signed
with owner.key; the relay has the device check it and lists nothing unless
the device accepts it. doorwardctl fetch --relay URL --device ID --clip ID
downloads one.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			relayURL, _, ok := strings.Cut(deviceURL, relayMarker)
			if !ok || relayURL == "" {
				return errors.New("backup list: --relay URL is required: the backup is in the relay's store (on the LAN, doorwardctl disclosures shows what the backup uploaded)")
			}
			ctx := cmd.Context()
			s, err := connect(ctx, deviceURL, ownerPath)
			if err != nil {
				return fmt.Errorf("backup list: %w", err)
			}
			login, err := s.login()
			if err != nil {
				return fmt.Errorf("backup list: %w", err)
			}
			var l wire.BackupList
			if err := relayGet(ctx, relayURL, "/v1/devices/"+s.id+"/backup", loginHeader(login), "backup list", "listing", &l); err != nil {
				return err
			}
			if l.Device != s.id {
				return fmt.Errorf("backup list: the relay listed device %q, not %s", printable(l.Device), s.id)
			}
			clips := []backedUpClip{}
			for _, c := range l.Clips {
				bc := backedUpClip{Clip: c.Clip, Objects: c.Objects, Bytes: c.Bytes}
				if t, err := clipfile.ClipStart(c.Clip); err == nil {
					bc.Start = &t
				}
				clips = append(clips, bc)
			}
			if asJSON {
				return printJSON(stdout, clips)
			}
			if len(clips) == 0 {
				fmt.Fprintf(stdout, "the relay's store holds no backed-up clip of device %s\n", s.id)
				return nil
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "CLIP\tSTART\tOBJECTS\tBYTES")
			for _, c := range clips {
				start := "-"
				if c.Start != nil {
					start = c.Start.Local().Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", printable(c.Clip), start, c.Objects, c.Bytes)
			}
			return tw.Flush()
		},
	}
	ownerFlags(c, &deviceURL, &ownerPath)
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return c
}
