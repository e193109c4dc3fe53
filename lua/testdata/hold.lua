-- queue.hold, queue.release and queue.rules over the fixtures: holds are
-- per domain, carry who, why and until when, and the held filter key
-- selects by them.
local n, rule = queue.hold{domain = "gmail.com", reason = "rate limited", for_ = "2h", rule = true}
t.eq(n, 2, "messages held")
t.eq(rule, 1, "rule id")
local m = queue.get("200")
t.eq(m.domains[1].name, "gmail.com")
t.eq(m.domains[1].held.reason, "rate limited")
t.eq(m.domains[1].held["until"], time.now() + 7200)
t.eq(m.domains[1].held.since, time.now())
t.eq(m.domains[2].held, nil, "yahoo.com is not held")
t.eq(queue.count{held = true}, 2)
t.eq(queue.count{held = false}, 3)

local rules = queue.rules()
t.eq(#rules, 1)
t.eq(rules[1].filter, "domain=gmail.com")
t.eq(rules[1].reason, "rate limited")
t.eq(rules[1].hits, 0)
t.eq(rules[1].ended, false)
t.eq(rules[1]["until"], time.now() + 7200)

-- A recipient filter holds that recipient's domain only; options may come
-- as a second table, a duration in seconds.
t.eq(queue.hold({rcpt = "joe@yahoo.com"}, {["for"] = 60}), 1)
t.ok(queue.get("200").domains[2].held, "yahoo.com held")
t.eq(queue.get("200").domains[2].held["until"], time.now() + 60)

t.eq(queue.release{domain = "gmail.com"}, 2)
t.eq(queue.get("100").domains[1].held, nil)
t.ok(queue.get("200").domains[2].held, "yahoo.com still held")
t.eq(queue.release("200"), 1)
t.eq(queue.count{held = true}, 0)
t.eq(queue.release{held = true}, 0, "nothing left to release")
t.eq(queue.hold{}, 0, "an empty selector holds nothing")

t.raises(function() queue.hold({domain = "gmail.com"}, {for_ = "-1h"}) end, "want a positive duration")
t.raises(function() queue.hold{domain = "gmail.com", for_ = "1h", ["until"] = "+2h"} end, "not both")
t.raises(function() queue.hold({domain = "gmail.com"}, {colour = 1}) end, "unknown option colour")
t.raises(function() queue.hold{ids = {"100"}, rule = true} end, "not by ids")
t.raises(function() queue.hold{held = "yes"} end, "held must be true or false")
t.raises(function() queue.release{colour = 1} end, "unknown filter key")
