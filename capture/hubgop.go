package capture

import (
	"sync"
	"sync/atomic"
)

// Limits on the group of pictures the Hub keeps for late subscribers. A GOP
// larger than either is not kept; SubscribeFromKey then waits for the next
// keyframe like Subscribe.
const (
	maxGOPFrames = 600      // 20 s at 30 fps
	maxGOPBytes  = 16 << 20 // far above a 4 s GOP at 7 Mb/s (3.5 MB)
)

// GOP is what a late subscriber needs to start decoding now instead of at
// the next keyframe: the frames from the latest keyframe up to the newest
// one, and the parameter sets in force.
type GOP struct {
	// SPS and PPS are the parameter sets in force (NAL units without start
	// codes), also when the camera sent them only once, at the start of
	// the stream. Nil before the first ones arrive.
	SPS, PPS []byte
	// Frames starts with a keyframe; empty when the Hub holds none.
	Frames []Frame
}

// gopCache holds, by reference (Frames are immutable), the frames of the
// current GOP, and the SPS and PPS last seen. Its lock orders a snapshot
// with SubscribeFromKey against publish, so a late subscriber gets every
// frame exactly once: those before it joined from the snapshot, the rest
// from its channel.
type gopCache struct {
	mu     sync.Mutex
	frames []Frame
	bytes  int
	valid  bool // frames starts with a keyframe and is complete since

	params atomic.Pointer[paramSets]
}

type paramSets struct{ sps, pps []byte }

// keep adds f to the cache and returns the subscribers to deliver it to,
// both under the cache lock.
func (h *Hub) keep(f Frame) *[]*Subscription {
	c := &h.gop
	c.mu.Lock()
	h.noteParams(f)
	if f.Key {
		clear(c.frames) // release the previous GOP's frames to the GC
		c.frames, c.bytes, c.valid = c.frames[:0], 0, true
	}
	if c.valid {
		if len(c.frames) >= maxGOPFrames || c.bytes+len(f.Data) > maxGOPBytes {
			clear(c.frames)
			c.frames, c.bytes, c.valid = c.frames[:0], 0, false
		} else {
			c.frames = append(c.frames, f)
			c.bytes += len(f.Data)
		}
	}
	p := h.subs.Load()
	c.mu.Unlock()
	return p
}

// resetGOP forgets the cached GOP and parameter sets (a new run: the new
// source may use other parameters).
func (h *Hub) resetGOP() {
	c := &h.gop
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.frames)
	c.frames, c.bytes, c.valid = c.frames[:0], 0, false
	c.params.Store(nil)
}

// noteParams records the SPS and PPS that f carries, looking only at the NAL
// units before its first slice (parameter sets precede the slices), so a
// frame costs a few bytes of scanning, not its whole size.
func (h *Hub) noteParams(f Frame) {
	var sps, pps []byte
	b := f.Data
	for {
		i := startCode(b)
		if i < 0 {
			break
		}
		b = b[i:]
		if len(b) == 0 {
			break
		}
		t := NALType(b)
		if isVCL(t) {
			break
		}
		end := startCode(b)
		nalu := b
		if end >= 0 {
			nalu = b[:end-3]
		}
		for len(nalu) > 0 && nalu[len(nalu)-1] == 0 {
			nalu = nalu[:len(nalu)-1]
		}
		switch t {
		case NALSPS:
			sps = nalu
		case NALPPS:
			pps = nalu
		}
		if end < 0 {
			break
		}
		b = b[end-3:]
	}
	if sps == nil && pps == nil {
		return
	}
	old := h.gop.params.Load()
	p := &paramSets{}
	if old != nil {
		*p = *old
	}
	changed := false
	if sps != nil && string(sps) != string(p.sps) {
		p.sps, changed = append([]byte(nil), sps...), true
	}
	if pps != nil && string(pps) != string(p.pps) {
		p.pps, changed = append([]byte(nil), pps...), true
	}
	if changed {
		h.gop.params.Store(p)
	}
}

// startCode returns the index just past the first 00 00 01 in b, or -1.
func startCode(b []byte) int {
	for i := 0; i+2 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			return i + 3
		}
	}
	return -1
}

// Params returns the SPS and PPS in force (nil before the first ones).
// The slices are shared and must not be modified.
func (h *Hub) Params() (sps, pps []byte) {
	if p := h.gop.params.Load(); p != nil {
		return p.sps, p.pps
	}
	return nil, nil
}

// SubscribeFromKey is Subscribe for a viewer who wants a picture now: it
// returns, with the subscription, the frames of the current GOP from its
// keyframe (shared, not copied) and the parameter sets in force, and the
// subscription's channel continues with the frame after the last of them.
// When the Hub holds no GOP, the GOP has no frames and the subscription
// starts at the next keyframe, as with Subscribe.
func (h *Hub) SubscribeFromKey(buffer int) (*Subscription, GOP) {
	c := &h.gop
	c.mu.Lock()
	defer c.mu.Unlock()
	var g GOP
	if c.valid && len(c.frames) > 0 {
		g.Frames = append([]Frame(nil), c.frames...)
	}
	g.SPS, g.PPS = h.Params()
	s := h.Subscribe(buffer)
	if len(g.Frames) > 0 {
		s.mu.Lock()
		s.state = live
		s.mu.Unlock()
	}
	return s, g
}
