//go:build linux

package selftest

import (
	"fmt"

	"golang.org/x/sys/unix"
)

const (
	rlimitMemlock = unix.RLIMIT_MEMLOCK
	rlimitCore    = unix.RLIMIT_CORE
)

// getrlimit returns the soft limit of resource for this process.
func getrlimit(resource int) (uint64, error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(resource, &lim); err != nil {
		return 0, fmt.Errorf("selftest: getrlimit: %w", err)
	}
	return lim.Cur, nil
}

// kernelClock reads the clock status with adjtimex, changing nothing
// (modes 0).
func kernelClock() ClockStatus {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return ClockStatus{Unavailable: err}
	}
	return ClockStatus{State: state, Status: tx.Status, MaxErrorUS: int64(tx.Maxerror), EstErrorUS: int64(tx.Esterror)}
}

// freeSpace returns the bytes available to an unprivileged user and the
// total size of the file system holding dir.
func freeSpace(dir string) (avail, total uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("selftest: statfs %s: %w", dir, err)
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}
