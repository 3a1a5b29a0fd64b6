package selftest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// mmcBlockMajor is the Linux block major number of MMC/SD cards (mmcblk*).
const mmcBlockMajor = 179

// SwapCheck warns when swap lives on the SD card: RAM pages holding
// plaintext pre-roll could be written there and survive power-off.
type SwapCheck struct {
	// SwapsPath is normally /proc/swaps.
	SwapsPath string
	// MountInfoPath is normally /proc/self/mountinfo; it locates swap files.
	MountInfoPath string
}

// Swap is one active swap area from /proc/swaps.
type Swap struct {
	Filename string
	Type     string // "partition" or "file"
	SizeKiB  int64
}

// ParseSwaps parses the contents of /proc/swaps.
func ParseSwaps(r io.Reader) ([]Swap, error) {
	sc := bufio.NewScanner(r)
	var swaps []Swap
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if line == 1 || strings.TrimSpace(text) == "" { // header: Filename Type Size Used Priority
			continue
		}
		f := strings.Fields(text)
		if len(f) < 3 {
			return nil, fmt.Errorf("selftest: swaps line %d: %q has %d fields (valid: Filename Type Size Used Priority)", line, text, len(f))
		}
		size, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("selftest: swaps line %d: size %q is not a number of KiB", line, f[2])
		}
		// The kernel escapes spaces in names as \040.
		swaps = append(swaps, Swap{Filename: strings.ReplaceAll(f[0], `\040`, " "), Type: f[1], SizeKiB: size})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("selftest: swaps: %w", err)
	}
	return swaps, nil
}

// Mount is one line of /proc/self/mountinfo.
type Mount struct {
	Major, Minor int
	MountPoint   string
	Source       string
}

// ParseMountInfo parses the contents of /proc/self/mountinfo.
func ParseMountInfo(r io.Reader) ([]Mount, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var mounts []Mount
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 7 || sep < 0 || sep+2 >= len(f) {
			return nil, fmt.Errorf("selftest: mountinfo line %d: %q is not a mountinfo line (valid: id parent major:minor root mountpoint options ... - fstype source options)", line, sc.Text())
		}
		maj, min, ok := strings.Cut(f[2], ":")
		major, err1 := strconv.Atoi(maj)
		minor, err2 := strconv.Atoi(min)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("selftest: mountinfo line %d: device %q is not major:minor", line, f[2])
		}
		mounts = append(mounts, Mount{Major: major, Minor: minor, MountPoint: unescapeMount(f[4]), Source: unescapeMount(f[sep+2])})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("selftest: mountinfo: %w", err)
	}
	return mounts, nil
}

// unescapeMount undoes the octal escapes (\040 and friends) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountOf returns the mount holding path: the one with the longest mount
// point that is path or a parent of it (the last such, as later mounts
// cover earlier ones).
func mountOf(path string, mounts []Mount) (Mount, bool) {
	var best Mount
	found := false
	for _, m := range mounts {
		if m.MountPoint == path || m.MountPoint == "/" || strings.HasPrefix(path, strings.TrimSuffix(m.MountPoint, "/")+"/") {
			if !found || len(m.MountPoint) >= len(best.MountPoint) {
				best, found = m, true
			}
		}
	}
	return best, found
}

// isSDCard says whether a block device (by name or major number) is an MMC
// or SD card.
func isSDCard(dev string, major int) bool {
	return major == mmcBlockMajor || strings.HasPrefix(filepath.Base(dev), "mmcblk")
}

// SwapResult judges the active swap areas. Swap in RAM (zram) passes; swap
// on the SD card, or in a file on it, warns; swap on another disk warns too,
// since any persistent swap can keep plaintext video past power-off.
func SwapResult(swaps []Swap, mounts []Mount) Result {
	var total int64
	var risky []string
	for _, s := range swaps {
		total += s.SizeKiB
		switch {
		case strings.HasPrefix(filepath.Base(s.Filename), "zram"):
			continue
		case s.Type == "partition":
			if isSDCard(s.Filename, -1) {
				risky = append(risky, s.Filename+" (partition on the SD card)")
			} else {
				risky = append(risky, s.Filename+" (partition on persistent storage)")
			}
		default:
			m, ok := mountOf(s.Filename, mounts)
			switch {
			case !ok:
				risky = append(risky, s.Filename+" (file on an unknown device)")
			case isSDCard(m.Source, m.Major):
				risky = append(risky, fmt.Sprintf("%s (file on the SD card, %s mounted at %s)", s.Filename, m.Source, m.MountPoint))
			case m.Major == 0: // tmpfs and friends live in RAM (and their pages swap like RAM)
				continue
			default:
				risky = append(risky, fmt.Sprintf("%s (file on %s)", s.Filename, m.Source))
			}
		}
	}
	figs := map[string]float64{"swap_areas": float64(len(swaps)), "swap_mib": float64(total) / 1024}
	switch {
	case len(swaps) == 0:
		return Result{Status: Pass, Detail: "no active swap", Figures: figs}
	case len(risky) == 0:
		return Result{Status: Pass, Detail: "swap is in RAM only (zram)", Figures: figs}
	}
	return Result{Status: Warn, Figures: figs, Detail: "swap on persistent storage: " + strings.Join(risky, ", ") +
		"; RAM pages with plaintext pre-roll could land there: turn it off (sudo dphys-swapfile swapoff && sudo systemctl disable dphys-swapfile) or use zram"}
}

// Check returns the swap check.
func (c SwapCheck) Check() Check {
	return Check{Name: "swap", Run: func(context.Context) Result {
		f, err := os.Open(c.SwapsPath)
		if os.IsNotExist(err) {
			return Result{Status: Skip, Detail: fmt.Sprintf("%s does not exist (kernel without swap support)", c.SwapsPath)}
		}
		if err != nil {
			return Result{Status: Fail, Detail: err.Error()}
		}
		defer f.Close()
		swaps, err := ParseSwaps(f)
		if err != nil {
			return Result{Status: Fail, Detail: fmt.Sprintf("%s: %v", c.SwapsPath, err)}
		}
		var mounts []Mount
		if mf, err := os.Open(c.MountInfoPath); err == nil {
			mounts, err = ParseMountInfo(mf)
			mf.Close()
			if err != nil {
				return Result{Status: Fail, Detail: fmt.Sprintf("%s: %v", c.MountInfoPath, err)}
			}
		}
		return SwapResult(swaps, mounts)
	}}
}

// MemlockResult judges RLIMIT_MEMLOCK (cur, in bytes; unlimited is
// math.MaxUint64) against the pre-roll buffer size.
func MemlockResult(cur, need uint64) Result {
	figs := map[string]float64{"need_mib": float64(need) / (1 << 20)}
	if cur == ^uint64(0) {
		return Result{Status: Pass, Detail: "RLIMIT_MEMLOCK is unlimited", Figures: figs}
	}
	figs["limit_mib"] = float64(cur) / (1 << 20)
	if cur >= need {
		return Result{Status: Pass, Figures: figs, Detail: fmt.Sprintf("RLIMIT_MEMLOCK %s covers the %s pre-roll buffer", mib(cur), mib(need))}
	}
	return Result{Status: Warn, Figures: figs, Detail: fmt.Sprintf(
		"RLIMIT_MEMLOCK %s is below the %s pre-roll buffer: it cannot be locked in RAM and could be swapped out; set LimitMEMLOCK=64M in the systemd unit (or ulimit -l 65536)", mib(cur), mib(need))}
}

// CoreResult judges RLIMIT_CORE (cur, in bytes).
func CoreResult(cur uint64) Result {
	if cur == 0 {
		return Result{Status: Pass, Detail: "core dumps disabled (RLIMIT_CORE 0)"}
	}
	limit := "unlimited"
	if cur != ^uint64(0) {
		limit = mib(cur)
	}
	return Result{Status: Warn, Figures: map[string]float64{"limit_mib": float64(cur) / (1 << 20)}, Detail: fmt.Sprintf(
		"core dumps allowed (RLIMIT_CORE %s): a crash could write keys and plaintext video to disk; set LimitCORE=0 in the systemd unit (or ulimit -c 0)", limit)}
}

func mib(n uint64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// Kernel clock status (adjtimex), from linux/timex.h. They are the same on
// every architecture, so the parsing is testable everywhere.
const (
	staUnsync = 0x0040
	timeError = 5
)

// ClockStatus is what adjtimex says about the system clock.
type ClockStatus struct {
	State       int   // return value: TIME_OK (0) ... TIME_ERROR (5)
	Status      int32 // STA_* bits
	MaxErrorUS  int64 // maximum error, microseconds
	EstErrorUS  int64 // estimated error, microseconds
	Unavailable error // adjtimex could not be called
}

// ClockResult judges the clock. The sim board never passes: its result is
// Overridden, with what the kernel said in the detail.
func ClockResult(st ClockStatus, sim bool) Result {
	if st.Unavailable != nil {
		if sim {
			return Result{Status: Overridden, Detail: "sim board: clock sync not required (adjtimex: " + st.Unavailable.Error() + ")"}
		}
		return Result{Status: Fail, Detail: "selftest: adjtimex: " + st.Unavailable.Error()}
	}
	figs := map[string]float64{"maxerror_ms": float64(st.MaxErrorUS) / 1000, "esterror_ms": float64(st.EstErrorUS) / 1000}
	synced := st.Status&staUnsync == 0 && st.State != timeError
	var res Result
	switch {
	case !synced:
		res = Result{Status: Fail, Figures: figs, Detail: fmt.Sprintf(
			"clock not synchronized (adjtimex STA_UNSYNC set, maxerror %.0f ms): grant and token expiry and the audit log need the right time; enable systemd-timesyncd or chrony and wait for sync", float64(st.MaxErrorUS)/1000)}
	case st.MaxErrorUS > 1_000_000:
		res = Result{Status: Warn, Figures: figs, Detail: fmt.Sprintf("clock synchronized but maxerror is %.0f ms (over 1 s)", float64(st.MaxErrorUS)/1000)}
	default:
		res = Result{Status: Pass, Figures: figs, Detail: fmt.Sprintf("clock synchronized (maxerror %.0f ms)", float64(st.MaxErrorUS)/1000)}
	}
	if sim {
		res.Detail = fmt.Sprintf("sim board: clock sync not required; the kernel says %s: %s", res.Status, res.Detail)
		res.Status = Overridden
	}
	return res
}

// ClockCheck checks the kernel's clock synchronization status.
type ClockCheck struct {
	// Sim marks the sim board, whose result is always Overridden.
	Sim bool
	// Status reads the kernel status; nil means adjtimex.
	Status func() ClockStatus
}

// Check returns the clock check.
func (c ClockCheck) Check() Check {
	return Check{Name: "clock synchronized", Required: true, Run: func(context.Context) Result {
		status := c.Status
		if status == nil {
			status = kernelClock
		}
		return ClockResult(status(), c.Sim)
	}}
}

// LimitsCheck checks RLIMIT_MEMLOCK and RLIMIT_CORE.
type LimitsCheck struct {
	// PreRollBytes is the pre-roll buffer that must fit under RLIMIT_MEMLOCK.
	PreRollBytes uint64
	// Getrlimit reads a limit's soft value; nil means the process's own.
	Getrlimit func(resource int) (uint64, error)
}

// Memlock returns the RLIMIT_MEMLOCK check.
func (c LimitsCheck) Memlock() Check {
	return Check{Name: "memlock limit", Run: func(context.Context) Result {
		cur, err := c.get(rlimitMemlock)
		if err != nil {
			return Result{Status: Skip, Detail: "cannot read RLIMIT_MEMLOCK: " + err.Error()}
		}
		return MemlockResult(cur, c.PreRollBytes)
	}}
}

// Core returns the RLIMIT_CORE check.
func (c LimitsCheck) Core() Check {
	return Check{Name: "core dumps", Run: func(context.Context) Result {
		cur, err := c.get(rlimitCore)
		if err != nil {
			return Result{Status: Skip, Detail: "cannot read RLIMIT_CORE: " + err.Error()}
		}
		return CoreResult(cur)
	}}
}

func (c LimitsCheck) get(resource int) (uint64, error) {
	if c.Getrlimit != nil {
		return c.Getrlimit(resource)
	}
	return getrlimit(resource)
}
