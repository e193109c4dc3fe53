-- backoff-deferred.lua: back off the domains that answered 421 or 451.
--
-- A receiver that replies 421 (service not available, closing) or 451
-- (local error, try again later) is overloaded or greylisting; retrying on
-- the normal schedule only makes it worse. This finds every pending domain of
-- a message whose last reply was 421 or 451, and moves it to DELAY from now,
-- spread over WINDOW so the receiver does not get everything back at once.
-- A domain already due later than that keeps its time (nothing is brought
-- forward); other domains of the same message are not touched.
--
-- Arguments: DELAY   how long to back off (default 2h)
--            WINDOW  how long to spread the retries over (default 30m)
-- Example:   mqsh run backoff-deferred
--            mqsh run --dry-run backoff-deferred 4h 1h

local spread = require("lib.spread")

local delay, err = time.duration(arg[1] or "2h")
if not delay then abort(err) end
local window, werr = time.duration(arg[2] or "30m")
if not window then abort(werr) end
if delay < 0 or window < 0 then abort("DELAY and WINDOW must not be negative") end
if arg[3] then abort("usage: run backoff-deferred [DELAY=2h] [WINDOW=30m]") end

local start = time.now() + delay

local function deferring(code)
  return code == 421 or code == 451
end

-- deferred reports whether a domain is pending and its last reply was a
-- 421 or 451: from a recipient, or for the domain as a whole.
local function deferred(d)
  if d.status ~= "scheduled" and d.status ~= "tempfail" then
    return false
  end
  for _, r in ipairs(d.recipients) do
    if r.status == "tempfail" and deferring(r.code) then
      return true
    end
  end
  local code = tonumber(d.details:match("^Code: (%d%d%d)") or d.details:match("^(%d%d%d)[ %-]"))
  return deferring(code)
end

local byDomain, names = {}, {}
for m in queue.each { status = "tempfail" } do
  for _, d in ipairs(m.domains) do
    if deferred(d) and d.due < start then
      local ids = byDomain[d.name]
      if not ids then
        ids = {}
        byDomain[d.name] = ids
        names[#names + 1] = d.name
      end
      ids[#ids + 1] = m.id
    end
  end
end

table.sort(names)
local total = 0
for _, name in ipairs(names) do
  local n = spread.retry(byDomain[name], start, window, name)
  log.info(("%s: %d message(s) %s to %s .. %s"):format(name, n,
    queue.dry_run and "would back off" or "backed off",
    time.format(start), time.format(start + window)))
  total = total + n
end
if #names == 0 then
  log.info("no pending domain's last reply was 421 or 451")
end
return total
