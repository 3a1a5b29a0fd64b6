package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/doorward/doorward/device/atomicfile"
	"github.com/doorward/doorward/device/lanclient"
	"github.com/doorward/doorward/uplink/live"
	"github.com/doorward/doorward/uplink/wire"
)

func newLiveCmd(stdout, stderr io.Writer) *cobra.Command {
	var deviceURL, keyPath, out, relayURL string
	var seconds float64
	var asJSON, force bool
	c := &cobra.Command{
		Use:   "live --device URL -i KEY [--relay URL] [--seconds N] [-o OUT.mp4] [--json]",
		Short: "Watch the live view from the command line and measure it",
		Long: `live is a WebRTC viewer (WHEP): it makes an offer, signs a live statement
bound to the offer's DTLS fingerprint with KEY, sends both to the device and
receives its H.264 stream for N seconds (default 5), then ends the session.
It prints the time to the first frame, the frames, frame rate and bytes, and
the ICE candidate pair. With -o it saves what it received as an MP4.

KEY is your owner key (from doorwardctl keygen; the device must be paired
with it), or a grantee's key that a grant with --live names: an owner key
file whose signing half the grant names, or an issuer key file.

With --relay, --device is the device ID and the offer and answer travel
through the cloud relay and the device's MQTT connection; the video still
flows directly between the device and this computer (or through TURN).`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if seconds <= 0 {
				return fmt.Errorf("live: --seconds %v: expected a positive number", seconds)
			}
			key, deviceID, client, err := liveViewer(ctx, relayURL, deviceURL, keyPath)
			if err != nil {
				return fmt.Errorf("live: %w", err)
			}
			var commit func() error
			opts := live.WatchOptions{Sign: live.Signer(key, deviceID), Signal: client, Duration: time.Duration(seconds * float64(time.Second))}
			if err := checkVideoOutput(out, force); err != nil {
				return fmt.Errorf("live: %w", err)
			}
			switch out {
			case "":
			case "-":
				// The stream goes to stdout; the figures to stderr.
				opts.MP4, stdout = stdout, cmd.ErrOrStderr()
			default:
				f, err := atomicfile.Create(out, 0o600)
				if err != nil {
					return fmt.Errorf("live: -o: %w", err)
				}
				defer f.Abort()
				opts.MP4 = f
				commit = f.Commit
			}
			res, err := live.Watch(ctx, opts)
			if err == nil && commit != nil {
				if err := commit(); err != nil {
					return fmt.Errorf("live: -o: %w", err)
				}
			}
			if err != nil {
				return fmt.Errorf("live: %w", err)
			}
			return printLive(stdout, res, asJSON)
		},
	}
	c.Flags().StringVar(&deviceURL, "device", "", deviceUsage)
	c.Flags().StringVar(&relayURL, "relay", "", "reach the device through this cloud relay `URL` (--device is then the device ID)")
	c.Flags().StringVarP(&keyPath, "identity", "i", "", "your owner key, or a grantee key `FILE`")
	c.Flags().Float64Var(&seconds, "seconds", 5, "watch for `N` seconds")
	outputFlags(c, &out, &force, "the stream as an MP4")
	c.Flags().BoolVar(&asJSON, "json", false, "print the figures as JSON")
	c.MarkFlagRequired("identity")
	return c
}

// liveViewer loads KEY and finds the device: an owner key paired with the
// device is checked against its pin; a grantee's key takes the device's word
// for its ID (the statement is bound to this peer's offer, so it is of no
// use to anyone else).
func liveViewer(ctx context.Context, relayURL, deviceURL, keyPath string) (ed25519.PrivateKey, string, *lanclient.Client, error) {
	if keyPath == "" {
		return nil, "", nil, errors.New(`required flag "identity" (-i KEY) not set`)
	}
	if relayURL != "" {
		id, err := resolveDeviceID(deviceURL, keyPath)
		if err != nil {
			return nil, "", nil, err
		}
		return liveViewerRelay(relayURL, id, keyPath)
	}
	deviceURL, err := resolveDevice(deviceURL, keyPath)
	if err != nil {
		return nil, "", nil, err
	}
	if owner, ownerErr := loadOwner(keyPath); ownerErr == nil {
		s, err := connect(ctx, deviceURL, keyPath)
		if err == nil {
			return owner.SigningKey(), s.id, s.client, nil
		}
		if !errors.Is(err, errNotPaired) {
			return nil, "", nil, err // a pin that does not match: never fall back to an unpinned connection
		}
		// Not paired with this key: a grantee's owner-style key.
		client, err := lanclient.New(deviceURL)
		if err != nil {
			return nil, "", nil, err
		}
		info, err := client.Info(ctx)
		if err != nil {
			return nil, "", nil, err
		}
		return owner.SigningKey(), info.DeviceID, client, nil
	}
	key, err := readIssuerKey(keyPath)
	if err != nil {
		return nil, "", nil, fmt.Errorf("%s is neither an owner key (doorwardctl keygen) nor an issuer key: %w", keyPath, err)
	}
	client, err := lanclient.New(deviceURL)
	if err != nil {
		return nil, "", nil, err
	}
	info, err := client.Info(ctx)
	if err != nil {
		return nil, "", nil, err
	}
	return key, info.DeviceID, client, nil
}

// liveViewerRelay is liveViewer through a relay. The relay cannot vouch
// for the device, and need not: the statement names the device ID as its
// audience and is bound to this peer's own offer, so no other device or
// peer can use it.
func liveViewerRelay(relayURL, device, keyPath string) (ed25519.PrivateKey, string, *lanclient.Client, error) {
	if err := wire.CheckDeviceID(device); err != nil {
		return nil, "", nil, fmt.Errorf("with --relay, --device is the device ID (doorward id prints it): %q is not one", device)
	}
	var key ed25519.PrivateKey
	if owner, err := loadOwner(keyPath); err == nil {
		key = owner.SigningKey()
	} else if key, err = readIssuerKey(keyPath); err != nil {
		return nil, "", nil, fmt.Errorf("%s is neither an owner key (doorwardctl keygen) nor an issuer key: %w", keyPath, err)
	}
	client, err := lanclient.NewRelay(relayURL, device)
	return key, device, client, err
}

func printLive(w io.Writer, r live.Result, asJSON bool) error {
	if asJSON {
		b, err := json.MarshalIndent(struct {
			FirstFrameMS float64 `json:"first_frame_ms"`
			Frames       int     `json:"frames"`
			FPS          float64 `json:"fps"`
			Bytes        int64   `json:"bytes"`
			Seconds      float64 `json:"seconds"`
			Width        int     `json:"width"`
			Height       int     `json:"height"`
			Candidates   string  `json:"candidate_pair"`
			Relayed      bool    `json:"relayed"`
			Ended        bool    `json:"ended_by_device"`
		}{float64(r.FirstFrame.Microseconds()) / 1000, r.Frames, r.FPS, r.Bytes, r.Watched.Seconds(), r.Width, r.Height, r.Candidates, r.Relayed, r.EndedByDevice}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	fmt.Fprintf(w, "first frame:    %.0f ms\n", float64(r.FirstFrame.Microseconds())/1000)
	fmt.Fprintf(w, "frames:         %d in %.1f s (%.1f fps)\n", r.Frames, r.Watched.Seconds(), r.FPS)
	fmt.Fprintf(w, "bytes:          %d\n", r.Bytes)
	fmt.Fprintf(w, "picture:        %dx%d\n", r.Width, r.Height)
	fmt.Fprintf(w, "candidate pair: %s\n", r.Candidates)
	if r.EndedByDevice {
		fmt.Fprintln(w, "the device ended the session")
	}
	return nil
}
