package lanclient

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/consent/pairing"
)

func TestNew(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":  "http://127.0.0.1:8080",
		"http://127.0.0.1:8080/": "http://127.0.0.1:8080",
		"192.168.1.20:8080":      "https://192.168.1.20:8080",
		"127.0.0.1:8080":         "http://127.0.0.1:8080",
		" https://doorbell.lan ": "https://doorbell.lan",
		"http://[::1]:8080":      "http://[::1]:8080",
		"http://localhost:8080":  "http://localhost:8080",
		"https://127.0.0.1:8443": "https://127.0.0.1:8443",
	} {
		c, err := New(in)
		if err != nil || c.String() != want {
			t.Errorf("New(%q) = %v, %v; want %s", in, c, err, want)
		}
	}
	for in, want := range map[string]string{
		"":                        "no device URL",
		"ftp://host":              "scheme",
		"http://":                 "no host",
		"http://127.0.0.1/api/v1": "only scheme, host and port",
		"https://host?x=1":        "only scheme, host and port",
		"https://user:pw@host":    "only scheme, host and port",
		"https://host:bad port":   "device URL",
		// A device on the network is reached over TLS only, with a hint.
		"http://192.168.1.20:8080": "https only (its LAN API is TLS, checked against the key pinned at pairing); use https://192.168.1.20:8080",
		"http://doorbell:8080":     "use https://doorbell:8080",
		"http://0.0.0.0:8080":      "https only",
	} {
		if _, err := New(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(%q) error %v, want one containing %q", in, err, want)
		}
	}
}

func serve(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		status   int
		body     string
		reason   string
		msgHas   string
		msgLacks string
	}{
		{"reason and text", 403, `{"reason":"bad-signature","error":"consent: bad-signature: no"}`, "bad-signature", "consent: bad-signature: no", ""},
		{"terminal escapes cleaned", 403, `{"reason":"x\u001b[2J","error":"line1\nFAKE: ok\u001b[31m"}`, "x [2J", "line1 FAKE: ok [31m", "\x1b"},
		{"not JSON", 502, "<html>bad gateway</html>", "", "<html>bad gateway</html>", ""},
		{"empty", 500, "", "", "Internal Server Error", ""},
		{"long text shortened", 400, `{"reason":"malformed","error":"` + strings.Repeat("a", 1000) + `"}`, "malformed", "…", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			_, err := c.Legal(ctx, []byte("{}"))
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *APIError", err)
			}
			if ae.Status != tc.status || ae.Reason != tc.reason || ReasonOf(err) != tc.reason {
				t.Errorf("got %d %q, want %d %q", ae.Status, ae.Reason, tc.status, tc.reason)
			}
			if !strings.Contains(err.Error(), tc.msgHas) || (tc.msgLacks != "" && strings.Contains(err.Error(), tc.msgLacks)) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want %q in one clean line", err, tc.msgHas)
			}
		})
	}
	// Unreachable device.
	c, _ := New("http://127.0.0.1:1")
	if _, err := c.Info(ctx); err == nil || !strings.Contains(err.Error(), "cannot reach the device") {
		t.Errorf("unreachable: %v", err)
	}
}

func TestRequests(t *testing.T) {
	ctx := context.Background()
	var gotAuth, gotPath, gotBody string
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotPath = r.Header.Get("Authorization"), r.URL.RequestURI()
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		switch r.URL.Path {
		case "/api/v1/info":
			io.WriteString(w, `{"device_id":"abc","device_key":"ed25519:x","paired":true,"version":"v1"}`)
		case "/api/v1/grants":
			w.WriteHeader(201)
			io.WriteString(w, `{"jti":"g1","disclosures":2}`)
		case "/api/v1/legal":
			w.WriteHeader(200) // not the 202 the contract says
			io.WriteString(w, `{"jti":"t1"}`)
		case "/api/v1/audit":
			pub, priv, _ := ed25519.GenerateKey(nil)
			_ = pub
			cp := audit.Checkpoint{Size: 0, Root: make([]byte, 32), Time: time.Unix(100, 0)}
			sc := audit.SignedCheckpoint{Checkpoint: cp, Signature: ed25519.Sign(priv, cp.Body())}
			json.NewEncoder(w).Encode(map[string]any{"checkpoint": string(sc.Marshal()), "entries": []any{}, "pending_refusals": map[string]int{"malformed": 3}})
		case "/api/v1/pair/hello":
			w.WriteHeader(409)
			io.WriteString(w, `{"ok":false,"reason":"already_paired"}`)
		case "/api/v1/pair/finish":
			w.WriteHeader(403)
			io.WriteString(w, `{"ok":false,"reason":"bad_mac"}`)
		default:
			w.WriteHeader(404)
		}
	})
	info, err := c.Info(ctx)
	if err != nil || info.DeviceID != "abc" || !info.Paired {
		t.Errorf("Info: %+v %v", info, err)
	}
	g, err := c.Grant(ctx, []byte(`{"payload":"x"}`))
	if err != nil || g.JTI != "g1" || g.Disclosures != 2 || gotBody != `{"payload":"x"}` || gotPath != "/api/v1/grants" {
		t.Errorf("Grant: %+v %v (sent %q to %s)", g, err, gotBody, gotPath)
	}
	if _, err := c.Legal(ctx, []byte("{}")); err == nil {
		t.Error("Legal accepted a 200 where the contract says 202")
	}
	login := []byte("{\n  \"payload\": \"p\",\n  \"signatures\": []\n}")
	r, err := c.Audit(ctx, login, 7)
	if err != nil || r.PendingRefusals["malformed"] != 3 || r.Checkpoint.Time.Unix() != 100 {
		t.Errorf("Audit: %+v %v", r, err)
	}
	if gotPath != "/api/v1/audit?since=7" || gotAuth != `Doorward {"payload":"p","signatures":[]}` {
		t.Errorf("Audit sent %s with Authorization %q", gotPath, gotAuth)
	}
	if _, err := c.PairHello(ctx, pairing.Hello{}); !errors.Is(err, pairing.ErrAlreadyPaired) || ReasonOf(err) != "already_paired" {
		t.Errorf("PairHello on a paired device: %v", err)
	}
	res, err := c.PairFinish(ctx, pairing.Finish{})
	if err != nil || res.OK || !errors.Is(res.Err(), pairing.ErrBadMAC) {
		t.Errorf("PairFinish refused: %+v %v", res, err)
	}
	if _, err := c.Info(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestInfoIncomplete(t *testing.T) {
	c := serve(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"paired":true}`) })
	if _, err := c.Info(context.Background()); err == nil || !strings.Contains(err.Error(), "lacks device_id") {
		t.Errorf("Info without an identity: %v", err)
	}
}
