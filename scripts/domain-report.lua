-- domain-report.lua: per-domain count, volume, oldest and newest message.
--
-- A quick picture of where the queue is stuck, in the spirit of Exim's
-- exiqsumm and Postfix's qshape: one line per recipient domain with the number
-- of messages, their total size and the age of the oldest and newest, busiest
-- domain first, then a total. It changes nothing. Narrow it with filter words
-- key=value, the keys of a filter table: sender, rcpt, domain, status, before,
-- after, created_before, created_after.
--
-- Arguments: FILTER...  e.g. status=tempfail sender=@example.net created_before=-1h
-- Example:   mqsh run domain-report
--            mqsh run domain-report status=tempfail,permfail

local filter = {}
for _, word in ipairs(arg) do
  local key, value = word:match("^([%w_]+)=(.*)$")
  if not key then
    abort(("not a filter word: %q (want key=value, such as status=tempfail)"):format(word))
  end
  filter[key] = value
end

local rows = queue.summary(filter, "domain")
local now = time.now()

local function age(t)
  if not t then return "-" end
  local s = math.max(0, now - t)
  if s < 60 then return ("%ds"):format(s) end
  if s < 3600 then return ("%dm"):format(math.floor(s / 60)) end
  if s < 86400 then return ("%dh%02dm"):format(math.floor(s / 3600), math.floor(s % 3600 / 60)) end
  return ("%dd%02dh"):format(math.floor(s / 86400), math.floor(s % 86400 / 3600))
end

local function volume(n)
  if n < 1024 then return ("%dB"):format(n) end
  local units = { "K", "M", "G", "T" }
  local v, i = n / 1024, 1
  while v >= 1024 and i < #units do
    v, i = v / 1024, i + 1
  end
  return ("%.1f%s"):format(v, units[i])
end

local lines = { { "DOMAIN", "COUNT", "VOLUME", "OLDEST", "NEWEST" } }
for _, r in ipairs(rows) do
  lines[#lines + 1] = { r.key, tostring(r.count), volume(r.size), age(r.oldest), age(r.newest) }
end

-- The total counts each message once, though it may have several domains:
-- every message falls in exactly one age bucket.
local count, size, oldest, newest = 0, 0, nil, nil
for _, r in ipairs(queue.summary(filter, "age")) do
  count, size = count + r.count, size + r.size
  if r.oldest and (not oldest or r.oldest < oldest) then oldest = r.oldest end
  if r.newest and (not newest or r.newest > newest) then newest = r.newest end
end
lines[#lines + 1] = { "TOTAL", tostring(count), volume(size), age(oldest), age(newest) }

-- Column widths; the domain left-aligned, the figures right-aligned.
local width = {}
for _, l in ipairs(lines) do
  for i, cell in ipairs(l) do
    width[i] = math.max(width[i] or 0, #cell)
  end
end
for _, l in ipairs(lines) do
  local out = { ("%-" .. width[1] .. "s"):format(l[1]) }
  for i = 2, #l do
    out[#out + 1] = ("%" .. width[i] .. "s"):format(l[i])
  end
  print(table.concat(out, "  "))
end
