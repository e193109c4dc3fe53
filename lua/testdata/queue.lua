-- The queue module against the fixtures (see fixtures_test.go), on the clock
-- 2024-05-01T12:00:00Z.
local now = 1714564800
local H, D = 3600, 86400

-- list: everything, ascending ids
local all = queue.list()
t.eq(#all, 5)
t.eq(all[1].id, "100")
t.eq(all[5].id, "500")
t.eq(#queue.list({}), 5, "an empty filter lists everything")

-- filters: the command line's keys, matching rules and time forms
t.eq(queue.count { sender = "alice@example.net" }, 2)
t.eq(queue.count { sender = "ALICE@example.net" }, 2, "case-insensitive")
t.eq(queue.count { sender = "@example.net" }, 2, "a sender domain")
t.eq(queue.count { sender = "<>" }, 1, "bounces")
t.eq(queue.count { sender = "a*" }, 2, "a glob")
t.eq(queue.count { domain = "example.org" }, 2)
t.eq(queue.count { rcpt = "bob@gmail.com" }, 1)
t.eq(queue.count { recipient = "bob@gmail.com" }, 1, "recipient is rcpt")
t.eq(queue.count { status = "tempfail" }, 2)
t.eq(queue.count { status = { "tempfail", "permfail" } }, 3)
t.eq(queue.count { status = "tempfail,permfail" }, 3)
t.eq(queue.count { created_before = "-12h" }, 2)
t.eq(queue.count { created_after = now - 3 * H }, 3, "times as numbers")
t.eq(queue.count { before = "+15m" }, 2, "due before")
t.eq(queue.count { after = "+15m" }, 2, "due after; nothing pending never matches")
t.eq(queue.count { ids = { "100", "300" } }, 2)
t.eq(queue.count { ids = "100" }, 1)
t.eq(queue.count { ids = {} }, 0, "no ids: nothing")
t.eq(#queue.list { ids = {} }, 0)
t.eq(#queue.summary { ids = {} }, 0)
for _ in queue.each { ids = {} } do t.fail("each over no ids") end
t.eq(queue.cancel { ids = {} }, 0, "cancelling no ids changes nothing")
t.eq(queue.count { sender = "alice@example.net", domain = "yahoo.com" }, 1, "keys combine with AND")
t.eq(queue.count { all = true }, 5)
t.eq(queue.count({ "100", "200" }), 2, "a list of ids")
t.eq(queue.count("300"), 1, "one id")

-- list options
local page = queue.list(nil, { limit = 2 })
t.eq(#page, 2)
t.eq(page[2].id, "200")
page = queue.list({}, { limit = 2, after = "200" })
t.eq(page[1].id, "300")
t.eq(#queue.list({}, { after = all[4] }), 1, "after a message")

-- the message table
local m = queue.get("200")
t.eq(m.id, "200")
t.eq(m.sender, "alice@example.net")
t.eq(m.size, 2000)
t.eq(m.created, now - D)
t.eq(m.priority, 0)
t.eq(m.env_id, nil)
t.eq(m.due, now + 20 * 60, "the earliest pending due")
t.eq(#m.domains, 2)
local g = m.domains[1]
t.eq(g.name, "gmail.com")
t.eq(g.status, "tempfail")
t.eq(g.retry_num, 3)
t.eq(g.due, now + H)
t.eq(g.expires, now + 4 * D)
t.eq(g.notify, nil)
local r = g.recipients[1]
t.eq(r.address, "ann@gmail.com")
t.eq(r.status, "tempfail")
t.eq(r.code, 421)
t.eq(r.enhanced, "4.7.0")
t.eq(r.message, "Try again later")
t.eq(r.orcpt, nil)
t.eq(m.domains[2].recipients[1].code, 0, "no reply yet")
t.eq(queue.get("300").sender, "<>", "a bounce's sender")
t.eq(queue.count { sender = queue.get("300").sender }, 1, "m.sender feeds back into a filter")
t.eq(queue.get("500").due, nil, "nothing pending: no due")
t.eq(queue.get("500").domains[1].status, "delivered")
t.eq(queue.get("400").domains[1].recipients[1].status, "permfail")
t.eq(queue.get("200").id, queue.get(m).id, "get takes a message")
t.eq(queue.get("2a0"), nil)
local none, err = queue.get("ABCDEF")
t.eq(none, nil)
t.eq(err, "message ABCDEF not found")

-- each streams in id order
local seen = {}
for msg in queue.each { sender = "alice@example.net" } do
  seen[#seen + 1] = msg.id
end
t.eq(seen, { "100", "200" })
local n = 0
for _ in queue.each() do n = n + 1 end
t.eq(n, 5)

-- summary
local rows = queue.summary(nil, "domain")
t.eq(rows[1].key, "example.org")
t.eq(rows[1].count, 2)
t.eq(rows[1].size, 3500)
t.eq(rows[1].oldest, now - 3 * D)
t.eq(rows[1].newest, now - 600)
t.eq(#rows, 4)
t.eq(queue.summary()[1].key, "example.org", "by domain by default")
local senders = {}
for _, row in ipairs(queue.summary({}, "sender")) do senders[row.key] = row.count end
t.eq(senders["<>"], 1)
t.eq(senders["alice@example.net"], 2)
local total = 0
for _, row in ipairs(queue.summary({}, "age")) do total = total + row.count end
t.eq(total, 5, "every message in one age bucket")

-- programming errors raise, naming the problem
t.raises(function() queue.count { colour = "red" } end, 'unknown filter key "colour"')
t.raises(function() queue.count { sender = 5 } end, "sender must be a string")
t.raises(function() queue.count { sender = "" } end, "sender is empty")
t.raises(function() queue.count { before = "yesterday-ish" } end, "invalid time")
t.raises(function() queue.count { status = "lost" } end, "unknown status")
t.raises(function() queue.count { all = "yes" } end, "all must be true or false")
t.raises(function() queue.summary({}, "colour") end, "groups by domain, sender, status or age")
t.raises(function() queue.get(256) end, "hex strings")
t.raises(function() queue.retry("zz") end, "invalid id")
t.raises(function() queue.retry("100", { when = "now" }) end, "unknown option when")
t.raises(function() queue.retry { all = false } end, "refusing to change every message")
t.raises(function() queue.cancel(42) end, "ids are hex strings")

-- retry: selectors and options; the count changed
t.eq(queue.retry({}), 0, "an empty table selects nothing")
t.eq(queue.retry("100", { at = "+1h" }), 1)
t.eq(queue.get("100").domains[1].due, now + H)
t.eq(queue.retry(queue.get("200"), { at = now + 2 * H, domain = "yahoo.com" }), 1)
local m2 = queue.get("200")
t.eq(m2.domains[2].due, now + 2 * H, "yahoo.com moved")
t.eq(m2.domains[1].due, now + H, "gmail.com kept its time")
t.eq(queue.retry({ "100", "200" }, { at = now + 60 }), 2)
t.eq(queue.retry("500"), 0, "nothing pending is not counted")
t.eq(queue.retry({ sender = "alice@example.net" }, { at = "+2h" }), 2)
t.eq(queue.get("100").due, now + 2 * H)

-- cancel: recipients, then whole messages
t.eq(queue.cancel("400", { rcpt = "y@example.org" }), 1)
t.eq(queue.get("400"), nil, "removed once nothing is pending")
t.eq(queue.cancel { sender = "<>" }, 1)
t.eq(queue.count(), 3)
t.eq(queue.cancel({ "300", "400" }), 0, "gone already")
