-- purge-sender.lua: remove everything a compromised sender has queued.
--
-- When an account is compromised and starts sending spam, every message it
-- queued should go before it damages your reputation. This removes (without a
-- bounce) every queued message whose sender matches, whatever its state. Give
-- a full address, or @domain for every sender of a domain; several may be
-- given. Globs (* and ?) work as in `queue list -s`, but a pattern that would
-- match every sender is refused. Bounces (<>) are purge-bounces' job.
--
-- Arguments: SENDER...  an address (bill@example.net) or @domain (@example.net)
-- Example:   mqsh run purge-sender bill@example.net
--            mqsh run --dry-run purge-sender @spammy.example

local usage = "usage: run purge-sender ADDRESS|@DOMAIN..."
if #arg == 0 then abort(usage) end

local removed = queue.dry_run and "would remove" or "removed"
local total = 0
for _, who in ipairs(arg) do
  if who == "<>" or who == "" then
    abort("purge-sender removes a sender's mail; for bounces (<>) run purge-bounces")
  end
  if not who:find("[^%*%?@%.]") then
    abort(("refusing %q: it would match every sender"):format(who))
  end
  local n = queue.cancel { sender = who }
  log.info(("%s: %s %d message(s)"):format(who, removed, n))
  total = total + n
end
return total
