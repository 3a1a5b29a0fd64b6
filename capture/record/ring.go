package record

import (
	"time"

	"github.com/doorward/doorward/capture/mux"
)

// entry describes one access unit held in the ring, in AVCC form.
type entry struct {
	seq    uint64
	off    int
	size   int
	pts    time.Duration
	time   time.Time
	key    bool
	params *mux.Params // parameter sets in force when the frame arrived
}

// ring is a FIFO of access units whose bytes live in one fixed arena (locked
// into RAM where the kernel allows). Frames are stored contiguously and wrap
// to the start of the arena when they do not fit at its end, so any run of
// frames shorter than the arena is at most two contiguous byte ranges.
type ring struct {
	buf  []byte
	wpos int // where the next frame's bytes go when they fit

	ents    []entry // circular; len(ents) is a power of two
	head, n int
	nextSeq uint64
}

func newRing(buf []byte) *ring {
	return &ring{buf: buf, ents: make([]entry, 512)}
}

func (r *ring) len() int { return r.n }

// at returns the i-th oldest entry.
func (r *ring) at(i int) *entry { return &r.ents[(r.head+i)&(len(r.ents)-1)] }

// bySeq returns the entry with sequence number seq, if it is still held.
func (r *ring) bySeq(seq uint64) (*entry, bool) {
	if r.n == 0 {
		return nil, false
	}
	first := r.at(0).seq
	if seq < first || seq >= first+uint64(r.n) {
		return nil, false
	}
	return r.at(int(seq - first)), true
}

func (r *ring) newest() *entry { return r.at(r.n - 1) }

func (r *ring) dropOldest() {
	if r.n == 0 {
		return
	}
	r.at(0).params = nil
	r.head = (r.head + 1) & (len(r.ents) - 1)
	r.n--
	if r.n == 0 {
		r.wpos = 0
	}
}

// reserve finds room for size bytes and returns the offset, or false when the
// arena has no contiguous room left before the oldest frame.
func (r *ring) reserve(size int) (int, bool) {
	if size > len(r.buf) {
		return 0, false
	}
	if r.n == 0 {
		return 0, true
	}
	oldest := r.at(0).off
	if r.wpos > oldest {
		if len(r.buf)-r.wpos >= size {
			return r.wpos, true
		}
		if oldest >= size {
			return 0, true
		}
		return 0, false
	}
	if oldest-r.wpos >= size {
		return r.wpos, true
	}
	return 0, false
}

// push appends an entry whose bytes were written at e.off (from reserve).
func (r *ring) push(e entry) *entry {
	if r.n == len(r.ents) {
		grown := make([]entry, 2*len(r.ents))
		for i := range r.n {
			grown[i] = *r.at(i)
		}
		r.ents, r.head = grown, 0
	}
	e.seq = r.nextSeq
	r.nextSeq++
	slot := r.at(r.n)
	*slot = e
	r.n++
	r.wpos = e.off + e.size
	return slot
}

// runs returns the bytes of the entries with sequence numbers in [from, to)
// as at most two contiguous slices, in order.
func (r *ring) runs(from, to uint64, dst *[2][]byte) [][]byte {
	k := 0
	start, end := -1, -1
	for seq := from; seq < to; seq++ {
		e, _ := r.bySeq(seq)
		switch {
		case start < 0:
			start, end = e.off, e.off+e.size
		case e.off == end:
			end += e.size
		default:
			dst[k] = r.buf[start:end]
			k++
			start, end = e.off, e.off+e.size
		}
	}
	if start >= 0 {
		dst[k] = r.buf[start:end]
		k++
	}
	return dst[:k]
}
