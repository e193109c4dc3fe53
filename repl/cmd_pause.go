package repl

import (
	"context"
	"fmt"
)

// pauseCommands declares queue pause and queue resume. (Stalwart's words
// for them, stop and start, are left out: "queue st" would no longer
// complete to status.)
func pauseCommands() []*Command {
	return []*Command{
		{Path: []string{"queue", "pause"}, Summary: "Pauses delivery: a running server accepts and queues mail but delivers none until resumed", Run: runPause},
		{Path: []string{"queue", "resume"}, Summary: "Resumes delivery paused by queue pause or serve --paused", Run: runResume},
	}
}

func runPause(ctx context.Context, env *Env, inv *Invocation) error {
	return setPaused(ctx, env, true)
}

func runResume(ctx context.Context, env *Env, inv *Invocation) error {
	return setPaused(ctx, env, false)
}

// setPaused switches delivery and says what it did. The switch is kept in
// the queue, so a server running on it sees it within a second.
func setPaused(ctx context.Context, env *Env, paused bool) error {
	changed, err := env.Queue.SetPaused(ctx, paused)
	if err != nil {
		return err
	}
	state := "resumed"
	if paused {
		state = "paused"
	}
	if changed {
		fmt.Fprintf(env.Stdout, "Delivery %s for %s.\n", state, env.Queue.Location())
	} else {
		fmt.Fprintf(env.Stdout, "Delivery was already %s for %s.\n", state, env.Queue.Location())
	}
	return nil
}
