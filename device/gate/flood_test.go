package gate

import (
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/audit"
)

// withoutLastSignature drops the last signature of a JWS in the general
// JSON serialization: what a relay or LAN attacker can do to a token it
// saw, without any key.
func withoutLastSignature(t testing.TB, data []byte) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	var sigs []json.RawMessage
	if err := json.Unmarshal(m["signatures"], &sigs); err != nil || len(sigs) < 2 {
		t.Fatalf("signatures: %v (%d)", err, len(sigs))
	}
	m["signatures"], _ = json.Marshal(sigs[:len(sigs)-1])
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// floodSetup accepts one legal token and returns it with a copy missing
// one signature.
func floodSetup(t testing.TB, f *fixture) (accepted, stripped []byte) {
	agency, _ := age.GenerateX25519Identity()
	accepted = f.token(agency.Recipient().String(), nil)
	if _, err := f.gate.SubmitToken(accepted); err != nil {
		t.Fatal(err)
	}
	stripped = withoutLastSignature(t, accepted)
	if _, err := f.gate.SubmitToken(stripped); !errors.Is(err, consent.ErrQuorumNotMet) {
		t.Fatalf("stripped token: %v, want quorum-not-met", err)
	}
	return accepted, stripped
}

// replayFlood submits each token n times, the clock moving step per
// submission, and returns the leaves and state.db bytes added.
func replayFlood(t testing.TB, f *fixture, n int, step time.Duration, tokens ...[]byte) (leaves uint64, bytes int64) {
	size0, err := f.log.Size()
	if err != nil {
		t.Fatal(err)
	}
	st0, err := os.Stat(f.db.Path())
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		for _, tok := range tokens {
			if _, err := f.gate.SubmitToken(tok); consent.ReasonOf(err) == "" {
				t.Fatalf("replay: %v, want a refusal", err)
			}
			f.clk.Advance(step)
		}
	}
	f.clk.Advance(time.Minute)
	if err := f.log.FlushRefusals(); err != nil {
		t.Fatal(err)
	}
	size1, err := f.log.Size()
	if err != nil {
		t.Fatal(err)
	}
	st1, err := os.Stat(f.db.Path())
	if err != nil {
		t.Fatal(err)
	}
	return size1 - size0, st1.Size() - st0.Size()
}

// TestReplayFloodIsAggregated (issue 8, finding 1): 3,000 replays of an
// accepted token and 3,000 of the same token with one signature removed —
// authenticated refusals (replayed, quorum-not-met) — add at most a few
// dozen leaves and under 1 MiB to state.db, and every one is counted.
func TestReplayFloodIsAggregated(t *testing.T) {
	f := newFixture(t, false)
	f.db.NoSync = true // the figure is bytes, not fsyncs; keeps the test quick
	accepted, stripped := floodSetup(t, f)
	before := f.entries()

	leaves, grew := replayFlood(t, f, 3000, 15*time.Millisecond, accepted, stripped)
	t.Logf("6,000 refusals over 90 s: %d leaves, %d bytes", leaves, grew)
	if leaves > 24 {
		t.Errorf("the flood added %d leaves, want at most a few dozen", leaves)
	}
	if grew >= 1<<20 {
		t.Errorf("the flood grew state.db by %d bytes, want under 1 MiB", grew)
	}
	// Nothing is lost: per reason, the first leaves plus the aggregates'
	// counts make 3,000 (plus the one stripped submission of the setup).
	counts := map[string]int{}
	for _, e := range f.entries()[len(before):] {
		switch e.Kind {
		case audit.KindTokenRefused:
			counts[e.Reason]++
			if e.Details[audit.DetailStatement] == "" {
				t.Fatalf("refusal leaf %d without the statement's hash: %+v", e.Seq, e)
			}
		case audit.KindRefusalsAggregate:
			n, err := strconv.Atoi(e.Details["count"])
			if err != nil || e.Details[audit.DetailRefused] != string(audit.KindTokenRefused) {
				t.Fatalf("aggregate leaf %d: %+v", e.Seq, e)
			}
			counts[e.Reason] += n
		default:
			t.Errorf("unexpected leaf %d during the flood: %+v", e.Seq, e)
		}
	}
	if counts["replayed"] != 3000 || counts["quorum-not-met"] != 3000 {
		t.Errorf("logged refusals %v, want 3000 replayed and 3000 quorum-not-met", counts)
	}
	// Both refusals name the same statement: one payload, two reasons.
	var hashes = map[string]bool{}
	for _, e := range f.entries()[len(before):] {
		hashes[e.Details[audit.DetailStatement]] = true
	}
	if len(hashes) != 1 {
		t.Errorf("statement hashes %v, want the one payload both carry", hashes)
	}
}

// BenchmarkReplayFlood reports the leaves and state.db bytes that 1,000
// replays add to the audit log: 500 of an accepted token and 500 of it
// without one signature, alternating, the clock moving 10 ms each (so
// 1,000 replays span 10 s; a flood lasting minutes adds the same per
// minute, not per replay).
func BenchmarkReplayFlood(b *testing.B) {
	f := newFixture(b, false)
	accepted, stripped := floodSetup(b, f)
	b.ReportAllocs()
	var leaves uint64
	var grew int64
	for b.Loop() {
		l, g := replayFlood(b, f, 500, 10*time.Millisecond, accepted, stripped)
		leaves += l
		grew += g
	}
	b.ReportMetric(float64(leaves)/float64(b.N), "leaves/1000replays")
	b.ReportMetric(float64(grew)/float64(b.N), "bytes/1000replays")
}
