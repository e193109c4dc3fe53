// Command mqsh, the mail queue shell, inspects and repairs an SMTP delivery
// queue kept in SQLite: one command at a time, in an interactive shell, or in
// batch from -e, -f or standard input.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"

	"mqsh/queue"
	"mqsh/repl"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// demoGenerated is how many generated messages --demo adds to the documented six.
const demoGenerated = 1000

var globalFlags = []repl.Flag{
	{Long: "url", Short: "u", Value: "URL", Kind: repl.KindFile, Help: "Queue location: a file path or a sqlite: URL [env: MQSH_URL]"},
	{Long: "credentials", Short: "c", Value: "CREDENTIALS", Kind: repl.KindText, Help: "Authentication credentials (for remote queues, which are not supported yet)"},
	{Long: "execute", Short: "e", Value: "COMMAND", Kind: repl.KindText, Repeat: true, Help: "Run a command line (repeat for more), then exit"},
	{Long: "file", Short: "f", Value: "FILE", Kind: repl.KindFile, Help: "Run the commands in FILE, one per line (- for standard input), then exit"},
	{Long: "keep-going", Help: "In batch mode, run the remaining commands after a failure"},
	{Long: "demo", Help: "Open a fresh throwaway queue loaded with demo messages"},
	{Long: "version", Short: "V", Help: "Print version"},
}

// scriptGCPercent is the garbage collector's target (GOGC) of a process that
// runs one script (mqsh run, mqsh lua): a fifth of the CPU time of a walk over
// a million messages goes to collections at the default of 100.
const scriptGCPercent = 400

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// run is mqsh with its arguments, streams and environment; it returns the exit
// code: 0 success, 1 failure, 2 usage error.
func run(args []string, stdin *os.File, stdout, stderr io.Writer, getenv func(string) string) int {
	set, lists, rest, err := repl.ParseFlags(globalFlags, args, false)
	if err != nil {
		return fail(stderr, &repl.UsageError{Msg: err.Error() + "\n\nUsage: mqsh [OPTIONS] [COMMAND]...\n\nFor more information, try 'mqsh --help'."})
	}
	defaultURL, defaultErr := defaultLocation(getenv)
	switch {
	case set["help"] == "true":
		fmt.Fprint(stdout, rootHelp(defaultURL, getenv))
		return 0
	case set["version"] == "true":
		fmt.Fprintf(stdout, "mqsh %s\n", version)
		return 0
	}

	// What to run: one command, a batch, or the shell.
	exprs, file := lists["execute"], set["file"]
	_, hasFile := set["file"]
	batch := len(exprs) > 0 || hasFile
	shell := len(rest) > 0 && rest[0] == "shell"
	if shell && len(rest) > 1 {
		return fail(stderr, repl.Usagef("unexpected argument '%s' after 'shell'", rest[1]))
	}
	if batch && len(rest) > 0 {
		return fail(stderr, repl.Usagef("give either a command or -e/-f, not both"))
	}
	var inv *repl.Invocation
	if len(rest) > 0 && !shell {
		if inv, err = repl.Parse(rest); err != nil {
			return fail(stderr, err)
		}
	}
	if inv != nil && (inv.Cmd.Path[0] == "run" || inv.Cmd.Path[0] == "lua") && getenv("GOGC") == "" {
		// A one-shot script is this process's only work, and a walk over a
		// big queue makes many short-lived tables: collect a quarter as often
		// (the script's memory limit holds all the same).
		debug.SetGCPercent(scriptGCPercent)
	}
	stdinTerminal := isTerminal(stdin)
	if !batch && len(rest) == 0 && stdinTerminal {
		shell = true
	}

	env := &repl.Env{
		Stdin:  stdin,
		Stdout: stdout,
		Stderr: stderr,
		Now:    time.Now,
	}
	if f, ok := stdout.(*os.File); ok && isTerminal(f) {
		env.Terminal = true
		env.Color = getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"
		if stdinTerminal {
			env.ReadKey = repl.TerminalReadKey(stdin)
		}
	}
	if v := getenv("MQSH_NOW"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return fail(stderr, repl.Usagef("invalid MQSH_NOW %q: want an RFC 3339 time such as 2023-03-01T12:00:00Z", v))
		}
		env.Now = func() time.Time { return t }
	}

	// Open the queue, unless the command is only help.
	location := ""
	if inv == nil || repl.NeedsQueue(inv) {
		loc, closeQueue, err := openQueue(set, getenv, env, defaultURL, defaultErr)
		if err != nil {
			return fail(stderr, err)
		}
		location = loc
		defer closeQueue()
	}

	ctx := context.Background()
	if shell {
		err = repl.RunShell(ctx, env, repl.ShellOptions{Location: location, Version: version, Terminal: stdin})
		return fail(stderr, err)
	}
	// Ctrl-C or a TERM signal cancels the running command; its change is rolled
	// back. A second signal ends the process at once, even if the command is stuck.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	if inv != nil {
		return fail(stderr, repl.Execute(queue.WithSource(ctx, "cli"), env, inv))
	}

	var in repl.LineReader
	switch {
	case batch:
		var readers []repl.LineReader
		if len(exprs) > 0 {
			readers = append(readers, repl.ExprReader(exprs))
		}
		if hasFile {
			r, closeFile, err := commandFile(file, stdin)
			if err != nil {
				return fail(stderr, err)
			}
			defer closeFile()
			if file == "-" {
				env.Stdin = commandStream{}
			}
			readers = append(readers, r)
		}
		in = repl.MultiReader(readers...)
	default:
		in = repl.NewBatchReader(stdin, "stdin")
		env.Stdin = commandStream{}
	}
	return fail(stderr, repl.Loop(ctx, env, in, repl.LoopOptions{KeepGoing: set["keep-going"] == "true"}))
}

// fail reports err (if it was not reported already) and returns its exit code.
func fail(stderr io.Writer, err error) int {
	repl.ReportError(stderr, "", err, false)
	return repl.ExitCode(err)
}

// commandStream stands in for standard input while it holds the commands.
type commandStream struct{}

func (commandStream) Read([]byte) (int, error) {
	return 0, errors.New("standard input holds the commands being run; read ids and messages from a file instead")
}

// commandFile opens the -f file; "-" is standard input.
func commandFile(name string, stdin io.Reader) (repl.LineReader, func(), error) {
	if name == "-" {
		return repl.NewBatchReader(stdin, "stdin"), func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("read commands: %w", err)
	}
	return repl.NewBatchReader(f, name), func() { f.Close() }, nil
}

func isTerminal(f *os.File) bool {
	return f != nil && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// defaultLocation is the per-user queue: $XDG_DATA_HOME/mqsh/queue.db, or
// ~/.local/share/mqsh/queue.db.
func defaultLocation(getenv func(string) string) (string, error) {
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "mqsh", "queue.db"), nil
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", errors.New("no home directory for the default queue: give --url or set MQSH_URL")
		}
		home = h
	}
	return filepath.Join(home, ".local", "share", "mqsh", "queue.db"), nil
}

// remoteURL matches locations that name a server: a http(s) URL, or host:port.
var remoteURL = regexp.MustCompile(`^(?i:https?://|[a-z0-9.-]+:[0-9]+(/|$))`)

// queuePath turns a location (a path, or a sqlite: or file: URL) into a file path.
func queuePath(loc string) (string, error) {
	if remoteURL.MatchString(loc) {
		return "", repl.Usagef("remote queues are not supported yet: %s names a server; give a file path or a sqlite: URL", loc)
	}
	p := loc
	for _, scheme := range []string{"sqlite:", "file:"} {
		if rest, ok := strings.CutPrefix(p, scheme); ok {
			if strings.Contains(rest, "?") {
				return "", repl.Usagef("%s: a queue URL names a file only; options such as ?mode=ro are not supported", loc)
			}
			p = strings.TrimPrefix(rest, "//")
			if u, err := url.PathUnescape(p); err == nil {
				p = u // sqlite:/var/spool/my%20queue.db
			}
			break
		}
	}
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, rest)
		}
	}
	if p == "" {
		return "", repl.Usagef("empty queue location %q: give a file path or a sqlite: URL", loc)
	}
	return p, nil
}

// openQueue opens the queue that -u, MQSH_URL, --demo or the default names
// into env.Queue, and returns its location and how to close it. When the file
// does not exist yet (or is empty), env.Queue stays nil and env.OpenQueue
// creates it for the first command that adds messages; any other command is
// told there is no queue there. A queue file created by this run that is left
// with no message and no audited change (the command that created it failed)
// is removed when it is closed, so a failed import leaves no empty queue behind.
func openQueue(set map[string]string, getenv func(string) string, env *repl.Env, defaultURL string, defaultErr error) (string, func(), error) {
	opts := queue.Options{Now: env.Now}
	if set["demo"] == "true" {
		if _, ok := set["url"]; ok {
			return "", nil, repl.Usagef("--demo opens its own queue: give either --demo or --url")
		}
		dir, err := os.MkdirTemp("", "mqsh-demo-")
		if err != nil {
			return "", nil, fmt.Errorf("create the demo queue: %w", err)
		}
		path := filepath.Join(dir, "queue.db")
		q, err := queue.Open(path, opts)
		if err != nil {
			return "", nil, fmt.Errorf("open the demo queue: %w", err)
		}
		res, err := q.LoadDemo(queue.WithSource(context.Background(), "cli --demo"), demoGenerated, 1)
		if err != nil {
			q.Close()
			return "", nil, fmt.Errorf("load the demo queue: %w", err)
		}
		fmt.Fprintf(env.Stderr, "mqsh: demo queue with %d messages at %s (open it again with: mqsh -u %s)\n", res.Count, path, path)
		env.Queue = q
		return path, func() { q.Close() }, nil
	}
	loc, isDefault := set["url"], false
	if given, ok := set["url"]; ok && strings.TrimSpace(given) == "" {
		return "", nil, repl.Usagef("empty --url: give a file path or a sqlite: URL")
	}
	if loc == "" {
		loc = getenv("MQSH_URL")
	}
	if loc == "" {
		if defaultErr != nil {
			return "", nil, defaultErr
		}
		loc, isDefault = defaultURL, true
	}
	path, err := queuePath(loc)
	if err != nil {
		return "", nil, err
	}
	if isDefault {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", nil, fmt.Errorf("create the directory of the default queue: %w", err)
		}
	}
	open := func() error {
		q, err := queue.Open(path, opts)
		if err != nil {
			return err // the engine's errors name the file and what to do
		}
		env.Queue = q
		return nil
	}
	closeQueue := func() {
		if env.Queue != nil {
			env.Queue.Close()
		}
	}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || err == nil && st.Mode().IsRegular() && st.Size() == 0 {
		what := "no queue at " + path
		if err == nil {
			what += " (the file is empty)"
		}
		created := false
		env.OpenQueue = func(create bool) error {
			if !create {
				return fmt.Errorf("%s: check -u or MQSH_URL; queue demo, queue import or queue add creates a new one", what)
			}
			created = true
			return open()
		}
		return loc, func() {
			if created && env.Queue != nil && unused(env.Queue) {
				env.Queue.Close()
				for _, f := range []string{path, path + "-wal", path + "-shm"} {
					os.Remove(f)
				}
				return
			}
			closeQueue()
		}, nil
	}
	return loc, closeQueue, open()
}

// unused reports whether a queue holds no message and no audited change.
func unused(q *queue.Queue) bool {
	ctx := context.Background()
	n, err := q.Count(ctx, queue.Filter{})
	if err != nil || n > 0 {
		return false
	}
	changes, err := q.Audit(ctx, queue.AuditQuery{Limit: 1})
	return err == nil && len(changes) == 0
}

// rootHelp is the text of mqsh --help.
func rootHelp(defaultURL string, getenv func(string) string) string {
	var b strings.Builder
	b.WriteString("mqsh, the mail queue shell: inspect and repair an SMTP delivery queue\n\n")
	b.WriteString("Usage: mqsh [OPTIONS] [COMMAND]...\n\n")
	b.WriteString(repl.Overview(false, [2]string{"shell", "Opens the interactive shell (the default on a terminal)"}))
	b.WriteString("\nOptions:\n")
	b.WriteString(repl.FormatOptions(globalFlags))
	b.WriteString("\nWithout a command, mqsh opens the interactive shell when standard input is a\n" +
		"terminal, and otherwise runs the commands it reads there, one per line.\n")
	if defaultURL != "" {
		fmt.Fprintf(&b, "\nDefault queue: %s\n", defaultURL)
	}
	if u := getenv("MQSH_URL"); u != "" {
		fmt.Fprintf(&b, "MQSH_URL is set: %s is used unless --url says otherwise.\n", u)
	}
	b.WriteString("\nExit status: 0 success, 1 failure or nothing selected, 2 usage error.\n")
	return b.String()
}
