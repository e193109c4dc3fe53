package repl

import (
	"context"
	"fmt"
)

// shellCommands declares the commands that only make sense at the shell
// prompt: exit, quit and clear. (help is a command of every mode.)
func shellCommands() []*Command {
	return []*Command{
		{Path: []string{"exit"}, Summary: "Leaves the shell (so does Ctrl-D)", ShellOnly: true, NoQueue: true, Run: runExit},
		{Path: []string{"quit"}, Summary: "Leaves the shell (so does Ctrl-D)", ShellOnly: true, NoQueue: true, Run: runExit},
		{Path: []string{"clear"}, Summary: "Clears the screen", ShellOnly: true, NoQueue: true, Run: runClear},
	}
}

// runExit ends the loop: the shell, or a batch of commands.
func runExit(_ context.Context, _ *Env, inv *Invocation) error {
	return ErrExit
}

// runClear clears the terminal; on anything else it does nothing.
func runClear(_ context.Context, env *Env, inv *Invocation) error {
	if env.Terminal {
		fmt.Fprint(env.Stdout, "\x1b[H\x1b[2J\x1b[3J")
	}
	return nil
}
