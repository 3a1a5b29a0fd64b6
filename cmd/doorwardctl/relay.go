package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/doorward/doorward/uplink/relay"
)

func newRelayCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		bf            brokerFlags
		listen, store string
		publicURL, id string
		verbose       bool
	)
	c := &cobra.Command{
		Use:   "relay --broker URL [--ca F --cert F --cert-key F] --listen ADDR --store s3://BUCKET?endpoint=URL&region=R | dir:PATH",
		Short: "Run the reference cloud relay (for operators)",
		Long: `relay is the reference cloud relay: stateless, holding no key. It answers
devices' upload requests with presigned PUTs for exactly the object asked
for, under the device's own prefix; forwards owner statements and legal
tokens from its HTTP API to the device and returns the device's own answer:

  POST /v1/devices/ID/legal               a legal-process token
  POST /v1/devices/ID/statements/KIND     an owner statement (grant, revoke, policy, enroll, reset, backup)
  GET  /v1/devices/ID/notices, /audit     an owner read, with its login (Authorization: Doorward <login>)
  GET  /v1/devices/ID/disclosures/JTI     a manifest of presigned GETs (the JTI is the capability)
  GET  /v1/devices/ID/backup[/CLIP]       the owners' backup: its clips, or a clip's manifest
  POST /v1/devices/ID/whep                a live view offer (WHEP); DELETE on its Location ends it

and serves disclosure manifests. The backup's listing and manifests need
an owner login (Authorization: Doorward <login>) that the relay has the
device check over cmd before it reads the store. Live view offers and answers travel through
it; the video never does (it flows peer to peer, or through TURN). --store s3://... uses an S3-compatible
store with credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY;
--store dir:PATH keeps objects in a local directory served by the relay
itself behind signed URLs (to try it on one machine; --public-url is the
URL devices and owners reach the relay at, by default http://ADDR). Run
several relays against one broker to scale out: each upload request is
served by exactly one of them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
			o := bf.Options
			o.ClientID = id
			st, h, err := relay.OpenStore(store, publicURL, nil)
			if err != nil {
				return err
			}
			r, err := relay.New(relay.Options{MQTT: o, Listen: listen, Store: st, StoreHandler: h, Log: log})
			if err != nil {
				return err
			}
			if d, ok := st.(*relay.DirStore); ok && publicURL == "" {
				d.SetBase("http://" + r.Addr())
			}
			fmt.Fprintf(stdout, "relay listening on http://%s\n", r.Addr())
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := r.Run(ctx); err != nil && ctx.Err() != context.Canceled {
				return err
			}
			return nil
		},
	}
	bf.add(c)
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:8090", "the HTTP API's `ADDR`")
	c.Flags().StringVar(&store, "store", "", "where uploads go: s3://BUCKET?endpoint=URL&region=R or dir:PATH")
	c.Flags().StringVar(&publicURL, "public-url", "", "the `URL` the dir store's signed URLs start with (default http://ADDR)")
	c.Flags().StringVar(&id, "client-id", "", "MQTT client `ID` (default: doorward-relay-RANDOM)")
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "log every presigned upload")
	c.MarkFlagRequired("store")
	return c
}
