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

// ownerLAN stands in for the device's LAN API in the owner check (GET
// /api/v1/owner): a login whose payload is "owner" is an owner's, one
// whose payload is "stranger" is refused as the gate refuses an unknown
// key, any other is refused as replayed. Each request it sees goes to seen.
func ownerLAN(seen chan<- string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		select {
		case seen <- r.Method + " " + r.URL.RequestURI() + " " + auth:
		default:
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method != http.MethodGet || r.URL.Path != "/api/v1/owner":
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"reason":"not-found","error":"not the owner check"}`))
		case strings.Contains(auth, `"payload":"owner"`):
			w.Write([]byte(`{"owner":"k1"}`))
		case strings.Contains(auth, `"payload":"stranger"`):
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"reason":"unknown-key","error":"consent: no enrolled owner has key zz"}`))
		default:
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"reason":"replayed","error":"consent: statement already used"}`))
		}
	})
}

const (
	ownerLogin    = `{"payload":"owner","signatures":[]}`
	strangerLogin = `{"payload":"stranger","signatures":[]}`
	usedLogin     = `{"payload":"used","signatures":[]}`
)

// TestBackupThroughRelay: a backup job's pieces land under
// <device>/backup/<clip>/; to an owner whose login the device accepts,
// the relay lists the backed-up clips from the store and serves a clip's
// manifest of presigned GETs in playback order; an unknown clip is 404 and
// a malformed one 400.
func TestBackupThroughRelay(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			b := mqtttest.Start(t, mqtttest.Options{TLS: true, Relays: []string{"relay"}})
			store, h := sc.open(t)
			r := startRelay(t, b, "relay-1", store, h, 5*time.Second)
			d := startDevice(t, b, ownerLAN(nil))
			base := "http://" + r.Addr() + "/v1/devices/" + dev
			var empty wire.BackupList
			getJSON(t, base+"/backup", ownerLogin, http.StatusOK, &empty)
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
			getJSON(t, base+"/backup", ownerLogin, http.StatusOK, &l)
			if len(l.Clips) != 1 || l.Clips[0].Clip != "clip-2" || l.Clips[0].Objects != 3 || l.Clips[0].Bytes != int64(len(data[0])+len(data[1])+len(data[2])) {
				t.Fatalf("backup list: %+v", l)
			}
			var m wire.Manifest
			getJSON(t, base+"/backup/clip-2", ownerLogin, http.StatusOK, &m)
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
			getJSON(t, base+"/backup/clip-9", ownerLogin, http.StatusNotFound, &e)
			if e.Reason != "unknown-clip" {
				t.Errorf("unknown clip: reason %q", e.Reason)
			}
			getJSON(t, base+"/backup/..%2Fx", ownerLogin, http.StatusBadRequest, &e)
			getJSON(t, "http://"+r.Addr()+"/v1/devices/NOTADEVICE/backup", ownerLogin, http.StatusBadRequest, &e)
			// A backup is not a disclosure.
			getJSON(t, base+"/disclosures/on-1", "", http.StatusNotFound, &e)
		})
	}
}

// countingStore counts the store reads the relay makes.
type countingStore struct {
	relay.Store
	mu    sync.Mutex
	lists []string
	gets  int
}

func (s *countingStore) List(ctx context.Context, prefix string) ([]relay.Object, error) {
	s.mu.Lock()
	s.lists = append(s.lists, prefix)
	s.mu.Unlock()
	return s.Store.List(ctx, prefix)
}

func (s *countingStore) PresignGet(ctx context.Context, key string, expiry time.Duration) (string, error) {
	s.mu.Lock()
	s.gets++
	s.mu.Unlock()
	return s.Store.PresignGet(ctx, key, expiry)
}

func (s *countingStore) reads() ([]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lists...), s.gets
}

// TestBackupOwnerOnly: the backup listing and a clip's manifest need an
// owner login that the device accepts. Without one the relay answers 401
// naming what to send and neither asks the device nor reads the store; a
// login the device refuses comes back as the device's own status and
// reason, and the store is not read; a device that does not answer is
// 504. The device is asked the owner check alone (GET /api/v1/owner with
// the login as is) and nothing else; only on its 200 is the store listed
// and presigned. Disclosure manifests stay open to whoever holds the JTI.
func TestBackupOwnerOnly(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{TLS: true, Relays: []string{"relay"}})
	dir, h := stores[0].open(t)
	store := &countingStore{Store: dir}
	r := startRelay(t, b, "relay-1", store, h, 2*time.Second)
	dir.(*relay.DirStore).SetBase("http://" + r.Addr())
	seen := make(chan string, 20)
	d := startDevice(t, b, ownerLAN(seen))
	ps, _ := pieces(2, 1000)
	if err := d.upl.Upload(context.Background(), uplink.Job{ID: "b1", Authority: "backup:on-1", Clip: "20260101T120000Z-abcdef"}, ps); err != nil {
		t.Fatal(err)
	}
	base := "http://" + r.Addr() + "/v1/devices/" + dev
	get := func(path, auth string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(body))
	}
	asked := func() string {
		t.Helper()
		select {
		case s := <-seen:
			return s
		case <-time.After(5 * time.Second):
			t.Error("the device was not asked")
			return ""
		}
	}
	noDevice := func(what string) {
		t.Helper()
		select {
		case s := <-seen:
			t.Errorf("%s reached the device: %s", what, s)
		case <-time.After(200 * time.Millisecond):
		}
	}
	for _, path := range []string{"/backup", "/backup/20260101T120000Z-abcdef"} {
		for _, auth := range []string{"", "Bearer " + ownerLogin, "Doorward not-json", "Doorward {"} {
			status, body := get(path, auth)
			if status != http.StatusUnauthorized || !strings.Contains(body, `"reason":"no-login"`) || !strings.Contains(body, "Authorization: Doorward <login statement JSON>") {
				t.Errorf("GET %s with Authorization %.20q: %d %s, want 401 no-login naming what to send", path, auth, status, body)
			}
		}
		noDevice("a request without a login")
		for _, tc := range []struct {
			login  string
			status int
			reason string
		}{{strangerLogin, http.StatusForbidden, `{"reason":"unknown-key","error":"consent: no enrolled owner has key zz"}`},
			{usedLogin, http.StatusUnauthorized, `{"reason":"replayed","error":"consent: statement already used"}`}} {
			status, body := get(path, "Doorward "+tc.login)
			if status != tc.status || body != tc.reason {
				t.Errorf("GET %s with a login the device refuses: %d %s, want the device's %d %s", path, status, body, tc.status, tc.reason)
			}
			if s := asked(); s != "GET /api/v1/owner Doorward "+tc.login {
				t.Errorf("the device was asked %q, want the owner check with the login", s)
			}
		}
		if lists, gets := store.reads(); len(lists) != 0 || gets != 0 {
			t.Fatalf("the relay read the store without an owner login: lists %v, %d presigned GETs", lists, gets)
		}
	}
	var l wire.BackupList
	getJSON(t, base+"/backup", ownerLogin, http.StatusOK, &l)
	if len(l.Clips) != 1 || l.Clips[0].Clip != "20260101T120000Z-abcdef" || l.Clips[0].Objects != 2 {
		t.Errorf("the owner's listing: %+v", l)
	}
	if s := asked(); s != "GET /api/v1/owner Doorward "+ownerLogin {
		t.Errorf("the device was asked %q, want the owner check", s)
	}
	var m wire.Manifest
	getJSON(t, base+"/backup/20260101T120000Z-abcdef", ownerLogin, http.StatusOK, &m)
	asked()
	if lists, gets := store.reads(); len(m.Objects) != 2 || len(lists) != 2 || gets != 2 {
		t.Errorf("with the owner's login: manifest %+v, lists %v, %d presigned GETs", m, lists, gets)
	}
	noDevice("nothing else")
	// A device that does not answer: 504, and the store is not read.
	req, _ := http.NewRequest(http.MethodGet, "http://"+r.Addr()+"/v1/devices/bbbbbbbbbbbbbbbb/backup", nil)
	req.Header.Set("Authorization", "Doorward "+ownerLogin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if lists, _ := store.reads(); resp.StatusCode != http.StatusGatewayTimeout || len(lists) != 2 {
		t.Errorf("a device that does not answer: %s, store lists %v; want 504 and no listing", resp.Status, lists)
	}
	// Disclosure manifests need no login: the JTI is the capability.
	var e struct{ Reason string }
	getJSON(t, base+"/disclosures/g-unknown", "", http.StatusNotFound, &e)
	noDevice("a disclosure manifest")
}

// getJSON GETs u (with login in Authorization unless it is "") and
// decodes the answer, which must have status.
func getJSON(t *testing.T, u, login string, status int, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if login != "" {
		req.Header.Set("Authorization", "Doorward "+login)
	}
	resp, err := http.DefaultClient.Do(req)
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
