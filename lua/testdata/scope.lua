-- One scope meaning: a recipient or domain in the filter given to
-- queue.retry or queue.cancel acts on those recipients only (retry: their
-- domains), as on the command line; the other recipients stay.
local now = 1714564800
local H = 3600

-- 200: gmail.com (ann, tempfail) and yahoo.com (joe, scheduled).
local yahoo = queue.get("200").domains[2].due
t.eq(queue.retry({ rcpt = "ann@gmail.com" }, { at = now + 3 * H }), 1)
local m = queue.get("200")
t.eq(m.domains[1].due, now + 3 * H, "gmail.com moved")
t.eq(m.domains[2].due, yahoo, "yahoo.com kept its time")

t.eq(queue.retry({ domain = "yahoo.com" }, { at = now + 4 * H }), 1)
m = queue.get("200")
t.eq(m.domains[1].due, now + 3 * H, "gmail.com kept its time")
t.eq(m.domains[2].due, now + 4 * H, "yahoo.com moved")

-- The domain option means the same as the filter key; both, if equal.
t.eq(queue.retry({ domain = "yahoo.com" }, { domain = "yahoo.com", at = now + 5 * H }), 1)
t.raises(function() queue.retry({ domain = "gmail.com" }, { domain = "yahoo.com" }) end, "give it once")

-- cancel{rcpt="@gmail.com"} cancels the gmail.com recipients, not the
-- messages with their other recipients.
t.eq(queue.cancel { rcpt = "@gmail.com" }, 2)
t.eq(queue.get("100"), nil, "100 had only gmail.com: it goes")
m = queue.get("200")
t.ok(m ~= nil, "200 stays for joe@yahoo.com")
t.eq(m.domains[1].recipients[1].status, "permfail")
t.eq(m.domains[2].recipients[1].status, "scheduled")

-- Without a recipient or domain: whole messages.
t.eq(queue.cancel { sender = "alice@example.net" }, 1)
t.eq(queue.get("200"), nil)
