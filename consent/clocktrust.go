package consent

import "time"

// CheckClock is step 2 of DESIGN.md "Verifying a legal token": it refuses
// to trust now when the kernel does not report the clock synchronized
// (clock-unsynced; only the sim board may override that, and a jump of
// more than an hour clears it until a sync explains the jump), or when now
// is below the persisted time floor, the latest accepted iat or checkpoint
// time (clock-below-floor: the clock was set back).
func CheckClock(now time.Time, synced bool, floor time.Time) error {
	if !synced {
		return refuse(ReasonClockUnsynced, "the clock is not synchronized; legal tokens are accepted only with a trusted clock")
	}
	if now.Before(floor) {
		return refuse(ReasonClockBelowFloor, "the clock reads %s, before the time floor %s: it was set back", fmtTime(now), fmtTime(floor))
	}
	return nil
}

// RaiseFloor returns the time floor after accepting a statement issued at
// iat (or a checkpoint made at iat): the later of the two. The caller
// persists it in the same transaction as the acceptance.
func RaiseFloor(floor, iat time.Time) time.Time {
	if iat.After(floor) {
		return iat
	}
	return floor
}

// MaxClockJump is how far the wall clock may move against elapsed
// monotonic time before legal acceptance and retention freeze until a
// sync explains the jump (DESIGN.md "Verifying a legal token", step 2).
const MaxClockJump = time.Hour

// ClockJumped reports whether, between two readings, the wall clock moved
// more than MaxClockJump away from the monotonic time that elapsed (forward
// or back). wall and mono are the readings now; prevWall and prevMono the
// earlier ones. mono is any monotonic clock (e.g. CLOCK_BOOTTIME, so that
// suspend is not mistaken for a jump).
func ClockJumped(prevWall time.Time, prevMono time.Duration, wall time.Time, mono time.Duration) bool {
	drift := wall.Sub(prevWall) - (mono - prevMono)
	return drift > MaxClockJump || drift < -MaxClockJump
}
