// Package s3test starts a real S3 server for tests: versitygw with its
// posix backend in a temporary directory, on a free loopback port, with
// test credentials and one bucket.
package s3test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/doorward/doorward/capture/capturetest"
)

// Server is a running versitygw.
type Server struct {
	Endpoint       string // http://127.0.0.1:PORT
	Bucket         string
	Access, Secret string
	Dir            string // the posix backend's root: Dir/Bucket/<key>
	Client         *minio.Client
}

// Start starts versitygw and makes the bucket; it stops when the test
// ends. Without versitygw (go install
// github.com/versity/versitygw/cmd/versitygw@v1.8.0) the test is skipped,
// or fails under CI=true.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := find(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	os.MkdirAll(root, 0o700)
	s := &Server{Bucket: "doorward", Access: "doorwardtest", Secret: "doorward-test-secret", Dir: root}
	var out logBuffer
	var cmd *exec.Cmd
	for range 20 {
		port := freePort(t)
		cmd = exec.Command(bin, "--access", s.Access, "--secret", s.Secret, "--port", fmt.Sprintf("127.0.0.1:%d", port), "--quiet",
			"posix", "--sidecar", filepath.Join(dir, "meta"), root)
		os.MkdirAll(filepath.Join(dir, "meta"), 0o700)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("s3test: starting versitygw: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		if waitListening(port, exited) {
			s.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
				if t.Failed() {
					t.Logf("versitygw output:\n%s", out.String())
				}
			})
			break
		}
		cmd.Process.Kill()
		<-exited
	}
	if s.Endpoint == "" {
		t.Fatalf("s3test: versitygw did not start: %s", out.String())
	}
	c, err := minio.New(strings.TrimPrefix(s.Endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(s.Access, s.Secret, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatalf("s3test: making bucket: %v\n%s", err, out.String())
	}
	s.Client = c
	return s
}

// StoreSpec is the relay's --store for this server.
func (s *Server) StoreSpec() string {
	return "s3://" + s.Bucket + "?endpoint=" + s.Endpoint + "&region=us-east-1"
}

// Env is the environment the relay takes credentials from.
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.Access, "AWS_SECRET_ACCESS_KEY=" + s.Secret}
}

func find(t testing.TB) string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	if gp, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(gp)), "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return capturetest.Tool(t, "versitygw")
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitListening(port int, exited chan struct{}) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
