//go:build !linux

package record

// newArena returns ordinary heap memory: locking is implemented for Linux only.
func newArena(size int) (buf []byte, locked bool, release func()) {
	b := make([]byte, size)
	return b, false, func() { clear(b) }
}
