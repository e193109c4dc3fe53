-- purge-bounces.lua: remove bounces (sender <>) older than an age.
--
-- Delivery status notifications to addresses that do not accept them pile up
-- and retry for days (a full mailbox can produce a flood of them). This
-- removes every queued bounce, that is every message with the empty sender
-- <>, created longer ago than AGE. Younger bounces stay, so senders still hear
-- about recent failures.
--
-- Arguments: AGE  how old a bounce must be to go (default 1d): 30m, 12h, 2d, 1w
-- Example:   mqsh run purge-bounces
--            mqsh run --dry-run purge-bounces 6h

local age, err = time.duration(arg[1] or "1d")
if not age then abort(err) end
if age < 0 then abort("AGE must not be negative: " .. arg[1]) end
if arg[2] then abort("usage: run purge-bounces [AGE=1d]") end

local cutoff = time.now() - age
local n = queue.cancel { sender = "<>", created_before = cutoff }
log.info(("%s %d bounce(s) created before %s"):format(queue.dry_run and "would remove" or "removed",
  n, time.format(cutoff)))
return n
