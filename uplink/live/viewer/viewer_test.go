package viewer_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"

	"github.com/doorward/doorward/device/api"
	"github.com/doorward/doorward/uplink/live"
	"github.com/doorward/doorward/uplink/live/viewer"
)

const fingerprint = "0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9"

const offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 102\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
	"a=fingerprint:sha-256 " + fingerprint + "\r\na=setup:actpass\r\na=mid:0\r\na=recvonly\r\na=rtcp-mux\r\na=rtpmap:102 H264/90000\r\n"

// device is a fake device: it records what reaches it.
type device struct {
	mu         sync.Mutex
	statements [][]byte
	ended      []string
	triggers   []string
	clip       []byte // plaintext of the one clip, split in two pieces
	pieces     [][]byte
}

func (d *device) WHEP(_ context.Context, statement, _ []byte) ([]byte, string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.statements = append(d.statements, statement)
	return []byte("v=0\r\nanswer"), "/api/v1/whep/s1", nil
}

func (d *device) EndWHEP(_ context.Context, loc string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ended = append(d.ended, loc)
	return nil
}

func (d *device) Clips(context.Context) ([]api.OwnerClip, error) {
	return []api.OwnerClip{{ID: "c1", Duration: 3, Trigger: "ring", Pieces: []api.Piece{
		{Name: "init.mp4.age", Size: int64(len(d.pieces[0]))}, {Name: "000001.m4s.age", Size: int64(len(d.pieces[1]))}}}}, nil
}

func (d *device) Piece(_ context.Context, clip string, p api.Piece, w io.Writer) error {
	i := 0
	if p.Name != "init.mp4.age" {
		i = 1
	}
	_, err := w.Write(d.pieces[i])
	return err
}

func (d *device) Notices(context.Context) ([]api.NoticeBody, error) { return nil, nil }
func (d *device) Status(context.Context) (api.Status, error) {
	return api.Status{Board: "sim", Sim: true}, nil
}
func (d *device) Audit(context.Context) (viewer.AuditStatus, error) {
	return viewer.AuditStatus{}, errors.New("not today")
}
func (d *device) Trigger(_ context.Context, ev string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.triggers = append(d.triggers, ev)
	return nil
}

func start(t *testing.T) (*viewer.Server, *device, string, string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	d := &device{clip: bytes.Repeat([]byte("mp4!"), 5000)}
	for _, part := range [][]byte{d.clip[:100], d.clip[100:]} {
		var b bytes.Buffer
		w, _ := age.Encrypt(&b, id.Recipient())
		w.Write(part)
		w.Close()
		d.pieces = append(d.pieces, b.Bytes())
	}
	var signed []string
	v, err := viewer.New(viewer.Options{
		Listen: "127.0.0.1:0", DeviceID: "dev",
		Sign: func(b string) ([]byte, error) {
			signed = append(signed, b)
			return []byte(`{"bound":"` + b + `"}`), nil
		},
		Signal: d, Owner: d, Identities: []age.Identity{id},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- v.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	u, _ := url.Parse(v.URL())
	return v, d, "http://" + u.Host, u.Query().Get("t")
}

func do(t *testing.T, method, u, host, ctype, body string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if host != "" {
		req.Host = host
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// The offer is signed bound to its own fingerprint, forwarded, and the
// session ends with DELETE and when the server stops.
func TestWHEPSignsTheOffersFingerprint(t *testing.T) {
	_, d, base, tok := start(t)
	status, h, body := do(t, "POST", base+"/api/whep?t="+tok, "", "application/sdp", offer)
	if status != http.StatusCreated || string(body) != "v=0\r\nanswer" || !strings.HasPrefix(h.Get("Location"), "/api/whep/") {
		t.Fatalf("offer: %d %q %v", status, body, h)
	}
	want := live.Binding("sha-256 " + fingerprint)
	if len(d.statements) != 1 || !strings.Contains(string(d.statements[0]), want) {
		t.Fatalf("statements sent %q, want one bound to %s", d.statements, want)
	}
	if status, _, _ := do(t, "DELETE", base+h.Get("Location")+"?t="+tok, "", "", ""); status != http.StatusNoContent || len(d.ended) != 1 {
		t.Errorf("DELETE: %d, ended %v", status, d.ended)
	}
	// Offers that bind nothing usable never reach the device.
	for _, bad := range []string{"", "v=0\r\n", strings.Replace(offer, "a=fingerprint:sha-256 "+fingerprint+"\r\n", "", 1)} {
		if status, _, _ := do(t, "POST", base+"/api/whep?t="+tok, "", "application/sdp", bad); status != http.StatusBadRequest {
			t.Errorf("offer %q: %d, want 400", bad, status)
		}
	}
	if status, _, _ := do(t, "POST", base+"/api/whep?t="+tok, "", "text/plain", offer); status != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain offer: %d", status)
	}
	if len(d.statements) != 1 {
		t.Errorf("%d statements reached the device, want 1", len(d.statements))
	}
}

func TestRefusals(t *testing.T) {
	_, d, base, tok := start(t)
	host := strings.TrimPrefix(base, "http://")
	_, port, _ := strings.Cut(host, ":")
	for _, c := range []struct {
		path, host string
		want       int
	}{
		{"/?t=" + tok, "", 200},
		{"/?t=" + tok, "[::1]:" + port, 200},
		{"/", "", 403},
		{"/?t=", "", 403},
		{"/?t=" + strings.ToUpper(tok), "", 403},
		{"/?t=" + tok + "x", "", 403},
		{"/view.js", "", 403},
		{"/?t=" + tok, "rebound.example:" + port, 403},
		{"/?t=" + tok, "127.0.0.1", 403},
		{"/?t=" + tok, "127.0.0.2:" + port, 403},
	} {
		if status, _, _ := do(t, "GET", base+c.path, c.host, "", ""); status != c.want {
			t.Errorf("GET %s Host %q: %d, want %d", c.path, c.host, status, c.want)
		}
	}
	if status, _, _ := do(t, "POST", base+"/api/trigger/ring?t=x", "", "", ""); status != 403 || len(d.triggers) != 0 {
		t.Errorf("trigger without the token: %d, fired %v", status, d.triggers)
	}
	if status, _, _ := do(t, "POST", base+"/api/trigger/ring?t="+tok, "", "", ""); status != 204 || len(d.triggers) != 1 {
		t.Errorf("trigger: %d, fired %v", status, d.triggers)
	}
	if _, err := viewer.New(viewer.Options{Listen: "0.0.0.0:0", Sign: func(string) ([]byte, error) { return nil, nil }, Signal: d}); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("listening on 0.0.0.0: %v", err)
	}
}

// A clip is fetched as ciphertext and served decrypted, with ranges.
func TestClipDecryptedInMemory(t *testing.T) {
	_, d, base, tok := start(t)
	status, _, body := do(t, "GET", base+"/clips/c1.mp4?t="+tok, "", "", "")
	if status != 200 || !bytes.Equal(body, d.clip) {
		t.Fatalf("clip: %d, %d bytes, want the %d plaintext bytes", status, len(body), len(d.clip))
	}
	req, _ := http.NewRequest("GET", base+"/clips/c1.mp4?t="+tok, nil)
	req.Header.Set("Range", "bytes=100-199")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, d.clip[100:200]) {
		t.Errorf("range: %d %q", resp.StatusCode, part)
	}
	if status, _, _ := do(t, "GET", base+"/clips/nope.mp4?t="+tok, "", "", ""); status != http.StatusBadGateway {
		t.Errorf("unknown clip: %d", status)
	}
}
