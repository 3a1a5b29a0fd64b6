package relay

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/doorward/doorward/device/atomicfile"
)

// Object is one stored object.
type Object struct {
	Key    string `json:"object"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"` // hex, as the store verified it
}

// Store is where uploads go: it presigns and lists, and never sees a key
// that could open what it holds.
type Store interface {
	// PresignPut returns a URL that takes a PUT of exactly this object,
	// with this SHA-256 (hex) in x-amz-checksum-sha256, until expiry.
	PresignPut(ctx context.Context, key string, size int64, sha256hex string, expiry time.Duration) (string, error)
	// PresignGet returns a URL that reads the object until expiry.
	PresignGet(ctx context.Context, key string, expiry time.Duration) (string, error)
	// List returns the objects under prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]Object, error)
}

// OpenStore opens a store from its --store form: s3://BUCKET?endpoint=URL&region=R
// (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) or
// dir:PATH (served by the relay itself under base, its public URL).
func OpenStore(spec, base string, secret []byte) (Store, http.Handler, error) {
	switch {
	case strings.HasPrefix(spec, "s3://"):
		s, err := openS3(spec)
		return s, nil, err
	case strings.HasPrefix(spec, "dir:"):
		d, err := NewDirStore(strings.TrimPrefix(spec, "dir:"), base, secret)
		return d, d, err
	}
	return nil, nil, fmt.Errorf("relay: store %q is not valid (valid: s3://BUCKET?endpoint=URL&region=R or dir:PATH)", spec)
}

// S3Store presigns against an S3-compatible store with minio-go.
type S3Store struct {
	c      *minio.Client
	bucket string
}

func openS3(spec string) (*S3Store, error) {
	u, err := url.Parse(spec)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("relay: store %q is not s3://BUCKET?endpoint=URL&region=R", spec)
	}
	q := u.Query()
	endpoint := q.Get("endpoint")
	if endpoint == "" {
		endpoint = "https://s3.amazonaws.com"
	}
	ep, err := url.Parse(endpoint)
	if err != nil || ep.Host == "" || (ep.Scheme != "http" && ep.Scheme != "https") {
		return nil, fmt.Errorf("relay: store endpoint %q is not an http(s) URL", endpoint)
	}
	region := q.Get("region")
	if region == "" {
		region = "us-east-1"
	}
	access, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if access == "" || secret == "" {
		return nil, errors.New("relay: an s3:// store needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
	}
	c, err := minio.New(ep.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(access, secret, ""),
		Secure:       ep.Scheme == "https",
		Region:       region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("relay: store: %w", err)
	}
	return &S3Store{c: c, bucket: u.Host}, nil
}

// NewS3Store wraps a minio client and bucket.
func NewS3Store(c *minio.Client, bucket string) *S3Store { return &S3Store{c: c, bucket: bucket} }

// PresignPut signs the checksum header into the URL: the store takes
// exactly the bytes the device announced, or nothing.
func (s *S3Store) PresignPut(ctx context.Context, key string, _ int64, sha256hex string, expiry time.Duration) (string, error) {
	sum, err := hex.DecodeString(sha256hex)
	if err != nil || len(sum) != sha256.Size {
		return "", fmt.Errorf("relay: sha256 %q is not 64 hex digits", sha256hex)
	}
	h := http.Header{}
	h.Set("x-amz-checksum-sha256", base64.StdEncoding.EncodeToString(sum))
	u, err := s.c.PresignHeader(ctx, http.MethodPut, s.bucket, key, expiry, nil, h)
	if err != nil {
		return "", fmt.Errorf("relay: presigning %s: %w", key, err)
	}
	return u.String(), nil
}

// PresignGet returns a presigned GET.
func (s *S3Store) PresignGet(ctx context.Context, key string, expiry time.Duration) (string, error) {
	u, err := s.c.PresignedGetObject(ctx, s.bucket, key, expiry, nil)
	if err != nil {
		return "", fmt.Errorf("relay: presigning %s: %w", key, err)
	}
	return u.String(), nil
}

// List lists the objects under prefix with the checksums the store kept.
func (s *S3Store) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("relay: listing %s: %w", prefix, o.Err)
		}
		obj := Object{Key: o.Key, Size: o.Size}
		if st, err := s.c.StatObject(ctx, s.bucket, o.Key, minio.StatObjectOptions{Checksum: true}); err == nil && st.ChecksumSHA256 != "" {
			if sum, err := base64.StdEncoding.DecodeString(st.ChecksumSHA256); err == nil {
				obj.SHA256 = hex.EncodeToString(sum)
			}
		}
		out = append(out, obj)
	}
	slices.SortFunc(out, func(a, b Object) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// DirStore keeps objects in a local directory and serves them itself
// behind URLs signed with an HMAC key: PUT and GET /store/<key>?exp=&sig=.
// It checks the checksum of every PUT before the object appears.
type DirStore struct {
	dir, base string
	secret    []byte
	now       func() time.Time
}

// NewDirStore opens dir (created if needed). base is the relay's public
// URL (http://HOST:PORT); secret signs URLs (random when nil: URLs then
// last as long as this relay process).
func NewDirStore(dir, base string, secret []byte) (*DirStore, error) {
	if dir == "" {
		return nil, errors.New("relay: dir store needs a path (dir:PATH)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("relay: store: %w", err)
	}
	if len(secret) == 0 {
		secret = make([]byte, 32)
		rand.Read(secret)
	}
	return &DirStore{dir: dir, base: strings.TrimSuffix(base, "/"), secret: secret, now: time.Now}, nil
}

// SetBase sets the public URL once the listener's address is known.
func (d *DirStore) SetBase(base string) { d.base = strings.TrimSuffix(base, "/") }

func (d *DirStore) sign(method, key, sha string, exp int64) string {
	m := hmac.New(sha256.New, d.secret)
	fmt.Fprintf(m, "%s\n%s\n%s\n%d", method, key, sha, exp)
	return hex.EncodeToString(m.Sum(nil))
}

func (d *DirStore) url(method, key, sha string, expiry time.Duration) string {
	exp := d.now().Add(expiry).Unix()
	q := url.Values{"exp": {strconv.FormatInt(exp, 10)}, "sig": {d.sign(method, key, sha, exp)}}
	if sha != "" {
		q.Set("sha256", sha)
	}
	return d.base + "/store/" + (&url.URL{Path: key}).EscapedPath() + "?" + q.Encode()
}

// PresignPut signs a PUT of exactly key with exactly sha256hex.
func (d *DirStore) PresignPut(_ context.Context, key string, _ int64, sha256hex string, expiry time.Duration) (string, error) {
	if _, err := d.path(key); err != nil {
		return "", err
	}
	return d.url(http.MethodPut, key, sha256hex, expiry), nil
}

// PresignGet signs a GET of key.
func (d *DirStore) PresignGet(_ context.Context, key string, expiry time.Duration) (string, error) {
	if _, err := d.path(key); err != nil {
		return "", err
	}
	return d.url(http.MethodGet, key, "", expiry), nil
}

// path maps a key to its file, refusing anything that could leave dir.
func (d *DirStore) path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return filepath.Join(d.dir, filepath.FromSlash(key)), nil
}

// List walks the objects under prefix.
func (d *DirStore) List(_ context.Context, prefix string) ([]Object, error) {
	var out []Object
	root := filepath.Join(d.dir, filepath.FromSlash(strings.TrimSuffix(prefix, "/")))
	err := filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() || strings.HasSuffix(p, ".sha256") || strings.Contains(e.Name(), ".tmp") {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(d.dir, p)
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		sum, _ := os.ReadFile(p + ".sha256")
		out = append(out, Object{Key: key, Size: info.Size(), SHA256: strings.TrimSpace(string(sum))})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("relay: listing %s: %w", prefix, err)
	}
	slices.SortFunc(out, func(a, b Object) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// ServeHTTP serves the signed PUTs and GETs under /store/.
func (d *DirStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, ok := strings.CutPrefix(r.URL.Path, "/store/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	exp, err := strconv.ParseInt(q.Get("exp"), 10, 64)
	sha := q.Get("sha256")
	if err != nil || !hmac.Equal([]byte(q.Get("sig")), []byte(d.sign(r.Method, key, sha, exp))) {
		http.Error(w, "SignatureDoesNotMatch", http.StatusForbidden)
		return
	}
	if d.now().Unix() > exp {
		http.Error(w, "AccessDenied: the URL expired", http.StatusForbidden)
		return
	}
	p, err := d.path(key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch r.Method {
	case http.MethodGet:
		http.ServeFile(w, r, p)
	case http.MethodPut:
		d.put(w, r, p, sha)
	default:
		http.Error(w, "MethodNotAllowed", http.StatusMethodNotAllowed)
	}
}

func (d *DirStore) put(w http.ResponseWriter, r *http.Request, p, sha string) {
	want, err := base64.StdEncoding.DecodeString(r.Header.Get("x-amz-checksum-sha256"))
	if err != nil || hex.EncodeToString(want) != sha {
		http.Error(w, "BadDigest: x-amz-checksum-sha256 is missing or not the signed one", http.StatusBadRequest)
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		http.Error(w, "InternalError", http.StatusInternalServerError)
		return
	}
	f, err := atomicfile.Create(p, 0o600)
	if err != nil {
		http.Error(w, "InternalError", http.StatusInternalServerError)
		return
	}
	defer f.Abort()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), r.Body); err != nil {
		http.Error(w, "IncompleteBody", http.StatusBadRequest)
		return
	}
	if !hmac.Equal(h.Sum(nil), want) {
		http.Error(w, "BadDigest: the body does not match x-amz-checksum-sha256", http.StatusBadRequest)
		return
	}
	if err := os.WriteFile(p+".sha256", []byte(sha+"\n"), 0o600); err != nil {
		http.Error(w, "InternalError", http.StatusInternalServerError)
		return
	}
	if err := f.Commit(); err != nil {
		http.Error(w, "InternalError", http.StatusInternalServerError)
		return
	}
	w.Header().Set("x-amz-checksum-sha256", base64.StdEncoding.EncodeToString(want))
	w.WriteHeader(http.StatusOK)
}

// CheckKey refuses object keys that are empty, absolute, hold empty, "."
// or ".." segments, or anything but A-Z a-z 0-9 and - _ . /.
func CheckKey(key string) error {
	if key == "" || len(key) > 512 || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") {
		return fmt.Errorf("relay: object key %q is not valid", key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("relay: object key %q is not valid", key)
		}
	}
	for _, c := range []byte(key) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '/') {
			return fmt.Errorf("relay: object key %q is not valid", key)
		}
	}
	return nil
}
