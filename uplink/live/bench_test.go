package live_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/capturetest"
	"github.com/doorward/doorward/device/lanclient"
	"github.com/doorward/doorward/uplink/live"
)

// load1080p returns recorded camera output: a 4 s 1080p30 H.264 stream at
// about 7 Mb/s (a keyframe every second, no B-frames), from ffmpeg.
func load1080p(b *testing.B) []capture.AccessUnit {
	b.Helper()
	data, err := os.ReadFile(capturetest.MakeStream(b, 1920, 1080, 30, 4, "7M"))
	if err != nil {
		b.Fatal(err)
	}
	aus, err := capture.SplitAccessUnits(data)
	if err != nil {
		b.Fatal(err)
	}
	return aus
}

// loop yields the access units over and over as a 30 fps camera would.
func loop(aus []capture.AccessUnit) func(n int) capture.Frame {
	return func(n int) capture.Frame {
		au := aus[n%len(aus)]
		return capture.Frame{Data: au.Data, Key: au.Key, PTS: time.Duration(n) * time.Second / 30}
	}
}

// synthStream makes access units shaped like a 1080p30 stream of bitrate
// bits/s with a keyframe every gop frames: SPS, PPS and an IDR slice for a
// keyframe (4x a P frame), one slice otherwise. The payload bytes hold no
// start codes; a decoder could not use them, the sender does not care.
func synthStream(bitrate, gop int) func(n int) capture.Frame {
	per := bitrate / 8 / 30
	pSize := per * gop / (gop + 3) // keyframes are 4x: the average stays per
	fill := func(size int, hdr ...byte) []byte {
		b := append([]byte(nil), hdr...)
		for len(b) < size {
			b = append(b, 0x5a)
		}
		return b
	}
	sps := []byte{0, 0, 0, 1, 0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78}
	pps := []byte{0, 0, 0, 1, 0x68, 0xeb, 0xe3, 0xcb}
	key := append(append(append([]byte(nil), sps...), pps...), fill(4*pSize, 0, 0, 0, 1, 0x65, 0x88)...)
	p := fill(pSize, 0, 0, 0, 1, 0x41, 0x9a)
	return func(n int) capture.Frame {
		f := capture.Frame{Data: p, PTS: time.Duration(n) * time.Second / 30, Time: time.Now()}
		if n%gop == 0 {
			f.Data, f.Key = key, true
		}
		return f
	}
}

// chanSource yields the frames sent on it.
type chanSource chan capture.Frame

func (c chanSource) ReadFrame(ctx context.Context) (capture.Frame, error) {
	select {
	case f := <-c:
		return f, nil
	case <-ctx.Done():
		return capture.Frame{}, ctx.Err()
	}
}

func (chanSource) Close() error { return nil }

// benchRig is the device side: a Hub fed frame by frame, the live server
// over it and the WHEP endpoint on loopback HTTP.
type benchRig struct {
	feed   chanSource
	hub    *capture.Hub
	url    string
	client *lanclient.Client
	cancel func()
	mu     sync.Mutex
	lat    []time.Duration
}

func newBenchRig(b *testing.B, o live.Options) *benchRig {
	b.Helper()
	r := &benchRig{feed: make(chanSource, 64), hub: capture.NewHub(nil)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.hub.Run(ctx, r.feed) }()
	o.Feed, o.Auth = r.hub, newFakeAuth()
	live.WithOnSent(&o, func(f capture.Frame) {
		d := time.Since(f.Time)
		r.mu.Lock()
		r.lat = append(r.lat, d)
		r.mu.Unlock()
	})
	srv, err := live.New(o)
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	r.url = hs.URL
	r.client, _ = lanclient.New(hs.URL)
	r.cancel = func() { hs.Close(); srv.Close(); cancel(); <-done }
	return r
}

// put publishes frame f as a camera would, stamped now.
func (r *benchRig) put(f capture.Frame) { f.Time = time.Now(); r.feed <- f }

// stream publishes next's frames at 30 fps until the returned stop is
// called.
func (r *benchRig) stream(next func(int) capture.Frame, frame *int) (stop func()) {
	tick := time.NewTicker(time.Second / 30)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				r.put(next(*frame))
				*frame++
			}
		}
	}()
	return func() { close(quit); <-done }
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rssMB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}

// Environment of the viewer process (TestViewerProcess).
const (
	viewersEnv = "DOORWARD_LIVE_BENCH_VIEWERS" // how many
	viewersURL = "DOORWARD_LIVE_BENCH_URL"     // the device's WHEP base URL
)

// TestViewerProcess is not a test: BenchmarkFanOut runs the test binary
// again with this test alone and viewersEnv set, so that the viewers' pion
// peers (receiving, DTLS decryption, reassembly) run in a process of their
// own and the benchmark's process is the device alone. It starts that many
// viewers with doorwardctl live's code, prints "ready" once each has a
// frame, and ends the sessions when its stdin closes.
func TestViewerProcess(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(viewersEnv))
	if n <= 0 {
		t.Skip("the viewer half of BenchmarkFanOut, run by it")
	}
	client, err := lanclient.New(os.Getenv(viewersURL))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { io.Copy(io.Discard, os.Stdin); cancel() }()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var once sync.Once
			_, err := live.Watch(ctx, live.WatchOptions{Sign: signer(fmt.Sprintf("v%d-%d", os.Getpid(), i)), Signal: client,
				OnFrame: func([]byte, bool) {
					once.Do(func() { mu.Lock(); fmt.Println("ready"); mu.Unlock() })
				}})
			if err != nil && ctx.Err() == nil {
				mu.Lock()
				fmt.Println("error:", err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// viewers starts n viewers of r in a process of their own and returns once
// each has received a frame; stop ends them and waits for the process.
func (r *benchRig) viewers(b *testing.B, n int) (stop func()) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestViewerProcess$", "-test.count=1", "-test.timeout=0")
	cmd.Env = append(os.Environ(), viewersEnv+"="+strconv.Itoa(n), viewersURL+"="+r.url)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stop = func() { stdin.Close(); cmd.Wait() }
	lines := bufio.NewScanner(out)
	for ready := 0; ready < n; {
		if !lines.Scan() {
			stop()
			b.Fatalf("the viewer process ended with %d of %d viewers receiving", ready, n)
		}
		switch line := lines.Text(); {
		case line == "ready":
			ready++
		case strings.HasPrefix(line, "error:"):
			stop()
			b.Fatalf("viewer process: %s", line)
		}
	}
	go io.Copy(io.Discard, out)
	return stop
}

// BenchmarkFanOut streams recorded 1080p30 camera output (~7 Mb/s, a
// keyframe a second) to 0, 1, 10 and 20 viewers on loopback, in real time
// (at least 150 frames, 5 s, per run). The viewers are doorwardctl live's
// pion peers in a process of their own, so the CPU, RSS and allocation
// figures are the device's alone: the Hub, the live server and pion's
// sending side. %core/viewer is the CPU above the 0-viewer run, per viewer;
// latency is frame published → last RTP packet of it written, per viewer.
func BenchmarkFanOut(b *testing.B) {
	aus := load1080p(b)
	var base float64 // %core with no viewer
	for _, n := range []int{0, 1, 10, 20} {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) {
			r := newBenchRig(b, live.Options{Config: live.Config{MaxViewers: max(n, 1)}})
			defer r.cancel()
			next, frame := loop(aus), 0
			stopStream := r.stream(next, &frame) // viewers join a running stream
			if n > 0 {
				defer r.viewers(b, n)()
			}
			time.Sleep(time.Second)
			stopStream()
			r.mu.Lock()
			r.lat = r.lat[:0]
			r.mu.Unlock()
			var ms0, ms1 runtimeMem
			ms0.read()
			tick := time.NewTicker(time.Second / 30)
			defer tick.Stop()
			cpu0, t0 := cpuTime(), time.Now()
			b.ResetTimer()
			frames := max(b.N, 150)
			for range frames {
				<-tick.C
				r.put(next(frame))
				frame++
			}
			time.Sleep(20 * time.Millisecond) // the last frame's packets
			b.StopTimer()
			cpu, wall := cpuTime()-cpu0, time.Since(t0)
			ms1.read()
			rss := rssMB()
			r.mu.Lock()
			lat := slices.Clone(r.lat)
			r.mu.Unlock()
			if n > 0 && len(lat) < frames*n*9/10 {
				b.Errorf("%d frames sent to %d viewers, want about %d", len(lat), n, frames*n)
			}
			slices.Sort(lat)
			pct := func(p float64) float64 {
				if len(lat) == 0 {
					return 0
				}
				return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
			}
			core := 100 * cpu.Seconds() / wall.Seconds()
			b.ReportMetric(core, "%core")
			b.ReportMetric(rss, "RSS-MB")
			if n == 0 {
				base = core
				return
			}
			b.ReportMetric((core-base)/float64(n), "%core/viewer")
			b.ReportMetric(float64(ms1.mallocs-ms0.mallocs)/float64(frames*n), "allocs/frame/viewer")
			b.ReportMetric(pct(0.5), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
		})
	}
}

// BenchmarkTimeToFirstFrame: sessions of doorwardctl live's code against a
// stream with a 4 s GOP, joined at random points of the GOP; one op is one
// session. Reports the median time from Watch's start (before the offer) to
// the first complete keyframe, on the LAN (host candidates) and through a
// TURN server with the device's policy relay.
func BenchmarkTimeToFirstFrame(b *testing.B) {
	b.Run("lan", func(b *testing.B) { benchTTFF(b, live.Config{MaxViewers: 4}) })
	b.Run("turn", func(b *testing.B) {
		ip := hostIP(b)
		benchTTFF(b, live.Config{MaxViewers: 4, ICETransportPolicy: live.PolicyRelay,
			ICEServers: []live.ICEServer{{URLs: []string{startTURN(b, ip)}, Username: "u", Credential: "p"}}})
	})
}

func benchTTFF(b *testing.B, cfg live.Config) {
	r := newBenchRig(b, live.Options{Config: cfg})
	defer r.cancel()
	frame := 0
	stop := r.stream(synthStream(2_000_000, 120), &frame)
	defer stop()
	time.Sleep(time.Second)
	var ttff []time.Duration
	b.ResetTimer()
	for i := range max(b.N, 20) {
		res, err := live.Watch(context.Background(), live.WatchOptions{Sign: signer(fmt.Sprintf("t%d", i)), Signal: r.client, Duration: 50 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		ttff = append(ttff, res.FirstFrame)
		time.Sleep(time.Duration(i%7) * 130 * time.Millisecond) // join at other points of the GOP
	}
	b.StopTimer()
	slices.Sort(ttff)
	b.ReportMetric(float64(ttff[len(ttff)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(ttff[len(ttff)-1].Microseconds())/1000, "max-ms")
}
