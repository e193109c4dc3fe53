package queue

import (
	"strings"
	"testing"
	"time"
)

// TestSetSchedule: a schedule set after opening gives new messages its
// notify time and expiry, and tempfailed domains its retry intervals; a bad
// one is refused, naming the fault, and the schedule in force stays.
func TestSetSchedule(t *testing.T) {
	q, c := openTest(t)
	s := Schedule{Retry: []time.Duration{3 * time.Second, 7 * time.Second}, Notify: []time.Duration{10 * time.Second}, Expire: time.Minute}
	if err := q.SetSchedule(s); err != nil {
		t.Fatal(err)
	}
	m := enqueueTest(t, q, envTo("s@a.example", "x@b.example"))
	d := mustGet(t, q, m.ID).Domains[0]
	if !d.NotifyAt.Equal(testNow.Add(10*time.Second)) || !d.Expires.Equal(testNow.Add(time.Minute)) {
		t.Errorf("new message: notify %v, expires %v", d.NotifyAt, d.Expires)
	}
	for i, want := range []time.Duration{3 * time.Second, 7 * time.Second, 7 * time.Second} {
		jobs := claim(t, q, "w", 1)
		if len(jobs) != 1 {
			t.Fatalf("attempt %d: nothing due", i+1)
		}
		record(t, q, Attempt{Lease: jobs[0].Lease, DomainFail: true, Reply: "connection refused"})
		d = mustGet(t, q, m.ID).Domains[0]
		if !d.Due.Equal(c.Now().Add(want)) {
			t.Errorf("after attempt %d: due %v, want %v later", i+1, d.Due, want)
		}
		c.Set(d.Due)
	}

	for _, c := range []struct {
		s    Schedule
		want string
	}{
		{Schedule{Expire: time.Hour}, "no retry interval"},
		{Schedule{Retry: []time.Duration{500 * time.Millisecond}, Expire: time.Hour}, "invalid retry interval 500ms: want 1s or more"},
		{Schedule{Retry: []time.Duration{time.Minute}, Notify: []time.Duration{time.Hour, time.Minute}, Expire: time.Hour}, "invalid notify times: 1m0s comes after 1h0m0s"},
		{Schedule{Retry: []time.Duration{time.Minute}}, "invalid expiry 0s"},
	} {
		if err := q.SetSchedule(c.s); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.s, err, c.want)
		}
	}
	if q.sched.Expire != time.Minute {
		t.Errorf("a refused schedule replaced the one in force: %+v", q.sched)
	}
}
