-- reschedule-domain.lua: move a domain's pending mail to a time, spread over a window.
--
-- When a receiving server comes back after an outage, or asks you to slow
-- down, retrying its whole backlog at once hits it with every message in the
-- same minute. This moves the pending messages for DOMAIN so that the first is
-- due at TIME and the others follow evenly over WINDOW, in arrival order. Only
-- DOMAIN's part of each message moves; its other domains keep their schedule.
-- Expiry is never shortened.
--
-- Arguments: DOMAIN  the recipient domain, e.g. example.org
--            TIME    when to start: now, +2h, 2024-05-01T10:00:00Z ...
--            WINDOW  how long to spread over (default 30m): 90s, 30m, 2h, 1d
-- Example:   mqsh run reschedule-domain example.org +1h 2h
--            mqsh run --dry-run reschedule-domain example.org now

local spread = require("lib.spread")

local usage = "usage: run reschedule-domain DOMAIN TIME [WINDOW=30m]"
local domain = arg[1] or abort(usage)
local start, err = time.parse(arg[2] or abort(usage))
if not start then abort(err) end
local window, werr = time.duration(arg[3] or "30m")
if not window then abort(werr) end
if window < 0 then abort("WINDOW must not be negative: " .. arg[3]) end
if arg[4] then abort(usage) end
domain = domain:lower()

-- The messages with something still pending for the domain, oldest first.
local ids = {}
for m in queue.each { domain = domain } do
  for _, d in ipairs(m.domains) do
    if d.name == domain and (d.status == "scheduled" or d.status == "tempfail") then
      ids[#ids + 1] = m.id
      break
    end
  end
end

if #ids == 0 then
  log.info("nothing pending for " .. domain)
  return
end
local n = spread.retry(ids, start, window, domain)
log.info(("%s: %d message(s) %s from %s to %s"):format(domain, n,
  queue.dry_run and "would be due" or "now due",
  time.format(start), time.format(spread.slot(#ids, #ids, start, window))))
