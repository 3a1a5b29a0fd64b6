package uplink

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/doorward/doorward/device/events"
	"github.com/doorward/doorward/uplink/mqtt"
	"github.com/doorward/doorward/uplink/wire"
)

// fakeSession records what is published.
type fakeSession struct {
	mu   sync.Mutex
	msgs []published
}

type published struct {
	sub   string
	class mqtt.Class
	body  []byte
}

func (f *fakeSession) Publish(sub string, class mqtt.Class, _ bool, body []byte) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, published{sub, class, body})
	return uint64(len(f.msgs)), nil
}

func (f *fakeSession) all() []published {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]published(nil), f.msgs...)
}

var _ Publisher = (*fakeSession)(nil)

// TestEventsPublished: forwarded kinds go out encrypted to the owners;
// notices are never droppable; the job states of a disclosure whose notice
// is delayed (no authority) are not published at all.
func TestEventsPublished(t *testing.T) {
	owner, _ := age.GenerateX25519Identity()
	bus := events.New()
	s := &fakeSession{}
	u := New(Options{Session: s, Bus: bus, Owners: func() []age.Recipient { return []age.Recipient{owner.Recipient()} }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { u.Run(ctx); close(done) }()
	time.Sleep(50 * time.Millisecond) // subscribed
	bus.Publish(events.Event{Kind: events.Ring})
	bus.Publish(events.Event{Kind: events.SegmentCommitted, Clip: "c"})
	bus.Publish(events.Event{Kind: events.JobState, Job: "delayed", State: "delivered"})
	bus.Publish(events.Event{Kind: events.JobState, Job: "j", State: "delivered", Authority: "grant:x"})
	bus.Publish(events.Event{Kind: events.NoticeReleased, Notice: 3})
	deadline := time.Now().Add(5 * time.Second)
	for len(s.all()) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	<-done
	var got []string
	for _, m := range s.all() {
		if m.sub != wire.TopicEvents {
			continue
		}
		e, err := wire.OpenEvent(m.body, owner)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(e.Kind)+"/"+e.Job)
		if (e.Kind == events.NoticeReleased) != (m.class == mqtt.Keep) {
			t.Errorf("%s queued as class %d", e.Kind, m.class)
		}
		if strings.Contains(string(m.body), string(e.Kind)) {
			t.Errorf("plaintext kind in %s", m.body)
		}
	}
	if strings.Join(got, " ") != "ring/ job-state/j notice-released/" {
		t.Fatalf("published %q", got)
	}
}

// FuzzHandleCmd: no inbound message crashes the handler, and a reply only
// ever goes to a reply/<id> topic with a safe id.
func FuzzHandleCmd(f *testing.F) {
	f.Add([]byte(`{"id":"abc","kind":"legal","jws":{"payload":"e30","signatures":[]}}`))
	f.Add([]byte(`{"id":"r1","kind":"upload","upload":{"object":"o","url":"http://x/o"}}`))
	f.Add([]byte(`{"id":"a/#","kind":"x"}`))
	f.Add([]byte("\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &fakeSession{}
		lan := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"reason":"bad-signature","error":"x"}`))
		})
		u := New(Options{Session: s, LAN: lan})
		u.HandleCmd(context.Background(), data)
		for _, m := range s.all() {
			id, ok := strings.CutPrefix(m.sub, wire.TopicReply)
			if !ok || wire.CheckRequestID(id) != nil {
				t.Fatalf("published on %q", m.sub)
			}
		}
	})
}

// A whep cmd reaches the LAN API's WHEP endpoint with the statement as its
// Authorization and the offer as its body; a 201 goes back as a
// WHEPAnswer on reply/<id>, a refusal as the API's own answer, and
// whep-end becomes a DELETE on the session.
func TestWHEPCmd(t *testing.T) {
	var got []string
	lan := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+r.Header.Get("Authorization")+" "+string(body))
		switch {
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case strings.Contains(r.Header.Get("Authorization"), "stranger"):
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"reason":"unknown-key","error":"x"}`))
		default:
			w.Header().Set("Location", "/api/v1/whep/0123abcd")
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte("v=0\r\nanswer"))
		}
	})
	s := &fakeSession{}
	u := New(Options{Session: s, LAN: lan})
	ctx := context.Background()
	u.HandleCmd(ctx, []byte(`{"id":"j1","kind":"whep","jws":{"payload": "owner"},"sdp":"v=0\r\noffer"}`))
	u.HandleCmd(ctx, []byte(`{"id":"j2","kind":"whep","jws":{"payload":"stranger"},"sdp":"v=0\r\noffer"}`))
	u.HandleCmd(ctx, []byte(`{"id":"e1","kind":"whep-end","session":"0123abcd"}`))
	want := []string{
		`POST /api/v1/whep application/sdp Doorward {"payload":"owner"} v=0` + "\r\noffer",
		`POST /api/v1/whep application/sdp Doorward {"payload":"stranger"} v=0` + "\r\noffer",
		`DELETE /api/v1/whep/0123abcd   `,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the LAN API saw\n%q\nwant\n%q", got, want)
	}
	msgs := s.all()
	if len(msgs) != 3 {
		t.Fatalf("%d replies, want 3", len(msgs))
	}
	var replies []wire.Reply
	for _, m := range msgs {
		var rep wire.Reply
		if err := json.Unmarshal(m.body, &rep); err != nil {
			t.Fatalf("reply %s: %v", m.body, err)
		}
		replies = append(replies, rep)
	}
	var ans wire.WHEPAnswer
	if replies[0].Re != "j1" || replies[0].Status != 201 || json.Unmarshal(replies[0].Body, &ans) != nil || ans.SDP != "v=0\r\nanswer" || ans.Session != "0123abcd" {
		t.Errorf("answer: %+v %s", replies[0], replies[0].Body)
	}
	if replies[1].Re != "j2" || replies[1].Status != 403 || !strings.Contains(string(replies[1].Body), "unknown-key") {
		t.Errorf("refusal: %+v %s", replies[1], replies[1].Body)
	}
	if replies[2].Re != "e1" || replies[2].Status != 204 {
		t.Errorf("end: %+v %s", replies[2], replies[2].Body)
	}
}
