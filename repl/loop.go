package repl

import (
	"context"
	"errors"
	"fmt"
	"io"

	"mqsh/queue"
)

// ErrExit, returned by a command (exit, quit), ends the loop without error.
var ErrExit = errors.New("exit")

// LoopOptions configure Loop.
type LoopOptions struct {
	// KeepGoing: in batch mode, run the remaining lines after a failure; the
	// loop still returns the first failure.
	KeepGoing bool
	// Interactive: print errors and carry on (the shell).
	Interactive bool
	// Prompt returns the prompt of each new command; nil = none.
	Prompt func() string
	// CommandContext derives the context of one command from the loop's, so
	// the shell can cancel a running command with Ctrl-C; nil = the loop's.
	CommandContext func(parent context.Context) (context.Context, context.CancelFunc)
}

// Loop is the one loop of the shell and of batch mode: read a line, split it
// into words, run the command, report errors. It ends at the end of input, on
// ErrExit or when ctx ends. In batch mode it stops at the first failure (unless
// KeepGoing), names the failing line on stderr (mqsh: commands.txt:7: ...) and
// returns the failure, marked as already reported; ExitCode gives its exit code.
func Loop(ctx context.Context, env *Env, in LineReader, opts LoopOptions) error {
	env.Input = in
	var first error
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		words, src, err := readCommand(in, opts)
		switch {
		case err == io.EOF:
			if first != nil {
				return &reportedError{err: first}
			}
			return nil
		case errors.Is(err, ErrInterrupt):
			continue
		case err != nil:
			var ue *UsageError
			if !errors.As(err, &ue) {
				return fmt.Errorf("read commands: %w", err)
			}
		}
		if err == nil && len(words) == 0 {
			continue
		}
		if err == nil {
			err = runLine(ctx, env, words, src, opts)
		}
		if errors.Is(err, ErrExit) {
			return nil
		}
		if err == nil {
			continue
		}
		if opts.Interactive {
			ReportError(env.Stderr, "", err, true)
			continue
		}
		ReportError(env.Stderr, src, err, false)
		if !opts.KeepGoing {
			return &reportedError{err: err}
		}
		if first == nil {
			first = err
		}
	}
}

// readCommand reads one command, which may go on over several lines, and
// splits it into words. src names its first line.
func readCommand(in LineReader, opts LoopOptions) (words []string, src string, err error) {
	prompt := ""
	if opts.Prompt != nil {
		prompt = opts.Prompt()
	}
	line, err := in.ReadLine(prompt)
	if err != nil {
		return nil, "", err
	}
	src = in.Source()
	if words, ok := splitRawTail(Commands(), line); ok {
		return words, src, nil
	}
	for {
		words, err = SplitWords(line)
		if err != ErrIncomplete {
			return words, src, err
		}
		// A command that goes on to the next line (open quotes, a trailing
		// backslash) prompts with "> " in the shell.
		cont := ""
		if opts.Interactive {
			cont = "> "
		}
		next, rerr := in.ReadLine(cont)
		if rerr == io.EOF {
			return nil, src, Usagef("unterminated quote or trailing backslash at the end of the input")
		}
		if rerr != nil {
			return nil, src, rerr
		}
		line += "\n" + next
	}
}

// runLine runs one command of the loop under its own context, labelled for
// the audit log.
func runLine(ctx context.Context, env *Env, words []string, src string, opts LoopOptions) error {
	cctx, cancel := ctx, context.CancelFunc(func() {})
	if opts.CommandContext != nil {
		cctx, cancel = opts.CommandContext(ctx)
	}
	defer cancel()
	label := "shell"
	if !opts.Interactive {
		label = "batch " + src
	}
	return Run(queue.WithSource(cctx, label), env, words)
}

// Run runs one command line given as words (mqsh queue list -s x).
func Run(ctx context.Context, env *Env, args []string) error {
	inv, err := Parse(args)
	if err != nil || inv == nil {
		return err
	}
	return Execute(ctx, env, inv)
}

// Execute runs a parsed invocation: its help when asked, else the command.
func Execute(ctx context.Context, env *Env, inv *Invocation) error {
	if inv.Set["help"] == "true" {
		_, err := fmt.Fprint(env.Stdout, CommandHelp(inv.Cmd))
		return err
	}
	if inv.Cmd.Run == nil {
		return fmt.Errorf("%s: not available in this build", inv.Cmd.Name())
	}
	if env.Queue == nil && NeedsQueue(inv) {
		if env.OpenQueue == nil {
			return errors.New("no queue is open")
		}
		if err := env.OpenQueue(ctx, inv.Cmd.Creates); err != nil {
			return err
		}
	}
	return inv.Cmd.Run(ctx, env, inv)
}

// NeedsQueue reports whether running the invocation needs an open queue: not
// a request for help, nor a command declared NoQueue.
func NeedsQueue(inv *Invocation) bool {
	return inv != nil && inv.Set["help"] != "true" && !inv.Cmd.NoQueue
}
