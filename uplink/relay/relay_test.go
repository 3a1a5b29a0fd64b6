package relay_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/uplink"
	"github.com/doorward/doorward/uplink/client"
	"github.com/doorward/doorward/uplink/mqtt"
	"github.com/doorward/doorward/uplink/mqtttest"
	"github.com/doorward/doorward/uplink/relay"
	"github.com/doorward/doorward/uplink/s3test"
	"github.com/doorward/doorward/uplink/wire"
)

const dev = "aaaaaaaaaaaaaaaa"

// fakeDevice is the device side of the uplink without the agent: a
// session, the cmd handler with a stand-in LAN API, and the uploader.
type fakeDevice struct {
	s   *mqtt.Session
	up  *uplink.Uplink
	upl *uplink.Uploader
}

func startDevice(t *testing.T, b *mqtttest.Broker, lan http.Handler) *fakeDevice {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "state.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	ob, err := mqtt.OpenOutbox(db, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDevice{}
	cert, key := b.ClientCert(dev)
	tlsc, err := client.TLSConfig(b.CAFile, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	log, _ := capturetest.NewLogger(0)
	d.s, err = mqtt.New(mqtt.Options{Broker: b.URL, TLS: tlsc, DeviceID: dev, Outbox: ob, Log: log,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Inbound: func(ctx context.Context, p []byte) { d.up.HandleCmd(ctx, p) }})
	if err != nil {
		t.Fatal(err)
	}
	d.upl = uplink.NewUploader(uplink.UploaderOptions{DeviceID: dev, Session: d.s, Log: log, MinBackoff: 10 * time.Millisecond, URLTimeout: 10 * time.Second})
	d.up = uplink.New(uplink.Options{Session: d.s, LAN: lan, Uploads: d.upl, Log: log})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; db.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for !d.s.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("device did not connect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return d
}

func startRelay(t *testing.T, b *mqtttest.Broker, name string, store relay.Store, h http.Handler, timeout time.Duration) *relay.Relay {
	t.Helper()
	cert, key := b.ClientCert("relay")
	log, _ := capturetest.NewLogger(0)
	r, err := relay.New(relay.Options{
		MQTT:   client.Options{Broker: b.URL, CA: b.CAFile, Cert: cert, Key: key, ClientID: name},
		Listen: "127.0.0.1:0", Store: store, StoreHandler: h, ReplyTimeout: timeout, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := store.(*relay.DirStore); ok {
		d.SetBase("http://" + r.Addr())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay: %v", err)
		}
	})
	waitHTTP(t, "http://"+r.Addr()+"/healthz")
	time.Sleep(200 * time.Millisecond) // subscribed
	return r
}

func waitHTTP(t *testing.T, u string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", u, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func pieces(n, size int) ([]uplink.Piece, [][]byte) {
	var ps []uplink.Piece
	var data [][]byte
	for i := range n {
		b := bytes.Repeat([]byte(fmt.Sprintf("age-ciphertext-%d|", i)), size/10+1)[:size+i]
		name := fmt.Sprintf("%06d.m4s.age", i)
		if i == 0 {
			name = "init.mp4.age"
		}
		ps = append(ps, uplink.Piece{Name: name, Size: int64(len(b)), Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(b)), nil
		}})
		data = append(data, b)
	}
	return ps, data
}

type storeCase struct {
	name string
	open func(t *testing.T) (relay.Store, http.Handler)
}

var stores = []storeCase{
	{"dir", func(t *testing.T) (relay.Store, http.Handler) {
		d, err := relay.NewDirStore(t.TempDir(), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		return d, d
	}},
	{"s3", func(t *testing.T) (relay.Store, http.Handler) {
		s := s3test.Start(t)
		return relay.NewS3Store(s.Client, s.Bucket), nil
	}},
}

// TestUploadThroughRelay: the device asks, the relay presigns exactly that
// object, the device PUTs it with its checksum, and the manifest's
// presigned GETs give back exactly those bytes, in playback order.
func TestUploadThroughRelay(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			b := mqtttest.Start(t, mqtttest.Options{TLS: true, Relays: []string{"relay"}})
			store, h := sc.open(t)
			r := startRelay(t, b, "relay-1", store, h, 5*time.Second)
			d := startDevice(t, b, http.NotFoundHandler())
			ps, data := pieces(3, 300_000)
			if err := d.upl.Upload(context.Background(), uplink.Job{ID: "j1", Authority: "grant:g-1", Clip: "clip-1"}, ps); err != nil {
				t.Fatal(err)
			}
			resp, err := http.Get("http://" + r.Addr() + "/v1/devices/" + dev + "/disclosures/g-1")
			if err != nil {
				t.Fatal(err)
			}
			var m wire.Manifest
			json.NewDecoder(resp.Body).Decode(&m)
			resp.Body.Close()
			if len(m.Objects) != 3 {
				t.Fatalf("manifest: %+v", m)
			}
			for i, o := range m.Objects {
				want := dev + "/disclosures/g-1/clip-1/" + uplink.ObjectName(ps[i].Name)
				sum := sha256.Sum256(data[i])
				if o.Object != want || o.Size != int64(len(data[i])) || o.SHA256 != hex.EncodeToString(sum[:]) {
					t.Errorf("object %d: %+v, want %s of %d bytes with sha256 %x", i, o, want, len(data[i]), sum)
				}
				resp, err := http.Get(o.URL)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !bytes.Equal(got, data[i]) {
					t.Errorf("GET %s: %d bytes (%s), want the %d uploaded", o.Object, len(got), resp.Status, len(data[i]))
				}
			}
			// The presigned PUT takes exactly the announced bytes.
			u, err := store.PresignPut(context.Background(), dev+"/disclosures/g-1/clip-1/extra", 5, hex.EncodeToString(make([]byte, 32)), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodPut, u, strings.NewReader("other"))
			req.Header.Set("x-amz-checksum-sha256", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
			resp, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				t.Fatalf("the store took bytes that do not match the signed checksum: %s", resp.Status)
			}
		})
	}
}

// TestForwarding: a statement posted to the relay reaches the device's cmd
// and the device's own answer comes back; a device that does not answer
// gives 504; bad paths are refused by the relay itself.
func TestForwarding(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{TLS: true, Relays: []string{"relay"}})
	store, h := stores[0].open(t)
	r := startRelay(t, b, "relay-1", store, h, 2*time.Second)
	var mu sync.Mutex
	var paths []string
	lan := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		paths = append(paths, req.URL.Path)
		mu.Unlock()
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"reason":"quorum-not-met","error":"consent: 1 signer"}`))
	})
	startDevice(t, b, lan)
	base := "http://" + r.Addr() + "/v1/devices/" + dev
	jws := `{"payload":"eyJqdGkiOiJ0b2stMSJ9","signatures":[{"protected":"e30","signature":"AA"}]}`
	resp, err := http.Post(base+"/legal", "application/json", strings.NewReader(jws))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(body), "quorum-not-met") {
		t.Fatalf("legal via relay: %s %s", resp.Status, body)
	}
	resp, _ = http.Post(base+"/statements/grant", "application/json", strings.NewReader(jws))
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("grant via relay: %s", resp.Status)
	}
	mu.Lock()
	if fmt.Sprint(paths) != "[/api/v1/legal /api/v1/grants]" {
		t.Errorf("LAN API saw %v", paths)
	}
	mu.Unlock()
	for path, want := range map[string]int{
		"/v1/devices/" + dev + "/statements/steal": 404,
		"/v1/devices/NOT-A-DEVICE/legal":           400,
		"/v1/devices/bbbbbbbbbbbbbbbb/legal":       504, // nobody answers
	} {
		resp, err := http.Post("http://"+r.Addr()+path, "application/json", strings.NewReader(jws))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %s, want %d", path, resp.Status, want)
		}
	}
}

// TestScaleOut: two relays on one broker answer 200 upload requests, each
// exactly once.
func TestScaleOut(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{TLS: true, Relays: []string{"relay"}})
	store, h := stores[0].open(t)
	startRelay(t, b, "relay-1", store, h, 5*time.Second)
	startRelay(t, b, "relay-2", store, h, 5*time.Second)
	watch := mqtttest.Record(t, b.Client(t, "watch", b.ClientTLS("relay"), true), wire.Topic(dev, wire.TopicCmd))
	d := startDevice(t, b, http.NotFoundHandler())
	for i := range 200 {
		body, _ := json.Marshal(wire.UploadRequest{Object: fmt.Sprintf("%s/disclosures/j/c/%06d.m4s.age", dev, i), Size: 1, SHA256: strings.Repeat("ab", 32)})
		if _, err := d.s.Publish(wire.TopicUploadRequest, mqtt.Keep, false, body); err != nil {
			t.Fatal(err)
		}
	}
	watch.WaitFor(t, 30*time.Second, "200 answers", func(ms []mqtttest.Msg) bool { return len(ms) >= 200 })
	time.Sleep(500 * time.Millisecond) // any duplicate would arrive by now
	msgs := watch.Msgs()
	count := map[string]int{}
	for _, m := range msgs {
		c, err := wire.DecodeCmd(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		count[c.Upload.Object]++
	}
	if len(count) != 200 || len(msgs) != 200 {
		t.Fatalf("%d answers for %d objects, want 200 for 200", len(msgs), len(count))
	}
}

// TestBackupThroughRelay: a backup job's pieces land under
// <device>/backup/<clip>/; the relay lists the backed-up clips from the
// store and serves a clip's manifest of presigned GETs in playback order;
// an unknown clip is 404 and a malformed one 400.
func TestBackupThroughRelay(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			b := mqtttest.Start(t, mqtttest.Options{TLS: true, Relays: []string{"relay"}})
			store, h := sc.open(t)
			r := startRelay(t, b, "relay-1", store, h, 5*time.Second)
			d := startDevice(t, b, http.NotFoundHandler())
			base := "http://" + r.Addr() + "/v1/devices/" + dev
			var empty wire.BackupList
			getJSON(t, base+"/backup", http.StatusOK, &empty)
			if empty.Device != dev || len(empty.Clips) != 0 {
				t.Fatalf("before any backup: %+v", empty)
			}
			ps, data := pieces(3, 200_000)
			if err := d.upl.Upload(context.Background(), uplink.Job{ID: "b1", Authority: "backup:on-1", Clip: "clip-2"}, ps[:2]); err != nil {
				t.Fatal(err)
			}
			if err := d.upl.Upload(context.Background(), uplink.Job{ID: "b2", Authority: "backup:on-1", Clip: "clip-2"}, ps[2:]); err != nil {
				t.Fatal(err)
			}
			var l wire.BackupList
			getJSON(t, base+"/backup", http.StatusOK, &l)
			if len(l.Clips) != 1 || l.Clips[0].Clip != "clip-2" || l.Clips[0].Objects != 3 || l.Clips[0].Bytes != int64(len(data[0])+len(data[1])+len(data[2])) {
				t.Fatalf("backup list: %+v", l)
			}
			var m wire.Manifest
			getJSON(t, base+"/backup/clip-2", http.StatusOK, &m)
			if len(m.Objects) != 3 {
				t.Fatalf("manifest: %+v", m)
			}
			for i, o := range m.Objects {
				want := dev + "/backup/clip-2/" + uplink.ObjectName(ps[i].Name)
				sum := sha256.Sum256(data[i])
				if o.Object != want || o.SHA256 != hex.EncodeToString(sum[:]) {
					t.Errorf("object %d: %+v, want %s", i, o, want)
				}
				resp, err := http.Get(o.URL)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !bytes.Equal(got, data[i]) {
					t.Errorf("GET %s: %d bytes, want %d", o.Object, len(got), len(data[i]))
				}
			}
			var e struct{ Reason string }
			getJSON(t, base+"/backup/clip-9", http.StatusNotFound, &e)
			if e.Reason != "unknown-clip" {
				t.Errorf("unknown clip: reason %q", e.Reason)
			}
			getJSON(t, base+"/backup/..%2Fx", http.StatusBadRequest, &e)
			getJSON(t, "http://"+r.Addr()+"/v1/devices/NOTADEVICE/backup", http.StatusBadRequest, &e)
			// A backup is not a disclosure.
			getJSON(t, base+"/disclosures/on-1", http.StatusNotFound, &e)
		})
	}
}

func getJSON(t *testing.T, u string, status int, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != status {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s (%s), want %d", u, resp.Status, b, status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// TestReadsThroughRelay: GET notices and audit with a login in
// Authorization reach the device's LAN API as the same GET with the same
// login (audit with its since), and the device's own answer comes back;
// a request without a login never reaches the device.
func TestReadsThroughRelay(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{TLS: true, Relays: []string{"relay"}})
	store, h := stores[0].open(t)
	type seen struct{ method, uri, auth string }
	got := make(chan seen, 10)
	lan := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Method, r.URL.RequestURI(), r.Header.Get("Authorization")}
		if !strings.Contains(r.Header.Get("Authorization"), `"good"`) {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"reason":"replayed","error":"login used before"}`))
			return
		}
		w.Write([]byte(`[{"id":1}]`))
	})
	r := startRelay(t, b, "relay-1", store, h, 5*time.Second)
	startDevice(t, b, lan)
	get := func(path, login string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+r.Addr()+"/v1/devices/"+dev+path, nil)
		if login != "" {
			req.Header.Set("Authorization", "Doorward "+login)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(body))
	}
	login := `{"payload":"good","signatures":[]}`
	if status, body := get("/notices", login); status != 200 || body != `[{"id":1}]` {
		t.Fatalf("notices: %d %s", status, body)
	}
	if s := <-got; s.method != http.MethodGet || s.uri != "/api/v1/notices" || s.auth != "Doorward "+login {
		t.Errorf("the device saw %+v", s)
	}
	if status, _ := get("/audit?since=42", login); status != 200 {
		t.Fatalf("audit: %d", status)
	}
	if s := <-got; s.uri != "/api/v1/audit?since=42" || s.auth != "Doorward "+login {
		t.Errorf("the device saw %+v", s)
	}
	if status, body := get("/audit", `{"payload":"bad","signatures":[]}`); status != http.StatusUnauthorized || !strings.Contains(body, "replayed") {
		t.Errorf("refused login: %d %s, want the device's 401", status, body)
	}
	<-got
	for _, tc := range []struct{ path, login string }{{"/notices", ""}, {"/audit", "not json"}, {"/audit?since=x", login}} {
		if status, _ := get(tc.path, tc.login); status/100 != 4 {
			t.Errorf("%s with login %q: %d", tc.path, tc.login, status)
		}
	}
	select {
	case s := <-got:
		t.Errorf("a request the relay refused reached the device: %+v", s)
	case <-time.After(300 * time.Millisecond):
	}
}
