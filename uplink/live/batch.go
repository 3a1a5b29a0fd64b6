package live

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// batchConn is the one UDP socket every session's host candidate shares
// (pion's UDP mux sits on it). It holds back the RTP packets written to it
// until flush, which the session calls once it has written a frame, and
// sends each destination's packets of one size with a single system call
// (UDP generic segmentation offload, where the kernel has it) instead of
// one per packet: a 1080p frame is tens of packets per viewer. Everything
// else (STUN, DTLS, RTCP) is written at once.
type batchConn struct {
	conn *net.UDPConn
	gso  atomic.Bool // the kernel takes UDP_SEGMENT; cleared at its first refusal

	// sendMu orders the flushes, so that a destination's batches leave in
	// the order they were filled.
	sendMu sync.Mutex

	mu      sync.Mutex
	pending []*batch // destinations with packets held back, in order
	free    []*batch
	closed  bool
}

// batch is the packets held back for one destination: segs packets of seg
// bytes, the last of which may be shorter, back to back in buf.
type batch struct {
	addr netip.AddrPort
	buf  []byte
	seg  int
	segs int
}

// Limits of one segmented send: the kernel's UDP_MAX_SEGMENTS and the
// largest UDP datagram.
const (
	maxSegments   = 64
	maxBatchBytes = 65000
)

// sendBuffer is the socket's send buffer: a keyframe for every viewer at
// once, so that a burst does not block.
const sendBuffer = 4 << 20

func newBatchConn(conn *net.UDPConn) *batchConn {
	c := &batchConn{conn: conn}
	c.gso.Store(gsoSupported(conn))
	conn.SetWriteBuffer(sendBuffer) // best effort: the kernel caps it
	return c
}

// isRTP reports whether b is an RTP packet (RFC 5761: version 2, and a
// payload type outside RTCP's 64-95 once the marker bit is masked).
func isRTP(b []byte) bool {
	if len(b) < 12 || b[0]>>6 != 2 {
		return false
	}
	pt := b[1] & 0x7f
	return pt < 64 || pt > 95
}

// WriteToAddrPort holds an RTP packet back until flush; it writes anything
// else at once.
func (c *batchConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if !isRTP(b) {
		return c.conn.WriteToUDPAddrPort(b, addr)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	var bt *batch
	for _, p := range c.pending {
		if p.addr == addr {
			bt = p
			break
		}
	}
	if bt != nil && !bt.fits(len(b)) {
		c.mu.Unlock()
		c.flush() // keeps each destination's order
		c.mu.Lock()
		bt = nil
	}
	if bt == nil {
		if n := len(c.free); n > 0 {
			bt, c.free = c.free[n-1], c.free[:n-1]
		} else {
			bt = &batch{buf: make([]byte, 0, maxBatchBytes)}
		}
		bt.addr, bt.buf, bt.seg, bt.segs = addr, bt.buf[:0], len(b), 0
		c.pending = append(c.pending, bt)
	}
	bt.buf = append(bt.buf, b...)
	bt.segs++
	c.mu.Unlock()
	return len(b), nil
}

// fits reports whether a packet of n bytes can join the batch: as long as
// the ones before, or shorter to end it.
func (b *batch) fits(n int) bool {
	return b.segs < maxSegments && len(b.buf)+n <= maxBatchBytes &&
		n <= b.seg && len(b.buf) == b.segs*b.seg
}

// flush sends every packet held back.
func (c *batchConn) flush() {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	c.mu.Lock()
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	for _, bt := range pending {
		c.send(bt)
	}
	c.mu.Lock()
	if c.pending == nil {
		c.pending = pending[:0] // reuse the slice
	}
	c.free = append(c.free, pending...)
	c.mu.Unlock()
}

func (c *batchConn) send(bt *batch) {
	if bt.segs > 1 && c.gso.Load() {
		err := writeSegmented(c.conn, bt.buf, bt.seg, bt.addr)
		if err == nil {
			return
		}
		if !errors.Is(err, errGSORefused) {
			return // as a lost datagram: the viewer asks again (NACK)
		}
		c.gso.Store(false)
	}
	for b := bt.buf; len(b) > 0; {
		n := min(bt.seg, len(b))
		if _, err := c.conn.WriteToUDPAddrPort(b[:n], bt.addr); err != nil && errors.Is(err, net.ErrClosed) {
			return
		}
		b = b[n:]
	}
}

// The rest of net.PacketConn and ice.AddrPortReaderWriter.

func (c *batchConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.conn.ReadFromUDPAddrPort(b)
}

func (c *batchConn) ReadFrom(b []byte) (int, net.Addr, error) { return c.conn.ReadFrom(b) }

func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("live: writing to %T, not a UDP address", addr)
	}
	return c.WriteToAddrPort(b, ua.AddrPort())
}

func (c *batchConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.conn.Close()
}

func (c *batchConn) LocalAddr() net.Addr                { return c.conn.LocalAddr() }
func (c *batchConn) SetDeadline(t time.Time) error      { return c.conn.SetDeadline(t) }
func (c *batchConn) SetReadDeadline(t time.Time) error  { return c.conn.SetReadDeadline(t) }
func (c *batchConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }
