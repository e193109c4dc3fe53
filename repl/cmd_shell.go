package repl

// shellCommands declares the shell-only commands: exit, quit, clear (owned by the shell work).
func shellCommands() []*Command { return nil }
