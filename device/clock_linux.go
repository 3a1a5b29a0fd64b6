//go:build linux

package device

import "golang.org/x/sys/unix"

// kernelClockSynced asks the kernel (adjtimex) whether NTP or PTP keeps the
// clock synchronized: STA_UNSYNC clear and a state other than TIME_ERROR.
func kernelClockSynced() bool {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	return err == nil && state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0
}
