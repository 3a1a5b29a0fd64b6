package selftest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/doorward/doorward/device/clock"
)

// Status is the outcome of one check.
type Status string

// The outcomes. Only Fail of a required check makes a report fail.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip"
	// Overridden means the check did not look at real hardware because the
	// board says so (the sim board's clock and board detection); it is never
	// reported as a pass.
	Overridden Status = "overridden"
)

// Result is what a check found.
type Result struct {
	Status Status
	// Detail says what was found, or why the check was skipped.
	Detail string
	// Figures are the measurements, named with their unit (e.g. "fps",
	// "write_mb_per_s", "fsync_ms_p50").
	Figures map[string]float64
}

// Check is one step of the selftest.
type Check struct {
	// Name identifies the check in the table and the JSON report.
	Name string
	// Required checks make the report fail when they fail.
	Required bool
	// Run performs the check. It must honour ctx and return, not panic, on
	// every outcome.
	Run func(ctx context.Context) Result
}

// Runner runs checks in order.
type Runner struct {
	// Progress receives one line when each check starts and one when it ends
	// (normally stderr); nil means none.
	Progress io.Writer
	// Clock times the checks and stamps the report; nil means the real clock.
	Clock clock.Clock
	// Log receives a record per check; nil means none.
	Log *slog.Logger
}

// Report is the outcome of a selftest run.
type Report struct {
	Board   string        `json:"board"`
	Version string        `json:"version"`
	Time    time.Time     `json:"time"`
	OK      bool          `json:"ok"`
	Checks  []CheckReport `json:"checks"`
}

// CheckReport is one check's line in the report.
type CheckReport struct {
	Name     string             `json:"name"`
	Required bool               `json:"required"`
	Status   Status             `json:"status"`
	Detail   string             `json:"detail"`
	Figures  map[string]float64 `json:"figures"`
	Seconds  float64            `json:"seconds"`
}

// Run runs the checks in order and returns the report. A check that panics
// is reported as failed (the panic is a bug in the check, and the tester
// still gets the rest of the table).
func (r Runner) Run(ctx context.Context, board, version string, checks []Check) Report {
	clk := r.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	progress := r.Progress
	if progress == nil {
		progress = io.Discard
	}
	rep := Report{Board: board, Version: version, Time: clk.Now().UTC(), OK: true}
	width := len(strconv.Itoa(len(checks)))
	for i, c := range checks {
		fmt.Fprintf(progress, "[%*d/%d] %s ...\n", width, i+1, len(checks), c.Name)
		start := clk.Now()
		res := runOne(ctx, c)
		took := clk.Now().Sub(start)
		cr := CheckReport{
			Name: c.Name, Required: c.Required, Status: res.Status, Detail: res.Detail,
			Figures: cleanFigures(res.Figures), Seconds: math.Round(took.Seconds()*1000) / 1000,
		}
		if c.Required && cr.Status == Fail {
			rep.OK = false
		}
		rep.Checks = append(rep.Checks, cr)
		fmt.Fprintf(progress, "[%*d/%d] %s: %s (%s)\n", width, i+1, len(checks), c.Name, cr.Status, took.Round(time.Millisecond))
		log.Debug("selftest check", "check", c.Name, "status", cr.Status, "detail", cr.Detail, "took", took)
	}
	return rep
}

// runOne runs a check, turning a panic or an invalid status into a failure.
func runOne(ctx context.Context, c Check) (res Result) {
	defer func() {
		if p := recover(); p != nil {
			res = Result{Status: Fail, Detail: fmt.Sprintf("selftest: check %q panicked: %v", c.Name, p)}
		}
	}()
	if c.Run == nil {
		return Result{Status: Fail, Detail: "selftest: check has no function"}
	}
	if err := ctx.Err(); err != nil {
		return Result{Status: Skip, Detail: "selftest interrupted: " + err.Error()}
	}
	res = c.Run(ctx)
	switch res.Status {
	case Pass, Warn, Fail, Skip, Overridden:
	default:
		return Result{Status: Fail, Detail: fmt.Sprintf("selftest: check returned status %q (valid: pass, warn, fail, skip, overridden); detail: %s", res.Status, res.Detail)}
	}
	return res
}

// cleanFigures drops NaN and infinite figures (JSON cannot carry them) and
// always returns a non-nil map so the JSON shows {} rather than null.
func cleanFigures(in map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(in))
	for k, v := range in {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out[k] = v
		}
	}
	return out
}

// Failed returns the names of the required checks that failed.
func (rep Report) Failed() []string {
	var names []string
	for _, c := range rep.Checks {
		if c.Required && c.Status == Fail {
			names = append(names, c.Name)
		}
	}
	return names
}

// WriteJSON writes the report as indented JSON.
func (rep Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("selftest: json report: %w", err)
	}
	return nil
}

// WriteTable writes the report as a table: one line per check with its
// status, whether it is required, its detail and its figures.
func (rep Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "CHECK\tSTATUS\tREQUIRED\tDETAIL\n")
	for _, c := range rep.Checks {
		req := "no"
		if c.Required {
			req = "yes"
		}
		detail := c.Detail
		if figs := formatFigures(c.Figures); figs != "" {
			detail += " [" + figs + "]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, strings.ToUpper(string(c.Status)), req, detail)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("selftest: table: %w", err)
	}
	verdict := "PASS: every required check passed"
	if !rep.OK {
		verdict = "FAIL: required checks failed: " + strings.Join(rep.Failed(), ", ")
	}
	_, err := fmt.Fprintf(w, "\nboard %s, doorward %s, %s\n%s\n", rep.Board, rep.Version, rep.Time.Format(time.RFC3339), verdict)
	return err
}

// formatFigures prints figures sorted by name, to 4 significant digits
// (whole numbers from 1000 up).
func formatFigures(f map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(f)) {
		v := f[k]
		s := strconv.FormatFloat(v, 'g', 4, 64)
		if math.Abs(v) >= 1000 {
			s = strconv.FormatFloat(v, 'f', 0, 64)
		}
		parts = append(parts, k+"="+s)
	}
	return strings.Join(parts, " ")
}
