package queue

import (
	"testing"
	"time"
)

// A snapshot counts the queue, its held messages, its domains by state and
// its largest domains, and the last window's arrivals and attempts by reply;
// older ones fall out of the window.
func TestSnapshot(t *testing.T) {
	q, c := openTest(t)
	enqueueTest(t, q, envTo("s@a.example", "x@b.example", "y@c.example"))
	enqueueTest(t, q, envTo("s@a.example", "z@b.example"))
	enqueueTest(t, q, Envelope{Sender: "s@a.example", Recipients: []EnvelopeRecipient{{Address: "h@d.example"}}, Held: true})
	c.Set(testNow.Add(30 * time.Second))
	jobs := claim(t, q, "w", 10)
	var as []Attempt
	for _, j := range jobs {
		a := Attempt{Lease: j.Lease, Host: "mx[192.0.2.1]:25"}
		switch j.Domain {
		case "c.example":
			a.Reply = "250 2.0.0 OK"
			a.Recipients = []RcptResult{{Address: "y@c.example", Status: Completed, Code: 250}}
		case "b.example":
			if j.Message%2 == 0 {
				a.Reply, a.DomainFail = "connection refused", true
			} else {
				a.Reply = "550 5.1.1 No such user"
				a.Recipients = []RcptResult{{Address: j.Recipients[0].Address, Status: PermFail, Code: 550}}
			}
		}
		as = append(as, a)
	}
	record(t, q, as...)

	s, err := q.Snapshot(t.Context(), 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if s.Messages < 2 || s.Held != 1 || len(s.Top) != 1 || s.Top[0].Name != "b.example" {
		t.Errorf("snapshot %+v", s)
	}
	r := s.Rates
	if r.Arrived != 3 || r.Delivered != 1 || r.Deferred+r.Bounced != 2 || r.PerMinute(60) != 60 {
		t.Errorf("rates %+v", r)
	}
	// A minute later, nothing is in the window.
	c.Set(testNow.Add(2 * time.Minute))
	s, err = q.Snapshot(t.Context(), 5, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if s.Rates.Arrived+s.Rates.Delivered+s.Rates.Deferred+s.Rates.Bounced != 0 {
		t.Errorf("old events in the window: %+v", s.Rates)
	}
}
