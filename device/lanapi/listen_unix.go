//go:build unix

package lanapi

import (
	"net"
	"sync"

	"golang.org/x/sys/unix"
)

// umaskMu serialises the umask changes of listenPrivateUnix (the umask is
// the process's).
var umaskMu sync.Mutex

// listenPrivateUnix creates a Unix socket that only this user can connect
// to from its first instant: under umask 077, not chmod'ed afterwards
// (between a bind and a chmod, anyone could connect). A file that another
// goroutine creates meanwhile only gets stricter permissions.
func listenPrivateUnix(path string) (net.Listener, error) {
	umaskMu.Lock()
	defer umaskMu.Unlock()
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	return net.Listen("unix", path)
}
