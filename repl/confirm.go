package repl

import (
	"context"
	"fmt"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"mqsh/queue"
)

// The guard rails of destructive commands (cancel, bounce): in the shell
// and on a terminal, a change that selects more than Session.ConfirmOver
// messages, or says --all, is asked about first ("Cancel 101,006 messages?
// [y/N]") and done only on y; --yes skips the question. Where nobody can
// answer (batch mode, or no terminal) nothing is asked, and --all needs
// --yes.

// DefaultConfirmOver is the threshold of the guard rails unless
// --confirm-over says otherwise.
const DefaultConfirmOver = 1000

// flagYes is the switch that skips the question.
var flagYes = Flag{Long: "yes", Short: "y", Help: "Do not ask for confirmation (batch mode needs it with --all)"}

// confirmChange asks, when the guard rails say so, whether to go on with
// a change of the messages f selects; verb is its first word in the
// question ("Cancel"). It returns nil to go on, and an error when the
// answer was not y, or when --all was given where nobody can answer.
func confirmChange(ctx context.Context, env *Env, inv *Invocation, f queue.Filter, verb string) error {
	return confirmCount(env, inv, f, verb, func() (int, error) { return env.Queue.Count(ctx, f) })
}

// confirmCount is confirmChange with the selection counted by count (the
// trash's purge counts the trash, not the queue).
func confirmCount(env *Env, inv *Invocation, f queue.Filter, verb string, count func() (int, error)) error {
	if inv.Set["dry-run"] == "true" || inv.Set["yes"] == "true" {
		return nil
	}
	if env.Batch || env.ReadKey == nil {
		if f.All && f.IsEmpty() {
			return usageFor(inv.Cmd, fmt.Sprintf("refusing to %s every message without --yes: nobody is at a terminal to confirm it; add --yes if you mean it (--dry-run shows what would change)", inv.Cmd.Path[len(inv.Cmd.Path)-1]))
		}
		return nil
	}
	n, err := count()
	if err != nil {
		return err
	}
	if n == 0 || !f.All && n <= env.ConfirmOver {
		return nil
	}
	return askYes(env, fmt.Sprintf("%s %s messages?", verb, thousands(n)))
}

// askYes asks question at the terminal with [y/N] and reads one key: nil
// on y, else "Nothing was changed.".
func askYes(env *Env, question string) error {
	fmt.Fprintf(env.Stderr, "%s [y/N] ", question)
	k, err := env.ReadKey()
	if err != nil {
		fmt.Fprintln(env.Stderr)
		return err
	}
	if k == 'y' || k == 'Y' {
		fmt.Fprintln(env.Stderr, "y")
		return nil
	}
	fmt.Fprintln(env.Stderr, "n")
	return plainf("Nothing was changed.")
}

// thousands writes n with thousands separators (101,006), as the questions do.
func thousands(n int) string { return message.NewPrinter(language.English).Sprintf("%d", n) }
