//go:build linux

package record

import "golang.org/x/sys/unix"

// newArena returns size bytes of anonymous memory that is locked into RAM
// (so plaintext pre-roll is never swapped out) and excluded from core dumps.
// When the kernel refuses the lock (RLIMIT_MEMLOCK), it returns the memory
// unlocked and locked=false; the caller logs that once.
func newArena(size int) (buf []byte, locked bool, release func()) {
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		b := make([]byte, size)
		return b, false, func() { clear(b) }
	}
	_ = unix.Madvise(mem, unix.MADV_DONTDUMP)
	locked = unix.Mlock(mem) == nil
	return mem, locked, func() {
		clear(mem)
		if locked {
			_ = unix.Munlock(mem)
		}
		_ = unix.Munmap(mem)
	}
}
