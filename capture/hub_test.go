package capture_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/doorward/doorward/capture"
	"github.com/doorward/doorward/capture/capturetest"
)

// chanSource yields the frames sent on c; closing c makes it fail with
// ErrSourceClosed.
type chanSource struct{ c chan capture.Frame }

var _ capture.Source = chanSource{}

func (s chanSource) ReadFrame(ctx context.Context) (capture.Frame, error) {
	select {
	case f, ok := <-s.c:
		if !ok {
			return capture.Frame{}, capture.ErrSourceClosed
		}
		return f, nil
	case <-ctx.Done():
		return capture.Frame{}, ctx.Err()
	}
}

func (chanSource) Close() error { return nil }

// frame n of a stream with a keyframe every gop frames; Data identifies n.
func frame(n, gop int) capture.Frame {
	return capture.Frame{Data: []byte{0, 0, 1, byte(n)}, PTS: time.Duration(n) * time.Millisecond, Key: n%gop == 0}
}

func drain(s *capture.Subscription) []int {
	var got []int
	for {
		select {
		case f := <-s.C():
			got = append(got, int(f.Data[3]))
		default:
			return got
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func seq(from, to int) []int {
	var s []int
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// Inside a synctest bubble, the test ends only when every goroutine has
// returned: a Run that outlives its context would fail it as a deadlock.
func TestHubFanOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub := capture.NewHub(nil)
		subs := []*capture.Subscription{hub.Subscribe(32), hub.Subscribe(32), hub.Subscribe(32)}
		src := chanSource{make(chan capture.Frame)}
		runErr := make(chan error, 1)
		go func() { runErr <- hub.Run(context.Background(), src) }()

		sent := make([]capture.Frame, 10)
		for n := range sent {
			sent[n] = frame(n, 5)
			src.c <- sent[n]
		}
		close(src.c)
		if err := <-runErr; !errors.Is(err, capture.ErrSourceClosed) {
			t.Fatalf("Run = %v, want the source's ErrSourceClosed", err)
		}
		for i, s := range subs {
			for n := range sent {
				f := <-s.C()
				if &f.Data[0] != &sent[n].Data[0] || f.PTS != sent[n].PTS || f.Key != sent[n].Key {
					t.Fatalf("subscriber %d frame %d: got %+v, want the very frame sent %+v", i, n, f, sent[n])
				}
			}
			s.Close()
			if _, ok := <-s.C(); ok {
				t.Errorf("subscriber %d: channel open after Close", i)
			}
		}
		if hub.Dropped() != 0 {
			t.Errorf("Dropped = %d, want 0", hub.Dropped())
		}
	})
}

func TestHubSlowSubscriberSkipsToKeyframe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log, logs := capturetest.NewLogger(slog.LevelInfo)
		hub := capture.NewHub(log)
		fast, slow := hub.Subscribe(100), hub.Subscribe(3)
		src := chanSource{make(chan capture.Frame)}
		ctx, cancel := context.WithCancel(context.Background())
		runErr := make(chan error, 1)
		go func() { runErr <- hub.Run(ctx, src) }()
		publish := func(from, to int) {
			for n := from; n <= to; n++ {
				src.c <- frame(n, 5)
			}
			synctest.Wait() // Run has handed the last frame out
		}

		publish(0, 4) // slow takes 0-2; 3 and 4 dropped
		if got := drain(slow); !equalInts(got, []int{0, 1, 2}) {
			t.Errorf("slow got %v, want [0 1 2]", got)
		}
		publish(5, 9) // keyframe 5 resumes it: 5-7; 8 and 9 dropped
		publish(10, 11)
		if got := drain(slow); !equalInts(got, []int{5, 6, 7}) {
			t.Errorf("slow got %v, want [5 6 7] (10 is a keyframe but the buffer was still full)", got)
		}
		publish(12, 14) // still skipping until keyframe 15
		publish(15, 16)
		if got := drain(slow); !equalInts(got, []int{15, 16}) {
			t.Errorf("slow got %v, want [15 16]", got)
		}
		if got := drain(fast); !equalInts(got, seq(0, 16)) {
			t.Errorf("fast got %v, want every frame 0-16", got)
		}

		// Dropped: 3 4, 8 9 10 11 12 13 14.
		if slow.Dropped() != 9 || fast.Dropped() != 0 || hub.Dropped() != 9 {
			t.Errorf("Dropped: slow %d fast %d hub %d, want 9 0 9", slow.Dropped(), fast.Dropped(), hub.Dropped())
		}
		if n := strings.Count(logs.String(), "fell behind"); n != 2 {
			t.Errorf("logged %d times, want once per burst (2):\n%s", n, logs.String())
		}
		cancel()
		if err := <-runErr; err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	})
}

func TestHubSubscriptionStartsAtKeyframe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub := capture.NewHub(nil)
		src := chanSource{make(chan capture.Frame)}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go hub.Run(ctx, src)
		first := hub.Subscribe(10)
		src.c <- frame(0, 4)
		src.c <- frame(1, 4)
		synctest.Wait()
		late := hub.Subscribe(10)
		for n := 2; n <= 5; n++ {
			src.c <- frame(n, 4)
		}
		synctest.Wait()
		if got := drain(late); !equalInts(got, []int{4, 5}) {
			t.Errorf("late subscriber got %v, want [4 5] (from the next keyframe)", got)
		}
		if got := drain(first); !equalInts(got, seq(0, 5)) {
			t.Errorf("first subscriber got %v, want 0-5", got)
		}
		if hub.Dropped() != 0 {
			t.Errorf("Dropped = %d: waiting for the first keyframe is not a drop", hub.Dropped())
		}
	})
}

func TestHubRunAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub := capture.NewHub(nil)
		sub := hub.Subscribe(10)
		src := chanSource{make(chan capture.Frame)}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- hub.Run(ctx, src) }()
		src.c <- frame(0, 3)
		synctest.Wait()
		if err := hub.Run(ctx, src); err == nil || !strings.Contains(err.Error(), "already running") {
			t.Errorf("second concurrent Run = %v, want an error", err)
		}
		cancel()
		<-done

		// A new run (a restarted camera) resumes subscribers at a keyframe.
		src2 := chanSource{make(chan capture.Frame)}
		go func() { done <- hub.Run(context.Background(), src2) }()
		src2.c <- frame(1, 3)
		src2.c <- frame(3, 3)
		close(src2.c)
		<-done
		if got := drain(sub); !equalInts(got, []int{0, 3}) {
			t.Errorf("got %v, want [0 3]", got)
		}
	})
}

// Unsubscribing while Run hands out frames as fast as it can: race-clean,
// never blocks Run, and the others keep receiving.
func TestHubUnsubscribeDuringRun(t *testing.T) {
	hub := capture.NewHub(nil)
	keep := hub.Subscribe(8)
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- hub.Run(ctx, &loopSource{gop: 4}) }()

	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			s := hub.Subscribe(i%3 + 1)
			for range i % 5 {
				<-s.C()
			}
			s.Close()
			for range s.C() { // drains what is left, then ends: the channel is closed
			}
			s.Close() // twice is fine
		})
	}
	wg.Wait()
	for range 50 {
		if _, ok := <-keep.C(); !ok {
			t.Fatal("kept subscriber's channel closed")
		}
	}
	cancel()
	select {
	case err := <-runErr:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	keep.Close()
}

// loopSource yields frames without end, a keyframe every gop; it allocates
// nothing.
type loopSource struct {
	gop, n int
	data   [4]byte
	limit  int // fail with ErrSourceClosed after this many frames, if > 0
}

func (s *loopSource) ReadFrame(ctx context.Context) (capture.Frame, error) {
	if err := ctx.Err(); err != nil {
		return capture.Frame{}, err
	}
	if s.limit > 0 && s.n >= s.limit {
		return capture.Frame{}, capture.ErrSourceClosed
	}
	f := capture.Frame{Data: s.data[:], PTS: time.Duration(s.n), Key: s.n%s.gop == 0}
	s.n++
	return f, nil
}

func (*loopSource) Close() error { return nil }

func TestHubPublishDoesNotAllocate(t *testing.T) {
	hub := capture.NewHub(nil)
	subs := []*capture.Subscription{hub.Subscribe(1000), hub.Subscribe(1000), hub.Subscribe(10)}
	ctx := context.Background()
	run := func(frames int) float64 {
		return testing.AllocsPerRun(5, func() {
			_ = hub.Run(ctx, &loopSource{gop: 30, limit: frames})
			for _, s := range subs {
				for len(s.C()) > 0 {
					<-s.C()
				}
			}
		})
	}
	// Each Run allocates a few things once (the loopSource escaping, the
	// stall watchdog's goroutine and context); none per frame. A longer
	// run may see one more watchdog tick (slow under -race): 2000 more
	// frames must not add more than that.
	short, long := run(1000), run(3000)
	if long > short+1 || short > 16 {
		t.Errorf("Run allocated %v times over 1000 frames and %v over 3000, want a few per Run and none per frame", short, long)
	}
	if hub.Dropped() == 0 {
		t.Error("the 10-frame subscriber should have dropped frames")
	}
}

func BenchmarkHubPublish(b *testing.B) {
	hub := capture.NewHub(nil)
	var wg sync.WaitGroup
	for range 3 {
		s := hub.Subscribe(64)
		wg.Go(func() {
			for range s.C() {
			}
		})
		defer s.Close()
	}
	b.ReportAllocs()
	b.ResetTimer()
	src := &loopSource{gop: 30, limit: b.N}
	if err := hub.Run(context.Background(), src); !errors.Is(err, capture.ErrSourceClosed) {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(hub.Dropped())/float64(b.N), "drops/frame")
}
