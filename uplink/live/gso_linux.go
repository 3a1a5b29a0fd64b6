package live

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"syscall"
)

// UDP_SEGMENT (linux/udp.h): the segment size of a UDP GSO send.
const udpSegment = 103

// errGSORefused means the kernel or the route does not take segmented
// sends: the caller sends the packets one by one from then on.
var errGSORefused = errors.New("live: UDP segmentation offload refused")

// gsoSupported reports whether conn's kernel knows UDP_SEGMENT.
func gsoSupported(conn *net.UDPConn) bool {
	raw, err := conn.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	raw.Control(func(fd uintptr) {
		_, err := syscall.GetsockoptInt(int(fd), syscall.IPPROTO_UDP, udpSegment)
		ok = err == nil
	})
	return ok
}

// writeSegmented sends buf to addr as datagrams of seg bytes (the last may
// be shorter) with one system call.
func writeSegmented(conn *net.UDPConn, buf []byte, seg int, addr netip.AddrPort) error {
	var oob [64]byte
	n := syscall.CmsgSpace(2)
	hdr := oob[:n]
	switch syscall.SizeofCmsghdr {
	case 16: // Len is 64 bits
		binary.NativeEndian.PutUint64(hdr[0:], uint64(syscall.CmsgLen(2)))
		binary.NativeEndian.PutUint32(hdr[8:], syscall.IPPROTO_UDP)
		binary.NativeEndian.PutUint32(hdr[12:], udpSegment)
	case 12: // 32-bit platforms
		binary.NativeEndian.PutUint32(hdr[0:], uint32(syscall.CmsgLen(2)))
		binary.NativeEndian.PutUint32(hdr[4:], syscall.IPPROTO_UDP)
		binary.NativeEndian.PutUint32(hdr[8:], udpSegment)
	default:
		return errGSORefused
	}
	binary.NativeEndian.PutUint16(hdr[syscall.CmsgLen(0):], uint16(seg))
	_, _, err := conn.WriteMsgUDPAddrPort(buf, hdr, addr)
	if errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOPROTOOPT) || errors.Is(err, syscall.EOPNOTSUPP) {
		return errGSORefused
	}
	return err
}
