//go:build !unix

package lanapi

import (
	"net"
	"os"
)

// listenPrivateUnix creates a Unix socket and restricts it to this user
// (no umask on this system: the agent itself runs on Linux).
func listenPrivateUnix(path string) (net.Listener, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}
