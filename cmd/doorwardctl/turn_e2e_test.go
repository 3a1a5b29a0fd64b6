package main

import (
	"encoding/json"
	"fmt"
	"net"
	"sync/atomic"
	"testing"

	"github.com/pion/turn/v4"
)

// countingConn counts the bytes a TURN server reads from its clients.
type countingConn struct {
	net.PacketConn
	n atomic.Int64
}

func (c *countingConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	c.n.Add(int64(n))
	return n, addr, err
}

// TURN through the binaries: the agent's config names a TURN server (pion
// turn, run by the test) and live.ice_transport_policy: relay, so the
// device offers only relayed candidates. doorwardctl live receives frames,
// its selected pair is a relay pair, and the TURN server carried the
// stream.
func TestLiveTURNE2E(t *testing.T) {
	b := e2e(t)
	ip := nonLoopbackIPv4(t)
	pc, err := net.ListenPacket("udp4", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingConn{PacketConn: pc}
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm: "doorward.test",
		AuthHandler: func(username, realm string, _ net.Addr) ([]byte, bool) {
			if username != "doorbell" {
				return nil, false
			}
			return turn.GenerateAuthKey(username, realm, "s3cret"), true
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            counted,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: net.ParseIP(ip), Address: ip},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	cfg := writeConfig(t, dir, fmt.Sprintf("live:\n  ice_transport_policy: relay\n  ice_servers:\n    - urls: [\"turn:%s?transport=udp\"]\n      username: doorbell\n      credential: s3cret\n", pc.LocalAddr()))
	d := startDevice(t, b, t.TempDir(), cfg)
	h := newHome(t, b)
	pairOwner(t, b, d, h)
	out := mustCtl(t, b, h.dir, "live", "--device", d.url, "-i", h.key, "--seconds", "2", "--json")
	var r liveJSON
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("live --json: %v\n%s", err, out)
	}
	t.Logf("doorwardctl live through TURN: %+v; the TURN server read %d bytes", r, counted.n.Load())
	if !r.Relayed || r.Frames < 40 || r.Width != 640 || r.Height != 480 {
		t.Errorf("live through TURN: %+v, want 2 s of 640x480 over a relay pair", r)
	}
	if counted.n.Load() < r.Bytes {
		t.Errorf("the TURN server read %d bytes, fewer than the %d bytes of video received: the media did not go through it", counted.n.Load(), r.Bytes)
	}
}

// nonLoopbackIPv4 returns an IPv4 address of this machine other than
// loopback (ICE gathers no loopback candidates).
func nonLoopbackIPv4(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address: ICE has nothing to connect over")
	return ""
}
