package lua

import (
	"context"
	"strings"
	"testing"
)

// queue.each reads the next page while the script works on one. The script
// must see exactly what reading at that point would return: changes made in
// the loop's body show in later pages, every message comes once, in order,
// shaped as queue.get shapes it, and a loop left early leaves the
// transaction usable.
func TestEachReadsAheadAcrossPages(t *testing.T) {
	defer func(n int) { eachPage = n }(eachPage)
	eachPage = 7
	q := openQueue(t)
	if _, err := q.LoadDemo(context.Background(), 60, 3); err != nil {
		t.Fatal(err)
	}
	code := `
		local all = queue.list()
		local total = #all
		assert(total > 4 * 7, "only " .. total .. " messages")
		-- the last page's messages are removed, and one of the second page's
		-- retried, while the walk is still in the first page
		local doomed, moved = {}, all[10].id
		for i = total - 6, total do doomed[#doomed + 1] = all[i].id end
		local n, prev = 0, nil
		for m in queue.each() do
			n = n + 1
			if n == 2 then
				local c = queue.cancel(doomed)
				assert(c == 7, "cancelled " .. c)
				assert(queue.retry(moved, { at = 2000000000 }) == 1)
			end
			if prev then assert(m.id ~= prev, "repeated " .. m.id) end
			t.eq(m, queue.get(m.id), "message " .. n)
			if m.id == moved then
				local due = false
				for _, d in ipairs(m.domains) do
					if d.due == 2000000000 then due = true end
				end
				assert(due, "the retry made in the first page does not show")
			end
			for _, id in ipairs(doomed) do assert(m.id ~= id, "removed message " .. id .. " walked") end
			prev = m.id
		end
		t.eq(n, total - 7, "messages walked")
		-- leave a walk early: the next queue function still works (a body
		-- that only breaks needs the rewrite of TestLoneBreak)
		for m in queue.each() do break end
		t.eq(queue.count(), total - 7)
		-- two walks at once
		local a, b = 0, 0
		for m in queue.each() do
			a = a + 1
			if a == 3 then for _ in queue.each() do b = b + 1 end end
		end
		t.eq(a, total - 7)
		t.eq(b, total - 7)
	`
	s := NewSession(q, Options{Name: "each.lua", Code: code, Now: clock})
	defer s.Close()
	s.L.SetGlobal("t", testModule(s.L, t))
	if _, err := s.run(context.Background(), code, false); err != nil {
		t.Fatal(err)
	}
	// Ids walked in ascending order, as many as remain.
	var out strings.Builder
	s2 := NewSession(q, Options{Name: "order.lua", Stdout: &out, Now: clock})
	defer s2.Close()
	if _, err := s2.run(context.Background(), `
		local prev, n = nil, 0
		for m in queue.each() do
			if prev then assert(#m.id > #prev or #m.id == #prev and m.id > prev, m.id .. " after " .. prev) end
			prev, n = m.id, n + 1
		end
		print(n)`, false); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out.String()) == "" || strings.TrimSpace(out.String()) == "0" {
		t.Errorf("walked %q messages", out.String())
	}
}

// A walk left early stops its read ahead at the end of the chunk: nothing is
// left building tables that no one will take.
func TestEachBreakStopsReadAhead(t *testing.T) {
	defer func(n int) { eachPage = n }(eachPage)
	eachPage = 7
	q := openQueue(t)
	if _, err := q.LoadDemo(context.Background(), 60, 3); err != nil {
		t.Fatal(err)
	}
	s := NewSession(q, Options{Name: "lua", Now: clock})
	defer s.Close()
	if _, err := s.Exec(context.Background(), "local n = 0 for m in queue.each() do n = n + 1 if n == 3 then break end end"); err != nil {
		t.Fatal(err)
	}
	if s.building != nil || s.ahead != nil {
		t.Errorf("a read ahead is still running after the chunk: building %v, ahead %v", s.building != nil, s.ahead != nil)
	}
}
