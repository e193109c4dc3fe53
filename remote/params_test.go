package remote

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"mqsh/queue"
)

// TestServerParamsDueRounding: due bounds go to the server in whole seconds
// rounded outwards, so that its answer holds every message the filter
// matches; past bounds are not sent (the server ignores them).
func TestServerParamsDueRounding(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		f             queue.Filter
		before, after string
	}{
		{queue.Filter{DueBefore: now.Add(90*time.Minute + 300*time.Millisecond)}, "2026-11-01T13:30:01Z", ""},
		{queue.Filter{DueBefore: now.Add(90 * time.Minute)}, "2026-11-01T13:30:00Z", ""},
		{queue.Filter{DueAfter: now.Add(time.Hour + 999*time.Millisecond)}, "", "2026-11-01T13:00:00Z"},
		{queue.Filter{DueAfter: now.Add(-time.Hour), DueBefore: now.Add(-time.Minute)}, "", ""},
		{queue.Filter{DueBefore: now.Add(200 * time.Millisecond)}, "2026-11-01T12:00:01Z", ""},
	} {
		q := serverParams(c.f, now)
		if q.Get("before") != c.before || q.Get("after") != c.after {
			t.Errorf("%v: before=%q after=%q, want %q and %q", c.f, q.Get("before"), q.Get("after"), c.before, c.after)
		}
	}
}

// TestStoredKeysRefused: a filter key that reads the queue's own records
// (the message text, the SMTP client: every key with a Stored, so a new
// one is covered) cannot be finished by the client, as Stalwart's API gives
// neither, so every verb refuses it with a sentence naming the key and the
// server, and sends no change; a size filter is finished on the client.
func TestStoredKeysRefused(t *testing.T) {
	p := newPair(t, v012, 20, Options{})
	ctx := t.Context()
	refused := 0
	for _, k := range queue.FilterKeys {
		if k.Stored == "" {
			continue // the client finishes it (TestMatchAgreesWithSQL)
		}
		sample := map[*queue.FilterKey]string{queue.KeyHeader: "X-Mailer:*", queue.KeyClientIP: "192.0.2.1"}[k]
		if sample == "" {
			sample = "x"
		}
		var f queue.Filter
		if err := k.Parse(&f, sample, p.clock.Now()); err != nil {
			t.Fatal(err)
		}
		refused++
		_, err := p.client.List(ctx, f, queue.Page{})
		checkErr(t, err, ErrUnsupported, "the "+k.Name+" filter is not available on the Stalwart server at "+p.srv.URL)
		_, err = p.client.Cancel(ctx, queue.CancelRequest{Filter: f})
		checkErr(t, err, ErrUnsupported, "which the server's queue API does not give")
	}
	if n := changes(p.fake.log()); n != 0 || refused < 5 {
		t.Errorf("%d changes sent, %d keys refused", n, refused)
	}
	all := listAll(t, p.local)
	size := all[len(all)/2].Size
	want, err := p.local.List(ctx, queue.Filter{Larger: size}, queue.Page{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.client.List(ctx, queue.Filter{Larger: size}, queue.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 || !reflect.DeepEqual(idsOf(got), idsOf(want)) {
		t.Errorf("larger than %d: client %v, engine %v", size, idsOf(got), idsOf(want))
	}
}

// TestSeveralValuesRemote: a field of several values is not narrowed by
// to= (the server takes one), and the client finishes the match: the
// listing is the engine's.
func TestSeveralValuesRemote(t *testing.T) {
	p := newPair(t, v012, 60, Options{})
	all := listAll(t, p.local)
	var doms []string
	for _, m := range all {
		if d := m.Domains[0].Name; !slices.Contains(doms, d) && len(doms) < 2 {
			doms = append(doms, d)
		}
	}
	for _, f := range []queue.Filter{
		{Recipient: []string{"@" + doms[0], "@" + doms[1]}},
		{Domain: doms},
		{Sender: []string{all[0].ReturnPath, all[1].ReturnPath}},
	} {
		if to := serverParams(f, p.clock.Now()).Get("to"); to != "" {
			t.Errorf("%v: to=%s narrows by one of several values", f, to)
		}
		want, err := p.local.List(t.Context(), f, queue.Page{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.client.List(t.Context(), f, queue.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(want) < 2 || !reflect.DeepEqual(idsOf(got), idsOf(want)) {
			t.Errorf("%v: client %v, engine %v", f, idsOf(got), idsOf(want))
		}
	}
}
