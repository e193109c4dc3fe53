-- The helpers, the arguments and the sandbox's globals. Run with the
-- arguments "one" "two" on the clock 2024-05-01T12:00:00Z.
local now = 1714564800

-- time
t.eq(time.now(), now, "time.now")
t.eq(time.parse("2024-05-01T00:00:00Z"), now - 43200)
t.eq(time.parse("2024-05-01"), now - 43200, "a date is midnight UTC")
t.eq(time.parse("+2h"), now + 7200)
t.eq(time.parse("-3d"), now - 3 * 86400)
t.eq(time.parse("now"), now)
local v, err = time.parse("teatime")
t.eq(v, nil, "time.parse fails softly")
t.ok(err:find("RFC 3339", 1, true), "the error names the forms")
t.eq(time.format(now), "2024-05-01T12:00:00Z")
t.eq(time.duration("2h"), 7200)
t.eq(time.duration("1h30m"), 5400)
t.eq(time.duration("1d"), 86400)
t.eq(time.duration("1w"), 7 * 86400)
t.eq(time.duration("-5m"), -300)
t.eq(time.duration(90), 90, "a number is seconds already")
local d, derr = time.duration("soon")
t.eq(d, nil)
t.ok(derr:find("invalid duration", 1, true))
t.ok(time.parse("+1h") - time.now() == time.duration("1h"), "times are numbers")

-- addr
t.eq(addr.domain("Bill@Example.NET"), "example.net")
t.eq(addr.localpart("Bill@Example.NET"), "Bill")
t.eq(addr.domain("<bill@example.net>"), "example.net")
local a, aerr = addr.domain("<>")
t.eq(a, nil)
t.ok(aerr:find("not an address", 1, true))

-- arg, like standalone Lua: the name at 0, the arguments from 1, and ... too
t.eq(arg[0], "helpers.lua")
t.eq(arg[1], "one")
t.eq(arg[2], "two")
t.eq(#arg, 2)
local a1, a2 = ...
t.eq(a1, "one")
t.eq(a2, "two")

-- os: only time, date and clock
t.ok(os.time() > 0)
t.eq(os.date("!%Y-%m-%d", now), "2024-05-01")
t.ok(os.clock() >= 0)
local osnames = {}
for k in pairs(os) do osnames[#osnames + 1] = k end
table.sort(osnames)
t.eq(osnames, { "clock", "date", "time" }, "the os table")

-- no way out: what is left out is absent, and reading it says so
for _, name in ipairs { "io", "debug", "package", "dofile", "loadfile", "collectgarbage",
  "getfenv", "setfenv", "module", "newproxy", "coroutine", "channel", "_printregs",
  "_GOPHER_LUA_VERSION" } do
  t.eq(rawget(_G, name), nil, name)
  t.raises(function() return _G[name] end, name .. " is not available in mqsh scripts")
end
t.eq(rawget(string, "dump"), nil, "string.dump")
t.raises(function() return string.dump end, "string.dump is not available in mqsh scripts")
t.raises(function() return os.getenv end, "os.getenv is not available in mqsh scripts")
t.eq(os.nothing, nil, "other names read as nil")
t.eq(undefined_global, nil, "an undefined global reads as nil")
t.eq(getmetatable("").__index, string, "strings use the sandbox's string table")

-- load and loadstring: source text only, in the same sandbox
t.eq(load("return 1 + 2")(), 3)
x = 5
t.eq(loadstring("return x")(), 5, "loaded chunks see the script's globals")
local bin, berr = load("\27LuaQ\0\1\4\8\4\8\0")
t.eq(bin, nil, "binary chunk")
t.ok(berr:find("binary chunks are not allowed", 1, true))
local syn, serr = load("return +", "snippet")
t.eq(syn, nil)
t.ok(serr:find("snippet", 1, true), "a syntax error names the chunk")
t.raises(function() load(function() return nil end) end, "want a string of Lua source")
t.raises(load("return io"), "io is not available in mqsh scripts", "loaded code is sandboxed too")

-- require: the scripts folders only
local helper = require("helper")
t.eq(helper.double(4), 8)
t.eq(require("helper"), helper, "modules are loaded once")
t.eq(require("sub.mod").name, "sub.mod")
t.eq(require("lib.spread").slot(1, 4, 100, 40), 100, "the built-in lib modules")
t.raises(function() require("../secret") end, "invalid module name")
t.raises(function() require("..secret") end, "invalid module name")
t.raises(function() require("/etc/passwd") end, "invalid module name")
t.raises(function() require("sub/../../secret") end, "invalid module name")
t.raises(function() require("secret") end, 'module "secret" not found')
t.raises(function() require("os") end, 'module "os" not found')
t.raises(function() require("loop") end, "requires itself")

-- string.rep is capped; small ones work
t.eq(("ab"):rep(3), "ababab")
t.eq(("ab"):rep(0), "")
t.raises(function() return ("x"):rep(65 * 1024 * 1024) end, "the limit is 64 MiB per string")
t.raises(function() return string.rep("xy", 1e9) end, "string.rep: the result would be 2000000000 bytes")

-- queue.dry_run says whether the run will be rolled back
t.eq(queue.dry_run, false)

-- print and log go to the run's streams
print("to stdout")
log.info("to stderr")
log.warn("careful")
