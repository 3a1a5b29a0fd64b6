package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/doorward/doorward/capture/vault/clipfile"
	"github.com/doorward/doorward/device/api"
)

func newClipsCmd(stdout io.Writer) *cobra.Command {
	var deviceURL, ownerPath string
	var asJSON bool
	c := &cobra.Command{
		Use:   "clips --device URL -i owner.key [--json]",
		Short: "List the device's clips (owner only); fetch downloads one",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, login, err := ownerRead(ctx, deviceURL, ownerPath, "clips")
			if err != nil {
				return err
			}
			clips, err := s.client.Clips(ctx, login)
			if err != nil {
				return fmt.Errorf("clips: %w", err)
			}
			if asJSON {
				if clips == nil {
					clips = []api.OwnerClip{}
				}
				return printJSON(stdout, clips)
			}
			if len(clips) == 0 {
				fmt.Fprintln(stdout, "no clips")
				return nil
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTART\tDURATION\tSIZE\tTRIGGER")
			for _, c := range clips {
				trigger := printable(c.Trigger)
				if c.Recording {
					trigger += " (recording)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%.1fs\t%.1f MB\t%s\n", printable(c.ID), c.Start.Local().Format(time.DateTime), c.Duration, float64(c.Size())/1e6, trigger)
			}
			return tw.Flush()
		},
	}
	ownerFlags(c, &deviceURL, &ownerPath)
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return c
}

// fetchClip downloads clip's pieces from the device's LAN API into a
// temporary directory (ciphertext only), then decrypts them into out with
// the owner key.
func fetchClip(ctx context.Context, deviceURL, ownerPath, clipID, out string, stdout, stderr io.Writer) error {
	s, err := connect(ctx, deviceURL, ownerPath)
	if err != nil {
		return err
	}
	ids, err := readIdentities([]string{ownerPath})
	if err != nil {
		return err
	}
	login, err := s.login()
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	clips, err := s.client.Clips(ctx, login)
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	var clip *api.OwnerClip
	for i := range clips {
		if clips[i].ID == clipID {
			clip = &clips[i]
		}
	}
	if clip == nil {
		return fmt.Errorf("fetch: device %s has no clip %s (doorwardctl clips lists them)", s.id, printable(clipID))
	}
	if len(clip.Pieces) < 2 {
		return fmt.Errorf("fetch: clip %s has no complete segment yet", printable(clipID))
	}
	if clip.Recording {
		fmt.Fprintf(stderr, "clip %s is still recording: fetching the %d segments complete now\n", printable(clipID), len(clip.Pieces)-1)
	}
	tmp, err := os.MkdirTemp("", "doorwardctl-fetch-")
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	defer os.RemoveAll(tmp)
	progress := isTerminalWriter(stderr)
	total, done := clip.Size(), int64(0)
	for i, p := range clip.Pieces {
		segment := strings.HasSuffix(p.Name, clipfile.SegmentSuffix) && filepath.Base(p.Name) == p.Name && !strings.HasPrefix(p.Name, ".")
		if p.Name != clipfile.InitName && !segment {
			return fmt.Errorf("fetch: the device names a piece %q", printable(p.Name))
		}
		if err := fetchPiece(ctx, s, clipID, p, filepath.Join(tmp, filepath.Base(p.Name))); err != nil {
			return err
		}
		done += p.Size
		if progress {
			fmt.Fprintf(stderr, "\rfetched %d/%d pieces, %.1f/%.1f MB", i+1, len(clip.Pieces), float64(done)/1e6, float64(total)/1e6)
		}
	}
	if progress {
		fmt.Fprintln(stderr)
	}
	err = writeStream(out, stdout, func(w io.Writer) error {
		return explainDecrypt(clipfile.DecryptClip(tmp, ids, w), []string{ownerPath}, clipID)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "clip %s: %d pieces, %.1f MB of ciphertext, decrypted into %s\n", printable(clipID), len(clip.Pieces), float64(total)/1e6, out)
	return nil
}

func fetchPiece(ctx context.Context, s *session, clipID string, p api.Piece, dst string) error {
	login, err := s.login()
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	err = s.client.Piece(ctx, login, clipID, p, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fetch: clip %s piece %s: %w", printable(clipID), printable(p.Name), err)
	}
	return nil
}
