package uplink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorward/doorward/uplink/wire"
)

// fakeStore is an S3-like PUT target that checks x-amz-checksum-sha256,
// and fails the first `fail` PUTs of each object with a 500.
type fakeStore struct {
	mu      sync.Mutex
	objects map[string][]byte
	puts    map[string]int
	fail    int
	stall   int // stall (never answer) this many PUTs first
}

func (s *fakeStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/bucket/")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.puts[key]++
	n := s.puts[key]
	s.mu.Unlock()
	if n <= s.stall {
		<-r.Context().Done()
		return
	}
	if n <= s.stall+s.fail {
		http.Error(w, "InternalError", http.StatusInternalServerError)
		return
	}
	sum := sha256.Sum256(body)
	if r.Header.Get("x-amz-checksum-sha256") != base64.StdEncoding.EncodeToString(sum[:]) {
		http.Error(w, "BadDigest", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.objects[key] = body
	s.mu.Unlock()
}

// answerer plays the relay: it answers every upload request on the fake
// session with a URL on the store.
func answerer(ctx context.Context, s *fakeSession, up *Uploader, base string, lie func(wire.UploadRequest) wire.UploadURL) {
	seen := 0
	for ctx.Err() == nil {
		msgs := s.all()
		for ; seen < len(msgs); seen++ {
			if msgs[seen].sub != wire.TopicUploadRequest {
				continue
			}
			var req wire.UploadRequest
			json.Unmarshal(msgs[seen].body, &req)
			u := wire.UploadURL{Object: req.Object, URL: base + "/bucket/" + req.Object + "?X-Amz-Signature=x"}
			if lie != nil {
				u = lie(req)
			}
			up.Offer(u)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func pieces(n int) []Piece {
	var ps []Piece
	for i := range n {
		data := bytes.Repeat([]byte{byte(i)}, 100_000+i)
		name := fmt.Sprintf("%06d.m4s.age", i)
		if i == 0 {
			name = "init.mp4.age"
		}
		ps = append(ps, Piece{Name: name, Size: int64(len(data)), Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}})
	}
	return ps
}

const dev = "aaaaaaaaaaaaaaaa"

func TestUploadRetriesAndChecksums(t *testing.T) {
	st := &fakeStore{objects: map[string][]byte{}, puts: map[string]int{}, fail: 2, stall: 1}
	srv := httptest.NewServer(st)
	defer srv.Close()
	s := &fakeSession{}
	up := NewUploader(UploaderOptions{DeviceID: dev, Session: s, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, StallTimeout: 300 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go answerer(ctx, s, up, srv.URL, nil)
	ps := pieces(3)
	if err := up.Upload(ctx, Job{ID: "j1", Authority: "grant:jti1", Clip: "clip1"}, ps); err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		key := DisclosureObject(dev, "jti1", "clip1", ObjectName(p.Name))
		r, _ := p.Open()
		want, _ := io.ReadAll(r)
		if !bytes.Equal(st.objects[key], want) {
			t.Errorf("piece %d: stored %d bytes under %s, want %d", i, len(st.objects[key]), key, len(want))
		}
		if st.puts[key] != 4 {
			t.Errorf("%s: %d PUTs, want 4 (a stall, two 500s, then success)", key, st.puts[key])
		}
	}
	if _, ok := st.objects[dev+"/disclosures/jti1/clip1/000000-init.mp4.age"]; !ok {
		t.Errorf("init is not stored first in order: %v", st.objects)
	}
}

// TestUploadRefusesLies: URLs for other objects, non-http schemes and
// unrequested objects are refused; nothing is PUT anywhere but where the
// device asked.
func TestUploadRefusesLies(t *testing.T) {
	st := &fakeStore{objects: map[string][]byte{}, puts: map[string]int{}}
	srv := httptest.NewServer(st)
	defer srv.Close()
	s := &fakeSession{}
	up := NewUploader(UploaderOptions{DeviceID: dev, Session: s, URLTimeout: 200 * time.Millisecond, Attempts: 2, MinBackoff: time.Millisecond})
	if err := up.Offer(wire.UploadURL{Object: dev + "/disclosures/x/c/000001.m4s.age", URL: srv.URL + "/bucket/" + dev + "/disclosures/x/c/000001.m4s.age"}); err == nil {
		t.Fatal("accepted a URL for an object nobody requested")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lies := []func(wire.UploadRequest) wire.UploadURL{
		func(r wire.UploadRequest) wire.UploadURL { // another object's key
			return wire.UploadURL{Object: r.Object, URL: srv.URL + "/bucket/" + dev + "/backup/stolen"}
		},
		func(r wire.UploadRequest) wire.UploadURL { // not http
			return wire.UploadURL{Object: r.Object, URL: "file:///tmp/" + r.Object}
		},
		func(r wire.UploadRequest) wire.UploadURL { // a different object named
			return wire.UploadURL{Object: r.Object + "x", URL: srv.URL + "/bucket/" + r.Object + "x"}
		},
	}
	for i, lie := range lies {
		lctx, lcancel := context.WithCancel(ctx)
		go answerer(lctx, s, up, srv.URL, lie)
		err := up.Upload(ctx, Job{ID: "j", Authority: "legal:t1", Clip: "c"}, pieces(1))
		lcancel()
		if err == nil {
			t.Errorf("lie %d: the upload succeeded", i)
		}
	}
	if len(st.puts) != 0 {
		t.Fatalf("PUTs reached the store: %v", st.puts)
	}
	if err := up.Upload(ctx, Job{Authority: "legal:../x", Clip: "c"}, pieces(1)); err == nil {
		t.Fatal("uploaded under an unusable jti")
	}
}
