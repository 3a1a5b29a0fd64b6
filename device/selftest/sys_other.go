//go:build !linux

package selftest

import "errors"

const (
	rlimitMemlock = 8
	rlimitCore    = 4
)

var errNotLinux = errors.New("selftest: only Linux is supported")

func getrlimit(int) (uint64, error) { return 0, errNotLinux }

func kernelClock() ClockStatus { return ClockStatus{Unavailable: errNotLinux} }

func freeSpace(string) (uint64, uint64, error) { return 0, 0, errNotLinux }
