package lua

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"mqsh/internal/filtersamples"
	"mqsh/queue"
)

// filterSamples are the shared samples of every filter key, with this caller's own spelling of the switch all.
var filterSamples = filtersamples.With(map[string][]string{"all": {"true"}})

// TestEveryFilterKeySelects: every filter key, under its Lua name, reaches
// the engine: queue.count and queue.list select with it what the engine
// selects with the key's values, and something.
func TestEveryFilterKeySelects(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	if _, err := q.LoadDemo(ctx, 300, 1); err != nil {
		t.Fatal(err)
	}
	if err := filtersamples.Add(ctx, q); err != nil {
		t.Fatal(err)
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
