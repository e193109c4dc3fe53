package scripts_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"mqsh/lua"
)

// The example serve policy, through the API the server calls.
func TestServePolicy(t *testing.T) {
	var log bytes.Buffer
	p, err := lua.LoadPolicy("policies/serve-policy.lua", lua.PolicyOptions{Log: &log, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	for _, h := range []string{lua.HookOnArrival, lua.HookNextRetry, lua.HookRoute} {
		if !p.Has(h) {
			t.Errorf("the example defines no %s", h)
		}
	}

	spam := map[string][]string{"X-Spam-Flag": {"yes"}}
	for _, c := range []struct {
		a              lua.Arrival
		verdict, reply string
	}{
		{lua.Arrival{Sender: "bill@example.net", Recipients: []string{"a@example.org"}}, "accept", ""},
		{lua.Arrival{Sender: "Newsletter@Example.com", Recipients: []string{"a@example.org"}}, "hold", ""},
		{lua.Arrival{Sender: "bill@example.net", Recipients: []string{"a@example.org"}, Headers: spam}, "reject", "550 5.7.1 Message looks like spam"},
		{lua.Arrival{Sender: "bill@example.net", User: "bill", Recipients: []string{"a@example.org"}, Headers: spam}, "accept", ""},
		{lua.Arrival{Sender: "", Recipients: []string{"a@example.org"}}, "accept", ""},
	} {
		v, r := p.OnArrival(ctx, c.a)
		if v != c.verdict || r != c.reply {
			t.Errorf("OnArrival(%+v) = %q, %q; want %q, %q", c.a, v, r, c.verdict, c.reply)
		}
	}

	for _, c := range []struct {
		r  lua.Reply
		d  time.Duration
		ok bool
	}{
		{lua.Reply{Code: 421, Enhanced: "4.7.0", Text: "Too many connections, slow down"}, time.Hour, true},
		{lua.Reply{Code: 450, Enhanced: "4.7.28", Text: "Our system has detected an unusual rate of mail"}, time.Hour, true},
		{lua.Reply{Code: 451, Enhanced: "4.7.1", Text: "Greylisted, try again later"}, 0, false},
		{lua.Reply{Code: 452, Enhanced: "4.2.2", Text: "Mailbox full"}, 0, false},
		{lua.Reply{Text: "connection refused"}, 0, false},
	} {
		d, ok := p.NextRetry(ctx, "example.org", c.r, 2)
		if d != c.d || ok != c.ok {
			t.Errorf("NextRetry(%+v) = %s, %v; want %s, %v", c.r, d, ok, c.d, c.ok)
		}
	}

	if hp, ok := p.Route(ctx, "partner.example"); !ok || hp != "relay.partner.example:2525" {
		t.Errorf("Route(partner.example) = %q, %v", hp, ok)
	}
	if hp, ok := p.Route(ctx, "example.org"); ok || hp != "" {
		t.Errorf("Route(example.org) = %q, %v; want the default", hp, ok)
	}
	if log.Len() != 0 {
		t.Errorf("the example logged failures:\n%s", log.String())
	}
}
