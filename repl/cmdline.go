package repl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"mqsh/queue"
)

// The command line of mqsh itself: its global options, what they ask to run,
// and running it (one command or a batch; the shell is RunShell).

// GlobalFlags are the options of mqsh before any command.
var GlobalFlags = []Flag{
	{Long: "url", Short: "u", Value: "URL", Kind: KindFile, Help: "Queue location: a file path, a sqlite: URL, a postgres:// URL, or a Stalwart server's http(s):// URL [env: MQSH_URL]"},
	{Long: "credentials", Short: "c", Value: "CREDENTIALS", Kind: KindText, Help: "Credentials of a remote queue: USER:SECRET, a SECRET of user admin, an API key, or USER: to be asked for the secret [env: MQSH_CREDENTIALS]"},
	{Long: "insecure", Help: "Do not check the TLS certificate of a remote queue's server (self-signed test servers only)"},
	{Long: "http-timeout", Value: "DURATION", Kind: KindText, Help: "Give up a request to a remote queue's server after this long (10s, 2m; default 60s)"},
	{Long: "execute", Short: "e", Value: "COMMAND", Kind: KindText, Repeat: true, Help: "Run a command line (repeat for more), then exit"},
	{Long: "file", Short: "f", Value: "FILE", Kind: KindFile, Help: "Run the commands in FILE, one per line (- for standard input), then exit"},
	{Long: "keep-going", Help: "In batch mode, run the remaining commands after a failure"},
	{Long: "wait", Value: "DURATION", Kind: KindText, Help: "Give up a change after waiting this long for another process's write lock (30s, 5m; default: wait, saying for whom, until Ctrl-C)"},
	{Long: "demo", Help: "Open a fresh throwaway queue loaded with demo messages"},
	{Long: "confirm-over", Value: "N", Kind: KindNumber, Help: "In the shell and on a terminal, ask before cancel or bounce changes more than N messages (default 1000)"},
	{Long: "version", Short: "V", Help: "Print version"},
}

// CommandLine is what mqsh's arguments ask for.
type CommandLine struct {
	Help, Version bool
	Queue         QueueFlags
	// What to run: Shell, or one Command, or else a batch: the -e commands
	// (Exprs), then the -f file (File, when HasFile), or else the commands
	// piped to standard input.
	Shell     bool
	Command   *Invocation
	Exprs     []string
	File      string
	HasFile   bool
	KeepGoing bool // in a batch, run the remaining commands after a failure
	// ConfirmOver is the threshold of the guard rails (Session.ConfirmOver).
	ConfirmOver int
}

// ParseCommandLine reads mqsh's arguments. stdinTerminal says standard input
// is a terminal: without a command or batch, mqsh then opens the shell.
func ParseCommandLine(args []string, stdinTerminal bool) (*CommandLine, error) {
	set, lists, rest, err := ParseFlags(GlobalFlags, args, false)
	if err != nil {
		return nil, &UsageError{Msg: err.Error() + "\n\nUsage: mqsh [OPTIONS] [COMMAND]...\n\nFor more information, try 'mqsh --help'."}
	}
	cl := &CommandLine{
		Help:      set["help"] == "true",
		Version:   set["version"] == "true",
		Exprs:     lists["execute"],
		File:      set["file"],
		KeepGoing: set["keep-going"] == "true",
		Queue:     QueueFlags{Demo: set["demo"] == "true"},
	}
	cl.Queue.URL, cl.Queue.URLSet = set["url"]
	cl.Queue.Wait, cl.Queue.WaitSet = set["wait"]
	cl.Queue.Credentials, cl.Queue.CredentialsSet = set["credentials"]
	cl.Queue.Insecure = set["insecure"] == "true"
	cl.Queue.HTTPTimeout, cl.Queue.HTTPTimeoutSet = set["http-timeout"]
	_, cl.HasFile = set["file"]
	cl.ConfirmOver = DefaultConfirmOver
	if v, ok := set["confirm-over"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, Usagef("invalid value '%s' for '--confirm-over <N>': want a whole number of messages, such as 1000 (0 asks about every change)", v)
		}
		cl.ConfirmOver = n
	}
	if cl.Help || cl.Version {
		return cl, nil
	}
	batch := len(cl.Exprs) > 0 || cl.HasFile
	cl.Shell = len(rest) > 0 && rest[0] == "shell"
	switch {
	case cl.Shell && len(rest) > 1:
		return nil, Usagef("unexpected argument '%s' after 'shell'", rest[1])
	case batch && len(rest) > 0:
		return nil, Usagef("give either a command or -e/-f, not both")
	case len(rest) > 0 && !cl.Shell:
		if cl.Command, err = Parse(rest); err != nil {
			return nil, err
		}
	case !batch && len(rest) == 0 && stdinTerminal:
		cl.Shell = true
	}
	return cl, nil
}

// NeedsQueue reports whether what the command line runs needs the queue open
// (the shell and batches do; help and the commands declared NoQueue do not).
func (cl *CommandLine) NeedsQueue() bool {
	return cl.Command == nil || NeedsQueue(cl.Command)
}

// Clock is the clock of the run: the time MQSH_NOW gives (RFC 3339, for
// tests and demonstrations), or else the system clock.
func Clock(getenv func(string) string) (func() time.Time, error) {
	v := getenv("MQSH_NOW")
	if v == "" {
		return time.Now, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, Usagef("invalid MQSH_NOW %q: want an RFC 3339 time such as 2023-03-01T12:00:00Z", v)
	}
	return func() time.Time { return t }, nil
}

// Run runs the one command, or else the batch, of the command line. stdin is
// where piped commands (and -f -) come from.
func (cl *CommandLine) Run(ctx context.Context, env *Env, stdin io.Reader) error {
	if cl.Command != nil {
		return Execute(queue.WithSource(ctx, "cli"), env, cl.Command)
	}
	var in LineReader
	if len(cl.Exprs) > 0 || cl.HasFile {
		var readers []LineReader
		if len(cl.Exprs) > 0 {
			readers = append(readers, ExprReader(cl.Exprs))
		}
		if cl.HasFile {
			r, closeFile, err := commandFile(cl.File, stdin)
			if err != nil {
				return err
			}
			defer closeFile()
			if cl.File == "-" {
				env.Stdin = commandStream{}
			}
			readers = append(readers, r)
		}
		in = MultiReader(readers...)
	} else {
		in = NewBatchReader(stdin, "stdin")
		env.Stdin = commandStream{}
	}
	env.Batch = true
	return Loop(ctx, env, in, LoopOptions{KeepGoing: cl.KeepGoing})
}

// commandStream stands in for standard input while it holds the commands.
type commandStream struct{}

func (commandStream) Read([]byte) (int, error) {
	return 0, errors.New("standard input holds the commands being run; read ids and messages from a file instead")
}

// commandFile opens the -f file; "-" is standard input.
func commandFile(name string, stdin io.Reader) (LineReader, func(), error) {
	if name == "-" {
		return NewBatchReader(stdin, "stdin"), func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("read commands: %w", err)
	}
	return NewBatchReader(f, name), func() { f.Close() }, nil
}

// RootHelp is the text of mqsh --help.
func RootHelp(getenv func(string) string) string {
	var b strings.Builder
	b.WriteString("mqsh, the mail queue shell: inspect and repair an SMTP delivery queue\n\n")
	b.WriteString("Usage: mqsh [OPTIONS] [COMMAND]...\n\n")
	b.WriteString(Overview(false, [2]string{"shell", "Opens the interactive shell (the default on a terminal)"}))
	b.WriteString("\nOptions:\n")
	b.WriteString(FormatOptions(GlobalFlags))
	b.WriteString("\nWithout a command, mqsh opens the interactive shell when standard input is a\n" +
		"terminal, and otherwise runs the commands it reads there, one per line.\n")
	if def, err := DefaultLocation(getenv); err == nil {
		fmt.Fprintf(&b, "\nDefault queue: %s\n", def)
	}
	if u := getenv("MQSH_URL"); u != "" {
		fmt.Fprintf(&b, "MQSH_URL is set: %s is used unless --url says otherwise.\n", queue.RedactURL(u))
	}
	b.WriteString("\nExit status: 0 success, 1 failure or nothing selected, 2 usage error.\n")
	return b.String()
}

// parseDuration reads a duration flag: as Go writes one (500ms, 1m30s), or in
// mqsh's units (30s, 5m, 1h, 2d).
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	return queue.ParseDuration(s)
}
