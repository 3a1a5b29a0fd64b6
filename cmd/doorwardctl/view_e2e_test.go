package main

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/consent/audit"
	"github.com/doorward/doorward/uplink/live"
	"github.com/doorward/doorward/uplink/mqtttest"
	"github.com/doorward/doorward/uplink/wire"
)

// runView starts `doorwardctl view` as the owner would and returns the URL
// it printed.
func runView(t *testing.T, b e2eBins, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(b.doorwardctl, append([]string{"view"}, args...)...)
	cmd.Dir = dir
	log := &capturetest.LogBuffer{}
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("doorwardctl view stderr:\n%s", log.String())
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	u, ok := strings.CutPrefix(strings.TrimSpace(line), "open ")
	if err != nil || !ok || !strings.HasPrefix(u, "http://127.0.0.1:") || !strings.Contains(u, "/?t=") {
		t.Fatalf("doorwardctl view printed %q (%v); stderr:\n%s", line, err, log.String())
	}
	return u
}

// chromium starts Debian's chromium headless with a fresh profile and
// returns a browser context (no deadline: one on the browser's context
// would kill it).
func chromium(t *testing.T) context.Context {
	t.Helper()
	path := capturetest.Tool(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// pollJS evaluates expr in the page until it is true or timeout passes,
// and fails the test with what describe evaluates to then.
func pollJS(t *testing.T, ctx context.Context, expr, describe string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("Boolean("+expr+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			what, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("JSON.stringify("+describe+")"))
			t.Fatalf("%s not true within %v (err %v): %s", expr, timeout, err, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The owner opens doorwardctl view in a real Chromium: the page's own
// WebRTC peer decodes the device's 640x480 stream, the sim board's motion
// button records a clip, and clicking the clip plays it, decrypted by
// doorwardctl in memory. The audit status verifies and counts the session.
func TestViewChromiumE2E(t *testing.T) {
	b := e2e(t)
	h := newHome(t, b)
	d := startDevice(t, b, t.TempDir(), writeConfig(t, t.TempDir(), ""))
	pairOwner(t, b, d, h)
	ctx := chromium(t)
	page := runView(t, b, h.dir, "--device", d.url, "-i", h.key)

	begin := time.Now()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	pollJS(t, ctx, `window.doorward && window.doorward.firstFrameMs !== null && window.doorward.width > 0`,
		`{state: window.doorward && window.doorward.state, error: window.doorward && window.doorward.error}`, 30*time.Second)
	type stats struct {
		FramesDecoded int    `json:"framesDecoded"`
		Width         int    `json:"width"`
		Height        int    `json:"height"`
		FirstFrameMS  int    `json:"firstFrameMs"`
		State         string `json:"state"`
		Codec         string `json:"codec"`
	}
	var s stats
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		s, err = chromedp.Run(ctx, chromedp.Evaluate[stats](`(async () => {
			const v = document.getElementById("live");
			const r = {framesDecoded: 0, width: v.videoWidth, height: v.videoHeight, firstFrameMs: window.doorward.firstFrameMs, state: window.doorward.state, codec: ""};
			const st = await window.doorward.pc.getStats();
			const codecs = {};
			st.forEach((x) => { if (x.type === "codec") codecs[x.id] = x.mimeType; });
			st.forEach((x) => { if (x.type === "inbound-rtp" && x.kind === "video") { r.framesDecoded = x.framesDecoded || 0; r.codec = codecs[x.codecId] || ""; } });
			return r;
		})()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("getStats: %v", err)
		}
		if s.FramesDecoded > 30 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("chromium: %+v (%.1f s after navigation)", s, time.Since(begin).Seconds())
	if s.FramesDecoded == 0 || s.Width != 640 || s.Height != 480 || s.State != "connected" || s.Codec != "video/H264" {
		t.Fatalf("the page decoded %+v, want frames of 640x480 H.264 over a connected peer", s)
	}

	// The sim board's button fires motion; the clip appears in the list
	// and plays when clicked.
	pollJS(t, ctx, `!document.getElementById("sim").hidden`, `window.doorward.lastState`, 15*time.Second)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`document.getElementById("fire-motion").click()`)); err != nil {
		t.Fatal(err)
	}
	pollJS(t, ctx, `window.doorward.lastState && window.doorward.lastState.clips.some((c) => !c.recording && c.trigger === "motion")`,
		`window.doorward.lastState`, 40*time.Second)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`(() => {
		const c = window.doorward.lastState.clips.find((c) => !c.recording && c.trigger === "motion");
		for (const tr of document.querySelectorAll("#clips tbody tr")) if (tr.dataset.clip === c.id) tr.click();
	})()`)); err != nil {
		t.Fatal(err)
	}
	pollJS(t, ctx, `(() => { const v = document.getElementById("clip"); return v.src.includes("/clips/") && v.duration > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 0 && v.videoWidth === 640; })()`,
		`(() => { const v = document.getElementById("clip"); return {src: v.src, duration: v.duration, ready: v.readyState, frames: v.getVideoPlaybackQuality().totalVideoFrames, w: v.videoWidth, err: window.doorward.clipError}; })()`, 30*time.Second)

	// The audit status verifies and shows the live session.
	pollJS(t, ctx, `window.doorward.lastState.audit && window.doorward.lastState.audit.verified && window.doorward.lastState.audit.live_sessions >= 1`,
		`window.doorward.lastState.audit`, 15*time.Second)
	// The session ends when the page goes away (its pagehide DELETE).
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
}

// The viewer's server answers only with its token and only to its own
// loopback names: another token, no token, a rebound DNS name and a
// cross-origin POST are refused, and nothing reaches the device.
func TestViewRefusalsE2E(t *testing.T) {
	b := e2e(t)
	h := newHome(t, b)
	d := startDevice(t, b, t.TempDir(), writeConfig(t, t.TempDir(), ""))
	pairOwner(t, b, d, h)
	page := runView(t, b, h.dir, "--device", d.url, "-i", h.key)
	u, err := url.Parse(page)
	if err != nil {
		t.Fatal(err)
	}
	token := u.Query().Get("t")
	base := "http://" + u.Host
	get := func(method, path, host, origin string) int {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader("v=0\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		req.Header.Set("Content-Type", "application/sdp")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	_, port, _ := strings.Cut(u.Host, ":")
	wrong := strings.Repeat("A", len(token))
	for _, c := range []struct {
		name, method, path, host, origin string
		want                             int
	}{
		{"the page with its token", "GET", "/?t=" + token, "", "", 200},
		{"the page as localhost", "GET", "/?t=" + token, "localhost:" + port, "", 200},
		{"state with its token", "GET", "/api/state?t=" + token, "", "", 200},
		{"no token", "GET", "/", "", "", 403},
		{"wrong token", "GET", "/?t=" + wrong, "", "", 403},
		{"wrong token, state", "GET", "/api/state?t=" + wrong, "", "", 403},
		{"a prefix of the token", "GET", "/?t=" + token[:len(token)-1], "", "", 403},
		{"wrong token, offer", "POST", "/api/whep?t=" + wrong, "", "", 403},
		{"wrong token, clip", "GET", "/clips/x.mp4?t=" + wrong, "", "", 403},
		{"wrong token, trigger", "POST", "/api/trigger/ring?t=" + wrong, "", "", 403},
		{"DNS rebinding", "GET", "/?t=" + token, "evil.example:" + port, "", 403},
		{"rebinding, state", "GET", "/api/state?t=" + token, "attacker.test", "", 403},
		{"another port", "GET", "/?t=" + token, "127.0.0.1:1", "", 403},
		{"cross-origin offer", "POST", "/api/whep?t=" + token, "", "http://evil.example", 403},
		{"cross-origin trigger", "POST", "/api/trigger/ring?t=" + token, "", "https://evil.example", 403},
	} {
		if got := get(c.method, c.path, c.host, c.origin); got != c.want {
			t.Errorf("%s: %s %s (Host %q, Origin %q): %d, want %d", c.name, c.method, c.path, c.host, c.origin, got, c.want)
		}
	}
	// Nothing refused reached the device: no clip was recorded, no live
	// session was audited.
	time.Sleep(500 * time.Millisecond)
	if cs := d.clips(); len(cs) != 0 {
		t.Errorf("%d clips recorded; a refused trigger fired", len(cs))
	}
	for _, e := range fetchAudit(t, d, h).Entries {
		if strings.HasPrefix(string(e.Kind), "live") {
			t.Errorf("audit leaf %s: a refused request reached the device", e.Kind)
		}
	}
	// --listen on a non-loopback address is refused.
	r := ctl(t, b, h.dir, "", "view", "--device", d.url, "-i", h.key, "--listen", "0.0.0.0:0")
	refused(t, r, "loopback")
}

// The viewer page away from home: doorwardctl view --relay signs the
// page's offer and sends it through the relay and mosquitto; Chromium
// decodes the device's stream peer to peer. Leaving the page ends the
// session through the relay (audit: viewer-ended).
func TestViewRelayChromiumE2E(t *testing.T) {
	b := e2e(t)
	broker := mqtttest.Start(t, mqtttest.Options{})
	relay, _ := runRelay(t, b, broker.URL, "dir:"+t.TempDir(), nil)
	dir := t.TempDir()
	d := startDevice(t, b, filepath.Join(dir, "state"), writeConfig(t, dir, "mqtt:\n  broker: "+broker.URL+"\n"))
	h := newHome(t, b)
	pairOwner(t, b, d, h)
	id := d.info().DeviceID
	waitMQTT(t, broker, id)
	ctx := chromium(t)
	page := runView(t, b, h.dir, "--relay", relay, "--device", id, "-i", h.key)
	if _, err := chromedp.Run(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	pollJS(t, ctx, `window.doorward && window.doorward.firstFrameMs !== null && window.doorward.width === 640 && window.doorward.height === 480`,
		`{state: window.doorward && window.doorward.state, error: window.doorward && window.doorward.error}`, 30*time.Second)
	frames, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(async () => {
		let n = 0;
		(await window.doorward.pc.getStats()).forEach((x) => { if (x.type === "inbound-rtp" && x.kind === "video") n = x.framesDecoded; });
		return n;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil || frames == 0 {
		t.Fatalf("framesDecoded %d (%v)", frames, err)
	}
	// Through the relay the page shows the notices and the verified audit
	// log; clips and status stay on the LAN, and the page says so.
	pollJS(t, ctx, `(() => { const s = window.doorward.lastState; return s && s.lan_reads && s.audit && s.audit.verified && s.audit.entries > 0 &&
		Array.isArray(s.notices) && !(s.errors && s.errors.notices) && s.errors && /on the LAN only/.test(s.errors.clips) && s.clips.length === 0 &&
		document.getElementById("clips-note").textContent.includes("on the LAN only"); })()`, `window.doorward.lastState`, 20*time.Second)
	// The page's DELETE through the relay ends the session (awaited here:
	// on a page being unloaded it races the browser closing the peer).
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`window.doorward.stop()`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ended []string
		for _, e := range fetchAudit(t, d, h).Entries {
			if e.Kind == audit.KindLiveSessionEnd {
				ended = append(ended, e.Reason)
			}
		}
		if len(ended) == 1 && ended[0] == live.EndViewer {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions ended %v, want one %s (the page's DELETE through the relay)", ended, live.EndViewer)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// waitMQTT waits until the device is online on the broker (its retained
// status), so that the relay's first command reaches it.
func waitMQTT(t *testing.T, broker *mqtttest.Broker, id string) {
	t.Helper()
	rec := mqtttest.Record(t, broker.Client(t, "wait-"+id, nil, true), wire.Topic(id, wire.TopicStatus))
	rec.WaitFor(t, 20*time.Second, "the device online", func(msgs []mqtttest.Msg) bool {
		for _, m := range msgs {
			if strings.Contains(string(m.Payload), "online") {
				return true
			}
		}
		return false
	})
}
