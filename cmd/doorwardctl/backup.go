package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/device/lanclient"
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
nothing. Through a relay: --relay URL --device ID.`,
		Args: exactArgs(1, "on or off"),
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
	return c
}
