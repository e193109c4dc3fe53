-- queue.explain and queue.summary(filter, "shape") against the fixtures (see
-- fixtures_test.go), on the clock 2024-05-01T12:00:00Z.
local now = 1714564800

-- explain: a queued message, per domain
local e = queue.explain("200")
t.eq(e.id, "200")
t.eq(e.queued, true)
t.eq(e.sender, "alice@example.net")
t.eq(e.held, false)
t.eq(#e.holds, 0)
t.eq(#e.domains, 2)
local g = e.domains[1]
t.eq(g.name, "gmail.com")
t.eq(g.status, "tempfail")
t.eq(g.retry_num, 3)
t.eq(g.next_retry, now + 3600)
t.eq(#g.attempts, 0, "imported: no attempts history")
t.eq(g.recipients[1].address, "ann@gmail.com")
t.eq(g.recipients[1].status, "tempfail")
t.eq(e.domains[2].status, "scheduled")

-- a message delivered in full has no next retry
t.eq(queue.explain("500").domains[1].next_retry, nil)

-- gone: cancelled in this run, the audit names the change
t.eq(queue.cancel("100"), 1)
local gone = queue.explain("100")
t.eq(gone.queued, false)
t.eq(gone.removed.verb, "cancel")

-- unknown: nil and why
local none, why = queue.explain("ABCDEF")
t.eq(none, nil)
t.ok(why:find("not queued", 1, true), why)
t.raises(function() queue.explain("xyz") end, "queue.explain")

-- summary "shape": qshape's grid, by domain (default) or sender domain
local s = queue.summary({}, "shape")
t.eq(s.by, "domain")
t.eq(#s.buckets, 10)
t.eq(s.buckets[1], "5m")
t.eq(s.buckets[10], "1280m+")
t.eq(s.total.key, "TOTAL")
local n = 0
for _, row in ipairs(s.rows) do n = n + row.count end
t.eq(s.total.count, n, "TOTAL adds the rows up")
t.eq(s.rows[1].key, "example.org", "most first")
t.eq(s.rows[1].count, 2)
-- 400 (10 minutes old) and 300 (3 days) in example.org
t.eq(s.rows[1].counts[3], 1, "10 to 20 minutes")
t.eq(s.rows[1].counts[10], 1, "older than 1280 minutes")
local sd = queue.summary({ sender = "<>" }, "shape", "sender-domain")
t.eq(#sd.rows, 1)
t.eq(sd.rows[1].key, "<>")
t.eq(#queue.summary({ ids = {} }, "shape").rows, 0, "no ids: an empty grid")
t.raises(function() queue.summary({}, "shape", "colour") end, "domain or sender-domain")
