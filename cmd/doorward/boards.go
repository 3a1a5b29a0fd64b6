package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/doorward/doorward/boards"
	"github.com/doorward/doorward/device"
	"github.com/doorward/doorward/device/config"
)

// boardInfo is one row of `doorward boards --json`.
type boardInfo struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Models      []string `json:"models"`
	// Builds are the release builds that run on the board, the recommended
	// one first; ["any"] means every build.
	Builds []string `json:"builds"`
	// Header is the board's pin header ("rpi40"), empty when unknown.
	Header string   `json:"header,omitempty"`
	Camera string   `json:"camera"`
	Size   string   `json:"size"`
	FPS    int      `json:"fps"`
	PIR    *pinInfo `json:"pir"`
	Button *pinInfo `json:"button"`
	LED    *pinInfo `json:"led"`
	Reset  *pinInfo `json:"reset"`
	Sim    bool     `json:"sim,omitempty"`
}

// pinInfo is one GPIO line of a board; null in the JSON when the board has
// none for that role.
type pinInfo struct {
	// Line is the GPIO line's name, e.g. "GPIO17".
	Line string `json:"line"`
	// HeaderPin is its physical header pin (1 to 40), 0 (left out) when the
	// board's header is not known.
	HeaderPin int `json:"header_pin,omitempty"`
	// Label is the line with its pin, "GPIO17 (pin 11)", as the table shows it.
	Label string `json:"label"`
}

func newBoardsCmd() *cobra.Command {
	var (
		asJSON     bool
		configPath string
	)
	cmd := &cobra.Command{
		Use:   "boards",
		Short: "List the board profiles with their builds, GPIO lines and camera defaults",
		Long: `boards lists every board profile: the release builds that run on it (the
recommended one first), the GPIO line of each sensor with its physical pin on
the Raspberry Pi 40-pin header, and the camera defaults. With --config, the
lines of the config's gpio: section replace the boards' own.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var gpio config.GPIO
			if configPath != "" {
				f, err := config.LoadFile(configPath)
				if err != nil {
					return err
				}
				gpio = f.Config.GPIO
			}
			var rows []boardInfo
			for _, p := range boards.All() {
				if !p.Sim { // the sim board takes no gpio: lines
					pins, err := device.ResolvePins(p, gpio)
					if err != nil {
						return fmt.Errorf("%s: %w", configPath, err)
					}
					p.Pins = pins
				}
				rows = append(rows, boardRow(p))
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := newJSONEncoder(out)
				return enc.Encode(rows)
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "BOARD\tBUILDS\tPIR\tBUTTON\tLED\tRESET\tCAMERA")
			label := func(p *pinInfo) string {
				if p == nil {
					return "-"
				}
				return p.Label
			}
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s %s@%d\n", r.Name, strings.Join(r.Builds, ", "),
					label(r.PIR), label(r.Button), label(r.LED), label(r.Reset), r.Camera, r.Size, r.FPS)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(out, "\nBuilds: the release archive to install (doorward-VERSION-linux-BUILD.tar.gz), the recommended one first.")
			fmt.Fprintln(out, "Pins: BCM GPIO numbers with the physical pin of the 40-pin header.")
			if configPath != "" {
				fmt.Fprintf(out, "Lines: as %s's gpio: section sets them over each board's own.\n", configPath)
			} else {
				fmt.Fprintln(out, "Lines can be changed in the config (gpio: pir, button, led, reset; \"none\" disconnects one); --config FILE shows them.")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the profiles as JSON")
	cmd.Flags().StringVar(&configPath, "config", "", "YAML config file whose gpio: lines replace the boards' own")
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
	pin := func(line string) *pinInfo {
		if line == "" {
			return nil
		}
		return &pinInfo{Line: line, HeaderPin: p.HeaderPin(line), Label: p.PinLabel(line)}
	}
	return boardInfo{
		Name: p.Name, Description: p.Description, Models: models, Builds: p.Builds, Header: p.Header,
		Camera: strings.TrimSpace(camera), Size: fmt.Sprintf("%dx%d", c.Width, c.Height), FPS: c.FPS,
		PIR: pin(p.Pins.PIR), Button: pin(p.Pins.Button), LED: pin(p.Pins.LED), Reset: pin(p.Pins.Reset), Sim: p.Sim,
	}
}
