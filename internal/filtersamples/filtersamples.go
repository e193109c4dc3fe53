// Package filtersamples holds, for the tests of every caller of the queue's
// filter (the command line, Lua, the HTTP API), one set of values of every
// filter key that select some of a demo queue, and the mail with SMTP
// clients the client filters need. A key without a sample fails each
// caller's test: a new key must be shown to reach the engine from each.
package filtersamples

import (
	"context"
	"maps"

	"mqsh/queue"
)

// Values are the samples, by the key's canonical name: values that select
// some of a demo queue of a few hundred messages with Add's mail; two of
// them for a key of several values. Ids are in hex, as the command line and
// Lua take them.
var Values = map[string][]string{
	"ids":            {"2B91F716,12B91F716"},
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

// With returns a copy of Values with some samples replaced or added (a
// caller's own spelling of ids, a switch such as all).
func With(over map[string][]string) map[string][]string {
	out := maps.Clone(Values)
	maps.Copy(out, over)
	return out
}

// Add queues mail as serve records it, with its SMTP client, for the client
// filters' samples.
func Add(ctx context.Context, q queue.Backend) error {
	for _, c := range []queue.Client{{IP: "192.0.2.7", User: "bill"}, {IP: "2001:db8::1", User: "Ann"}, {IP: "198.51.100.1"}} {
		env := queue.Envelope{Sender: "x@example.com", Recipients: []queue.EnvelopeRecipient{{Address: "y@example.org"}}, Client: c}
		if _, err := q.Enqueue(ctx, env, []byte("Subject: from a client\r\n\r\nhi\r\n")); err != nil {
			return err
		}
	}
	return nil
}
