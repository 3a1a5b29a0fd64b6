//go:build !linux

package live

import (
	"errors"
	"net"
	"net/netip"
)

var errGSORefused = errors.New("live: UDP segmentation offload refused")

// gsoSupported: segmented UDP sends are Linux's; elsewhere (doorwardctl on
// a laptop) packets go one by one.
func gsoSupported(*net.UDPConn) bool { return false }

func writeSegmented(*net.UDPConn, []byte, int, netip.AddrPort) error { return errGSORefused }
