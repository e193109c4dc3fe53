package httpapi

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"mqsh/queue"
)

// TestSelectionReadsFilterKeys: the extension parameters are the HTTP column
// of queue.FilterKeys, under the names mqsh's server has always read; each
// sets its field of the selection's filter, with times relative to the
// server's clock and ids in decimal, and a bad value is refused naming the
// parameter.
func TestSelectionReadsFilterKeys(t *testing.T) {
	sample := map[string]string{
		"sender": "bill@example.net", "rcpt": "*@example.org", "domain": "example.org", "status": "delivered,completed,permfail",
		"due-before": "2026-02-01T00:00:00Z", "due-after": "+2h", "created-before": "2026-01-01", "created-after": "-1d", "ids": "22205822742, 7",
		"held":    "false",
		"subject": "Invoice*", "message-id": "<a1@mx.example.net>", "header": "X-Mailer:*bulk*", "larger": "10k", "smaller": "1M",
		"client-ip": "192.0.2.0/24", "user": "bill",
	}
	names := map[string]bool{}
	for _, k := range queue.FilterKeys {
		if k.HTTP != "" {
			names[k.HTTP] = true
		}
	}
	for name := range sample {
		if !names[name] {
			t.Errorf("parameter %s is not in queue.FilterKeys", name)
		}
	}
	if len(names) != len(sample) {
		t.Errorf("queue.FilterKeys has parameters %v, want those of %v", names, sample)
	}
	q := url.Values{}
	for k, v := range sample {
		q.Set(k, v)
	}
	s, err := parseSelection(q, testNow)
	if err != nil {
		t.Fatal(err)
	}
	no := false
	want := queue.Filter{
		Held:   &no,
		Sender: []string{"bill@example.net"}, Recipient: []string{"*@example.org"}, Domain: []string{"example.org"},
		Status:    []queue.Status{queue.Completed, queue.PermFail},
		DueBefore: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), DueAfter: testNow.Add(2 * time.Hour),
		CreatedBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), CreatedAfter: testNow.Add(-24 * time.Hour),
		IDs:     []queue.ID{0x52B91F716, 7},
		Subject: []string{"Invoice*"}, MessageID: []string{"<a1@mx.example.net>"}, Header: []string{"X-Mailer:*bulk*"}, Larger: 10 << 10, Smaller: 1 << 20,
		ClientIP: []string{"192.0.2.0/24"}, User: []string{"bill"},
	}
	if !reflect.DeepEqual(s.filter, want) {
		t.Errorf("filter\n%+v\nwant\n%+v", s.filter, want)
	}
	for q, msg := range map[string]string{"ids=0": `ids: invalid id "0"`, "status=lost": "status: ", "due-after=soon": "due-after: ", "rcpt=": "rcpt: needs a value", "larger=huge": `larger: invalid size "huge"`, "header=X-Mailer": `invalid header filter "X-Mailer"`} {
		v, _ := url.ParseQuery(q)
		if _, err := parseSelection(v, testNow); err == nil || !strings.HasPrefix(err.Error(), msg) {
			t.Errorf("%s: %v, want an error starting %q", q, err, msg)
		}
	}
}
