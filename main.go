// Command mqsh, the mail queue shell, inspects and repairs an SMTP delivery
// queue kept in SQLite: one command at a time, in an interactive shell, or in
// batch from -e, -f or standard input.
//
// This file is wiring only: flags, then streams, then the queue, then the
// shell, one command or a batch. The rest is in package repl.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"mqsh/pgqueue"
	"mqsh/queue"
	"mqsh/remote"
	"mqsh/repl"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// scriptGCPercent is the garbage collector's target (GOGC) of a process that
// runs one script (mqsh run, mqsh lua): a fifth of the CPU time of a walk over
// a million messages goes to collections at the default of 100.
const scriptGCPercent = 400

func init() {
	repl.OpenRemote = openRemote
	repl.OpenPostgres = openPostgres
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// run is mqsh with its arguments, streams and environment; it returns the exit
// code: 0 success, 1 failure, 2 usage error.
func run(args []string, stdin *os.File, stdout, stderr io.Writer, getenv func(string) string) int {
	// Flags: what to run, on which queue.
	cl, err := repl.ParseCommandLine(args, repl.IsTerminal(stdin))
	if err != nil {
		return fail(stderr, err)
	}
	switch {
	case cl.Help:
		fmt.Fprint(stdout, repl.RootHelp(getenv))
		return 0
	case cl.Version:
		fmt.Fprintf(stdout, "mqsh %s\n", version)
		return 0
	}

	if c := cl.Command; c != nil && oneShotWalk(c.Cmd.Path) && getenv("GOGC") == "" {
		// A one-shot script, listing or import is this process's only
		// work, and a walk over a big queue (or the decoding of a big
		// import) makes many short-lived tables, pages or values: collect a
		// quarter as often (a script's memory limit holds all the same; a
		// listing keeps a page or two, an import a few batches).
		debug.SetGCPercent(scriptGCPercent)
	}

	// Streams and the clock.
	env := &repl.Env{Streams: repl.StdStreams(stdin, stdout, stderr, getenv)}
	env.ConfirmOver = cl.ConfirmOver
	if env.Now, err = repl.Clock(getenv); err != nil {
		return fail(stderr, err)
	}

	// Ctrl-C or a TERM signal stops the opening of the queue while it waits
	// for a file another process holds, and cancels the running command; its
	// change is rolled back. A second signal ends the process at once, even
	// if the command is stuck. The shell catches its own.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)

	// The queue, unless the command needs none.
	location := ""
	if cl.NeedsQueue() {
		loc, closeQueue, err := repl.OpenQueue(ctx, env, cl.Queue, getenv)
		if err != nil {
			return fail(stderr, err)
		}
		defer closeQueue()
		location = loc
	}

	// Run the shell, one command or a batch.
	if cl.Shell {
		stop()
		return fail(stderr, repl.RunShell(context.Background(), env, repl.ShellOptions{Location: location, Version: version, Terminal: stdin}))
	}
	return fail(stderr, cl.Run(ctx, env, stdin))
}

// oneShotWalk says a command may walk the whole queue as the process's only
// work: mqsh run, mqsh lua, mqsh queue list.
func oneShotWalk(path []string) bool {
	return path[0] == "run" || path[0] == "lua" || len(path) == 2 && path[0] == "queue" && (path[1] == "list" || path[1] == "import")
}

// fail reports err (if it was not reported already) and returns its exit code.
func fail(stderr io.Writer, err error) int {
	repl.ReportError(stderr, "", err, false)
	return repl.ExitCode(err)
}

// openRemote plugs the Stalwart client in as the backend of a server's URL.
// A URL or credentials it cannot use are usage errors (exit 2); every other
// failure comes with the first request, as a sentence of its kind (exit 1).
// openPostgres opens the queue in a PostgreSQL database (pgqueue), whose
// errors never hold the password.
func openPostgres(ctx context.Context, url string, opts repl.PostgresOptions) (queue.Backend, error) {
	q, err := pgqueue.Open(ctx, url, pgqueue.Options{Now: opts.Now, Notices: opts.Notices})
	if err != nil {
		return nil, err
	}
	return q, nil
}

func openRemote(url string, opts repl.RemoteOptions) (queue.Backend, error) {
	c, err := remote.Open(url, remote.Options{Credentials: opts.Credentials, Insecure: opts.Insecure, Timeout: opts.Timeout, Now: opts.Now})
	if errors.Is(err, remote.ErrInvalidURL) || errors.Is(err, remote.ErrCredentials) {
		return nil, repl.Usagef("%v", err)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}
