-- serve-policy.lua: an example policy for `mqsh serve --policy`.
--
-- The server calls the functions below, each in the sandbox with a 200 ms
-- time limit; a hook that fails is logged and the server does what it would
-- do without a policy. Hooks get what the server knows (see README, "Lua
-- hooks") and cannot read or change the queue. Copy this file and edit the
-- tables at the top.
--
-- It holds mail from one sender until an administrator releases it, rejects
-- spam-flagged mail from clients that did not authenticate, backs off for an
-- hour from a receiver that rate-limits us (421, or a 4.7.x "rate" reply),
-- and sends one domain through a relay of its own.
--
-- Example:   mqsh -u /var/spool/mqsh/queue.db serve --policy scripts/policies/serve-policy.lua

-- Senders whose mail is queued but held (e.g. a newsletter awaiting review).
local held_senders = { ["newsletter@example.com"] = true }

-- Domains sent through a relay of their own rather than the MX hosts.
local relays = { ["partner.example"] = "relay.partner.example:2525" }

-- How long to leave a receiver alone after it rate-limited us.
local rate_limit_backoff = time.duration("1h")

function on_arrival(msg)
  if held_senders[msg.sender:lower()] then
    return "hold"
  end
  local flag = msg.headers["x-spam-flag"]
  if flag and flag[1]:upper() == "YES" and msg.user == nil then
    return "reject", "550 5.7.1 Message looks like spam"
  end
  -- nothing: accept
end

function next_retry(domain, reply, attempt)
  local rate_limited = reply.code == 421
    or (reply.enhanced ~= nil and reply.enhanced:sub(1, 4) == "4.7." and reply.text:lower():find("rate", 1, true) ~= nil)
  if rate_limited then
    return rate_limit_backoff
  end
  -- nothing: the schedule
end

function route(domain)
  return relays[domain]
end
