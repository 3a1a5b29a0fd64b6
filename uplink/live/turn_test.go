package live_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v4"

	"github.com/doorward/doorward/uplink/live"
)

// hostIP returns a non-loopback IPv4 address of this machine (ICE gathers
// no loopback candidates).
func hostIP(t testing.TB) string {
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

// startTURN runs a pion TURN server on ip with user u, password p.
func startTURN(t testing.TB, ip string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := turn.NewServer(turn.ServerConfig{
		Realm: "doorward.test",
		AuthHandler: func(username, realm string, _ net.Addr) ([]byte, bool) {
			if username != "u" {
				return nil, false
			}
			return turn.GenerateAuthKey(username, realm, "p"), true
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            pc,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: net.ParseIP(ip), Address: ip},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return "turn:" + pc.LocalAddr().String() + "?transport=udp"
}

// With ice_transport_policy relay the device offers only TURN relay
// candidates: the viewer receives frames, and its selected pair is a relay
// pair.
func TestTURNRelayPolicy(t *testing.T) {
	ip := hostIP(t)
	url := startTURN(t, ip)
	r := newRig(t, live.Config{
		ICETransportPolicy: live.PolicyRelay,
		ICEServers:         []live.ICEServer{{URLs: []string{url}, Username: "u", Credential: "p"}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := live.Watch(ctx, live.WatchOptions{Sign: signer("turn"), Signal: r.client, Duration: 2 * time.Second})
	if err != nil {
		t.Fatalf("Watch through TURN: %v", err)
	}
	t.Logf("through TURN: %+v", res)
	if !res.Relayed || !strings.Contains(res.Candidates, "relay") {
		t.Errorf("selected pair %q is not a relay pair", res.Candidates)
	}
	if res.Frames < 40 {
		t.Errorf("%d frames in 2 s through TURN", res.Frames)
	}
}
