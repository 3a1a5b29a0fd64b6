package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/doorward/doorward/boards"
)

// boardInfo is one row of `doorward boards --json`.
type boardInfo struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Models      []string `json:"models"`
	GOARCH      string   `json:"goarch"`
	GOARM       string   `json:"goarm,omitempty"`
	Camera      string   `json:"camera"`
	Size        string   `json:"size"`
	FPS         int      `json:"fps"`
	PIR         string   `json:"pir"`
	Button      string   `json:"button"`
	LED         string   `json:"led"`
	Reset       string   `json:"reset"`
	Sim         bool     `json:"sim,omitempty"`
}

func newBoardsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "boards",
		Short: "List the board profiles with their GPIO lines and camera defaults",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rows []boardInfo
			for _, p := range boards.All() {
				rows = append(rows, boardRow(p))
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := newJSONEncoder(out)
				return enc.Encode(rows)
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "BOARD\tARCH\tPIR\tBUTTON\tLED\tRESET\tCAMERA")
			dash := func(s string) string {
				if s == "" {
					return "-"
				}
				return s
			}
			for _, r := range rows {
				arch := r.GOARCH
				if r.GOARM != "" {
					arch += "v" + r.GOARM
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s %s@%d\n", r.Name, arch, dash(r.PIR), dash(r.Button), dash(r.LED), dash(r.Reset), r.Camera, r.Size, r.FPS)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(out, "\nLines can be changed in the config (gpio: pir, button, led, reset; \"none\" disconnects one).")
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the profiles as JSON")
	return cmd
}

func boardRow(p boards.Profile) boardInfo {
	c := p.Camera
	camera := c.Source
	switch c.Source {
	case boards.SourceV4L2:
		camera += " " + c.Device
	case boards.SourceExec:
		camera += " " + c.Command[0]
	case boards.SourceFile:
		if c.File == "" {
			camera += " (built-in clip)"
		} else {
			camera += " " + c.File
		}
	}
	models := p.Models
	if models == nil {
		models = []string{}
	}
	return boardInfo{
		Name: p.Name, Description: p.Description, Models: models, GOARCH: p.GOARCH, GOARM: p.GOARM,
		Camera: strings.TrimSpace(camera), Size: fmt.Sprintf("%dx%d", c.Width, c.Height), FPS: c.FPS,
		PIR: p.Pins.PIR, Button: p.Pins.Button, LED: p.Pins.LED, Reset: p.Pins.Reset, Sim: p.Sim,
	}
}
