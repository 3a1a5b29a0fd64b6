package relay_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/doorward/doorward/uplink"
	"github.com/doorward/doorward/uplink/mqtttest"
	"github.com/doorward/doorward/uplink/relay"
	"github.com/doorward/doorward/uplink/s3test"
)

// faultProxy stands in front of the S3 store and, for each object's PUTs
// in turn: answers 500, resets the connection, stalls without answering,
// forwards the PUT but resets before the answer (the store has it, the
// device does not know), and from then on forwards.
type faultProxy struct {
	target *httputil.ReverseProxy
	stall  time.Duration
	mu     sync.Mutex
	puts   map[string]int
	stored map[string]int // PUTs that reached the store
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		p.target.ServeHTTP(w, r)
		return
	}
	p.mu.Lock()
	p.puts[r.URL.Path]++
	n := p.puts[r.URL.Path]
	p.mu.Unlock()
	switch n {
	case 1:
		http.Error(w, "InternalError", http.StatusInternalServerError)
	case 2:
		reset(w)
	case 3:
		time.Sleep(p.stall)
		reset(w)
	case 4:
		rec := &discard{h: http.Header{}}
		p.target.ServeHTTP(rec, r)
		p.count(r.URL.Path, rec.status)
		reset(w)
	default:
		rec := &tee{ResponseWriter: w}
		p.target.ServeHTTP(rec, r)
		p.count(r.URL.Path, rec.status)
	}
}

func (p *faultProxy) count(path string, status int) {
	if status/100 == 2 {
		p.mu.Lock()
		p.stored[path]++
		p.mu.Unlock()
	}
}

func reset(w http.ResponseWriter) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0) // RST, not FIN
	}
	c.Close()
}

type discard struct {
	h      http.Header
	status int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(s int)           { d.status = s }

type tee struct {
	http.ResponseWriter
	status int
}

func (t *tee) WriteHeader(s int) { t.status = s; t.ResponseWriter.WriteHeader(s) }

// TestS3Faults: through 500s, resets, stalls and a lost answer, every
// upload completes exactly once with a matching checksum: one object per
// piece, holding exactly its bytes, and no stray object.
func TestS3Faults(t *testing.T) {
	s3 := s3test.Start(t)
	target, _ := url.Parse(s3.Endpoint)
	proxy := &faultProxy{target: httputil.NewSingleHostReverseProxy(target), stall: 1500 * time.Millisecond, puts: map[string]int{}, stored: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: proxy}
	go srv.Serve(ln)
	defer srv.Close()
	// The relay presigns for the proxy's address: the device only ever
	// talks to it.
	mc, err := minio.New(ln.Addr().String(), &minio.Options{Creds: credentials.NewStaticV4(s3.Access, s3.Secret, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	b := mqtttest.Start(t, mqtttest.Options{TLS: true, Relays: []string{"relay"}})
	startRelay(t, b, "relay-1", relay.NewS3Store(mc, s3.Bucket), nil, 5*time.Second)
	d := startDevice(t, b, http.NotFoundHandler())
	d.upl = uplink.NewUploader(uplink.UploaderOptions{DeviceID: dev, Session: d.s, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		StallTimeout: 500 * time.Millisecond, URLTimeout: 10 * time.Second})
	d.up = uplink.New(uplink.Options{Session: d.s, LAN: http.NotFoundHandler(), Uploads: d.upl})
	ps, data := pieces(4, 200_000)
	if err := d.upl.Upload(context.Background(), uplink.Job{ID: "j", Authority: "legal:faults-1", Clip: "c1"}, ps); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for o := range s3.Client.ListObjects(context.Background(), s3.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	if len(keys) != len(ps) {
		t.Fatalf("the store holds %v, want %d objects", keys, len(ps))
	}
	for i, p := range ps {
		key := dev + "/disclosures/faults-1/c1/" + uplink.ObjectName(p.Name)
		obj, err := s3.Client.GetObject(context.Background(), s3.Bucket, key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if !bytes.Equal(got, data[i]) {
			t.Errorf("%s: %d bytes stored, want its %d", key, len(got), len(data[i]))
		}
		st, err := s3.Client.StatObject(context.Background(), s3.Bucket, key, minio.StatObjectOptions{Checksum: true})
		sum := sha256.Sum256(data[i])
		if err != nil || st.ChecksumSHA256 == "" {
			t.Errorf("%s: no checksum kept (%v)", key, err)
		} else if b, _ := decodeB64(st.ChecksumSHA256); hex.EncodeToString(b) != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: checksum %s, want %x", key, st.ChecksumSHA256, sum)
		}
		path := "/" + s3.Bucket + "/" + key
		proxy.mu.Lock()
		puts, stored := proxy.puts[path], proxy.stored[path]
		proxy.mu.Unlock()
		if puts != 5 || stored != 2 {
			t.Errorf("%s: %d PUTs, %d reached the store; want 5 (500, reset, stall, lost answer, success) and 2", key, puts, stored)
		}
	}
	if t.Failed() {
		t.Logf("PUTs: %v", strings.Join(keys, " "))
	}
}

func decodeB64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
