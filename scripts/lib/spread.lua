-- lib/spread.lua: spread retries of many messages evenly over a time window.
--
-- Used by reschedule-domain.lua and backoff-deferred.lua:
--
--   local spread = require("lib.spread")
--   local n = spread.retry(ids, start, window, domain)
--
-- ids is a list of message ids (hex strings), start a time in Unix seconds,
-- window a length in seconds, domain the recipient domain to reschedule (nil
-- for every pending domain). Message i of n is due at
-- start + floor(window * (i - 1) / n): the first at start, the others evenly
-- spaced, none at or after start + window. Messages due in the same second go
-- to the queue in one call. Returns how many messages were rescheduled.

local M = {}

function M.slot(i, n, start, window)
  if n <= 1 then
    return start
  end
  return start + math.floor(window * (i - 1) / n)
end

function M.retry(ids, start, window, domain)
  local n = #ids
  local done = 0
  local batch, at = {}, nil
  local function flush()
    if #batch > 0 then
      done = done + queue.retry(batch, { at = at, domain = domain })
      batch = {}
    end
  end
  for i, id in ipairs(ids) do
    local t = M.slot(i, n, start, window)
    if t ~= at then
      flush()
      at = t
    end
    batch[#batch + 1] = id
  end
  flush()
  return done
end

return M
