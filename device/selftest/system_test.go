package selftest

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSwapCheck(t *testing.T) {
	for _, tc := range []struct {
		swaps  string
		status Status
		detail string // substring
		areas  float64
	}{
		{"swaps-none", Pass, "no active swap", 0},
		{"swaps-zram", Pass, "in RAM only (zram)", 1},
		{"swaps-pi-dphys", Warn, "/var/swap (file on the SD card, /dev/root mounted at /)", 1},
		{"swaps-pi-partition", Warn, "/dev/mmcblk0p3 (partition on the SD card)", 1},
		{"swaps-zram-and-usb", Warn, "/mnt/usb/swap file (file on /dev/sda1)", 2},
		{"swaps-bad", Fail, `size "notanumber" is not a number of KiB`, 0},
		{"does-not-exist", Skip, "does not exist", 0},
	} {
		t.Run(tc.swaps, func(t *testing.T) {
			c := SwapCheck{SwapsPath: filepath.Join("testdata", tc.swaps), MountInfoPath: "testdata/mountinfo-pi"}.Check()
			res := c.Run(context.Background())
			if res.Status != tc.status || !strings.Contains(res.Detail, tc.detail) {
				t.Fatalf("got %s %q, want %s containing %q", res.Status, res.Detail, tc.status, tc.detail)
			}
			if res.Status == Warn && !strings.Contains(res.Detail, "plaintext pre-roll") {
				t.Errorf("warning %q does not say why swap matters", res.Detail)
			}
			if res.Status != Fail && res.Status != Skip && res.Figures["swap_areas"] != tc.areas {
				t.Errorf("swap_areas = %v, want %v", res.Figures["swap_areas"], tc.areas)
			}
		})
	}
}

func TestParseMountInfo(t *testing.T) {
	f, err := os.Open("testdata/mountinfo-pi")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mounts, err := ParseMountInfo(f)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/var/swap":               "/dev/root",
		"/boot/firmware/cmdline":  "/dev/mmcblk0p1",
		"/boot/firmwareX":         "/dev/root",
		"/tmp/x":                  "tmpfs",
		"/mnt/usb/swap file":      "/dev/sda1",
		"/mnt/usb":                "/dev/sda1",
		"/":                       "/dev/root",
		"/var/lib/doorward/clips": "/dev/root",
	} {
		m, ok := mountOf(path, mounts)
		if !ok || m.Source != want {
			t.Errorf("mountOf(%q) = %q, want %q", path, m.Source, want)
		}
	}
	if _, err := ParseMountInfo(strings.NewReader("28 1 179:2 / / rw\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("short line: err = %v, want one naming line 1", err)
	}
	if _, err := ParseMountInfo(strings.NewReader("28 1 x:2 / / rw - ext4 /dev/root rw\n")); err == nil || !strings.Contains(err.Error(), "major:minor") {
		t.Errorf("bad device: err = %v, want one naming major:minor", err)
	}
}

func TestMemlockResult(t *testing.T) {
	const need = 16 << 20
	for _, tc := range []struct {
		cur    uint64
		status Status
		detail string
	}{
		{math.MaxUint64, Pass, "unlimited"},
		{64 << 20, Pass, "64 MiB covers the 16 MiB"},
		{16 << 20, Pass, "covers"},
		{8 << 20, Warn, "LimitMEMLOCK=64M"},
		{0, Warn, "RLIMIT_MEMLOCK 0 MiB is below"},
	} {
		res := MemlockResult(tc.cur, need)
		if res.Status != tc.status || !strings.Contains(res.Detail, tc.detail) {
			t.Errorf("MemlockResult(%d) = %s %q, want %s containing %q", tc.cur, res.Status, res.Detail, tc.status, tc.detail)
		}
	}
}

func TestCoreResult(t *testing.T) {
	if res := CoreResult(0); res.Status != Pass {
		t.Errorf("RLIMIT_CORE 0: %s %q, want pass", res.Status, res.Detail)
	}
	for _, cur := range []uint64{math.MaxUint64, 1 << 30} {
		if res := CoreResult(cur); res.Status != Warn || !strings.Contains(res.Detail, "LimitCORE=0") {
			t.Errorf("RLIMIT_CORE %d: %s %q, want a warning naming LimitCORE=0", cur, res.Status, res.Detail)
		}
	}
}

func TestLimitsCheckUsesGetrlimit(t *testing.T) {
	limits := LimitsCheck{PreRollBytes: 16 << 20, Getrlimit: func(r int) (uint64, error) {
		switch r {
		case rlimitMemlock:
			return 64 << 20, nil
		case rlimitCore:
			return math.MaxUint64, nil
		}
		return 0, errors.New("unexpected resource")
	}}
	if res := limits.Memlock().Run(context.Background()); res.Status != Pass {
		t.Errorf("memlock: %s %q", res.Status, res.Detail)
	}
	if res := limits.Core().Run(context.Background()); res.Status != Warn {
		t.Errorf("core: %s %q", res.Status, res.Detail)
	}
	broken := LimitsCheck{Getrlimit: func(int) (uint64, error) { return 0, errors.New("EPERM") }}
	if res := broken.Core().Run(context.Background()); res.Status != Skip || !strings.Contains(res.Detail, "EPERM") {
		t.Errorf("unreadable limit: %s %q, want skip with the reason", res.Status, res.Detail)
	}
}

func TestClockResult(t *testing.T) {
	synced := ClockStatus{State: 0, Status: 0x2001, MaxErrorUS: 12_000, EstErrorUS: 300}
	unsynced := ClockStatus{State: 5, Status: staUnsync, MaxErrorUS: 16_000_000, EstErrorUS: 16_000_000}
	loose := ClockStatus{State: 0, Status: 0x2001, MaxErrorUS: 2_500_000}
	broken := ClockStatus{Unavailable: errors.New("operation not permitted")}
	for _, tc := range []struct {
		name   string
		st     ClockStatus
		sim    bool
		status Status
		detail string
	}{
		{"synced", synced, false, Pass, "synchronized (maxerror 12 ms)"},
		{"unsynced", unsynced, false, Fail, "STA_UNSYNC"},
		{"unsync bit only", ClockStatus{Status: staUnsync}, false, Fail, "not synchronized"},
		{"time error only", ClockStatus{State: timeError}, false, Fail, "not synchronized"},
		{"loose", loose, false, Warn, "2500 ms"},
		{"unavailable", broken, false, Fail, "not permitted"},
		// The sim board is never "pass", whatever the kernel says.
		{"sim synced", synced, true, Overridden, "the kernel says pass"},
		{"sim unsynced", unsynced, true, Overridden, "the kernel says fail"},
		{"sim unavailable", broken, true, Overridden, "not permitted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := ClockResult(tc.st, tc.sim)
			if res.Status != tc.status || !strings.Contains(res.Detail, tc.detail) {
				t.Fatalf("got %s %q, want %s containing %q", res.Status, res.Detail, tc.status, tc.detail)
			}
		})
	}
	c := ClockCheck{Sim: true, Status: func() ClockStatus { return synced }}.Check()
	if !c.Required {
		t.Error("the clock check is not required")
	}
	if res := c.Run(context.Background()); res.Status != Overridden {
		t.Errorf("sim clock check: %s, want overridden", res.Status)
	}
}

// The real kernel calls work on this machine and give a valid result.
func TestKernelCalls(t *testing.T) {
	st := kernelClock()
	if st.Unavailable != nil {
		t.Skipf("adjtimex: %v", st.Unavailable)
	}
	if res := ClockResult(st, false); res.Status == "" || res.Figures["maxerror_ms"] < 0 {
		t.Errorf("clock: %+v", res)
	}
	if _, err := getrlimit(rlimitCore); err != nil {
		t.Error(err)
	}
	avail, total, err := freeSpace(t.TempDir())
	if err != nil || total == 0 || avail > total {
		t.Errorf("freeSpace = %d, %d, %v", avail, total, err)
	}
}
