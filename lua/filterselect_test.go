package lua

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"mqsh/queue"
)

// filterSamples are values of every filter key that select some of the demo
// queue (with client messages added), two of them for a key of several
// values. A key without a sample fails TestEveryFilterKeySelects: a new
// key must be shown to reach the engine from Lua.
var filterSamples = map[string][]string{
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
	"all":            {"true"},
}

// TestEveryFilterKeySelects: every filter key, under its Lua name, reaches
// the engine: queue.count and queue.list select with it what the engine
// selects with the key's values, and something.
func TestEveryFilterKeySelects(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	if _, err := q.LoadDemo(ctx, 300, 1); err != nil {
		t.Fatal(err)
	}
	for _, c := range []queue.Client{{IP: "192.0.2.7", User: "bill"}, {IP: "2001:db8::1", User: "Ann"}, {IP: "198.51.100.1"}} {
		env := queue.Envelope{Sender: "x@example.com", Recipients: []queue.EnvelopeRecipient{{Address: "y@example.org"}}, Client: c}
		if _, err := q.Enqueue(ctx, env, []byte("Subject: from a client\r\n\r\nhi\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range queue.FilterKeys {
		vals, ok := filterSamples[k.Name]
		if !ok {
			t.Errorf("no sample for filter key %s: add one that selects some of the demo queue", k.Name)
			continue
		}
		var f queue.Filter
		var lua []string
		for _, v := range vals {
			if err := k.Parse(&f, v, testNow); err != nil {
				t.Fatal(err)
			}
			lua = append(lua, fmt.Sprintf("%q", v))
		}
		value := lua[0]
		switch k.Field.(type) {
		case queue.Field[bool]:
			value = "true"
		case queue.Field[*bool]:
			value = vals[0] // a Lua boolean
		case queue.Field[[]string]:
			value = "{" + strings.Join(lua, ", ") + "}"
		case queue.Field[[]queue.ID]:
			value = `{"` + strings.ReplaceAll(vals[0], ",", `", "`) + `"}`
		}
		want, err := q.Count(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if want == 0 {
			t.Errorf("%s: the sample selects nothing", k.Name)
			continue
		}
		code := fmt.Sprintf("local f = {%s = %s}\nlocal n = 0\nfor _ in pairs(queue.list(f)) do n = n + 1 end\nprint(queue.count(f), n)\n", k.Name, value)
		_, out, _, err := runCode(t, q, "keys.lua", code, nil)
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		if got := strings.TrimSpace(out); got != fmt.Sprintf("%d\t%d", want, want) {
			t.Errorf("%s: count and list %q, want %d", code, got, want)
		}
	}
}
