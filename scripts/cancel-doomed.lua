-- cancel-doomed.lua: cancel messages that are about to expire and already failed.
--
-- A message that already failed permanently for some recipients, and whose
-- remaining recipients will expire soon anyway, only keeps retrying until it
-- bounces. This removes such messages now: every message with at least one
-- permanently failed recipient whose pending domains all expire within WITHIN.
-- Messages with nothing pending are left alone (nothing to stop).
--
-- Arguments: WITHIN  how soon expiry must be (default 12h)
-- Example:   mqsh run cancel-doomed
--            mqsh run --dry-run cancel-doomed 1d

local within, err = time.duration(arg[1] or "12h")
if not within then abort(err) end
if within < 0 then abort("WITHIN must not be negative: " .. arg[1]) end
if arg[2] then abort("usage: run cancel-doomed [WITHIN=12h]") end

local limit = time.now() + within

local function doomed(m)
  local failed, pending = false, false
  for _, d in ipairs(m.domains) do
    for _, r in ipairs(d.recipients) do
      if r.status == "permfail" then failed = true end
    end
    if d.status == "scheduled" or d.status == "tempfail" then
      pending = true
      if d.expires > limit then return false end
    end
  end
  return failed and pending
end

-- Cancel in batches while walking, so memory stays flat on a large queue.
local total, batch = 0, {}
for m in queue.each { status = "permfail" } do
  if doomed(m) then
    batch[#batch + 1] = m.id
    if #batch == 500 then
      total = total + queue.cancel(batch)
      batch = {}
    end
  end
end
total = total + queue.cancel(batch)
log.info(("%s %d message(s) expiring before %s with permanent failures"):format(
  queue.dry_run and "would remove" or "removed", total, time.format(limit)))
return total
