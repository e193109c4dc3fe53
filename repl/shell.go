package repl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/chzyer/readline"
	"mqsh/queue"
)

// ShellOptions configure RunShell.
type ShellOptions struct {
	// Location is the queue as the user named it (a path or a sqlite: URL),
	// shown in the banner; its base name is in the prompt. "" = the
	// Location of env.Queue.
	Location string
	// HistoryFile keeps the lines typed at the prompt across sessions.
	// "" = HistoryPath(os.LookupEnv), the per-user default.
	HistoryFile string
	// NoHistory keeps no history file (lines are still recalled within the
	// session).
	NoHistory bool
	// Version is shown in the banner; "" = none.
	Version string
	// Terminal is the keyboard; nil = os.Stdin. When it is not a terminal the
	// shell reads lines from it without banner, prompts, editing or
	// completion, and still carries on after an error.
	Terminal *os.File
}

// RunShell runs the interactive shell on env.Queue until the user leaves with
// exit, quit or Ctrl-D. Lines are read with readline (editing, history, Ctrl-R
// search, tab completion) and run through the same loop as batch mode, but an
// error is printed and the shell carries on. Ctrl-C clears the line being
// typed; while a command runs, it cancels that command and the shell returns to
// the prompt. RunShell returns nil when the user leaves, or an error when the
// terminal cannot be set up.
func RunShell(ctx context.Context, env *Env, opts ShellOptions) error {
	term := opts.Terminal
	if term == nil {
		term = os.Stdin
	}
	location := opts.Location
	if location == "" && env.Queue != nil {
		location = env.Queue.Location()
	}
	prompt := ShellPrompt(location)
	env.Interactive = true

	var in shellInput
	if IsTerminal(term) {
		hist := opts.HistoryFile
		if opts.NoHistory {
			hist = ""
		} else if hist == "" {
			p, err := HistoryPath(os.LookupEnv)
			if err != nil {
				fmt.Fprintf(env.Stderr, "mqsh: %v\n", err)
			}
			hist = p
		}
		if hist != "" {
			if err := prepareHistoryFile(hist); err != nil {
				fmt.Fprintf(env.Stderr, "mqsh: %v; history is not kept\n", err)
				hist = ""
			}
		}
		comp := NewCompleter(Commands(), env)
		rl, err := newReadlineInput(term, env, prompt, hist, comp)
		if err != nil {
			return fmt.Errorf("start the shell: %w", err)
		}
		defer rl.Close()
		in = rl
		if env.ReadKey == nil && env.Terminal {
			env.ReadKey = TerminalReadKey(term)
		}
		printBanner(ctx, env, location, opts.Version)
	} else {
		in = NewBatchReader(term, "stdin") // `mqsh shell < file`: no prompts, no editing
	}
	env.Input = in

	intr := newInterrupter(in, env.Stderr)
	defer intr.stop()
	env.Interruptible = intr.commandContext
	err := Loop(ctx, env, in, LoopOptions{
		Interactive:    true,
		KeepGoing:      true,
		Prompt:         func() string { return prompt },
		CommandContext: intr.commandContext,
	})
	if sig := intr.ended(); sig != nil {
		return fmt.Errorf("shell ended by signal %v", sig)
	}
	return err
}

// ShellPrompt is the prompt of the shell open on the queue at location:
// "mqsh queue.db> ".
func ShellPrompt(location string) string {
	name := location
	if rest, ok := strings.CutPrefix(name, "sqlite:"); ok {
		name = strings.TrimPrefix(rest, "//")
	}
	if i := strings.IndexByte(name, '?'); i >= 0 {
		name = name[:i]
	}
	name = filepath.Base(name)
	if name == "." || name == "/" || name == "" {
		return "mqsh> "
	}
	return "mqsh " + name + "> "
}

// printBanner tells the user where they are: the queue, how many messages it
// holds, and how to get help and leave.
func printBanner(ctx context.Context, env *Env, location, version string) {
	title := "mqsh, the mail queue shell"
	if version != "" {
		title += " " + version
	}
	fmt.Fprintln(env.Stderr, title)
	count := " (no queue there yet: queue demo, import or add creates it)"
	if env.Queue != nil {
		n, err := env.Queue.Count(ctx, queue.Filter{})
		if err != nil {
			count = fmt.Sprintf(" (cannot count its messages: %v)", err)
		} else {
			count = fmt.Sprintf(" (%d message%s)", n, plural(n))
		}
	}
	fmt.Fprintf(env.Stderr, "Queue: %s%s\n", location, count)
	fmt.Fprintln(env.Stderr, `Type "help" for the commands, Tab to complete, Ctrl-D or "exit" to leave.`)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// shellInput is the shell's LineReader, which a terminating signal can end.
type shellInput interface {
	LineReader
	// EndInput makes the next ReadLine return io.EOF.
	EndInput()
}

// readlineInput reads lines at a terminal with chzyer/readline: line editing,
// history, Ctrl-R search and tab completion. The shell's prompt and the Lua
// prompt each have a history of their own (Up at lua> recalls Lua chunks),
// kept by mqsh (see history) and handed to readline as the prompt changes.
type readlineInput struct {
	rl     *readline.Instance
	prompt string // the shell's own prompt; other prompts (the lua prompt) get no command completion
	line   int
	hists  [2]*history // the shell's prompt's, the Lua prompt's
	shown  int         // which of hists readline holds
	stderr io.Writer   // where a failure to write the history is reported

	mu      sync.Mutex
	ended   bool
	current string // the prompt being shown
}

// Which history a prompt uses (indexes into readlineInput.hists).
const (
	shellHistory = iota
	luaHistory
)

func newReadlineInput(term *os.File, env *Env, prompt, histFile string, comp *Completer) (*readlineInput, error) {
	in := &readlineInput{prompt: prompt, stderr: env.Stderr}
	for i, path := range []string{histFile, luaHistoryPath(histFile)} {
		h, err := openHistory(path)
		if err != nil {
			fmt.Fprintf(env.Stderr, "mqsh: %v\n", err)
		}
		in.hists[i] = h
	}
	fd := int(term.Fd())
	var (
		rawMu sync.Mutex
		raw   *readline.State
	)
	rl, err := readline.NewEx(&readline.Config{
		Prompt:                 prompt,
		HistoryLimit:           HistoryLimit,
		DisableAutoSaveHistory: true,
		HistorySearchFold:      true,
		AutoComplete:           promptCompleter{in: in, c: comp},
		InterruptPrompt:        "^C",
		EOFPrompt:              "exit",
		Stdin:                  readline.NewCancelableStdin(term),
		Stdout:                 env.Stdout,
		Stderr:                 env.Stderr,
		FuncIsTerminal:         func() bool { return true },
		FuncMakeRaw: func() error {
			rawMu.Lock()
			defer rawMu.Unlock()
			st, err := readline.MakeRaw(fd)
			if err == nil {
				raw = st
			}
			return err
		},
		FuncExitRaw: func() error {
			rawMu.Lock()
			defer rawMu.Unlock()
			if raw == nil {
				return nil
			}
			st := raw
			raw = nil
			return readline.Restore(fd, st)
		},
	})
	if err != nil {
		return nil, err
	}
	in.rl = rl
	in.show(shellHistory)
	return in, nil
}

// show hands readline the history of prompt which.
func (in *readlineInput) show(which int) {
	in.shown = which
	in.rl.ResetHistory()
	for _, e := range in.hists[which].entries {
		_ = in.rl.SaveHistory(e)
	}
}

// ReadLine shows prompt and returns the line typed. Ctrl-C returns
// ErrInterrupt; Ctrl-D on an empty line returns io.EOF.
func (in *readlineInput) ReadLine(prompt string) (string, error) {
	in.mu.Lock()
	if in.ended {
		in.mu.Unlock()
		return "", io.EOF
	}
	in.current = prompt
	in.mu.Unlock()
	which := shellHistory
	if prompt == luaPrompt || prompt == luaContPrompt {
		which = luaHistory
	}
	if which != in.shown {
		in.show(which)
	}
	in.rl.SetPrompt(prompt)
	line, err := in.rl.Readline()
	switch {
	case errors.Is(err, readline.ErrInterrupt):
		return "", ErrInterrupt
	case err != nil:
		return "", err
	}
	in.line++
	// A line typed at the shell's prompt is kept as typed; at the Lua prompt
	// the chunk is kept whole once complete (through Remember). Until then
	// (and for the continuation of a command) readline is told the line is
	// done with.
	if prompt == in.prompt {
		in.Remember(line)
	} else {
		_ = in.rl.SaveHistory("")
	}
	return line, nil
}

// Remember adds an entry to the history of the prompt last shown: a line as
// that prompt would run it. Blank lines and a repeat of the entry before are
// not kept.
func (in *readlineInput) Remember(entry string) {
	entry = historyLine(entry)
	// readline skips the same entries; telling it also ends its recall of
	// an older entry (Up).
	_ = in.rl.SaveHistory(entry)
	if _, err := in.hists[in.shown].add(entry); err != nil {
		fmt.Fprintf(in.stderr, "mqsh: %v\n", err)
	}
}

// Source names the line for error messages: "line 7".
func (in *readlineInput) Source() string { return fmt.Sprintf("line %d", in.line) }

// EndInput makes the next ReadLine return io.EOF (a signal that ends the shell).
func (in *readlineInput) EndInput() {
	in.mu.Lock()
	in.ended = true
	in.mu.Unlock()
}

// Close restores the terminal and ends a pending ReadLine with io.EOF.
func (in *readlineInput) Close() error {
	in.EndInput()
	return in.rl.Close()
}

func (in *readlineInput) atShellPrompt() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.current == in.prompt
}

// promptCompleter completes commands at the shell's prompt only: at a prompt
// of a command (the lua prompt) Tab offers nothing.
type promptCompleter struct {
	in *readlineInput
	c  *Completer
}

func (p promptCompleter) Do(line []rune, pos int) ([][]rune, int) {
	if !p.in.atShellPrompt() {
		return nil, 0
	}
	return p.c.Do(line, pos)
}

// interrupter turns Ctrl-C (SIGINT) into the cancellation of the command that
// is running, and never lets it end the shell. At the prompt the terminal is in
// raw mode and readline sees Ctrl-C as a key; between commands a stray SIGINT
// is ignored. SIGTERM and SIGHUP cancel the running command and end the shell,
// so the terminal is restored. A second signal while a cancelled command still
// runs ends the process, as it would any program.
type interrupter struct {
	in     shellInput
	out    io.Writer // where the line after an echoed ^C ends
	sigc   chan os.Signal
	done   chan struct{}
	mu     sync.Mutex
	cancel context.CancelCauseFunc
	// cancelled is set when a signal has cancelled the command still running:
	// a second signal then ends the process.
	cancelled bool
	endSig    os.Signal // the signal that ended the shell, if any
}

// errInterruptedByUser is the cause (context.Cause) of the cancellation of a
// command interrupted by Ctrl-C.
var errInterruptedByUser = errors.New("interrupted by Ctrl-C")

func newInterrupter(in shellInput, out io.Writer) *interrupter {
	i := &interrupter{in: in, out: out, sigc: make(chan os.Signal, 4), done: make(chan struct{})}
	signal.Notify(i.sigc, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go i.run()
	return i
}

func (i *interrupter) run() {
	for {
		select {
		case <-i.done:
			return
		case sig := <-i.sigc:
			i.mu.Lock()
			cancel, again := i.cancel, i.cancelled
			i.cancelled = cancel != nil
			i.mu.Unlock()
			if again {
				// The command did not stop at the first signal: let this one
				// end mqsh as it would any program.
				signal.Reset(os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
				if p, err := os.FindProcess(os.Getpid()); err == nil {
					_ = p.Signal(sig)
				}
			}
			if cancel != nil {
				if sig == os.Interrupt {
					fmt.Fprintln(i.out) // the terminal echoed ^C; the error goes below it
				}
				cancel(errInterruptedByUser)
			}
			if sig != os.Interrupt {
				i.mu.Lock()
				i.endSig = sig
				i.mu.Unlock()
				i.in.EndInput()
				if c, ok := i.in.(io.Closer); ok {
					_ = c.Close()
				}
			}
		}
	}
}

// commandContext is the loop's CommandContext hook: the command's context is
// cancelled by Ctrl-C while it runs.
func (i *interrupter) commandContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	i.mu.Lock()
	i.cancel = cancel
	i.mu.Unlock()
	return ctx, func() {
		i.mu.Lock()
		i.cancel, i.cancelled = nil, false
		i.mu.Unlock()
		cancel(context.Canceled)
	}
}

// ended returns the signal that ended the shell, or nil.
func (i *interrupter) ended() os.Signal {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.endSig
}

func (i *interrupter) stop() {
	signal.Stop(i.sigc)
	close(i.done)
}
