package repl

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"mqsh/queue"
)

// `queue undo`: takes back a change of the audit log.

func undoCommand() *Command {
	return &Command{
		Path:    []string{"queue", "undo"},
		Summary: "Takes back a retry, cancel or script run recorded in the audit log (default: your last one)",
		Flags:   []Flag{flagDryRun},
		Args:    []Arg{{Name: "SEQ", Kind: KindNumber, Help: "The change's seq in queue audit (any change of a script run means the whole run)"}},
		Run:     runUndo,
	}
}

func runUndo(ctx context.Context, env *Env, inv *Invocation) error {
	u, ok := env.Queue.(queue.Undoer)
	if !ok {
		return queue.NoUndo(env.Queue)
	}
	var seq int64
	if len(inv.Args) > 0 {
		v, err := strconv.ParseInt(strings.TrimPrefix(inv.Args[0], "#"), 10, 64)
		if err != nil || v <= 0 {
			return usageFor(inv.Cmd, fmt.Sprintf("invalid value '%s' for '[SEQ]': want the seq of a change as queue audit shows it", inv.Args[0]))
		}
		seq = v
	}
	res, err := u.Undo(ctx, queue.UndoRequest{Seq: seq, DryRun: inv.Set["dry-run"] == "true"})
	if err != nil {
		return err
	}
	what := fmt.Sprintf("#%d (%s)", res.Seq, strings.Join(compactWords(res.Verbs), ", "))
	if res.DryRun {
		fmt.Fprintf(env.Stderr, "Dry run: undo of %s would put back %d message(s); nothing was changed.\n", what, res.Count)
	} else {
		fmt.Fprintf(env.Stderr, "Undid %s: put back %d message(s).\n", what, res.Count)
	}
	if len(res.Domains) > 0 {
		fmt.Fprintf(env.Stderr, "Per domain:\n%s", domainBreakdown(res.Domains))
	}
	if len(res.Skipped) > 0 {
		fmt.Fprintf(env.Stderr, "Left as they are (%d):\n", len(res.Skipped))
		for _, s := range res.Skipped {
			fmt.Fprintf(env.Stderr, "  %s: %s\n", s.ID, s.Reason)
		}
	}
	for _, n := range res.Notes {
		fmt.Fprintf(env.Stderr, "Note: %s.\n", n)
	}
	if res.Count == 0 {
		return &reportedError{err: errors.New("nothing was undone")}
	}
	return nil
}

// compactWords drops repeats that follow each other: cancel, cancel -> cancel.
func compactWords(words []string) []string {
	var out []string
	for _, w := range words {
		if len(out) == 0 || out[len(out)-1] != w {
			out = append(out, w)
		}
	}
	return out
}
