package live

import (
	"bytes"
	"net"
	"testing"
	"time"
)

func rtpPacket(seq, size int) []byte {
	b := make([]byte, size)
	b[0], b[1] = 0x80, 102
	b[2], b[3] = byte(seq>>8), byte(seq)
	for i := 12; i < size; i++ {
		b[i] = byte(seq + i)
	}
	return b
}

// RTP packets are held back until flush and then arrive whole and in
// order, full-size runs and a short last one alike (in one segmented send
// where the kernel can); anything else leaves at once.
func TestBatchConn(t *testing.T) {
	t.Run("segmented", func(t *testing.T) { testBatchConn(t, true) })
	t.Run("one by one", func(t *testing.T) { testBatchConn(t, false) })
}

func testBatchConn(t *testing.T, gso bool) {
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c := newBatchConn(tx)
	defer c.Close()
	if gso && !c.gso.Load() {
		t.Skip("this kernel has no UDP segmentation offload")
	}
	c.gso.Store(gso)
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	var sent [][]byte
	// 64 full packets (one send's most), 6 and a short one (a frame's
	// last), then 49 held back. Small enough for the receiving socket's
	// buffer.
	for i := range 120 {
		size := 400
		if i == 69 {
			size = 100
		}
		p := rtpPacket(i, size)
		sent = append(sent, p)
		if n, err := c.WriteToAddrPort(p, to); err != nil || n != len(p) {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
	}
	stun := []byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	if _, err := c.WriteToAddrPort(stun, to); err != nil {
		t.Fatal(err)
	}
	packets := make(chan []byte, 1024)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, err := rx.Read(buf)
			if err != nil {
				close(packets)
				return
			}
			packets <- append([]byte(nil), buf[:n]...)
		}
	}()
	var got [][]byte
	read := func() []byte {
		select {
		case p, ok := <-packets:
			if !ok {
				t.Fatal("the receiving socket closed")
			}
			return p
		case <-time.After(2 * time.Second):
			t.Fatalf("a packet did not arrive (%d of %d)", len(got), len(sent))
		}
		return nil
	}
	// Batches that filled up left already; the STUN packet did not wait
	// for the rest.
	for {
		p := read()
		if bytes.Equal(p, stun) {
			break
		}
		got = append(got, p)
	}
	if len(got) == len(sent) {
		t.Fatal("every RTP packet left before flush")
	}
	c.flush()
	for len(got) < len(sent) {
		got = append(got, read())
	}
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			t.Fatalf("packet %d: %d bytes, want %d (seq %d)", i, len(got[i]), len(sent[i]), int(got[i][2])<<8|int(got[i][3]))
		}
	}
}

func TestIsRTP(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		want bool
	}{
		{rtpPacket(1, 100), true},
		{append([]byte{0x80, 102 | 0x80}, make([]byte, 20)...), true}, // marker
		{append([]byte{0x80, 200}, make([]byte, 20)...), false},       // RTCP sender report
		{append([]byte{0x81, 205}, make([]byte, 20)...), false},       // RTCP feedback
		{append([]byte{22, 0xfe, 0xfd}, make([]byte, 20)...), false},  // DTLS
		{append([]byte{0, 1}, make([]byte, 20)...), false},            // STUN
		{[]byte{0x80, 102}, false},
	} {
		if got := isRTP(c.b); got != c.want {
			t.Errorf("isRTP(% x...) = %v", c.b[:2], got)
		}
	}
}
