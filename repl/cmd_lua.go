package repl

// luaCommands declares `run` and `lua` (owned by the Lua work).
func luaCommands() []*Command { return nil }
