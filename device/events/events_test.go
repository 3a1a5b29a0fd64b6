package events_test

import (
	"sync"
	"testing"
	"time"

	"github.com/doorward/doorward/device/events"
)

func TestFanOutAndFilter(t *testing.T) {
	b := events.New()
	all := b.Subscribe("all", 8)
	rings := b.Subscribe("rings", 8, events.Ring)
	defer all.Close()
	defer rings.Close()
	b.Publish(events.Event{Kind: events.Motion})
	b.Publish(events.Event{Kind: events.Ring})
	if got := (<-all.C()).Kind; got != events.Motion {
		t.Fatalf("all: first event %q, want motion", got)
	}
	if got := (<-all.C()).Kind; got != events.Ring {
		t.Fatalf("all: second event %q, want ring", got)
	}
	e := <-rings.C()
	if e.Kind != events.Ring || e.Time.IsZero() {
		t.Fatalf("rings got %+v, want a timestamped ring", e)
	}
	select {
	case e := <-rings.C():
		t.Fatalf("rings got %+v, which it did not subscribe to", e)
	default:
	}
}

func TestSlowSubscriberLosesAndCountsButNeverBlocks(t *testing.T) {
	b := events.New()
	slow := b.Subscribe("slow", 2)
	fast := b.Subscribe("fast", 100)
	defer slow.Close()
	defer fast.Close()
	done := make(chan struct{})
	go func() {
		for i := 0; i < 50; i++ {
			b.Publish(events.Event{Kind: events.SegmentCommitted, Segment: i})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a subscriber that never reads")
	}
	if got := slow.Dropped(); got != 48 {
		t.Fatalf("slow subscriber dropped %d, want 48", got)
	}
	if got := fast.Dropped(); got != 0 {
		t.Fatalf("fast subscriber dropped %d, want 0", got)
	}
	for i := 0; i < 50; i++ {
		if e := <-fast.C(); e.Segment != i {
			t.Fatalf("fast subscriber: event %d has segment %d: order lost", i, e.Segment)
		}
	}
	var sawSlow bool
	for _, s := range b.Stats() {
		if s.Name == "slow" {
			sawSlow = s.Dropped == 48 && s.Queued == 2
		}
	}
	if !sawSlow {
		t.Fatalf("Stats() = %+v, want slow with 2 queued and 48 dropped", b.Stats())
	}
}

func TestCloseWhilePublishing(t *testing.T) {
	b := events.New()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				b.Publish(events.Event{Kind: events.Motion})
			}
		}
	}()
	for i := 0; i < 200; i++ {
		s := b.Subscribe("x", 1)
		s.Close()
		s.Close() // twice is fine
		if _, ok := <-s.C(); ok {
			// a queued event may be read once; then the channel is closed
			if _, ok := <-s.C(); ok {
				t.Fatal("C not closed after Close")
			}
		}
	}
	close(stop)
	wg.Wait()
	if n := len(b.Stats()); n != 0 {
		t.Fatalf("%d subscribers left after Close", n)
	}
}

func TestNilBusIsANoOp(t *testing.T) {
	var b *events.Bus
	b.Publish(events.Event{Kind: events.Ring})
	s := b.Subscribe("x", 1)
	s.Close()
	if b.Stats() != nil {
		t.Fatal("nil bus has stats")
	}
}
