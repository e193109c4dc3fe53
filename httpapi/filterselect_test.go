package httpapi

import (
	"context"
	"net/url"
	"slices"
	"testing"

	"mqsh/queue"
)

// filterSamples are values of every filter key that select some of the demo
// queue (with client messages added), two of them for a key of several
// values. A key without a sample fails TestEveryFilterParamSelects: a new
// key must be shown to reach the engine through the API.
var filterSamples = map[string][]string{
	"ids":            {"22205822742,5028837142"},
	"sender":         {"jennifer.kowalski", "bill1@example.net"},
	"rcpt":           {"@domain1.test", "*@hotmail.com"},
	"domain":         {"gmail.com", "domain2.test"},
	"after":          {"-1000d"},
	"before":         {"+1h"},
	"created_after":  {"-2d"},
	"created_before": {"-1d"},
	"status":         {"tempfail"},
	"subject":        {"invoice*", "weekly report"},
	"message_id":     {"<2b91f716@mx.example.org>", "12b91f716@mx.example.org"},
	"header":         {"Subject:*shipped*", "x-nothing:*"},
	"larger":         {"10k"},
	"smaller":        {"1200"},
	"client_ip":      {"192.0.2.0/24", "2001:db8::1"},
	"user":           {"BILL", "ann"},
	"held":           {"false"},
}

// TestEveryFilterParamSelects: the HTTP parameter of every filter key
// reaches the engine: a listing selects with it what the engine selects
// with the key's values, and something.
func TestEveryFilterParamSelects(t *testing.T) {
	ctx := context.Background()
	e := startServer(t)
	if _, err := e.q.LoadDemo(ctx, 300, 1); err != nil {
		t.Fatal(err)
	}
	for _, c := range []queue.Client{{IP: "192.0.2.7", User: "bill"}, {IP: "2001:db8::1", User: "Ann"}, {IP: "198.51.100.1"}} {
		env := queue.Envelope{Sender: "x@example.com", Recipients: []queue.EnvelopeRecipient{{Address: "y@example.org"}}, Client: c}
		if _, err := e.q.Enqueue(ctx, env, []byte("Subject: from a client\r\n\r\nhi\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range queue.FilterKeys {
		if k.HTTP == "" {
			continue
		}
		vals, ok := filterSamples[k.Name]
		if !ok {
			t.Errorf("no sample for filter key %s: add one that selects some of the demo queue", k.Name)
			continue
		}
		var f queue.Filter
		q := url.Values{"limit": {"0"}}
		for _, v := range vals {
			if err := k.ParseHTTP(&f, v, testNow); err != nil {
				t.Fatal(err)
			}
			q.Add(k.HTTP, v)
		}
		msgs, err := e.q.List(ctx, f, queue.Page{})
		if err != nil {
			t.Fatal(err)
		}
		want := []queue.ID{}
		for _, m := range msgs {
			want = append(want, m.ID)
		}
		if len(want) == 0 {
			t.Errorf("%s: the sample selects nothing", k.Name)
			continue
		}
		got, total := e.ids("?" + q.Encode())
		if !slices.Equal(append([]queue.ID{}, got...), want) || total != len(want) {
			t.Errorf("%s: %d ids (total %d), want %d", q.Encode(), len(got), total, len(want))
		}
	}
}
