package repl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"mqsh/lua"
)

// The Lua prompt's prompts: a new chunk, and the continuation of an incomplete one.
const (
	luaPrompt     = "lua> "
	luaContPrompt = "...> "
)

// luaCommands declares `run`, `lua` and `scripts`: policy scripts and Lua
// one-liners over the queue, each run in one transaction.
func luaCommands() []*Command {
	dryRun := Flag{Long: "dry-run",
		Help: "Run to the end, roll back, and show what would change (counts per verb and per domain)"}
	timeout := Flag{Long: "timeout", Value: "DURATION", Kind: KindText, Default: "60s",
		Help: "Stop the script after this long (500ms, 30s, 5m, 1h, or seconds; 0 for no limit); its changes are rolled back"}
	return []*Command{
		{
			Path:    []string{"run"},
			Summary: "Runs a Lua policy script on the queue in one transaction",
			Flags:   []Flag{dryRun, timeout},
			Args: []Arg{
				{Name: "SCRIPT", Required: true, Kind: KindScript, Help: "A script name (see scripts) or the path of a .lua file"},
				{Name: "ARGS", Repeat: true, Kind: KindText, Help: "Arguments for the script, in its arg table (arg[1], arg[2] ...)"},
			},
			Run: runScript,
		},
		{
			Path:    []string{"lua"},
			Summary: "Runs Lua code on the queue; without CODE in the shell, opens a Lua prompt",
			Flags:   []Flag{dryRun, timeout},
			Args:    []Arg{{Name: "CODE", Repeat: true, Kind: KindText, Help: "Lua code; the words are joined by spaces"}},
			RawTail: true,
			Run:     runLua,
		},
		{
			Path:    []string{"scripts"},
			Summary: "Lists the scripts that run finds by name, with their purpose",
			NoQueue: true,
			Run:     runScripts,
		},
	}
}

// scriptDirs returns where scripts are found by name.
func scriptDirs(env *Env) []string {
	if env.ScriptDirs != nil {
		return env.ScriptDirs
	}
	return lua.DefaultScriptDirs(os.Getenv)
}

// luaOptions builds the options shared by run and lua from the flags.
func luaOptions(env *Env, inv *Invocation) (lua.Options, error) {
	opts := lua.Options{
		DryRun:     inv.Set["dry-run"] == "true",
		Stdout:     env.Stdout,
		Stderr:     env.Stderr,
		ScriptDirs: scriptDirs(env),
		Now:        env.Now,
	}
	if v, ok := inv.Set["timeout"]; ok {
		d, err := parseTimeout(v)
		if err != nil {
			return opts, usageFor(inv.Cmd, err.Error())
		}
		opts.Timeout = d
	}
	return opts, nil
}

// parseTimeout reads --timeout: a Go duration (500ms, 1m30s), mqsh's own
// units (30s, 5m, 1h, 1d), a bare number of seconds (1, 2.5), or 0 for none.
func parseTimeout(v string) (time.Duration, error) {
	s := strings.TrimSpace(v)
	if s == "0" {
		return -1, nil
	}
	var d time.Duration
	var err error
	if secs, perr := strconv.ParseFloat(s, 64); perr == nil && s[len(s)-1] >= '0' && s[len(s)-1] <= '9' {
		// Bare seconds; beyond 100 years (or NaN) is no limit anyone means.
		if !(secs > 0 && secs <= 100*365*24*3600) {
			err = errors.New("out of range")
		}
		d = time.Duration(secs * float64(time.Second))
	} else {
		d, err = parseDuration(s)
	}
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("invalid value '%s' for '--timeout': want a duration such as 500ms, 30s, 5m or 1h, a number of seconds, or 0 for no limit", v)
	}
	return d, nil
}

// runScript is `run SCRIPT [ARGS...]`.
func runScript(ctx context.Context, env *Env, inv *Invocation) error {
	opts, err := luaOptions(env, inv)
	if err != nil {
		return err
	}
	sc, err := lua.Find(inv.Args[0], opts.ScriptDirs)
	if err != nil {
		return err
	}
	opts.Name, opts.Path, opts.Code, opts.Args = sc.Name, sc.Path, sc.Code, inv.Args[1:]
	// A long script shows a bar until it ends or first prints.
	bar := startProgress(env, "Running "+sc.Name, 0, false)
	opts.Stdout, opts.Stderr = quietWriter{opts.Stdout, bar}, quietWriter{opts.Stderr, bar}
	rep, err := lua.Run(ctx, env.Queue, opts)
	bar.Done()
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stderr, scriptSummary(env, rep))
	return nil
}

// runLua is `lua CODE` (the words are joined by spaces), `lua -` (the code is
// read from standard input, as is plain `lua` when standard input is a pipe
// or a file), or the Lua prompt when no code is given in the shell. As at the
// prompt, the values of an expression or of the chunk's return are printed.
func runLua(ctx context.Context, env *Env, inv *Invocation) error {
	opts, err := luaOptions(env, inv)
	if err != nil {
		return err
	}
	opts.Name = "lua"
	var code string
	switch {
	case len(inv.Args) == 1 && inv.Args[0] == "-" || len(inv.Args) == 0 && !env.Interactive && notTerminal(env.Stdin):
		if env.Stdin == nil {
			return usageFor(inv.Cmd, "no standard input to read Lua code from")
		}
		b, err := io.ReadAll(env.Stdin)
		if err != nil {
			return fmt.Errorf("read Lua code from standard input: %w", err)
		}
		if code = string(b); strings.TrimSpace(code) == "" {
			return usageFor(inv.Cmd, "missing argument CODE: standard input held no Lua code (the Lua prompt opens only in the shell)")
		}
	case len(inv.Args) == 0:
		if !env.Interactive || env.Input == nil {
			return usageFor(inv.Cmd, "missing argument CODE: give Lua code, or - to read it from standard input (the Lua prompt opens only in the shell)")
		}
		return luaPromptLoop(ctx, env, opts)
	default:
		code = strings.Join(inv.Args, " ")
	}
	sess := lua.NewSession(env.Queue, opts)
	defer sess.Close()
	rep, err := sess.Exec(ctx, code)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stderr, scriptSummary(env, rep))
	return nil
}

// notTerminal reports whether r is not a terminal (a pipe, a file, a buffer):
// something to read code from rather than wait for typing.
func notTerminal(r io.Reader) bool {
	if r == nil {
		return false
	}
	f, ok := r.(*os.File)
	if !ok {
		return true
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice == 0
}

// rememberChunk keeps a chunk typed at the lua prompt in the Lua prompt's
// history, on one line (see lua.OneLine), so that Up at lua> brings it back
// whole. A chunk that cannot be written on one line is not kept.
func rememberChunk(in LineReader, code string) {
	h, ok := in.(interface{ Remember(string) })
	if !ok {
		return
	}
	if line, ok := lua.OneLine(code); ok {
		h.Remember(line)
	}
}

// luaPromptLoop reads Lua chunks at `lua> ` until .exit or Ctrl-D. A chunk
// that ends early continues on the next line at `...> `. Each chunk runs in its
// own transaction; globals live on from chunk to chunk; an expression's values
// are printed. Ctrl-C at the prompt drops the chunk being typed; Ctrl-C while a
// chunk runs rolls it back and leaves the Lua prompt.
func luaPromptLoop(ctx context.Context, env *Env, opts lua.Options) error {
	sess := lua.NewSession(env.Queue, opts)
	defer sess.Close()
	fmt.Fprintln(env.Stderr, "Lua prompt: each chunk runs in its own transaction. Type .exit or press Ctrl-D to leave.")
	var buf strings.Builder
	for {
		prompt := luaPrompt
		if buf.Len() > 0 {
			prompt = luaContPrompt
		}
		line, err := env.Input.ReadLine(prompt)
		switch {
		case errors.Is(err, ErrInterrupt):
			buf.Reset()
			continue
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		}
		if buf.Len() == 0 {
			switch strings.TrimSpace(line) {
			case "":
				continue
			case ".exit", ".quit":
				return nil
			}
		}
		buf.WriteString(line)
		buf.WriteByte('\n')
		code := buf.String()
		if lua.Incomplete(code) {
			continue
		}
		buf.Reset()
		rememberChunk(env.Input, code)
		// Each chunk gets its own context, so Ctrl-C stops the chunk (and
		// rolls it back) but not the prompt.
		cctx, cancel := ctx, context.CancelFunc(func() {})
		if env.Interruptible != nil {
			cctx, cancel = env.Interruptible(ctx)
		}
		rep, err := sess.Exec(cctx, code)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			ReportError(env.Stderr, "", err, true)
			continue
		}
		if rep.Changed() || rep.DryRun {
			fmt.Fprintln(env.Stderr, scriptSummary(env, rep))
		}
	}
}

// runScripts is `scripts`: the names run accepts, where each comes from, and
// the first line of its header.
func runScripts(_ context.Context, env *Env, inv *Invocation) error {
	dirs := scriptDirs(env)
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	for _, name := range lua.Names(dirs) {
		sc, err := lua.Find(name, dirs)
		if err != nil {
			continue
		}
		from := sc.Path
		if from == "" {
			from = "(built in)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, lua.Describe(sc.Code), from)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "Scripts are looked for in %s, then among the built-in ones.\n", strings.Join(dirs, ", "))
	return nil
}

// scriptSummary is the line that ends a script's run. On a remote queue it
// says how the changes were made: collected while the script ran and sent
// to the server once it had ended without error, not as one transaction.
func scriptSummary(env *Env, rep lua.Report) string {
	s := rep.Summary()
	if env.Remote && !rep.DryRun && rep.Changed() {
		s += "; sent to " + env.Queue.Location() + " after the script ended (not one transaction)"
	}
	return s
}
