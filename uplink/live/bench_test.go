package live_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/device/lanclient"
	"github.com/doorward/doorward/uplink/live"
)

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

type benchRig struct {
	feed   chanSource
	hub    *capture.Hub
	client *lanclient.Client
	cancel func()
	mu     sync.Mutex
	lat    []time.Duration
}

func newBenchRig(b *testing.B, maxViewers int) *benchRig {
	b.Helper()
	r := &benchRig{feed: make(chanSource, 64), hub: capture.NewHub(nil)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.hub.Run(ctx, r.feed) }()
	o := live.Options{Config: live.Config{MaxViewers: maxViewers}, Feed: r.hub, Auth: newFakeAuth(), Queue: 256}
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
	r.client, _ = lanclient.New(hs.URL)
	r.cancel = func() { hs.Close(); srv.Close(); cancel(); <-done }
	return r
}

// put publishes frame f as a camera would.
func (r *benchRig) put(f capture.Frame) { f.Time = time.Now(); r.feed <- f }

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

// BenchmarkFanOut streams a 1080p30 ~7 Mb/s stream to 1, 10 and 20 viewers
// on loopback, in real time (at least 90 frames, 3 s, per run). The viewers are
// pion peers in the same process, so the CPU, RSS and allocation figures
// include their receiving and DTLS decryption: an upper bound for the
// device's share. Latency is frame published → last RTP packet written.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1, 10, 20} {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) {
			r := newBenchRig(b, n)
			defer r.cancel()
			next := synthStream(7_000_000, 120)
			frame := 0
			tick := time.NewTicker(time.Second / 30)
			defer tick.Stop()
			stop := make(chan struct{})
			go func() { // keep the stream going while viewers connect
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						r.put(next(frame))
						frame++
					}
				}
			}()
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			started := make(chan struct{}, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := live.Watch(ctx, live.WatchOptions{Sign: signer(fmt.Sprintf("b%d-%d", n, i)), Signal: r.client,
						OnFrame: func([]byte, bool) {
							select {
							case started <- struct{}{}:
							default:
							}
						}})
					if err != nil && ctx.Err() == nil {
						b.Errorf("viewer %d: %v", i, err)
					}
				}()
			}
			for range n {
				<-started
			}
			time.Sleep(500 * time.Millisecond)
			close(stop)
			r.mu.Lock()
			r.lat = r.lat[:0]
			r.mu.Unlock()
			var ms0, ms1 runtimeMem
			ms0.read()
			cpu0, t0 := cpuTime(), time.Now()
			b.ResetTimer()
			frames := max(b.N, 90) // at least 3 s of stream, so one run is enough
			for range frames {
				<-tick.C
				r.put(next(frame))
				frame++
			}
			b.StopTimer()
			cpu, wall := cpuTime()-cpu0, time.Since(t0)
			ms1.read()
			rss := rssMB()
			cancel()
			wg.Wait()
			r.mu.Lock()
			lat := slices.Clone(r.lat)
			r.mu.Unlock()
			slices.Sort(lat)
			pct := func(p float64) float64 {
				if len(lat) == 0 {
					return 0
				}
				return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
			}
			core := 100 * cpu.Seconds() / wall.Seconds()
			b.ReportMetric(core, "%core")
			b.ReportMetric(core/float64(n), "%core/viewer")
			b.ReportMetric(rss, "RSS-MB")
			b.ReportMetric(float64(ms1.mallocs-ms0.mallocs)/float64(frames*n), "allocs/frame/viewer")
			b.ReportMetric(pct(0.5), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
		})
	}
}

// BenchmarkTimeToFirstFrame: sessions against a stream with a 4 s GOP,
// joined at random points of the GOP; one op is one session. Reports the
// median time from Watch's start (before the offer) to the first complete
// keyframe.
func BenchmarkTimeToFirstFrame(b *testing.B) {
	r := newBenchRig(b, 4)
	defer r.cancel()
	next := synthStream(2_000_000, 120)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second / 30)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
				r.put(next(n))
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
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
