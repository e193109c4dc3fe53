// Package repl is mqsh's front end: the table of commands, the parser of command
// lines, the renderers, the tab completer, and the one loop that serves the
// interactive shell and batch mode alike.
package repl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"mqsh/queue"
)

// Kind says what a flag value or argument is, so the completer knows what to offer.
type Kind int

// Value kinds.
const (
	KindNone      Kind = iota // a boolean flag, or nothing to complete
	KindID                    // message id (hex prefix from the queue)
	KindSender                // return path
	KindRecipient             // recipient address or domain
	KindDomain                // recipient domain
	KindTime                  // now, +1h, RFC 3339 ...
	KindFormat                // table, json, csv, ids
	KindScript                // a script in the scripts folders, or a path
	KindFile                  // a file path
	KindNumber                // an integer
	KindCommand               // a command name (for help)
	KindText                  // free text; nothing to complete
)

// Flag declares one option of a command, once, for parsing, help and completion.
type Flag struct {
	Long    string // without dashes: "sender"
	Short   string // one letter, without dash: "s"; "" = none
	Value   string // the metavariable in help: "SENDER"; "" = boolean flag
	Help    string // one line, as printed by --help
	Kind    Kind
	Default string   // "" = none
	Values  []string // the accepted values (checked by the parser, offered by completion); nil = any
	Repeat  bool     // may be given more than once; every value is in Invocation.Lists
	// Filter is the filter key the flag sets (see keyFlag); nil = not a
	// filter flag.
	Filter *queue.FilterKey
}

// Arg declares the positional arguments of a command.
type Arg struct {
	Name     string // "IDS"
	Required bool   // at least one
	Repeat   bool   // may repeat ("...")
	Kind     Kind
	Help     string // one line, for --help and the README's reference
}

// Command is one entry of the command table. The table drives the command line,
// the shell, help, tab completion and the README's command reference.
type Command struct {
	Path      []string // words, e.g. {"queue", "list"}; the shell also accepts them without "queue"
	Summary   string   // one line: "Shows messages queued for delivery"
	Flags     []Flag
	Args      []Arg
	ShellOnly bool // exit, quit, clear: listed apart in help, not on the command line
	Creates   bool // adds messages, so it may create the queue file (demo, import, add)
	// NoQueue: the command runs without a queue (help, exit, scripts ...), so
	// it works where the queue file does not exist yet and never opens one.
	NoQueue bool
	// RawTail: in the shell and in batch, the rest of the line after the
	// command's leading flags is one argument, taken verbatim (Lua code keeps
	// its quotes and its # operator).
	RawTail bool
	Run     func(ctx context.Context, env *Env, inv *Invocation) error
}

// Invocation is a parsed command line for one Command.
type Invocation struct {
	Cmd   *Command
	Set   map[string]string   // long flag name -> value ("true" for booleans), only flags given
	Lists map[string][]string // long flag name -> every value given, for flags with Repeat
	Args  []string            // positional arguments
}

// Env is what a command runs with: the streams it is given and the state of
// the session it runs in.
type Env struct {
	Streams
	Session
}

// Streams are a command's input and output, injected (tests swap in buffers),
// and what the terminal behind them allows.
type Streams struct {
	Stdin    io.Reader
	Stdout   io.Writer
	Stderr   io.Writer
	Terminal bool // stdout is a terminal (paging, colour)
	// StderrTerminal: stderr is a terminal too, where progress bars may be
	// drawn (with Terminal; see startProgress).
	StderrTerminal bool
	Color          bool                 // colour allowed (terminal and NO_COLOR unset)
	Width          func() int           // columns of the terminal stdout is, read when a table is drawn; nil = not a terminal
	Height         func() int           // rows of the terminal stdout is, read for each page; nil = not a terminal
	ReadKey        func() (rune, error) // reads one key for the pager; nil = never page
	// ReadSecret shows prompt on the terminal and reads a line without echo
	// (a password); nil = no terminal to ask on.
	ReadSecret func(prompt string) (string, error)
}

// Session is the state the commands of one run share: the open queue, the
// clock, where scripts are, and the loop reading the commands.
type Session struct {
	Queue       queue.Backend    // the open queue, local or remote; nil while its file does not exist yet (see OpenQueue)
	Now         func() time.Time // the clock
	Interactive bool             // running in the interactive shell
	Batch       bool             // running a batch (-e, -f, piped commands): nobody answers questions
	// ConfirmOver: a destructive change selecting more messages than this
	// asks first, in the shell and on a terminal (confirm.go); the command
	// line sets DefaultConfirmOver unless --confirm-over says otherwise.
	ConfirmOver int
	// Remote: Queue is a server's (OpenRemote), where a script's changes
	// are sent after it ends rather than made in one transaction.
	Remote     bool
	ScriptDirs []string   // where `run` finds scripts by name, in order
	Input      LineReader // the loop's input, for commands that read more lines (the lua prompt)
	// OpenQueue opens Queue when a command needs it and it is not open: the
	// queue file did not exist when mqsh started. create is true for the
	// commands that add messages (Command.Creates); any other command gets an
	// error saying there is no queue there, so a mistyped -u never looks like
	// an empty queue. Ending ctx stops a wait for a file another process
	// holds.
	OpenQueue func(ctx context.Context, create bool) error
	// Interruptible returns a context that Ctrl-C cancels, for a command that
	// runs several steps of its own (each chunk at the lua prompt); nil
	// outside the shell.
	Interruptible func(parent context.Context) (context.Context, context.CancelFunc)
}

// UsageError is bad input from the user: an unknown command or flag, a missing
// argument, a value that does not parse. Batch mode exits 2.
type UsageError struct {
	Msg   string
	Usage string   // the usage lines and where to read more, for the command line; "" = none
	Help  []string // in the shell, `help` with these words explains (nil: no hint)
}

func (e *UsageError) Error() string {
	if e.Usage == "" {
		return e.Msg
	}
	return e.Msg + "\n\n" + e.Usage
}

// shellText is the error as the shell shows it: the message, and which help
// to type there rather than the command line's usage.
func (e *UsageError) shellText() string {
	if e.Help == nil {
		return e.Error()
	}
	return e.Msg + "\nType '" + strings.TrimSpace("help "+strings.Join(e.Help, " ")) + "' for details."
}

// Usagef builds a UsageError.
func Usagef(format string, a ...any) error { return &UsageError{Msg: fmt.Sprintf(format, a...)} }

// ExitCode maps an error to the process exit code: 0 none, 2 usage, 1 anything else.
func ExitCode(err error) int {
	var ue *UsageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		return 2
	}
	return 1
}

// ErrInterrupt is returned by LineReader.ReadLine when Ctrl-C is pressed at the prompt.
var ErrInterrupt = errors.New("interrupted")

// LineReader is the input side of the one loop: readline in the shell, a
// bufio.Reader over -e, -f or piped stdin in batch.
type LineReader interface {
	// ReadLine returns the next line without its newline. io.EOF ends the loop;
	// ErrInterrupt (Ctrl-C at the prompt) clears the line and the loop goes on.
	ReadLine(prompt string) (string, error)
	// Source names where the line came from for error messages: "-e #2", "commands.txt:7", "stdin:3".
	Source() string
}
