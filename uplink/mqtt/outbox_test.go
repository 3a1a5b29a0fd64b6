package mqtt

import (
	"fmt"
	"path/filepath"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/doorward/doorward/capture/capturetest"
)

func openDB(t testing.TB, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func ids(t *testing.T, o *Outbox) []string {
	t.Helper()
	msgs, err := o.After(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.Body))
	}
	return out
}

func TestOutboxOrderAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db := openDB(t, path)
	o, err := OpenOutbox(db, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for i := range 5 {
		id, err := o.Put("t", Event, false, []byte(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("ids not increasing: %v", got)
		}
	}
	if err := o.Delete(got[0], got[2], 999); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openDB(t, path)
	o, err = OpenOutbox(db, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(ids(t, o)); s != "[1 3 4]" {
		t.Fatalf("after reopen: %s, want [1 3 4]", s)
	}
	if st := o.Stats(); st.Queued != 3 {
		t.Fatalf("stats after reopen: %+v", st)
	}
	// Ids keep growing across a reopen: a receiver never sees one reused.
	id, err := o.Put("t", Event, false, []byte("5"))
	if err != nil {
		t.Fatal(err)
	}
	if id <= got[len(got)-1] {
		t.Fatalf("id %d reused after reopen (last was %d)", id, got[len(got)-1])
	}
	rest, _ := o.After(got[1], 10)
	if len(rest) != 3 || string(rest[0].Body) != "3" {
		t.Fatalf("After(%d): %+v", got[1], rest)
	}
}

func TestOutboxCapDropsOldestEventsOnly(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "state.db"))
	log, buf := capturetest.NewLogger(0)
	one := Message{Topic: "t", Body: []byte("e0")}.size()
	o, err := OpenOutbox(db, 4*one, log)
	if err != nil {
		t.Fatal(err)
	}
	put := func(class Class, body string) {
		t.Helper()
		if _, err := o.Put("t", class, false, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	put(Event, "e0")
	put(Keep, "n0") // a notice: never dropped
	put(Event, "e1")
	put(Event, "e2")
	put(Event, "e3") // over the cap: e0 goes
	put(Event, "e4") // e1 goes
	if s := fmt.Sprint(ids(t, o)); s != "[n0 e2 e3 e4]" {
		t.Fatalf("after the cap: %s, want [n0 e2 e3 e4]", s)
	}
	// Only notices and replies left over the cap: they stay.
	put(Keep, "r0")
	put(Keep, "r1")
	put(Keep, "r2")
	put(Keep, "r3")
	if s := fmt.Sprint(ids(t, o)); s != "[n0 r0 r1 r2 r3]" {
		t.Fatalf("keeps over the cap: %s, want [n0 r0 r1 r2 r3]", s)
	}
	if st := o.Stats(); st.Dropped != 5 || st.Queued != 5 {
		t.Fatalf("stats: %+v, want 5 dropped, 5 queued", st)
	}
	if n := buf.Count("outbox full"); n != 1 {
		t.Fatalf("logged the full outbox %d times, want once:\n%s", n, buf)
	}
}

func TestOutboxLatestReplaces(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "state.db"))
	o, err := OpenOutbox(db, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Put("cp", Latest, true, []byte("c1"))
	o.Put("ev", Event, false, []byte("e1"))
	o.Put("cp", Latest, true, []byte("c2"))
	if s := fmt.Sprint(ids(t, o)); s != "[e1 c2]" {
		t.Fatalf("%s, want [e1 c2]", s)
	}
	if st := o.Stats(); st.Queued != 2 {
		t.Fatalf("stats: %+v", st)
	}
}
