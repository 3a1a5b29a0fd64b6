package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/doorward/doorward/device/events"
	"github.com/doorward/doorward/uplink/client"
)

// brokerFlags are the flags of every command that talks to an MQTT broker.
type brokerFlags struct {
	client.Options
}

func (f *brokerFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.Broker, "broker", "", "the MQTT broker's `URL` (tcp://, tls://, ws://, wss://)")
	c.Flags().StringVar(&f.CA, "ca", "", "the broker's CA certificate (PEM `FILE`; default: the system roots)")
	c.Flags().StringVar(&f.Cert, "cert", "", "client certificate (PEM `FILE`)")
	c.Flags().StringVar(&f.Key, "cert-key", "", "the client certificate's private key (PEM `FILE`)")
	aliases(c, map[string]string{"key": "cert-key"})
	c.Flags().StringVar(&f.Username, "username", "", "MQTT user `NAME`")
	c.Flags().StringVar(&f.PasswordFile, "password-file", "", "`FILE` holding the MQTT password")
	c.MarkFlagRequired("broker")
}

func newEventsCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		bf             brokerFlags
		device         string
		identityFiles  []string
		follow, asJSON bool
		clientID       string
	)
	c := &cobra.Command{
		Use:   "events --broker URL --device ID -i owner.key [--follow] [--json]",
		Short: "Print a device's events from its MQTT broker, decrypted",
		Long: `events reads the device's events topic (doorward/v1/ID/events) from the
broker. Every event is age-encrypted to the owners: the broker cannot read
them, and -i must name an owner key. The broker keeps a session for this
command (client id doorwardctl-events-ID unless --client-id says otherwise):
without --follow it prints what arrived since the last run and exits once
nothing new comes for two seconds; with --follow it keeps printing until
interrupted. --json prints one JSON object per line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ids, err := readIdentities(identityFiles)
			if err != nil {
				return err
			}
			if device, err = resolveDeviceID(device, identityFiles[0]); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			o := bf.Options
			o.ClientID = clientID
			enc := json.NewEncoder(stdout)
			var undecryptable int
			err = client.Events(ctx, o, client.EventsOptions{
				Device: device, Identities: ids, Follow: follow,
				Undecryptable: func(id uint64, err error) {
					undecryptable++
					if undecryptable == 1 {
						fmt.Fprintf(stderr, "doorwardctl: an event (id %d) does not open with %s: %v\n", id, strings.Join(identityFiles, ", "), err)
					}
				},
			}, func(_ uint64, e events.Event) error {
				if asJSON {
					return enc.Encode(e)
				}
				_, err := fmt.Fprintln(stdout, formatEvent(e))
				return err
			})
			if err != nil && ctx.Err() == context.Canceled && follow {
				return nil
			}
			return err
		},
	}
	bf.add(c)
	c.Flags().StringVar(&device, "device", "", "the device's `ID`, or your name for it (optional when -i paired with one device)")
	c.Flags().StringArrayVarP(&identityFiles, "identity", "i", nil, "owner key (age identity `FILE`; repeatable)")
	c.Flags().BoolVar(&follow, "follow", false, "keep printing events as they come")
	c.Flags().BoolVar(&asJSON, "json", false, "one JSON object per event")
	c.Flags().StringVar(&clientID, "client-id", "", "MQTT client `ID` of this reader's session")
	c.MarkFlagRequired("identity")
	return c
}

// formatEvent prints an event on one line: time, kind, then what it
// carries.
func formatEvent(e events.Event) string {
	var b strings.Builder
	b.WriteString(e.Time.Local().Format(time.DateTime))
	b.WriteString("  ")
	b.WriteString(string(e.Kind))
	add := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "  %s=%s", k, v)
		}
	}
	add("clip", e.Clip)
	if e.Segment > 0 {
		add("segments", fmt.Sprint(e.Segment))
	}
	add("trigger", e.Trigger)
	add("decision", e.Decision)
	add("outcome", e.Outcome)
	add("authority", e.Authority)
	add("job", e.Job)
	add("state", e.State)
	if e.Notice > 0 {
		add("notice", fmt.Sprint(e.Notice))
	}
	if e.Kind == events.ClockState {
		add("synced", fmt.Sprint(e.Synced))
	}
	add("note", e.Note)
	return b.String()
}
