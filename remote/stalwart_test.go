package remote

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// stalwartSix are the six messages of Stalwart's own management test
// (tests/src/smtp/management/queue.rs, as the reference summarises it):
// a–e held 100–500 s, f delivered to success@ and delayed for delay@.
func stalwartSix(now time.Time) []queue.Message {
	type spec struct {
		env, from string
		rcpts     []string
		hold      time.Duration
	}
	specs := []spec{
		{"a", "bill1@foobar.net", []string{"rcpt1@example1.org", "rcpt1@example2.org"}, 100 * time.Second},
		{"b", "bill2@foobar.net", []string{"rcpt3@example1.net", "rcpt4@example1.net"}, 200 * time.Second},
		{"c", "bill3@foobar.net", []string{"rcpt5@example1.com", "rcpt6@example2.com", "rcpt7@example2.com", "rcpt8@example3.com", "rcpt9@example4.com"}, 300 * time.Second},
		{"d", "bill4@foobar.net", []string{"delay@foobar.org"}, 400 * time.Second},
		{"e", "bill5@foobar.net", []string{"john@foobar.org"}, 500 * time.Second},
		{"f", "", []string{"success@foobar.org", "delay@foobar.org"}, 600 * time.Second},
	}
	var out []queue.Message
	for i, s := range specs {
		m := queue.Message{ID: queue.ID(1000 + i), ReturnPath: s.from, Created: now, Size: 1000, EnvID: s.env}
		for _, a := range s.rcpts {
			_, name, _ := strings.Cut(a, "@")
			r := queue.Recipient{Address: a}
			if s.env == "f" && strings.HasPrefix(a, "success") {
				r = queue.Recipient{Address: a, Status: queue.Completed, Code: 250, Enhanced: "2.1.5", Message: "OK"}
			} else if s.env == "f" {
				r = queue.Recipient{Address: a, Status: queue.TempFail, Code: 451, Enhanced: "4.5.3", Message: "Try again later."}
			}
			k := -1
			for j := range m.Domains {
				if m.Domains[j].Name == name {
					k = j
				}
			}
			if k < 0 {
				m.Domains = append(m.Domains, queue.Domain{Name: name, Due: now.Add(s.hold), Expires: now.Add(5 * 24 * time.Hour)})
				k = len(m.Domains) - 1
			}
			m.Domains[k].Recipients = append(m.Domains[k].Recipients, r)
		}
		out = append(out, m)
	}
	return out
}

// TestStalwartManagementTest reproduces the expectations of Stalwart's own
// management test against the fake, in both shapes, so that the fake
// behaves as the server does; then asks the same through the client.
func TestStalwartManagementTest(t *testing.T) {
	now := demoNow
	envOf := map[uint64]string{1000: "a", 1001: "b", 1002: "c", 1003: "d", 1004: "e", 1005: "f"}
	T := now.Add(300*time.Second - time.Second).Format(time.RFC3339)
	for _, sh := range shapes {
		t.Run(sh.String(), func(t *testing.T) {
			f := newFake(sh, func() time.Time { return now }, stalwartSix(now))
			list := func(q string) string {
				v, _ := url.ParseQuery(q)
				var got []string
				for _, m := range f.selection(v) {
					got = append(got, envOf[m.id])
				}
				return strings.Join(got, "")
			}
			for q, want := range map[string]string{
				"from=bill1@foobar.net":                       "a",
				"to=foobar.org":                               "def",
				"from=bill3@foobar.net&to=rcpt5@example1.com": "c",
				"before=" + T:                                 "ab",
				"after=" + T:                                  "cdef",
				"text=example2":                               "ac",
			} {
				if got := list(q); got != want {
					t.Errorf("?%s = %s, want %s", q, got, want)
				}
			}

			c := openFake(t, f, Options{})
			for _, tc := range []struct {
				f    queue.Filter
				want string
			}{
				{queue.Filter{Sender: []string{"bill1@foobar.net"}}, "a"},
				{queue.Filter{Recipient: []string{"@foobar.org"}}, "def"},
				{queue.Filter{Sender: []string{"bill3@foobar.net"}, Recipient: []string{"rcpt5@example1.com"}}, "c"},
				{queue.Filter{DueBefore: now.Add(299 * time.Second)}, "ab"},
				{queue.Filter{DueAfter: now.Add(299 * time.Second)}, "cdef"},
			} {
				msgs, err := c.List(ctx, tc.f, queue.Page{})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, m := range msgs {
					got = append(got, envOf[uint64(m.ID)])
				}
				if strings.Join(got, "") != tc.want {
					t.Errorf("list %s = %v, want %s", tc.f, got, tc.want)
				}
			}

			// PATCH a?filter=example1.org&at=2200-01-01T00:00:00Z is true.
			res, err := c.Retry(ctx, queue.RetryRequest{Filter: queue.Filter{IDs: []queue.ID{1000}, Domain: []string{"example1.org"}}, At: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)})
			if err != nil || res.Count != 1 || !reflect.DeepEqual(res.Domains, map[string]int{"example1.org": 1}) {
				t.Errorf("retry a: %+v, %v", res, err)
			}
			if !containsPrefix(f.log(), "PATCH /api/queue/messages/1000?at=2200-01-01T00%3A00%3A00Z&filter=example1.org") &&
				!containsPrefix(f.log(), "PATCH /api/queue/messages/1000?at=2200-01-01T00%3A00%3A00Z&filter=%40example1.org") {
				t.Errorf("requests %q", f.log())
			}
			// Per-recipient cancel marks those recipients permanently failed.
			if _, err := c.Cancel(ctx, queue.CancelRequest{Filter: queue.Filter{IDs: []queue.ID{1002}, Recipient: []string{"@example2.com"}}}); err != nil {
				t.Fatal(err)
			}
			m, err := c.Get(ctx, 1002)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range m.Recipients() {
				if failed := r.Status == queue.PermFail; failed != strings.HasSuffix(r.Address, "@example2.com") || failed && !strings.Contains(r.Message, "Delivery canceled.") {
					t.Errorf("after the cancel: %+v", r)
				}
			}
			// DELETE ?text=example2.com removes the messages with an example2 recipient.
			req, _ := http.NewRequest("DELETE", strings.TrimSuffix(c.Location(), "/")+"/api/queue/messages?text=example2.com", nil)
			req.SetBasicAuth("admin", "secret")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := idsOf(listAll(t, c)); !reflect.DeepEqual(got, []queue.ID{1000, 1001, 1003, 1004, 1005}) {
				t.Errorf("after DELETE ?text=example2.com: %v", got)
			}
		})
	}
}
