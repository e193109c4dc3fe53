package httpapi

import (
	"context"
	"net/url"
	"slices"
	"testing"

	"mqsh/internal/filtersamples"
	"mqsh/queue"
)

// filterSamples are the shared samples of every filter key, with this caller's own spelling of ids (decimal, as HTTP takes them).
var filterSamples = filtersamples.With(map[string][]string{"ids": {"22205822742,5028837142"}})

// TestEveryFilterParamSelects: the HTTP parameter of every filter key
// reaches the engine: a listing selects with it what the engine selects
// with the key's values, and something.
func TestEveryFilterParamSelects(t *testing.T) {
	ctx := context.Background()
	e := startServer(t)
	if _, err := e.q.LoadDemo(ctx, 300, 1); err != nil {
		t.Fatal(err)
	}
	if err := filtersamples.Add(ctx, e.q); err != nil {
		t.Fatal(err)
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
